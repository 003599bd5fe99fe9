//! Everything one virtual-time run needs, resolved from a scenario, an
//! optional calibration report and an optional what-if value.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};

use super::arrivals::ArrivalShape;
use crate::config::simulation::{Prices, DEFAULT_SERVICE_TIME_MS};
use crate::config::Scenario;
use crate::exit::{fail, ExitKind};
use crate::journeys::policy::Policy;
use crate::load::journeys::STEP_NAMES;
use crate::people::JourneyMix;
use crate::providers::profile::FaultProfile;
use crate::service::provider_clients::RetryPolicy;

pub const SECOND_US: u64 = 1_000_000;
pub const HOUR_US: u64 = 3_600 * SECOND_US;
pub const DAY_US: u64 = 24 * HOUR_US;

/// The arrival model of a run.
#[derive(Debug, Clone)]
pub enum Starts {
    /// Independent people arrive by a Poisson process of this shape.
    Open { shape: Box<ArrivalShape>, days: u32 },
    /// The scenario's `[load]` replayed: `users` people start one a
    /// `1 / users_per_second` apart, each running `journeys_per_user`
    /// journeys of one kind back to back, as goose's users do.
    Replay {
        users: u32,
        journeys_per_user: u32,
        users_per_second: f64,
    },
}

/// How long a letter takes, in virtual time.
#[derive(Debug, Clone, Copy)]
pub enum PostalTime {
    /// Business days on the calendar; letters land at 11:00 and are read
    /// after a delay drawn from `read_delay_hours`.
    Calendar { read_delay_hours: (f64, f64) },
    /// A business day lasts `business_day_us`, as in live runs with
    /// compressed postal time; letters are read at once.
    Compressed { business_day_us: u64 },
}

/// The service time of each step, indexed like [`STEP_NAMES`].
#[derive(Debug, Clone)]
pub struct ServiceTimes {
    /// Quantile tables in microseconds: a step's entry has
    /// [`QUANTILES`] values at quantiles `(i + 0.5) / QUANTILES`.
    steps: Vec<Vec<u32>>,
    /// The origin of the times, for the report.
    pub source: String,
}

/// Service times read from a live run, with the scenario that run ran.
pub struct Calibration {
    pub times: ServiceTimes,
    pub scenario: String,
}

/// Quantile points kept per calibrated step.
pub const QUANTILES: usize = 256;

impl ServiceTimes {
    /// Builds fixed times from the scenario's milliseconds per step.
    pub fn fixed(by_step: &BTreeMap<String, f64>, default_ms: f64) -> Self {
        let steps = STEP_NAMES
            .iter()
            .map(|step| {
                let ms = by_step.get(*step).copied().unwrap_or(default_ms);
                vec![(ms * 1_000.0).round() as u32]
            })
            .collect();
        Self {
            steps,
            source: "scenario".to_owned(),
        }
    }

    /// Reads each step's latency histogram from a live run's report.json.
    /// Steps the live run did not measure keep their time in `fallback`.
    pub fn calibrated(report: &Path, fallback: ServiceTimes) -> anyhow::Result<Calibration> {
        let text = std::fs::read_to_string(report).map_err(|error| {
            fail(
                ExitKind::InvalidInput,
                format!(
                    "cannot read the calibration report {}: {error}; give the report.json of a live run",
                    report.display()
                ),
            )
        })?;
        let kind = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| {
                value
                    .get("kind")
                    .and_then(|kind| kind.as_str().map(str::to_owned))
            });
        if kind.as_deref() == Some("simulation") {
            return Err(fail(
                ExitKind::InvalidInput,
                format!(
                    "{} is a simulation's report; calibrate from the report.json of a live run (`recoverylab run`)",
                    report.display()
                ),
            ));
        }
        let live: crate::report::Report = serde_json::from_str(&text).map_err(|error| {
            fail(
                ExitKind::InvalidInput,
                format!(
                    "{} is not a live run's report.json: {error}; give the report.json that `recoverylab run` wrote",
                    report.display()
                ),
            )
        })?;
        let mut steps = fallback.steps;
        let mut calibrated = 0;
        for (step, stats) in &live.steps {
            let Some(index) = STEP_NAMES.iter().position(|name| name == step) else {
                continue;
            };
            let Some(histogram) = crate::report::model::decode_histogram(&stats.histogram) else {
                return Err(fail(
                    ExitKind::InvalidInput,
                    format!(
                        "{}: the histogram of step {step} does not decode; give an unedited report.json",
                        report.display()
                    ),
                ));
            };
            if histogram.is_empty() {
                continue;
            }
            steps[index] = (0..QUANTILES)
                .map(|i| {
                    let quantile = (i as f64 + 0.5) / QUANTILES as f64;
                    histogram
                        .value_at_quantile(quantile)
                        .min(u64::from(u32::MAX)) as u32
                })
                .collect();
            calibrated += 1;
        }
        if calibrated == 0 {
            return Err(fail(
                ExitKind::InvalidInput,
                format!(
                    "{} measured no step; calibrate from a run that completed journeys",
                    report.display()
                ),
            ));
        }
        Ok(Calibration {
            times: Self {
                steps,
                source: report.display().to_string(),
            },
            scenario: live.scenario,
        })
    }

    /// Draws a service time for step `index` from `uniform`, a number in [0, 1).
    #[inline]
    pub fn draw_us(&self, index: usize, uniform: f64) -> u64 {
        let table = &self.steps[index];
        let at = ((uniform * table.len() as f64) as usize).min(table.len() - 1);
        u64::from(table[at])
    }

    /// Returns the median service time of each step, in microseconds.
    pub fn medians_us(&self) -> BTreeMap<&'static str, u64> {
        STEP_NAMES
            .iter()
            .zip(&self.steps)
            .map(|(step, table)| (*step, u64::from(table[table.len() / 2])))
            .collect()
    }
}

