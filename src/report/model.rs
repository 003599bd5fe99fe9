//! The report of a run, as written to report.json.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or goes away.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub scenario: String,
    pub scenario_file: String,
    pub seed: u64,
    pub hash_profile: String,
    pub started_at: String,
    /// Seconds from the start of load to its end, enrollment excluded.
    pub duration_s: f64,
    pub target: Target,
    pub load: LoadSettings,
    pub enrollment: EnrollmentStats,
    pub throughput: Throughput,
    pub journeys: BTreeMap<String, JourneyOutcomes>,
    pub steps: BTreeMap<String, StepStats>,
    pub providers: BTreeMap<String, ProviderTraffic>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub service_url: String,
    /// Whether this run started the service and mocks itself.
    pub in_process: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSettings {
    pub users: usize,
    pub journeys_per_user: usize,
    pub people: u64,
    pub max_duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentStats {
    pub people: u64,
    pub already_enrolled: u64,
    pub duration_s: f64,
    pub people_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    pub journeys_completed_per_s: f64,
    pub steps_per_s: f64,
}

/// Outcomes of one journey kind; `started` always equals the sum of
/// `completed`, every `failed` count, `abandoned` and `in_flight`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JourneyOutcomes {
    pub started: u64,
    pub completed: u64,
    /// Failed journeys by classified reason.
    pub failed: BTreeMap<String, u64>,
    pub abandoned: u64,
    pub in_flight: u64,
    /// End-to-end time of completed journeys, in milliseconds.
    pub duration_ms: Option<Percentiles>,
}

impl JourneyOutcomes {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Returns whether started equals completed + failed + abandoned + in flight.
    pub fn accounting_holds(&self) -> bool {
        self.started == self.completed + self.failed_total() + self.abandoned + self.in_flight
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepStats {
    pub count: u64,
    /// Responses that were not the expected success.
    pub errors: u64,
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderTraffic {
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub in_transit: u64,
    /// Send-to-inbox time seen by synthetic people, in microseconds.
    pub delivery_latency_us: Option<Percentiles>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram, scaled down by `divisor`.
    pub fn from_histogram(histogram: &Histogram<u64>, divisor: u64) -> Self {
        let at = |quantile: f64| histogram.value_at_quantile(quantile) / divisor;
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: histogram.max() / divisor,
        }
    }
}
