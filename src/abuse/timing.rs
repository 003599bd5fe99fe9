//! Comparing two sets of paired response times: the median of their
//! differences with a bootstrap confidence interval. Plain code with no I/O.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples behind each interval: enough for stable 2.5th and
/// 97.5th percentiles, and cheap next to the requests that made the samples.
const RESAMPLES: usize = 2_000;

/// How much slower `first` is than `second`, in microseconds: the median
/// of the paired differences, with each side's own median for reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MedianDifference {
    pub first_median_us: f64,
    pub second_median_us: f64,
    pub difference_us: f64,
    /// The 95% bootstrap confidence interval of the difference.
    pub low_us: f64,
    pub high_us: f64,
}

impl MedianDifference {
    /// Returns whether the whole confidence interval lies within
    /// `-tolerance_us ..= tolerance_us`: the data show that any difference is
    /// smaller than the tolerance. An interval wider than the tolerance band
    /// fails too, because such data could hide a difference of that size.
    pub fn within(&self, tolerance_us: f64) -> bool {
        self.low_us >= -tolerance_us && self.high_us <= tolerance_us
    }
}

/// Compares paired samples in microseconds: `first[i]` and `second[i]` were
/// measured back to back. The difference is the median of the paired
/// differences, so drift that lasts longer than a pair cancels out. Its
/// interval comes from resampling the pairs with `seed`.
///
/// # Panics
///
/// Panics when the samples are empty or of different lengths.
pub fn compare_paired(first: &[f64], second: &[f64], seed: u64) -> MedianDifference {
    assert!(
        !first.is_empty() && first.len() == second.len(),
        "comparing pairs needs the same number of samples on both sides"
    );
    let differences: Vec<f64> = first.iter().zip(second).map(|(a, b)| a - b).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = vec![0.0; differences.len()];
    let mut medians = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        resample(&differences, &mut draw, &mut rng);
        medians.push(median(&mut draw));
    }
    medians.sort_by(f64::total_cmp);
    MedianDifference {
        first_median_us: median(&mut first.to_vec()),
        second_median_us: median(&mut second.to_vec()),
        difference_us: median(&mut differences.clone()),
        low_us: medians[RESAMPLES * 25 / 1000],
        high_us: medians[RESAMPLES * 975 / 1000 - 1],
    }
}

fn resample(from: &[f64], into: &mut [f64], rng: &mut ChaCha8Rng) {
    for slot in into.iter_mut() {
        *slot = from[rng.random_range(0..from.len())];
    }
}

/// Returns the median, reordering `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// Draws `count` response times around `centre_us` with 1 ms of noise.
    fn samples(centre_us: f64, count: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 1_000.0).unwrap();
        (0..count)
            .map(|_| centre_us + noise.sample(&mut rng))
            .collect()
    }

    #[test]
    fn equal_medians_fall_within_a_small_tolerance() {
        let first = samples(20_000.0, 100, 1);
        let second = samples(20_000.0, 100, 2);
        let compared = compare_paired(&first, &second, 9);
        assert!(compared.low_us <= 0.0, "{compared:?}");
        assert!(compared.high_us >= 0.0, "{compared:?}");
        assert!(compared.within(1_000.0), "{compared:?}");
    }

    #[test]
    fn three_millisecond_difference_is_detected() {
        let first = samples(23_000.0, 100, 3);
        let second = samples(20_000.0, 100, 4);
        let compared = compare_paired(&first, &second, 9);
        assert!((compared.difference_us - 3_000.0).abs() < 500.0);
        assert!(compared.low_us > 2_000.0, "{compared:?}");
        assert!(!compared.within(2_000.0));
    }

    #[test]
    fn too_few_samples_are_not_within() {
        let first = samples(20_000.0, 5, 5);
        let second = samples(20_000.0, 5, 6);
        let compared = compare_paired(&first, &second, 9);
        assert!(!compared.within(100.0), "{compared:?}");
    }

    #[test]
    fn same_samples_and_seed_give_same_interval() {
        let first = samples(20_000.0, 50, 7);
        let second = samples(21_000.0, 50, 8);
        assert_eq!(
            compare_paired(&first, &second, 9),
            compare_paired(&first, &second, 9)
        );
    }

    #[test]
    fn pairs_cancel_shared_drift() {
        // Both sides drift together by up to 6 ms; the first is 0.5 ms slower.
        let drift: Vec<f64> = (0..100).map(|i| f64::from(i % 7) * 1_000.0).collect();
        let second: Vec<f64> = drift.iter().map(|d| 15_000.0 + d).collect();
        let first: Vec<f64> = second.iter().map(|s| s + 500.0).collect();
        let paired = compare_paired(&first, &second, 9);
        assert_eq!(paired.difference_us, 500.0);
        assert!(paired.within(1_000.0), "{paired:?}");
        assert!(!paired.within(400.0), "{paired:?}");
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
    }
}