/// A resolved virtual-time run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: String,
    pub seed: u64,
    pub starts: Starts,
    /// Midnight of the first simulated day.
    pub start: NaiveDateTime,
    /// Virtual time at which the run stops; journeys still going are in flight.
    pub horizon_us: u64,
    pub mix: JourneyMix,
    pub think_us: (u64, u64),
    pub abandon_probability: f64,
    pub typo_probability: f64,
    pub code_wait_us: u64,
    pub postal: PostalTime,
    pub transit_business_days: (u32, u32),
    pub profile: FaultProfile,
    pub policy: Policy,
    pub retry: RetryPolicy,
    pub instances: u32,
    pub workers_per_instance: u32,
    pub service: ServiceTimes,
    pub prices: Prices,
    /// Names of the arrival surges, for the report.
    pub surge_names: Vec<String>,
}

/// Returns the Monday that replayed `[load]` runs start on. The calendar does not
/// matter to them, since their postal time is compressed.
fn replay_start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2027, 1, 4)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

impl Plan {
    /// Resolves the plan of `scenario`. `days` overrides `simulation.days`.
    pub fn new(scenario: &Scenario, days: Option<u32>) -> Self {
        let mut policy = Policy::default();
        let (starts, start, horizon_us, postal, instances, workers, service, prices, surge_names) =
            match &scenario.simulation {
                Some(simulation) => {
                    let days = days.unwrap_or(simulation.days);
                    policy.postal_temporary_password_validity =
                        chrono::Duration::days(i64::from(simulation.postal_validity_days));
                    (
                        Starts::Open {
                            shape: Box::new(simulation.arrivals.clone()),
                            days,
                        },
                        simulation
                            .start_date
                            .and_hms_opt(0, 0, 0)
                            .expect("midnight exists"),
                        u64::from(days + simulation.drain_days) * DAY_US,
                        PostalTime::Calendar {
                            read_delay_hours: simulation.letter_read_delay_hours,
                        },
                        simulation.instances,
                        simulation.workers_per_instance,
                        ServiceTimes::fixed(
                            &simulation.service_time_ms,
                            simulation.default_service_time_ms,
                        ),
                        simulation.prices.clone(),
                        simulation.surge_names.clone(),
                    )
                }
                None => (
                    Starts::Replay {
                        users: scenario.users as u32,
                        journeys_per_user: scenario.journeys_per_user as u32,
                        users_per_second: scenario.users_per_second,
                    },
                    replay_start(),
                    scenario.max_duration.as_micros() as u64,
                    PostalTime::Compressed {
                        business_day_us: (scenario.seconds_per_business_day * 1e6) as u64,
                    },
                    1,
                    // One worker per load user, so no step waits: a live run's
                    // latencies, taken as service times, already contain the
                    // queueing of that run. The report then does not depend on
                    // the machine it is made on.
                    scenario.users.max(1) as u32,
                    ServiceTimes::fixed(&BTreeMap::new(), DEFAULT_SERVICE_TIME_MS),
                    Prices {
                        email: 0.0,
                        sms: 0.0,
                        letter: 0.0,
                        currency: "USD".to_owned(),
                    },
                    Vec::new(),
                ),
            };
        Self {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            starts,
            start,
            horizon_us,
            mix: scenario.mix.clone(),
            think_us: (
                scenario.think_time_ms.0 * 1_000,
                scenario.think_time_ms.1 * 1_000,
            ),
            abandon_probability: scenario.abandon_probability,
            typo_probability: scenario.typo_probability,
            code_wait_us: scenario.code_wait.as_micros() as u64,
            postal,
            transit_business_days: scenario.postal_transit_business_days,
            profile: scenario.fault_profile.clone(),
            policy,
            retry: RetryPolicy::default(),
            instances,
            workers_per_instance: workers,
            service,
            prices,
            surge_names,
        }
    }

    /// Returns what in the plan is valid but probably not meant, such as a
    /// surge outside the days on which journeys start.
    pub fn warnings(&self) -> Vec<String> {
        let Starts::Open { shape, days } = &self.starts else {
            return Vec::new();
        };
        let first = self.start.date();
        let last = first + chrono::Duration::days(i64::from(*days) - 1);
        shape
            .surges
            .iter()
            .zip(&self.surge_names)
            .filter(|(surge, _)| surge.last_day < first || surge.first_day > last)
            .map(|(surge, name)| {
                format!(
                    "surge \"{name}\" ({} to {}) falls outside the days journeys start, {first} to {last}, so it changes nothing",
                    surge.first_day, surge.last_day
                )
            })
            .collect()
    }

    /// Days the report has a row for.
    pub fn report_days(&self) -> u32 {
        self.horizon_us.div_ceil(DAY_US) as u32
    }
}
