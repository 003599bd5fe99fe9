//! The open arrival process: journeys start as a Poisson process whose rate
//! follows an hour-of-day and a day-of-week shape, multiplied on dated
//! surges such as the week after an annual notice goes out.
//!
//! The rate is constant within each clock hour, so arrivals are drawn
//! exactly, not by thinning. Within an hour the gaps are exponential, and a
//! gap that runs past the hour's end is dropped and drawn again from the end
//! at the next hour's rate, which the exponential's lack of memory makes
//! exact.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SECONDS_PER_HOUR: f64 = 3600.0;

/// A span of days, both ends included, when arrivals are multiplied.
#[derive(Debug, Clone, PartialEq)]
pub struct Surge {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Multiplies the rate on those days; above 0.
    pub factor: f64,
}

/// How many journeys start, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalShape {
    /// Journeys started on a day whose hour and weekday factors average 1
    /// and that no surge covers.
    pub journeys_per_day: f64,
    /// Relative weights of the hours 0 to 23; only their ratios count.
    pub hour_of_day: [f64; 24],
    /// Relative weights of Monday to Sunday; only their ratios count.
    pub day_of_week: [f64; 7],
    pub surges: Vec<Surge>,
}

impl ArrivalShape {
    /// Returns a shape with the same rate at every hour of every day.
    pub fn flat(journeys_per_day: f64) -> Self {
        Self {
            journeys_per_day,
            hour_of_day: [1.0; 24],
            day_of_week: [1.0; 7],
            surges: Vec::new(),
        }
    }

    /// Checks that every number is finite and in range, naming the first
    /// one that is not.
    pub fn validate(&self) -> Result<(), String> {
        if !self.journeys_per_day.is_finite() || self.journeys_per_day < 0.0 {
            return Err(format!(
                "journeys_per_day is {}; give a number of 0 or more",
                self.journeys_per_day
            ));
        }
        check_weights("hour_of_day", &self.hour_of_day)?;
        check_weights("day_of_week", &self.day_of_week)?;
        for surge in &self.surges {
            if !surge.factor.is_finite() || surge.factor <= 0.0 {
                return Err(format!(
                    "the surge from {} has the factor {}; give a number above 0",
                    surge.first_day, surge.factor
                ));
            }
            if surge.last_day < surge.first_day {
                return Err(format!(
                    "the surge from {} ends on {}, before it starts; swap the days",
                    surge.first_day, surge.last_day
                ));
            }
        }
        Ok(())
    }

    /// Returns the arrival rate per second during the clock hour that
    /// contains `at`. Overlapping surges multiply.
    pub fn rate_per_second(&self, at: NaiveDateTime) -> f64 {
        let hour = self.hour_of_day[at.hour() as usize] / mean(&self.hour_of_day);
        let weekday = at.weekday().num_days_from_monday() as usize;
        let day = self.day_of_week[weekday] / mean(&self.day_of_week);
        let date = at.date();
        let surge: f64 = self
            .surges
            .iter()
            .filter(|surge| surge.first_day <= date && date <= surge.last_day)
            .map(|surge| surge.factor)
            .product();
        self.journeys_per_day / 24.0 / SECONDS_PER_HOUR * hour * day * surge
    }
}

fn check_weights(name: &str, weights: &[f64]) -> Result<(), String> {
    if let Some((index, weight)) = weights
        .iter()
        .enumerate()
        .find(|(_, weight)| !weight.is_finite() || **weight < 0.0)
    {
        return Err(format!(
            "{name}[{index}] is {weight}; give weights of 0 or more"
        ));
    }
    if weights.iter().all(|weight| *weight == 0.0) {
        return Err(format!(
            "{name} is all zeros; give at least one weight above 0"
        ));
    }
    Ok(())
}

fn mean(weights: &[f64]) -> f64 {
    weights.iter().sum::<f64>() / weights.len() as f64
}

/// The arrival times of one run, in seconds from its start, in order.
pub struct Arrivals {
    shape: ArrivalShape,
    rng: ChaCha8Rng,
    start: NaiveDateTime,
    /// Seconds from the start to the end of the run.
    end_s: f64,
    /// The time of the last arrival, or of the last hour boundary crossed.
    now_s: f64,
    /// The end of the current clock hour and its rate, kept so that an
    /// arrival costs one random draw and a logarithm.
    hour: Option<(f64, f64)>,
}

impl Arrivals {
    /// Draws arrivals from `start` for `duration_s` seconds. The shape must
    /// have passed [`ArrivalShape::validate`].
    pub fn new(shape: ArrivalShape, seed: u64, start: NaiveDateTime, duration_s: f64) -> Self {
        Self {
            shape,
            rng: ChaCha8Rng::seed_from_u64(seed),
            start,
            end_s: duration_s.max(0.0),
            now_s: 0.0,
            hour: None,
        }
    }

    /// Returns the end of the clock hour that contains `now_s`, in seconds
    /// from the start.
    fn hour_end(&self, now_s: f64) -> f64 {
        let offset = f64::from(self.start.minute() * 60 + self.start.second());
        ((now_s + offset) / SECONDS_PER_HOUR).floor() * SECONDS_PER_HOUR + SECONDS_PER_HOUR - offset
    }

    fn instant(&self, seconds: f64) -> NaiveDateTime {
        self.start + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    }
}

