//! The counters behind every mock's `GET /v1/stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::faults::Fault;
use super::inbox::lock;

/// A snapshot of one mock's counters, as `GET /v1/stats` returns it.
///
/// Counters only grow, except `in_transit`, which is a level: accepted messages
/// that have neither been delivered nor failed yet.
///
/// Fields a provider does not return read as 0, so that the report can read
/// the stats of providers other than these mocks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ProviderStats {
    /// Send requests that passed validation, outage rejections included.
    pub requests: u64,
    /// Sends that created a message (replays excluded).
    pub accepted: u64,
    /// Attempts that repeat an idempotency key the mock has already seen.
    pub retries: u64,
    /// Retries that returned the first attempt's message and delivered nothing.
    pub replayed: u64,
    /// Drawn faults by kind, every kind listed.
    pub faults: BTreeMap<String, u64>,
    /// Sends failed by an outage window, counted apart from drawn faults.
    pub outage_rejections: u64,
    pub delivered: u64,
    pub lost: u64,
    pub undeliverable: u64,
    pub bounced: u64,
    pub returned: u64,
    pub duplicates_injected: u64,
    /// Deliveries whose text equals an earlier delivery in the same inbox that was
    /// not an injected duplicate: the mark of a retry without an idempotency key.
    pub retry_duplicates: u64,
    pub in_transit: u64,
    /// Time from acceptance to delivery of the delivered messages.
    pub delivery_delay_ms: DelayPercentiles,
}

/// Percentiles of the delivery delay, in milliseconds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct DelayPercentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl ProviderStats {
    /// Returns the counts since `earlier` was read. `in_transit` is a level
    /// and `delivery_delay_ms` covers the mock's whole life, so both are kept
    /// as read now.
    pub fn since(&self, earlier: &ProviderStats) -> ProviderStats {
        let faults = self
            .faults
            .iter()
            .map(|(kind, count)| {
                let before = earlier.faults.get(kind).copied().unwrap_or(0);
                (kind.clone(), count.saturating_sub(before))
            })
            .collect();
        ProviderStats {
            requests: self.requests.saturating_sub(earlier.requests),
            accepted: self.accepted.saturating_sub(earlier.accepted),
            retries: self.retries.saturating_sub(earlier.retries),
            replayed: self.replayed.saturating_sub(earlier.replayed),
            faults,
            outage_rejections: self
                .outage_rejections
                .saturating_sub(earlier.outage_rejections),
            delivered: self.delivered.saturating_sub(earlier.delivered),
            lost: self.lost.saturating_sub(earlier.lost),
            undeliverable: self.undeliverable.saturating_sub(earlier.undeliverable),
            bounced: self.bounced.saturating_sub(earlier.bounced),
            returned: self.returned.saturating_sub(earlier.returned),
            duplicates_injected: self
                .duplicates_injected
                .saturating_sub(earlier.duplicates_injected),
            retry_duplicates: self
                .retry_duplicates
                .saturating_sub(earlier.retry_duplicates),
            in_transit: self.in_transit,
            delivery_delay_ms: self.delivery_delay_ms,
        }
    }

    /// Returns the faults drawn, of every kind.
    pub fn faults_total(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Returns the deliveries the provider reported failed: undeliverable
    /// texts, bounced emails and returned letters.
    pub fn failed_deliveries(&self) -> u64 {
        self.undeliverable + self.bounced + self.returned
    }
}

/// Atomic counters, so that reading stats costs the same at any point of a run.
pub(crate) struct MockStats {
    requests: AtomicU64,
    accepted: AtomicU64,
    retries: AtomicU64,
    replayed: AtomicU64,
    faults: [AtomicU64; Fault::ALL.len()],
    outage_rejections: AtomicU64,
    delivered: AtomicU64,
    lost: AtomicU64,
    undeliverable: AtomicU64,
    bounced: AtomicU64,
    returned: AtomicU64,
    duplicates_injected: AtomicU64,
    retry_duplicates: AtomicU64,
    in_transit: AtomicU64,
    delivery_delay_ms: Mutex<Histogram<u64>>,
}

