//! The report of a run, as written to report.json.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::providers::ProviderStats;

/// Bumped whenever a field is added, changes meaning or goes away;
/// docs/report.schema.json describes the current version.
pub const REPORT_SCHEMA_VERSION: u32 = 3;

/// The recoverylab build that wrote a report.
pub const RECOVERYLAB_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    /// The recoverylab version that wrote the report.
    pub recoverylab_version: String,
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
    /// The mocks' fault profile, or null when the run used other providers.
    pub fault_profile: Option<FaultProfileInfo>,
    /// Periods when load users found the service refusing connections, in
    /// seconds from the start of load.
    pub service_outages: Vec<ServiceOutage>,
    /// Per journey kind, how many journeys reached each step and where the
    /// others were lost, with why.
    pub funnels: BTreeMap<String, Vec<FunnelStep>>,
    /// Traffic and latency per interval of the load.
    pub timeline: Timeline,
    /// The scenario's thresholds with their verdicts, by target, and in
    /// the file's order within a target.
    pub thresholds: Vec<ThresholdResult>,
    /// The verdicts of the scenario's `[abuse]` attacks, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse: Option<crate::abuse::AbuseReport>,
    /// The secret-leak check; `None` in reports written before it existed.
    /// Kept last, so the line numbers of findings in report.json hold for
    /// the file as written.
    #[serde(default)]
    pub secret_leaks: Option<crate::leak_check::SecretLeaks>,
}

/// One step of a journey's funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunnelStep {
    pub step: String,
    /// Journeys that sent this step at least once.
    pub reached: u64,
    /// Journeys that ended at this step without completing, by reason: a
    /// failure reason, or `abandoned`.
    pub lost: BTreeMap<String, u64>,
}

/// Per-interval figures of the load, summarised from the interval
/// histograms that the interval log contains in full.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Timeline {
    /// Length of an interval in seconds; the last one may be shorter.
    pub interval_s: f64,
    /// The interval log's file name in the output folder.
    pub interval_log: String,
    pub intervals: Vec<IntervalSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IntervalSummary {
    /// Start of the interval, in seconds from the start of load.
    pub start_s: f64,
    pub duration_s: f64,
    /// Steps that got a response in the interval.
    pub steps: u64,
    /// Of those, responses that were not the expected success.
    pub step_errors: u64,
    /// Journeys that ended in the interval.
    pub journeys_completed: u64,
    pub journeys_failed: u64,
    pub journeys_abandoned: u64,
    /// Latency of every step in the interval, in microseconds; `None` when
    /// no step got a response.
    pub latency_us: Option<Percentiles>,
}

/// The verdict of one threshold of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThresholdResult {
    /// The threshold's target, such as `step:sign_in.code`.
    pub target: String,
    /// The threshold as written, such as `p(99) < 250ms`.
    pub expression: String,
    /// The measured value, in `unit`; `None` when nothing was measured.
    pub value: Option<f64>,
    /// The limit, in `unit`.
    pub limit: f64,
    /// `ms`, `ratio` or `count`.
    #[schemars(extend("enum" = ["ms", "ratio", "count"]))]
    pub unit: String,
    pub pass: bool,
    /// Whether this threshold's failure stopped the load early.
    pub aborted_run: bool,
    /// One line naming the threshold, the value and the limit.
    pub message: String,
}

impl Report {
    /// Returns the faults the mocks injected, as provider, fault kind and
    /// count, leaving out kinds that did not occur.
    pub fn injected_faults(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.providers.iter().flat_map(|(provider, traffic)| {
            traffic
                .stats
                .faults
                .iter()
                .filter(|(_, count)| **count > 0)
                .map(move |(kind, count)| (provider.as_str(), kind.as_str(), *count))
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FaultProfileInfo {
    /// The profile file, or "healthy" when the scenario names none.
    pub file: String,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceOutage {
    pub start_s: f64,
    /// `None` when the service had not come back when the run ended.
    pub end_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    pub service_url: String,
    /// Whether this run started the service and mocks itself.
    pub in_process: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoadSettings {
    pub users: usize,
    pub journeys_per_user: usize,
    pub people: u64,
    pub max_duration_s: f64,
    /// Journeys never started because every person of their kind was used.
    pub journeys_skipped: u64,
    /// Why the load ended: `completed` (every user ran its journeys),
    /// `max_duration`, `sigterm`, `threshold` (a threshold with
    /// abort_on_fail failed), or `interrupted` (stopped early otherwise, as
    /// by Ctrl-C). Journeys cut short count as in flight.
    #[schemars(extend("enum" = ["completed", "max_duration", "sigterm", "interrupted", "threshold"]))]
    pub stopped_by: String,
}

impl LoadSettings {
    /// Returns whether the load was cut short, by a signal or a threshold,
    /// rather than running its course.
    pub fn stopped_early(&self) -> bool {
        matches!(
            self.stopped_by.as_str(),
            "sigterm" | "interrupted" | "threshold"
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnrollmentStats {
    pub people: u64,
    pub already_enrolled: u64,
    pub duration_s: f64,
    pub people_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Throughput {
    pub journeys_completed_per_s: f64,
    pub steps_per_s: f64,
}

/// Outcomes of one journey kind; `started` always equals the sum of
/// `completed`, every `failed` count, `abandoned` and `in_flight`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JourneyOutcomes {
    pub started: u64,
    pub completed: u64,
    /// Failed journeys by classified reason.
    pub failed: BTreeMap<String, u64>,
    pub abandoned: u64,
    pub in_flight: u64,
    /// End-to-end time of completed journeys in microseconds, think time and
    /// waits for deliveries included.
    pub duration_us: Option<Percentiles>,
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepStats {
    pub count: u64,
    /// Responses that were not the expected success.
    pub errors: u64,
    /// Those responses by problem code, or by transport reason such as
    /// `connection_lost`.
    pub error_codes: BTreeMap<String, u64>,
    pub latency_us: Percentiles,
    /// The whole latency histogram in microseconds, in the HdrHistogram V2
    /// compressed encoding as base64, so reports of shards on several machines
    /// can be merged by any HdrHistogram library.
    pub histogram: String,
}

/// One provider's traffic during the load: its mock's counters, as this
/// run's share, and the delivery times people saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProviderTraffic {
    /// The counters of the provider's `GET /v1/stats` (docs/providers.md),
    /// less those read before the load; `in_transit` is the level at the end.
    #[serde(flatten)]
    pub stats: ProviderStats,
    /// Send-to-inbox time seen by synthetic people, in microseconds.
    pub delivery_latency_us: Option<Percentiles>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Encodes a histogram in the HdrHistogram V2 compressed format, as base64.
pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serialising a histogram into memory succeeds");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a histogram written by [`encode_histogram`].
pub fn decode_histogram(encoded: &str) -> Option<Histogram<u64>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_histograms_merge() {
        let mut first = crate::report::recorder::new_histogram();
        let mut second = crate::report::recorder::new_histogram();
        first.record(1_000).unwrap();
        second.record(9_000).unwrap();
        let mut merged = decode_histogram(&encode_histogram(&first)).expect("decodes");
        merged
            .add(decode_histogram(&encode_histogram(&second)).expect("decodes"))
            .unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged.max(), second.max());
    }
}
