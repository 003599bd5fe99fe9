//! The simulation report: what report.json, report.md and report.html of a
//! `recoverylab simulate` run hold.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::plan::{Plan, Starts, DAY_US};
use super::tally::Tally;
use crate::calendar::is_business_day;
use crate::load::journeys::STEP_NAMES;
use crate::people::JourneyKind;
use crate::report::model::Percentiles;

/// Bumped when a field changes meaning or goes away.
pub const SIMULATION_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SimulationReport {
    /// Always `simulation`, which marks the report as a simulation's.
    pub kind: String,
    pub schema_version: u32,
    pub recoverylab_version: String,
    pub scenario: String,
    pub seed: u64,
    pub settings: SimulationSettingsView,
    pub summary: Summary,
    /// Outcomes by journey kind.
    pub journeys: BTreeMap<String, JourneySummary>,
    /// Latency of each step the service served: queue wait plus service time.
    pub steps: BTreeMap<String, StepSummary>,
    /// One row per simulated day, in order.
    pub days: Vec<Day>,
    /// The same scenario run again with one setting changed, side by side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what_if: Option<WhatIf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SimulationSettingsView {
    /// A date, `YYYY-MM-DD`.
    #[schemars(with = "String")]
    pub first_day: NaiveDate,
    /// Days on which journeys start.
    pub days: u32,
    /// Days the run goes on after the last start so journeys can finish.
    pub drain_days: u32,
    /// `open` for Poisson arrivals from `[simulation]`, `replay` for the
    /// scenario's `[load]` replayed.
    pub arrivals: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journeys_per_day: Option<f64>,
    pub surges: Vec<SurgeView>,
    /// Service instances, each simulated as an independent shard.
    pub instances: u32,
    pub workers_per_instance: u32,
    pub postal_validity_days: u32,
    pub fault_profile: String,
    /// `scenario`, or the live report the service times were read from.
    pub service_times_from: String,
    /// Median service time of each step taken, in milliseconds.
    pub service_time_median_ms: BTreeMap<String, f64>,
    pub prices: PricesView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SurgeView {
    pub name: String,
    /// A date, `YYYY-MM-DD`.
    #[schemars(with = "String")]
    pub first_day: NaiveDate,
    /// A date, `YYYY-MM-DD`.
    #[schemars(with = "String")]
    pub last_day: NaiveDate,
    pub factor: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PricesView {
    pub email: f64,
    pub sms: f64,
    pub letter: f64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    /// Journeys still going when the run stopped.
    pub in_flight: u64,
    /// Completed over started.
    pub success_rate: f64,
    pub emails_sent: u64,
    pub sms_sent: u64,
    pub letters_mailed: u64,
    pub letters_returned: u64,
    /// Postal temporary passwords that had expired when their reader signed in.
    pub letters_expired: u64,
    /// Forgot-password codes sent by email after SMS failed or was down.
    pub sms_moved_to_email: u64,
    /// Provider sends that failed after every retry.
    pub sends_failed: u64,
    /// The day the most letters were mailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busiest_letter_day: Option<DayCount>,
    /// The maximum of journeys in progress: each instance's highest count in
    /// a minute, summed over instances. It exceeds the exact peak by at most
    /// a minute's starts.
    pub peak_in_progress: Peak,
    /// The maximum of journeys with a live server-side flow (not waiting for
    /// a letter), counted as `peak_in_progress` is.
    pub peak_flows: Peak,
    /// Time a step waited for a worker, in microseconds.
    pub queue_wait_us: Percentiles,
    pub cost: Cost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DayCount {
    /// A date, `YYYY-MM-DD`.
    #[schemars(with = "String")]
    pub date: NaiveDate,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Peak {
    pub count: u64,
    /// The minute of the peak, as `YYYY-MM-DD HH:MM`.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cost {
    pub email: f64,
    pub sms: f64,
    pub letters: f64,
    pub total: f64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JourneySummary {
    pub started: u64,
    pub completed: u64,
    pub failed: BTreeMap<String, u64>,
    pub abandoned: u64,
    pub in_flight: u64,
    pub success_rate: f64,
    /// Start to completion of completed journeys, in hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_recover_hours: Option<HourPercentiles>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HourPercentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepSummary {
    pub count: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Day {
    /// A date, `YYYY-MM-DD`.
    #[schemars(with = "String")]
    pub date: NaiveDate,
    pub weekday: String,
    /// Not a weekend day or a US federal holiday.
    pub business_day: bool,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    pub emails_sent: u64,
    pub sms_sent: u64,
    pub letters_mailed: u64,
    pub letters_delivered: u64,
    pub letters_returned: u64,
    pub letters_expired: u64,
    /// Letters mailed and not yet delivered or returned, at the day's end.
    pub letters_in_transit: u64,
    pub sms_moved_to_email: u64,
    pub sends_failed: u64,
    pub peak_in_progress: u64,
    pub peak_flows: u64,
    pub queue_wait_p99_us: u64,
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WhatIf {
    pub setting: String,
    pub rows: Vec<WhatIfRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WhatIfRow {
    pub value: String,
    pub started: u64,
    pub completed: u64,
    pub success_rate: f64,
    pub failed: BTreeMap<String, u64>,
    pub abandoned: u64,
    pub in_flight: u64,
    pub letters_mailed: u64,
    pub letters_expired: u64,
    /// Median time to recover by journey kind, in hours.
    pub time_to_recover_p50_hours: BTreeMap<String, f64>,
    /// The step with the highest p99 latency, and that p99 in milliseconds.
    pub slowest_step: Option<(String, f64)>,
    /// The p99 latency of every step, in milliseconds.
    pub step_p99_ms: BTreeMap<String, f64>,
    pub queue_wait_p99_ms: f64,
    pub cost_total: f64,
}

/// Splits a time to recover, in hours, into a value, its decimals and the
/// unit a reader takes in at a glance: milliseconds under a second, seconds
/// under a minute, minutes under an hour, hours under two days, then days.
pub fn recovery_time_unit(hours: f64) -> (f64, usize, &'static str) {
    let seconds = hours * 3_600.0;
    if hours >= 48.0 {
        (hours / 24.0, 1, "d")
    } else if hours >= 1.0 {
        (hours, 1, "h")
    } else if seconds >= 60.0 {
        (seconds / 60.0, 0, "min")
    } else if seconds >= 1.0 {
        (seconds, 0, "s")
    } else {
        (seconds * 1_000.0, 0, "ms")
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Reads a quantile of a histogram of milliseconds, in hours to the
/// millisecond.
fn hours(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    let milliseconds = histogram.value_at_quantile(quantile) as f64;
    milliseconds / 3_600_000.0
}

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Formats minute `minute` of the run as `YYYY-MM-DD HH:MM`.
fn minute_label(plan: &Plan, minute: usize) -> String {
    (plan.start + chrono::Duration::minutes(minute as i64))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn peak(plan: &Plan, samples: &[u32]) -> Peak {
    let (minute, count) = samples
        .iter()
        .enumerate()
        .fold((0, 0), |best, (minute, &count)| {
            if count > best.1 {
                (minute, count)
            } else {
                best
            }
        });
    Peak {
        count: u64::from(count),
        at: minute_label(plan, minute),
    }
}

impl SimulationReport {
    /// Builds the report of a finished run.
    pub fn new(plan: &Plan, tally: &Tally) -> Self {
        let prices = &plan.prices;
        // Summed over days; the sum of the daily in-transit levels is unused.
        let totals = tally
            .days
            .iter()
            .fold(super::tally::DayTally::default(), |mut sum, day| {
                sum.add(day);
                sum
            });
        let cost = |emails: u64, sms: u64, letters: u64| {
            emails as f64 * prices.email + sms as f64 * prices.sms + letters as f64 * prices.letter
        };

        let days: Vec<Day> = tally
            .days
            .iter()
            .enumerate()
            .map(|(index, day)| {
                let date = plan.start.date() + chrono::Duration::days(index as i64);
                let minutes = index * 1_440..((index + 1) * 1_440).min(tally.flows_by_minute.len());
                let peak_of = |samples: &[u32]| {
                    samples[minutes.clone()]
                        .iter()
                        .copied()
                        .max()
                        .map_or(0, u64::from)
                };
                Day {
                    date,
                    weekday: date.weekday().to_string(),
                    business_day: is_business_day(date),
                    started: day.started,
                    completed: day.completed,
                    failed: day.failed,
                    abandoned: day.abandoned,
                    emails_sent: day.emails_sent,
                    sms_sent: day.sms_sent,
                    letters_mailed: day.letters_mailed,
                    letters_delivered: day.letters_delivered,
                    letters_returned: day.letters_returned,
                    letters_expired: day.letters_expired,
                    letters_in_transit: day.letters_in_transit,
                    sms_moved_to_email: day.sms_moved_to_email,
                    sends_failed: day.sends_failed,
                    peak_in_progress: peak_of(&tally.in_progress_by_minute),
                    peak_flows: peak_of(&tally.flows_by_minute),
                    queue_wait_p99_us: tally.day_wait_us[index].value_at_quantile(0.99),
                    cost: cents(cost(day.emails_sent, day.sms_sent, day.letters_mailed)),
                }
            })
            .collect();

        let busiest_letter_day = days
            .iter()
            .filter(|day| day.letters_mailed > 0)
            .fold(None::<&Day>, |best, day| match best {
                Some(best) if best.letters_mailed >= day.letters_mailed => Some(best),
                _ => Some(day),
            })
            .map(|day| DayCount {
                date: day.date,
                count: day.letters_mailed,
            });

        let journeys = JourneyKind::ALL
            .into_iter()
            .filter(|kind| tally.kinds[kind.index()].started > 0)
            .map(|kind| {
                let counts = &tally.kinds[kind.index()];
                let recover = &counts.time_to_recover_ms;
                let summary = JourneySummary {
                    started: counts.started,
                    completed: counts.completed,
                    failed: counts
                        .failed
                        .iter()
                        .map(|(reason, count)| ((*reason).to_owned(), *count))
                        .collect(),
                    abandoned: counts.abandoned,
                    in_flight: tally.in_flight[kind.index()],
                    success_rate: rate(counts.completed, counts.started),
                    time_to_recover_hours: (!recover.is_empty()).then(|| HourPercentiles {
                        p50: hours(recover, 0.5),
                        p90: hours(recover, 0.9),
                        p99: hours(recover, 0.99),
                        max: hours(recover, 1.0),
                    }),
                };
                (kind.name().to_owned(), summary)
            })
            .collect();

        let steps = STEP_NAMES
            .iter()
            .zip(&tally.steps)
            .filter(|(_, step)| step.count > 0)
            .map(|(name, step)| {
                (
                    (*name).to_owned(),
                    StepSummary {
                        count: step.count,
                        errors: step
                            .errors
                            .iter()
                            .map(|(code, count)| ((*code).to_owned(), *count))
                            .collect(),
                        latency_us: Percentiles::from_histogram(&step.latency_us, 1),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();

        let service_time_median_ms = plan
            .service
            .medians_us()
            .into_iter()
            .filter(|(step, _)| steps.contains_key(*step))
            .map(|(step, us)| (step.to_owned(), us as f64 / 1_000.0))
            .collect();

        let (arrivals, days_count, drain_days, journeys_per_day, surges) = match &plan.starts {
            Starts::Open { shape, days } => (
                "open",
                *days,
                plan.report_days() - days,
                Some(shape.journeys_per_day),
                shape
                    .surges
                    .iter()
                    .zip(&plan.surge_names)
                    .map(|(surge, name)| SurgeView {
                        name: name.clone(),
                        first_day: surge.first_day,
                        last_day: surge.last_day,
                        factor: surge.factor,
                    })
                    .collect(),
            ),
            Starts::Replay { .. } => (
                "replay",
                plan.horizon_us.div_ceil(DAY_US) as u32,
                0,
                None,
                Vec::new(),
            ),
        };

        let in_flight: u64 = tally.in_flight.iter().sum();
        // The run's queue wait is the sum of the days', recorded once per step.
        let mut queue_wait = super::tally::new_histogram();
        for day in &tally.day_wait_us {
            queue_wait.add(day).expect("auto-resizing histograms merge");
        }
        Self {
            kind: "simulation".to_owned(),
            schema_version: SIMULATION_SCHEMA_VERSION,
            recoverylab_version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario: plan.scenario.clone(),
            seed: plan.seed,
            settings: SimulationSettingsView {
                first_day: plan.start.date(),
                days: days_count,
                drain_days,
                arrivals: arrivals.to_owned(),
                journeys_per_day,
                surges,
                instances: plan.instances,
                workers_per_instance: plan.workers_per_instance,
                postal_validity_days: plan.policy.postal_temporary_password_validity.num_days()
                    as u32,
                fault_profile: plan
                    .profile
                    .path
                    .as_ref()
                    .map_or_else(|| "healthy".to_owned(), |path| path.display().to_string()),
                service_times_from: plan.service.source.clone(),
                service_time_median_ms,
                prices: PricesView {
                    email: prices.email,
                    sms: prices.sms,
                    letter: prices.letter,
                    currency: prices.currency.clone(),
                },
            },
            summary: Summary {
                started: totals.started,
                completed: totals.completed,
                failed: totals.failed,
                abandoned: totals.abandoned,
                in_flight,
                success_rate: rate(totals.completed, totals.started),
                emails_sent: totals.emails_sent,
                sms_sent: totals.sms_sent,
                letters_mailed: totals.letters_mailed,
                letters_returned: totals.letters_returned,
                letters_expired: totals.letters_expired,
                sms_moved_to_email: totals.sms_moved_to_email,
                sends_failed: totals.sends_failed,
                busiest_letter_day,
                peak_in_progress: peak(plan, &tally.in_progress_by_minute),
                peak_flows: peak(plan, &tally.flows_by_minute),
                queue_wait_us: Percentiles::from_histogram(&queue_wait, 1),
                cost: Cost {
                    email: cents(totals.emails_sent as f64 * prices.email),
                    sms: cents(totals.sms_sent as f64 * prices.sms),
                    letters: cents(totals.letters_mailed as f64 * prices.letter),
                    total: cents(cost(
                        totals.emails_sent,
                        totals.sms_sent,
                        totals.letters_mailed,
                    )),
                    currency: prices.currency.clone(),
                },
            },
            journeys,
            steps,
            days,
            what_if: None,
        }
    }

    /// Returns whether started equals completed + failed + abandoned + in
    /// flight, for the run and for every journey kind.
    pub fn accounting_holds(&self) -> bool {
        let summary = &self.summary;
        let run = summary.started
            == summary.completed + summary.failed + summary.abandoned + summary.in_flight;
        run && self.journeys.values().all(|journey| {
            journey.started
                == journey.completed
                    + journey.failed.values().sum::<u64>()
                    + journey.abandoned
                    + journey.in_flight
        })
    }

    /// Lists the failed journeys as (journey kind, reason, count), by kind
    /// and then by reason.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        self.journeys.iter().flat_map(|(kind, journey)| {
            journey
                .failed
                .iter()
                .map(move |(reason, count)| (kind.as_str(), reason.as_str(), *count))
        })
    }

    /// Sums this run into one what-if row labelled `value`.
    pub fn what_if_row(&self, value: String) -> WhatIfRow {
        let mut failed = BTreeMap::new();
        for journey in self.journeys.values() {
            for (reason, count) in &journey.failed {
                *failed.entry(reason.clone()).or_default() += count;
            }
        }
        let slowest_step = self
            .steps
            .iter()
            .max_by_key(|(_, step)| step.latency_us.p99)
            .map(|(name, step)| (name.clone(), step.latency_us.p99 as f64 / 1_000.0));
        WhatIfRow {
            value,
            started: self.summary.started,
            completed: self.summary.completed,
            success_rate: self.summary.success_rate,
            failed,
            abandoned: self.summary.abandoned,
            in_flight: self.summary.in_flight,
            letters_mailed: self.summary.letters_mailed,
            letters_expired: self.summary.letters_expired,
            time_to_recover_p50_hours: self
                .journeys
                .iter()
                .filter_map(|(kind, journey)| {
                    journey
                        .time_to_recover_hours
                        .map(|hours| (kind.clone(), hours.p50))
                })
                .collect(),
            slowest_step,
            step_p99_ms: self
                .steps
                .iter()
                .map(|(name, step)| (name.clone(), step.latency_us.p99 as f64 / 1_000.0))
                .collect(),
            queue_wait_p99_ms: self.summary.queue_wait_us.p99 as f64 / 1_000.0,
            cost_total: self.summary.cost.total,
        }
    }
}
