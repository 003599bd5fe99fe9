//! The progress line printed to stderr while the load runs.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::model::IntervalSummary;
use super::recorder::RunRecorder;

/// How often the progress line is printed when stderr is not a terminal,
/// such as in a CI log, where each print is a new line.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    users: usize,
    terminal: bool,
    last_printed: Option<Duration>,
}

impl Progress {
    pub fn new(users: usize) -> Self {
        Self {
            users,
            terminal: std::io::stderr().is_terminal(),
            last_printed: None,
        }
    }

    /// Prints the line after an interval: rewritten in place on a terminal,
    /// a new line every [`LOG_EVERY`] otherwise, and always after the last.
    pub fn update(
        &mut self,
        interval: &IntervalSummary,
        recorder: &RunRecorder,
        users_busy: usize,
        last: bool,
    ) {
        let elapsed = recorder.elapsed();
        if !self.terminal
            && !last
            && self
                .last_printed
                .is_some_and(|last| elapsed.saturating_sub(last) < LOG_EVERY)
        {
            return;
        }
        self.last_printed = Some(elapsed);
        let line = self.line(interval, recorder, users_busy, elapsed);
        let mut stderr = std::io::stderr().lock();
        // The line ends after the last interval, so the summary that follows
        // starts on its own line.
        let _ = match (self.terminal, last) {
            (true, false) => write!(stderr, "\r\x1b[2K{line}"),
            (true, true) => writeln!(stderr, "\r\x1b[2K{line}"),
            (false, _) => writeln!(stderr, "{line}"),
        };
        let _ = stderr.flush();
    }

    fn line(
        &self,
        interval: &IntervalSummary,
        recorder: &RunRecorder,
        users_busy: usize,
        elapsed: Duration,
    ) -> String {
        let (done, failed) = recorder.with_totals(|totals| {
            totals
                .journeys
                .values()
                .fold((0, 0), |(done, failed), journey| {
                    (done + journey.completed, failed + journey.failed_total())
                })
        });
        let p99 = match &interval.latency_us {
            Some(latency) => format!("{:.1} ms", latency.p99 as f64 / 1000.0),
            None => "-".to_owned(),
        };
        format!(
            "[{:>5.0} s] users busy {users_busy}/{}  journeys completed {done}, failed {failed}  step p99 {p99} (last {:.0} s)",
            elapsed.as_secs_f64(),
            self.users,
            interval.duration_s
        )
    }
}
