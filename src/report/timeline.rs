//! The run's timeline: once per interval, the recorder's shards are emptied
//! into an HdrHistogram interval log, one tagged histogram per step, journey
//! kind and provider, and into a small summary for report.json.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use tokio::sync::watch;

use super::model::{IntervalSummary, Percentiles, Timeline};
use super::recorder::{new_histogram, Recorded, RunRecorder};

/// The interval log's file name in a run's output folder.
pub const INTERVAL_LOG_FILE: &str = "latency.hlog";

/// Called after each interval with its summary, and whether it is the last;
/// the recorder's totals include the interval by then.
pub type OnInterval = Box<dyn FnMut(&IntervalSummary, &RunRecorder, bool) + Send>;

/// The task that closes intervals while the load runs.
pub struct TimelineTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<Timeline>>,
}

impl TimelineTask {
    /// Starts closing an interval every `interval`, writing the interval log
    /// to `path`, from now until [`TimelineTask::finish`].
    pub fn start(
        recorder: Arc<RunRecorder>,
        path: &Path,
        interval: Duration,
        on_interval: OnInterval,
    ) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the interval log {}", path.display()))?;
        let (stop, stopped) = watch::channel(false);
        let path = path.to_owned();
        let task = tokio::spawn(close_intervals(
            recorder,
            BufWriter::new(file),
            path,
            interval,
            stopped,
            on_interval,
        ));
        Ok(Self { stop, task })
    }

    /// Closes the last, partial interval, flushes the log and returns the
    /// timeline.
    pub async fn finish(self) -> anyhow::Result<Timeline> {
        self.stop.send_replace(true);
        self.task.await.context("the interval log task panicked")?
    }
}

async fn close_intervals(
    recorder: Arc<RunRecorder>,
    mut file: BufWriter<File>,
    path: PathBuf,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
    mut on_interval: OnInterval,
) -> anyhow::Result<Timeline> {
    let write_error = |error: &dyn std::fmt::Display| {
        anyhow::anyhow!("cannot write the interval log {}: {error}", path.display())
    };
    let start = SystemTime::now() - recorder.elapsed();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("recoverylab interval log: latencies in microseconds")
        .add_comment("Tags: step:<step>, journey:<journey kind> (completed journeys), delivery:<provider>; untagged: every step")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut serializer)
        .map_err(|error| write_error(&error))?;

    let mut intervals = Vec::new();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interval_start = Duration::ZERO;
    loop {
        let last = tokio::select! {
            _ = ticker.tick() => false,
            _ = stopped.wait_for(|stop| *stop) => true,
        };

        let recorded = recorder.take_interval();
        let interval_end = recorder.elapsed();
        let length = interval_end.saturating_sub(interval_start);
        let all_steps = all_steps(&recorded);
        log.write_histogram(&all_steps, interval_start, length, None)
            .map_err(|error| write_error(&error))?;
        for (tag, histogram) in tagged(&recorded) {
            // Step names, journey kinds and provider names never hold a
            // comma or space, which are the characters a tag cannot carry.
            let tag = Tag::new(&tag).expect("tags hold no commas or spaces");
            log.write_histogram(histogram, interval_start, length, Some(tag))
                .map_err(|error| write_error(&error))?;
        }

        let summary = summarise(&recorded, &all_steps, interval_start, length);
        on_interval(&summary, &recorder, last);
        intervals.push(summary);
        interval_start = interval_end;
        if last {
            break;
        }
    }

    drop(log);
    file.flush().map_err(|error| write_error(&error))?;
    Ok(Timeline {
        interval_s: interval.as_secs_f64(),
        interval_log: INTERVAL_LOG_FILE.to_owned(),
        intervals,
    })
}

/// Merges every step's latencies of an interval into one histogram.
fn all_steps(interval: &Recorded) -> Histogram<u64> {
    let mut merged = new_histogram();
    for record in interval.steps.values() {
        merged
            .add(&record.latency)
            .expect("histograms share bounds");
    }
    merged
}

/// Lists an interval's histograms with their tags.
fn tagged(interval: &Recorded) -> Vec<(String, &Histogram<u64>)> {
    let steps = interval
        .steps
        .iter()
        .map(|(step, record)| (format!("step:{step}"), &record.latency));
    let journeys = interval.journeys.iter().filter_map(|(kind, record)| {
        let duration = record.duration.as_ref()?;
        Some((format!("journey:{}", kind.name()), duration))
    });
    let deliveries = interval
        .deliveries
        .iter()
        .map(|(provider, histogram)| (format!("delivery:{provider}"), histogram));
    steps.chain(journeys).chain(deliveries).collect()
}

fn summarise(
    interval: &Recorded,
    all_steps: &Histogram<u64>,
    start: Duration,
    length: Duration,
) -> IntervalSummary {
    let journeys = interval.journeys.values();
    IntervalSummary {
        start_s: start.as_secs_f64(),
        duration_s: length.as_secs_f64(),
        steps: all_steps.len(),
        step_errors: interval.steps.values().map(|record| record.errors).sum(),
        journeys_completed: journeys.clone().map(|journey| journey.completed).sum(),
        journeys_failed: journeys.clone().map(|journey| journey.failed_total()).sum(),
        journeys_abandoned: journeys.map(|journey| journey.abandoned).sum(),
        latency_us: (!all_steps.is_empty()).then(|| Percentiles::from_histogram(all_steps, 1)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::people::JourneyKind;
    use crate::report::Outcome;

    #[tokio::test]
    async fn interval_log_tags_steps_and_journeys() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(INTERVAL_LOG_FILE);
        let recorder = Arc::new(RunRecorder::new(2));
        let task = TimelineTask::start(
            Arc::clone(&recorder),
            &path,
            Duration::from_millis(50),
            Box::new(|_, _, _| {}),
        )
        .unwrap();
        recorder.journey_started(0, JourneyKind::SignIn);
        recorder.record_step(0, "sign_in.password", Duration::from_millis(3), None);
        recorder.record_step(
            1,
            "sign_in.code",
            Duration::from_millis(5),
            Some("wrong_code"),
        );
        recorder.journey_ended(
            0,
            JourneyKind::SignIn,
            &Outcome::Completed,
            Duration::from_millis(9),
            Some("sign_in.code"),
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
        recorder.record_step(1, "sign_in.code", Duration::from_millis(7), None);
        let timeline = task.finish().await.unwrap();

        assert!(timeline.intervals.len() >= 2, "{timeline:?}");
        let steps: u64 = timeline
            .intervals
            .iter()
            .map(|interval| interval.steps)
            .sum();
        assert_eq!(steps, 3);
        let errors: u64 = timeline
            .intervals
            .iter()
            .map(|interval| interval.step_errors)
            .sum();
        assert_eq!(errors, 1);

        let text = std::fs::read(&path).unwrap();
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for entry in IntervalLogIterator::new(&text) {
            if let LogEntry::Interval(interval) = entry.expect("the log parses") {
                let tag = interval.tag().map_or("", |tag| tag.as_str()).to_owned();
                let histogram: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut base64_decode(interval.encoded_histogram()).as_slice())
                    .unwrap();
                *counts.entry(tag).or_default() += histogram.len();
            }
        }
        assert_eq!(counts.get(""), Some(&3), "untagged holds every step");
        assert_eq!(counts.get("step:sign_in.code"), Some(&2));
        assert_eq!(counts.get("step:sign_in.password"), Some(&1));
        assert_eq!(counts.get("journey:sign_in"), Some(&1));
        assert_eq!(recorder.merged().steps["sign_in.code"].latency.len(), 2);
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}
