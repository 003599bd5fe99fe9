//! Collects step latencies and journey outcomes while load runs.
//!
//! Load users write into a few shards, each behind its own mutex, picked by
//! user index: a lock is held for one histogram update, so users rarely wait
//! for each other. Once per interval the shards are emptied into the run's
//! totals, so memory does not grow with users, requests or run time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
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

impl StepRecord {
    fn new() -> Self {
        Self {
            latency: new_histogram(),
            errors: 0,
            error_codes: BTreeMap::new(),
        }
    }
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

impl JourneyRecord {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

/// How far journeys of one kind got at one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepFunnel {
    /// Journeys that sent the step at least once.
    pub reached: u64,
    /// Sum over those journeys of the step's place in the journey (the
    /// first step sent is 0), so that the mean orders the funnel.
    pub position_sum: u64,
    /// Journeys that ended here without completing, by reason.
    pub lost: BTreeMap<String, u64>,
}

/// The funnel key of journeys lost before they sent any step.
pub const BEFORE_FIRST_STEP: &str = "start";

/// The end of a started journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Failed with a classified reason, such as a problem code.
    Failed(String),
    Abandoned,
}

impl Outcome {
    /// Returns the reason a journey that did not complete is counted under
    /// in its funnel, or `None` for a completed journey.
    fn loss_reason(&self) -> Option<&str> {
        match self {
            Outcome::Completed => None,
            Outcome::Failed(reason) => Some(reason),
            Outcome::Abandoned => Some("abandoned"),
        }
    }
}

/// Step latencies, journey outcomes, delivery times and funnels, for an
/// interval or a whole run.
#[derive(Default, Clone)]
pub struct Recorded {
    pub steps: BTreeMap<&'static str, StepRecord>,
    pub journeys: BTreeMap<JourneyKind, JourneyRecord>,
    /// Time from the request that triggered a message to the message in the
    /// inbox, per provider.
    pub deliveries: BTreeMap<&'static str, Histogram<u64>>,
    /// Per journey kind and step, how many journeys reached it and ended there.
    pub funnels: BTreeMap<JourneyKind, BTreeMap<&'static str, StepFunnel>>,
    /// Periods when load users found the service refusing connections; kept
    /// only in the whole-run totals.
    pub service_outages: Vec<OutageWindow>,
}

impl Recorded {
    /// Adds everything `other` counted into `self`.
    fn absorb(&mut self, other: &Recorded) {
        for (step, record) in &other.steps {
            let entry = self.steps.entry(step).or_insert_with(StepRecord::new);
            entry
                .latency
                .add(&record.latency)
                .expect("histograms share bounds");
            entry.errors += record.errors;
            for (code, count) in &record.error_codes {
                add_count(&mut entry.error_codes, code, *count);
            }
        }
        for (provider, histogram) in &other.deliveries {
            self.deliveries
                .entry(provider)
                .or_insert_with(new_histogram)
                .add(histogram)
                .expect("histograms share bounds");
        }
        for (kind, source) in &other.journeys {
            let target = self.journeys.entry(*kind).or_default();
            target.started += source.started;
            target.completed += source.completed;
            target.abandoned += source.abandoned;
            for (reason, count) in &source.failed {
                add_count(&mut target.failed, reason, *count);
            }
            if let Some(duration) = &source.duration {
                target
                    .duration
                    .get_or_insert_with(new_histogram)
                    .add(duration)
                    .expect("histograms share bounds");
            }
        }
        for (kind, steps) in &other.funnels {
            let target = self.funnels.entry(*kind).or_default();
            for (step, funnel) in steps {
                let entry = target.entry(step).or_default();
                entry.reached += funnel.reached;
                entry.position_sum += funnel.position_sum;
                for (reason, count) in &funnel.lost {
                    add_count(&mut entry.lost, reason, *count);
                }
            }
        }
    }

    fn funnel(&mut self, kind: JourneyKind, step: &'static str) -> &mut StepFunnel {
        self.funnels
            .entry(kind)
            .or_default()
            .entry(step)
            .or_default()
    }

    /// Empties the counts and histograms but keeps their memory, so that a
    /// shard allocates its histograms once per run.
    fn clear(&mut self) {
        for record in self.steps.values_mut() {
            if !record.latency.is_empty() {
                record.latency.reset();
            }
            record.errors = 0;
            record.error_codes.clear();
        }
        for histogram in self.deliveries.values_mut() {
            if !histogram.is_empty() {
                histogram.reset();
            }
        }
        for journey in self.journeys.values_mut() {
            let duration = journey.duration.take().map(|mut histogram| {
                histogram.reset();
                histogram
            });
            *journey = JourneyRecord {
                duration,
                ..JourneyRecord::default()
            };
        }
        self.funnels.clear();
    }
}

