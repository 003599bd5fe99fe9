//! The statistics behind `compare`'s verdicts: confidence intervals of
//! quantiles from order statistics, and the two-proportion z-test.

use hdrhistogram::Histogram;

/// Returns the 1-based ranks of the order statistics that bound the
/// `quantile` of `samples` values with the confidence whose normal quantile
/// is `z`: n·q ± z·√(n·q·(1−q)), widened to whole ranks. Returns `None` when
/// a rank falls outside 1..=n, because then the sample cannot bound the
/// quantile on that side: at z = 2.576 (99%), p50 needs 11 samples, p90
/// 60 and p99 657.
pub fn quantile_rank_interval(samples: u64, quantile: f64, z: f64) -> Option<(u64, u64)> {
    let n = samples as f64;
    let centre = n * quantile;
    let spread = z * (n * quantile * (1.0 - quantile)).sqrt();
    let lower = (centre - spread).floor();
    let upper = (centre + spread).ceil();
    if lower < 1.0 || upper > n {
        return None;
    }
    Some((lower as u64, upper as u64))
}

/// Returns the confidence interval of `quantile` from a histogram, widened
/// to the edges of the histogram's buckets, in the histogram's unit.
pub fn quantile_interval_us(
    histogram: &Histogram<u64>,
    quantile: f64,
    z: f64,
) -> Option<(u64, u64)> {
    let (lower, upper) = quantile_rank_interval(histogram.len(), quantile, z)?;
    let low = histogram.lowest_equivalent(value_at_rank(histogram, lower));
    let high = histogram.highest_equivalent(value_at_rank(histogram, upper));
    Some((low, high))
}

/// Returns the `rank`-th smallest recorded value, counting from 1, as the
/// top of its bucket.
fn value_at_rank(histogram: &Histogram<u64>, rank: u64) -> u64 {
    let mut seen = 0;
    for bucket in histogram.iter_recorded() {
        seen += bucket.count_at_value();
        if seen >= rank {
            return bucket.value_iterated_to();
        }
    }
    histogram.max()
}

/// A count of events, such as errors, in a number of trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proportion {
    pub events: u64,
    pub trials: u64,
}

impl Proportion {
    pub fn rate(self) -> f64 {
        self.events as f64 / self.trials as f64
    }

    pub fn percent(self) -> Option<f64> {
        (self.trials > 0).then(|| self.rate() * 100.0)
    }
}

/// Returns the two-proportion z statistic of `after` against `before`, with
/// the pooled standard error; 0 when both rates are 0 or both are 1.
pub fn two_proportion_z(before: Proportion, after: Proportion) -> f64 {
    let pooled = (before.events + after.events) as f64 / (before.trials + after.trials) as f64;
    let variance =
        pooled * (1.0 - pooled) * (1.0 / before.trials as f64 + 1.0 / after.trials as f64);
    if variance <= 0.0 {
        return 0.0;
    }
    (after.rate() - before.rate()) / variance.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = crate::report::recorder::new_histogram();
        for value in values {
            histogram.record(value).unwrap();
        }
        histogram
    }

    #[test]
    fn rank_interval_of_median_of_100() {
        // 50 ± 2.576·√25 = 50 ± 12.88, widened to whole ranks.
        assert_eq!(quantile_rank_interval(100, 0.5, 2.576), Some((37, 63)));
    }

    #[test]
    fn rank_interval_of_p90_of_1000() {
        // 900 ± 2.576·√90 = 900 ± 24.44.
        assert_eq!(quantile_rank_interval(1000, 0.9, 2.576), Some((875, 925)));
    }

    #[test]
    fn rank_interval_of_p99_needs_657_samples() {
        assert_eq!(
            quantile_rank_interval(200, 0.99, 2.576),
            None,
            "200 samples"
        );
        assert_eq!(
            quantile_rank_interval(656, 0.99, 2.576),
            None,
            "656 samples"
        );
        assert!(
            quantile_rank_interval(657, 0.99, 2.576).is_some(),
            "657 samples"
        );
    }

    #[test]
    fn rank_interval_of_tiny_sample_is_none() {
        assert_eq!(quantile_rank_interval(5, 0.5, 2.576), None);
        assert_eq!(quantile_rank_interval(0, 0.5, 2.576), None);
    }

    #[test]
    fn quantile_interval_reads_order_statistics() {
        // Values 1,000 to 100,000 µs in steps of 1,000: rank r is r ms.
        let histogram = histogram_of((1..=100).map(|rank| rank * 1_000));
        let (low, high) = quantile_interval_us(&histogram, 0.5, 2.576).unwrap();
        assert_eq!(
            histogram.lowest_equivalent(37_000),
            low,
            "lower end is rank 37"
        );
        assert_eq!(
            histogram.highest_equivalent(63_000),
            high,
            "upper end is rank 63"
        );
        assert!(
            low <= 37_000 && high >= 63_000,
            "bucket edges widen the interval: {low}..{high}"
        );
    }

    #[test]
    fn z_statistic_of_known_counts() {
        // Pooled rate 0.05; standard error √(0.05·0.95·(2/100)) = 0.030822.
        let z = two_proportion_z(
            Proportion {
                events: 0,
                trials: 100,
            },
            Proportion {
                events: 10,
                trials: 100,
            },
        );
        assert!((z - 3.2444).abs() < 1e-3, "z = {z}");
        let same = two_proportion_z(
            Proportion {
                events: 0,
                trials: 100,
            },
            Proportion {
                events: 0,
                trials: 50,
            },
        );
        assert_eq!(same, 0.0, "no errors in either");
    }
}
