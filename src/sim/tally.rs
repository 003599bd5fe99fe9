//! The counters and histograms of one shard, merged across shards in shard
//! order.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::load::journeys::STEP_NAMES;
use crate::people::JourneyKind;

/// Counters of one simulated day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTally {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    pub emails_sent: u64,
    pub sms_sent: u64,
    pub letters_mailed: u64,
    pub letters_delivered: u64,
    pub letters_returned: u64,
    /// Postal temporary passwords that had expired when their reader tried them.
    pub letters_expired: u64,
    /// Forgot-password people who took their code by email after SMS failed.
    pub sms_moved_to_email: u64,
    /// Letters mailed and not yet delivered, returned or lost, at the day's end.
    pub letters_in_transit: u64,
    /// Provider sends the service's client gave up on after every retry.
    pub sends_failed: u64,
    /// Steps served on this day.
    pub steps: u64,
}

impl DayTally {
    /// Adds another tally's counts, such as another shard's for the same day.
    pub fn add(&mut self, other: &DayTally) {
        self.started += other.started;
        self.completed += other.completed;
        self.failed += other.failed;
        self.abandoned += other.abandoned;
        self.emails_sent += other.emails_sent;
        self.sms_sent += other.sms_sent;
        self.letters_mailed += other.letters_mailed;
        self.letters_delivered += other.letters_delivered;
        self.letters_returned += other.letters_returned;
        self.letters_expired += other.letters_expired;
        self.sms_moved_to_email += other.sms_moved_to_email;
        self.letters_in_transit += other.letters_in_transit;
        self.sends_failed += other.sends_failed;
        self.steps += other.steps;
    }
}

/// Outcomes of one journey kind.
#[derive(Debug, Clone)]
pub struct KindTally {
    pub started: u64,
    pub completed: u64,
    pub failed: BTreeMap<&'static str, u64>,
    pub abandoned: u64,
    /// Start to completion of completed journeys, in milliseconds.
    pub time_to_recover_ms: Histogram<u64>,
}

impl Default for KindTally {
    fn default() -> Self {
        Self {
            started: 0,
            completed: 0,
            failed: BTreeMap::new(),
            abandoned: 0,
            time_to_recover_ms: new_histogram(),
        }
    }
}

/// One step's responses.
#[derive(Debug, Clone)]
pub struct StepTally {
    pub count: u64,
    pub errors: BTreeMap<&'static str, u64>,
    /// Queue wait plus service time, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Default for StepTally {
    fn default() -> Self {
        Self {
            count: 0,
            errors: BTreeMap::new(),
            latency_us: new_histogram(),
        }
    }
}

/// Everything a shard counted.
#[derive(Debug, Clone)]
pub struct Tally {
    pub days: Vec<DayTally>,
    /// Each day's queue wait, in microseconds.
    pub day_wait_us: Vec<Histogram<u64>>,
    /// The highest count of journeys in progress in each minute.
    pub in_progress_by_minute: Vec<u32>,
    /// The highest count of journeys with a live server-side flow in each
    /// minute: in progress and not waiting for a letter.
    pub flows_by_minute: Vec<u32>,
    pub kinds: [KindTally; 5],
    pub steps: Vec<StepTally>,
    /// Journeys still in progress when the run stopped, by kind.
    pub in_flight: [u64; 5],
}

/// Creates a histogram of 3 significant digits that grows to fit any value.
pub fn new_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new(3).expect("3 significant digits are valid");
    histogram.auto(true);
    histogram
}

impl Tally {
    pub fn new(days: u32) -> Self {
        let minutes = days as usize * 1_440;
        Self {
            days: vec![DayTally::default(); days as usize],
            day_wait_us: (0..days).map(|_| new_histogram()).collect(),
            in_progress_by_minute: vec![0; minutes],
            flows_by_minute: vec![0; minutes],
            kinds: Default::default(),
            steps: (0..STEP_NAMES.len())
                .map(|_| StepTally::default())
                .collect(),
            in_flight: [0; 5],
        }
    }

    pub fn kind(&mut self, kind: JourneyKind) -> &mut KindTally {
        &mut self.kinds[kind.index()]
    }

    /// Adds another shard's tally, which covers the same days.
    pub fn merge(&mut self, other: &Tally) {
        for (day, theirs) in self.days.iter_mut().zip(&other.days) {
            day.add(theirs);
        }
        for (wait, theirs) in self.day_wait_us.iter_mut().zip(&other.day_wait_us) {
            wait.add(theirs).expect("auto-resizing histograms merge");
        }
        for (mine, theirs) in [
            (
                &mut self.in_progress_by_minute,
                &other.in_progress_by_minute,
            ),
            (&mut self.flows_by_minute, &other.flows_by_minute),
        ] {
            for (count, their) in mine.iter_mut().zip(theirs) {
                *count += their;
            }
        }
        for (kind, theirs) in self.kinds.iter_mut().zip(&other.kinds) {
            kind.started += theirs.started;
            kind.completed += theirs.completed;
            kind.abandoned += theirs.abandoned;
            for (reason, count) in &theirs.failed {
                *kind.failed.entry(reason).or_default() += count;
            }
            kind.time_to_recover_ms
                .add(&theirs.time_to_recover_ms)
                .expect("auto-resizing histograms merge");
        }
        for (step, theirs) in self.steps.iter_mut().zip(&other.steps) {
            step.count += theirs.count;
            for (code, count) in &theirs.errors {
                *step.errors.entry(code).or_default() += count;
            }
            step.latency_us
                .add(&theirs.latency_us)
                .expect("auto-resizing histograms merge");
        }
        for (count, theirs) in self.in_flight.iter_mut().zip(other.in_flight) {
            *count += theirs;
        }
    }
}