fn add_count(counts: &mut BTreeMap<String, u64>, key: &str, count: u64) {
    match counts.get_mut(key) {
        Some(total) => *total += count,
        None => {
            counts.insert(key.to_owned(), count);
        }
    }
}

/// A period when the service refused connections, in seconds from the
/// recorder's start. `end_s` is `None` when the service never came back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutageWindow {
    pub start_s: f64,
    pub end_s: Option<f64>,
}

/// The recorder load users write into.
///
/// Shards contain what was recorded since the last
/// [`RunRecorder::take_interval`], which moves it into the whole-run totals.
/// So each request is recorded once, and memory stays the same however long
/// the run.
pub struct RunRecorder {
    shards: Vec<Mutex<Recorded>>,
    totals: Mutex<Recorded>,
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
                .map(|_| Mutex::new(Recorded::default()))
                .collect(),
            totals: Mutex::new(Recorded::default()),
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
        let mut outages = lock(&self.outages);
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
        let mut outages = lock(&self.outages);
        if self.outage_open.load(Ordering::Acquire) {
            if let Some(window) = outages.last_mut() {
                window.end_s = Some(self.started.elapsed().as_secs_f64());
            }
            self.outage_open.store(false, Ordering::Release);
        }
    }

    fn shard(&self, user: usize) -> MutexGuard<'_, Recorded> {
        lock(&self.shards[user % self.shards.len()])
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
        let entry = shard.steps.entry(step).or_insert_with(StepRecord::new);
        record(&mut entry.latency, elapsed);
        if let Some(code) = error {
            entry.errors += 1;
            add_count(&mut entry.error_codes, code, 1);
        }
    }

    /// Records that a journey of `kind` sent `step` for the first time, as
    /// its `position`th distinct step.
    pub fn step_reached(&self, user: usize, kind: JourneyKind, step: &'static str, position: u64) {
        let mut shard = self.shard(user);
        let funnel = shard.funnel(kind, step);
        funnel.reached += 1;
        funnel.position_sum += position;
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
        self.shard(user).journeys.entry(kind).or_default().started += 1;
    }

    /// Records the end of a journey; `last_step` is the last step it sent,
    /// where its funnel counts a journey that did not complete as lost.
    pub fn journey_ended(
        &self,
        user: usize,
        kind: JourneyKind,
        outcome: &Outcome,
        elapsed: Duration,
        last_step: Option<&'static str>,
    ) {
        let mut shard = self.shard(user);
        let journey = shard.journeys.entry(kind).or_default();
        match outcome {
            Outcome::Completed => {
                journey.completed += 1;
                record(journey.duration.get_or_insert_with(new_histogram), elapsed);
            }
            Outcome::Failed(reason) => add_count(&mut journey.failed, reason, 1),
            Outcome::Abandoned => journey.abandoned += 1,
        }
        if let Some(reason) = outcome.loss_reason() {
            let step = last_step.unwrap_or(BEFORE_FIRST_STEP);
            let funnel = shard.funnel(kind, step);
            add_count(&mut funnel.lost, reason, 1);
        }
    }

    /// Returns the time since the recorder was created, the start of load.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Moves what the shards recorded since the last call into the
    /// whole-run totals, and returns it.
    pub fn take_interval(&self) -> Recorded {
        let mut interval = Recorded::default();
        for shard in &self.shards {
            let mut shard = lock(shard);
            interval.absorb(&shard);
            shard.clear();
        }
        lock(&self.totals).absorb(&interval);
        interval
    }

    /// Calls `inspect` with the whole-run totals as of the last
    /// [`RunRecorder::take_interval`].
    pub fn with_totals<T>(&self, inspect: impl FnOnce(&Recorded) -> T) -> T {
        inspect(&lock(&self.totals))
    }

    /// Returns everything recorded in the run, moving what the shards still
    /// hold into the totals first.
    pub fn merged(&self) -> Recorded {
        self.take_interval();
        let mut merged = lock(&self.totals).clone();
        merged.service_outages = lock(&self.outages).clone();
        merged
    }
}

/// Locks a mutex, taking over its data if a load user panicked holding it:
/// counts stay usable, and losing the report would be worse.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