/// One of the plain counters of [`MockStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Requests,
    Accepted,
    Retries,
    Replayed,
    OutageRejections,
    Lost,
    Undeliverable,
    Bounced,
    Returned,
    DuplicatesInjected,
    RetryDuplicates,
}

impl MockStats {
    pub(crate) fn new() -> Self {
        Self {
            requests: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            faults: std::array::from_fn(|_| AtomicU64::new(0)),
            outage_rejections: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            undeliverable: AtomicU64::new(0),
            bounced: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            duplicates_injected: AtomicU64::new(0),
            retry_duplicates: AtomicU64::new(0),
            in_transit: AtomicU64::new(0),
            // Three significant digits; the histogram grows to fit any delay.
            delivery_delay_ms: Mutex::new(
                Histogram::new(3).expect("3 significant digits is valid"),
            ),
        }
    }

    fn counter(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::Requests => &self.requests,
            Counter::Accepted => &self.accepted,
            Counter::Retries => &self.retries,
            Counter::Replayed => &self.replayed,
            Counter::OutageRejections => &self.outage_rejections,
            Counter::Lost => &self.lost,
            Counter::Undeliverable => &self.undeliverable,
            Counter::Bounced => &self.bounced,
            Counter::Returned => &self.returned,
            Counter::DuplicatesInjected => &self.duplicates_injected,
            Counter::RetryDuplicates => &self.retry_duplicates,
        }
    }

    pub(crate) fn add(&self, counter: Counter) {
        self.counter(counter).fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_fault(&self, fault: Fault) {
        self.faults[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message that is now on its way to delivery.
    pub(crate) fn start_transit(&self) {
        self.in_transit.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message that left transit with `outcome` (lost, undeliverable,
    /// bounced or returned).
    pub(crate) fn end_transit(&self, outcome: Counter) {
        self.in_transit.fetch_sub(1, Ordering::Relaxed);
        self.add(outcome);
    }

    /// Counts a message that left transit into its inbox after `delay`.
    pub(crate) fn record_delivery(&self, delay: Duration) {
        self.in_transit.fetch_sub(1, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        lock(&self.delivery_delay_ms).saturating_record(millis);
    }

    pub(crate) fn snapshot(&self) -> ProviderStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let faults = Fault::ALL
            .iter()
            .map(|fault| (fault.name().to_owned(), load(&self.faults[fault.index()])))
            .collect();
        let histogram = lock(&self.delivery_delay_ms);
        let delivery_delay_ms = DelayPercentiles {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        };
        ProviderStats {
            requests: load(&self.requests),
            accepted: load(&self.accepted),
            retries: load(&self.retries),
            replayed: load(&self.replayed),
            faults,
            outage_rejections: load(&self.outage_rejections),
            delivered: load(&self.delivered),
            lost: load(&self.lost),
            undeliverable: load(&self.undeliverable),
            bounced: load(&self.bounced),
            returned: load(&self.returned),
            duplicates_injected: load(&self.duplicates_injected),
            retry_duplicates: load(&self.retry_duplicates),
            in_transit: load(&self.in_transit),
            delivery_delay_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_every_fault_kind() {
        let stats = MockStats::new();
        stats.add_fault(Fault::Http503);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.faults.len(), Fault::ALL.len());
        assert_eq!(snapshot.faults["http_503"], 1);
        assert_eq!(snapshot.faults["bounce"], 0);
    }

    #[test]
    fn delivery_moves_out_of_transit() {
        let stats = MockStats::new();
        stats.start_transit();
        stats.start_transit();
        stats.record_delivery(Duration::from_millis(120));
        stats.end_transit(Counter::Bounced);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.in_transit, 0);
        assert_eq!(snapshot.delivered, 1);
        assert_eq!(snapshot.bounced, 1);
        assert_eq!(snapshot.delivery_delay_ms.count, 1);
        assert_eq!(snapshot.delivery_delay_ms.max, 120);
    }
}
