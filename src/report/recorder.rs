//! Collects step latencies and journey outcomes while load runs.
//!
//! Load users write into a few shards, each behind its own mutex, picked by
//! user index: a lock is held for one histogram update, so users rarely wait
//! for each other, and memory does not grow with users or requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::people::JourneyKind;

/// The highest latency a histogram records: one hour, in microseconds.
const MAX_TRACKABLE_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Returns an empty latency histogram: 1 µs to 1 h, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS)
        .expect("the bounds are valid")
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = (elapsed.as_micros() as u64).clamp(1, MAX_TRACKABLE_US);
    histogram
        .record(micros)
        .expect("the value is clamped into range");
}

/// Latencies and error count of one step.
#[derive(Clone)]
pub struct StepRecord {
    pub latency: Histogram<u64>,
    pub errors: u64,
    /// Errors by problem code or transport reason.
    pub error_codes: BTreeMap<String, u64>,
}

/// Outcome counts of one journey kind.
#[derive(Clone, Default)]
pub struct JourneyRecord {
    pub started: u64,
    pub completed: u64,
    pub failed: BTreeMap<String, u64>,
    pub abandoned: u64,
    pub duration: Option<Histogram<u64>>,
}

/// The end of a started journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Failed with a classified reason, such as a problem code.
    Failed(String),
    Abandoned,
}

#[derive(Default, Clone)]
struct Shard {
    steps: HashMap<&'static str, StepRecord>,
    journeys: [JourneyRecord; 5],
    deliveries: HashMap<&'static str, Histogram<u64>>,
}

/// Everything recorded during a run, merged from the shards.
#[derive(Default, Clone)]
pub struct Recorded {
    pub steps: BTreeMap<&'static str, StepRecord>,
    pub journeys: BTreeMap<JourneyKind, JourneyRecord>,
    /// Time from the request that triggered a message to the message in the
    /// inbox, per provider.
    pub deliveries: BTreeMap<&'static str, Histogram<u64>>,
    /// Periods when load users found the service refusing connections.
    pub service_outages: Vec<OutageWindow>,
}

/// A period when the service refused connections, in seconds from the
/// recorder's start. `end_s` is `None` when the service never came back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutageWindow {
    pub start_s: f64,
    pub end_s: Option<f64>,
}

pub struct RunRecorder {
    shards: Vec<Mutex<Shard>>,
    started: Instant,
    /// Set while an outage window is open, so that requests with a
    /// response, the common case, check one atomic and take no lock.
    outage_open: AtomicBool,
    outages: Mutex<Vec<OutageWindow>>,
}

impl RunRecorder {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
            started: Instant::now(),
            outage_open: AtomicBool::new(false),
            outages: Mutex::new(Vec::new()),
        }
    }

    /// Notes that a request found the service refusing connections; the first
    /// such request opens an outage window.
    pub fn service_unreachable(&self) {
        if self.outage_open.load(Ordering::Acquire) {
            return;
        }
        let mut outages = self.lock_outages();
        if !self.outage_open.load(Ordering::Acquire) {
            outages.push(OutageWindow {
                start_s: self.started.elapsed().as_secs_f64(),
                end_s: None,
            });
            self.outage_open.store(true, Ordering::Release);
        }
    }

    /// Notes that the service responded, which closes an open outage window.
    pub fn service_answered(&self) {
        if !self.outage_open.load(Ordering::Acquire) {
            return;
        }
        let mut outages = self.lock_outages();
        if self.outage_open.load(Ordering::Acquire) {
            if let Some(window) = outages.last_mut() {
                window.end_s = Some(self.started.elapsed().as_secs_f64());
            }
            self.outage_open.store(false, Ordering::Release);
        }
    }

    fn lock_outages(&self) -> std::sync::MutexGuard<'_, Vec<OutageWindow>> {
        self.outages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard(&self, user: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[user % self.shards.len()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one step that got a response, with the problem code or
    /// transport reason of an error response.
    pub fn record_step(
        &self,
        user: usize,
        step: &'static str,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        let mut shard = self.shard(user);
        let entry = shard.steps.entry(step).or_insert_with(|| StepRecord {
            latency: new_histogram(),
            errors: 0,
            error_codes: BTreeMap::new(),
        });
        record(&mut entry.latency, elapsed);
        if let Some(code) = error {
            entry.errors += 1;
            match entry.error_codes.get_mut(code) {
                Some(count) => *count += 1,
                None => {
                    entry.error_codes.insert(code.to_owned(), 1);
                }
            }
        }
    }

    pub fn record_delivery(&self, user: usize, provider: &'static str, elapsed: Duration) {
        let mut shard = self.shard(user);
        record(
            shard
                .deliveries
                .entry(provider)
                .or_insert_with(new_histogram),
            elapsed,
        );
    }

    pub fn journey_started(&self, user: usize, kind: JourneyKind) {
        self.shard(user).journeys[kind.index()].started += 1;
    }

    pub fn journey_ended(
        &self,
        user: usize,
        kind: JourneyKind,
        outcome: &Outcome,
        elapsed: Duration,
    ) {
        let mut shard = self.shard(user);
        let journey = &mut shard.journeys[kind.index()];
        match outcome {
            Outcome::Completed => {
                journey.completed += 1;
                record(journey.duration.get_or_insert_with(new_histogram), elapsed);
            }
            Outcome::Failed(reason) => *journey.failed.entry(reason.clone()).or_default() += 1,
            Outcome::Abandoned => journey.abandoned += 1,
        }
    }

    /// Merges every shard into one set of histograms and counts.
    pub fn merged(&self) -> Recorded {
        let mut merged = Recorded {
            service_outages: self.lock_outages().clone(),
            ..Recorded::default()
        };
        for shard in &self.shards {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            for (step, record) in shard.steps {
                let entry = merged.steps.entry(step).or_insert_with(|| StepRecord {
                    latency: new_histogram(),
                    errors: 0,
                    error_codes: BTreeMap::new(),
                });
                entry
                    .latency
                    .add(&record.latency)
                    .expect("histograms share bounds");
                entry.errors += record.errors;
                for (code, count) in record.error_codes {
                    *entry.error_codes.entry(code).or_default() += count;
                }
            }
            for (provider, histogram) in shard.deliveries {
                merged
                    .deliveries
                    .entry(provider)
                    .or_insert_with(new_histogram)
                    .add(&histogram)
                    .expect("histograms share bounds");
            }
            for kind in JourneyKind::ALL {
                let source = &shard.journeys[kind.index()];
                let target = merged.journeys.entry(kind).or_default();
                target.started += source.started;
                target.completed += source.completed;
                target.abandoned += source.abandoned;
                for (reason, count) in &source.failed {
                    *target.failed.entry(reason.clone()).or_default() += count;
                }
                if let Some(duration) = &source.duration {
                    target
                        .duration
                        .get_or_insert_with(new_histogram)
                        .add(duration)
                        .expect("histograms share bounds");
                }
            }
        }
        merged
    }
}
