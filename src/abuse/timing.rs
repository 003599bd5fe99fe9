//! Comparing two sets of response times: the difference of their medians
//! with a bootstrap confidence interval. Plain code with no I/O.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples behind each interval: enough for stable 2.5th and
/// 97.5th percentiles, and cheap next to the requests that made the samples.
const RESAMPLES: usize = 2_000;

/// The difference of two medians, `first - second`, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// Compares the medians of two samples in microseconds. Resampling draws from
/// `seed`, so the same samples always give the same interval.
///
/// # Panics
///
/// Panics when either sample is empty.
pub fn compare_medians(first: &[f64], second: &[f64], seed: u64) -> MedianDifference {
    assert!(
        !first.is_empty() && !second.is_empty(),
        "comparing medians needs samples on both sides"
    );
    let first_median = median(&mut first.to_vec());
    let second_median = median(&mut second.to_vec());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut first_draw = vec![0.0; first.len()];
    let mut second_draw = vec![0.0; second.len()];
    let mut differences = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        resample(first, &mut first_draw, &mut rng);
        resample(second, &mut second_draw, &mut rng);
        differences.push(median(&mut first_draw) - median(&mut second_draw));
    }
    differences.sort_by(f64::total_cmp);
    MedianDifference {
        first_median_us: first_median,
        second_median_us: second_median,
        difference_us: first_median - second_median,
        low_us: differences[RESAMPLES * 25 / 1000],
        high_us: differences[RESAMPLES * 975 / 1000 - 1],
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
        let compared = compare_medians(&first, &second, 9);
        assert!(compared.low_us <= 0.0 && compared.high_us >= 0.0);
        assert!(compared.within(1_000.0), "{compared:?}");
    }

    #[test]
    fn three_millisecond_difference_is_detected() {
        let first = samples(23_000.0, 100, 3);
        let second = samples(20_000.0, 100, 4);
        let compared = compare_medians(&first, &second, 9);
        assert!((compared.difference_us - 3_000.0).abs() < 500.0);
        assert!(compared.low_us > 2_000.0, "{compared:?}");
        assert!(!compared.within(2_000.0));
    }

    #[test]
    fn too_few_samples_are_not_within() {
        let first = samples(20_000.0, 5, 5);
        let second = samples(20_000.0, 5, 6);
        let compared = compare_medians(&first, &second, 9);
        assert!(!compared.within(100.0), "{compared:?}");
    }

    #[test]
    fn same_samples_and_seed_give_same_interval() {
        let first = samples(20_000.0, 50, 7);
        let second = samples(21_000.0, 50, 8);
        assert_eq!(
            compare_medians(&first, &second, 9),
            compare_medians(&first, &second, 9)
        );
    }

    #[test]
    fn median_of_even_count_is_mean_of_middle() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
    }
}