impl Iterator for Arrivals {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        while self.now_s < self.end_s {
            let (hour_end, rate) = match self.hour {
                Some(hour) => hour,
                None => {
                    let hour_end = self.hour_end(self.now_s).min(self.end_s);
                    let rate = self.shape.rate_per_second(self.instant(self.now_s));
                    *self.hour.insert((hour_end, rate))
                }
            };
            if rate > 0.0 {
                // An exponential gap by inversion; 1 - u lies in (0, 1].
                let uniform: f64 = self.rng.random();
                let gap = -(1.0 - uniform).ln() / rate;
                if self.now_s + gap < hour_end {
                    self.now_s += gap;
                    return Some(self.now_s);
                }
            }
            self.now_s = hour_end;
            self.hour = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monday_midnight() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    const DAY_S: f64 = 86_400.0;

    /// Asserts that a Poisson count is within five standard deviations of
    /// its mean, which a correct process misses about once in 1.7 million.
    fn assert_poisson(count: usize, mean: f64, label: &str) {
        let sigma = mean.sqrt();
        assert!(
            (count as f64 - mean).abs() <= 5.0 * sigma,
            "{label}: {count} arrivals, expected {mean:.0} ± {:.0}",
            5.0 * sigma
        );
    }

    #[test]
    fn flat_rate_gives_expected_count() {
        let arrivals: Vec<f64> = Arrivals::new(
            ArrivalShape::flat(10_000.0),
            1,
            monday_midnight(),
            7.0 * DAY_S,
        )
        .collect();
        assert_poisson(arrivals.len(), 70_000.0, "a week at 10,000 a day");
        assert!(
            arrivals.windows(2).all(|pair| pair[0] < pair[1]),
            "in order"
        );
        assert!(arrivals.iter().all(|at| (0.0..7.0 * DAY_S).contains(at)));
    }

    #[test]
    fn same_seed_same_arrivals() {
        let draw = |seed| -> Vec<f64> {
            Arrivals::new(ArrivalShape::flat(5_000.0), seed, monday_midnight(), DAY_S).collect()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn hour_shape_moves_arrivals() {
        let mut shape = ArrivalShape::flat(24_000.0);
        shape.hour_of_day = [0.0; 24];
        shape.hour_of_day[9] = 3.0;
        shape.hour_of_day[14] = 1.0;
        let mut per_hour = [0usize; 24];
        for at in Arrivals::new(shape.clone(), 3, monday_midnight(), 7.0 * DAY_S) {
            per_hour[((at % DAY_S) / SECONDS_PER_HOUR) as usize] += 1;
        }
        for (hour, count) in per_hour.iter().enumerate() {
            if hour != 9 && hour != 14 {
                assert_eq!(*count, 0, "hour {hour} has weight 0");
            }
        }
        // The day's 24,000 split 3 to 1 between the two hours.
        assert_poisson(per_hour[9], 7.0 * 18_000.0, "hour 9");
        assert_poisson(per_hour[14], 7.0 * 6_000.0, "hour 14");
    }

    #[test]
    fn weekdays_and_surges_scale_days() {
        let mut shape = ArrivalShape::flat(7_000.0);
        // Weekends carry no traffic; weekdays share the week's 49,000.
        shape.day_of_week = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let wednesday = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap();
        shape.surges.push(Surge {
            first_day: wednesday,
            last_day: wednesday,
            factor: 3.0,
        });
        let mut per_day = [0usize; 7];
        for at in Arrivals::new(shape, 4, monday_midnight(), 7.0 * DAY_S) {
            per_day[(at / DAY_S) as usize] += 1;
        }
        assert_eq!(per_day[5] + per_day[6], 0, "no weekend arrivals");
        for day in [0, 1, 3, 4] {
            assert_poisson(per_day[day], 9_800.0, "a plain weekday");
        }
        assert_poisson(per_day[2], 29_400.0, "the surge day");
    }

    #[test]
    fn start_inside_an_hour_keeps_hour_bounds() {
        let mut shape = ArrivalShape::flat(24_000.0);
        shape.hour_of_day = [0.0; 24];
        shape.hour_of_day[1] = 1.0;
        // From 00:30 for two hours: only 01:00 to 02:00 has traffic.
        let start = monday_midnight() + chrono::Duration::minutes(30);
        let arrivals: Vec<f64> = Arrivals::new(shape, 5, start, 2.0 * SECONDS_PER_HOUR).collect();
        assert!(
            arrivals.iter().all(|at| (1800.0..5400.0).contains(at)),
            "every arrival within 01:00 to 02:00"
        );
        assert_poisson(arrivals.len(), 24_000.0, "the one hour with traffic");
    }

    #[test]
    fn invalid_shapes_name_the_value() {
        type BreakShape = fn(&mut ArrivalShape);
        let cases: [(BreakShape, &str); 5] = [
            (
                |shape| shape.journeys_per_day = -1.0,
                "journeys_per_day is -1",
            ),
            (
                |shape| shape.hour_of_day[3] = f64::NAN,
                "hour_of_day[3] is NaN",
            ),
            (
                |shape| shape.day_of_week = [0.0; 7],
                "day_of_week is all zeros",
            ),
            (
                |shape| {
                    let day = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
                    shape.surges.push(Surge {
                        first_day: day,
                        last_day: day,
                        factor: 0.0,
                    });
                },
                "has the factor 0",
            ),
            (
                |shape| {
                    let first_day = NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
                    let last_day = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
                    shape.surges.push(Surge {
                        first_day,
                        last_day,
                        factor: 2.0,
                    });
                },
                "before it starts",
            ),
        ];
        for (break_shape, expected) in cases {
            let mut shape = ArrivalShape::flat(100.0);
            break_shape(&mut shape);
            let error = shape.validate().unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        assert!(ArrivalShape::flat(0.0).validate().is_ok());
    }
}
