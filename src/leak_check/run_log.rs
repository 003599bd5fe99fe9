//! run.log: a copy of the process's tracing output, as JSON lines, in the
//! out folder of the run under way, so the leak check can read what the
//! in-process service, mocks and harness logged.
//!
//! The binary installs [`layer`] next to its stderr layer, under the same
//! `RECOVERYLAB_LOG` filter, so the file carries every event that stderr
//! carries. The layer writes only while a [`Capture`] is open.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;

/// The file events are copied to, while a run captures them.
static OPEN_FILE: Mutex<Option<OpenFile>> = Mutex::new(None);
/// Set once [`layer`] was built, so runs in a process without it, such as
/// tests that call `run` directly, do not write an empty run.log.
static INSTALLED: AtomicBool = AtomicBool::new(false);
static NEXT_CAPTURE: AtomicU64 = AtomicU64::new(1);

struct OpenFile {
    capture: u64,
    path: PathBuf,
    writer: BufWriter<File>,
}

/// Builds the layer that copies events into the open capture as JSON lines.
pub fn layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    INSTALLED.store(true, Ordering::Relaxed);
    tracing_subscriber::fmt::layer()
        .json()
        .with_writer(CaptureWriter)
}

/// Copying of events into one file, from [`Capture::start`] until
/// [`finish`] or until the capture is dropped.
pub struct Capture {
    id: u64,
}

impl Capture {
    /// Creates `path` and copies every event into it from now on. Returns
    /// `None` when the process installed no [`layer`]. One capture is open
    /// at a time: a second one takes over from the first.
    pub fn start(path: &Path) -> std::io::Result<Option<Capture>> {
        if !INSTALLED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let file = File::create(path)?;
        let id = NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed);
        *lock() = Some(OpenFile {
            capture: id,
            path: path.to_owned(),
            writer: BufWriter::new(file),
        });
        Ok(Some(Capture { id }))
    }
}

impl Drop for Capture {
    /// Closes the file if this capture still has it open, as on an error
    /// path that never reached [`finish`].
    fn drop(&mut self) {
        let mut open = lock();
        if open.as_ref().is_some_and(|file| file.capture == self.id) {
            if let Some(mut file) = open.take() {
                // The run is already failing; a flush error has nowhere to go.
                let _ = file.writer.flush();
            }
        }
    }
}

/// Stops the open capture, writes out what is buffered and returns the
/// file's path, or `None` when no capture is open.
pub fn finish() -> std::io::Result<Option<PathBuf>> {
    let Some(mut file) = lock().take() else {
        return Ok(None);
    };
    file.writer.flush()?;
    Ok(Some(file.path))
}

fn lock() -> std::sync::MutexGuard<'static, Option<OpenFile>> {
    OPEN_FILE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy)]
struct CaptureWriter;

impl<'writer> MakeWriter<'writer> for CaptureWriter {
    type Writer = CaptureWriter;

    fn make_writer(&'writer self) -> Self::Writer {
        CaptureWriter
    }
}

impl Write for CaptureWriter {
    /// Appends one formatted event; the fmt layer writes each event whole.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = lock().as_mut() {
            file.writer.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match lock().as_mut() {
            Some(file) => file.writer.flush(),
            None => Ok(()),
        }
    }
}
