//! The scenario's `[simulation]` table: the arrival shape, calendar,
//! capacity and prices of a virtual-time run.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::scenario::{Checker, ScenarioError};
use crate::load::journeys::STEP_NAMES;
use crate::sim::{ArrivalShape, Surge};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimulation {
    start_date: String,
    days: i64,
    #[serde(default = "default_drain_days")]
    drain_days: i64,
    journeys_per_day: f64,
    #[serde(default = "flat_hours")]
    hour_of_day: Vec<f64>,
    #[serde(default = "flat_week")]
    day_of_week: Vec<f64>,
    #[serde(default)]
    surges: Vec<RawSurge>,
    #[serde(default = "one")]
    instances: i64,
    #[serde(default = "one")]
    workers_per_instance: i64,
    #[serde(default = "default_read_delay")]
    letter_read_delay_hours: [f64; 2],
    #[serde(default = "default_postal_validity")]
    postal_validity_days: i64,
    #[serde(default)]
    service_time_ms: BTreeMap<String, f64>,
    #[serde(default)]
    prices: RawPrices,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurge {
    #[serde(default)]
    name: Option<String>,
    first_day: String,
    last_day: String,
    factor: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    #[serde(default)]
    email: f64,
    #[serde(default)]
    sms: f64,
    #[serde(default)]
    letter: f64,
    #[serde(default)]
    currency: Option<String>,
}

fn default_drain_days() -> i64 {
    30
}

fn flat_hours() -> Vec<f64> {
    vec![1.0; 24]
}

fn flat_week() -> Vec<f64> {
    vec![1.0; 7]
}

fn one() -> i64 {
    1
}

fn default_read_delay() -> [f64; 2] {
    [0.0, 48.0]
}

fn default_postal_validity() -> i64 {
    30
}

/// The service time a step takes when neither the scenario nor a
/// calibration report gives one.
pub const DEFAULT_SERVICE_TIME_MS: f64 = 5.0;

/// Unit prices of one message per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    pub email: f64,
    pub sms: f64,
    pub letter: f64,
    pub currency: String,
}

/// A checked `[simulation]` table.
#[derive(Debug, Clone)]
pub struct SimulationSettings {
    pub start_date: NaiveDate,
    /// Days on which journeys start.
    pub days: u32,
    /// Days after the last start that journeys in progress get to finish.
    pub drain_days: u32,
    pub arrivals: ArrivalShape,
    /// The names of the surges, in the order of `arrivals.surges`.
    pub surge_names: Vec<String>,
    /// Service instances; each is a shard of the run with its own workers.
    pub instances: u32,
    pub workers_per_instance: u32,
    /// Hours from a letter's arrival to its reading, drawn uniformly.
    pub letter_read_delay_hours: (f64, f64),
    pub postal_validity_days: u32,
    /// Service time in milliseconds by step name; other steps take `default_service_time_ms`.
    pub service_time_ms: BTreeMap<String, f64>,
    pub default_service_time_ms: f64,
    pub prices: Prices,
}

pub(super) fn simulation_from(
    check: &Checker<'_>,
    raw: RawSimulation,
) -> Result<SimulationSettings, ScenarioError> {
    let start_date = date(check, "simulation.start_date", &raw.start_date)?;
    let days = check.count("simulation.days", raw.days, 1, 3_660)? as u32;
    let drain_days = check.count("simulation.drain_days", raw.drain_days, 0, 366)? as u32;
    if !raw.journeys_per_day.is_finite()
        || raw.journeys_per_day <= 0.0
        || raw.journeys_per_day > 1e9
    {
        return Err(check.invalid(
            "simulation.journeys_per_day",
            format!("is {}", raw.journeys_per_day),
            "set a number of journeys greater than 0 and at most 1000000000",
        ));
    }
    let hour_of_day: [f64; 24] = raw.hour_of_day.as_slice().try_into().map_err(|_| {
        check.invalid(
            "simulation.hour_of_day",
            format!("has {} weights", raw.hour_of_day.len()),
            "give 24 weights, one per hour from midnight",
        )
    })?;
    let day_of_week: [f64; 7] = raw.day_of_week.as_slice().try_into().map_err(|_| {
        check.invalid(
            "simulation.day_of_week",
            format!("has {} weights", raw.day_of_week.len()),
            "give 7 weights, Monday first",
        )
    })?;
    let mut surges = Vec::new();
    let mut surge_names = Vec::new();
    for (index, surge) in raw.surges.iter().enumerate() {
        let key = |field: &str| format!("simulation.surges[{index}].{field}");
        let first_day = date(check, &key("first_day"), &surge.first_day)?;
        let last_day = date(check, &key("last_day"), &surge.last_day)?;
        if !surge.factor.is_finite() || surge.factor <= 0.0 || surge.factor > 1_000.0 {
            return Err(check.invalid(
                &key("factor"),
                format!("is {}", surge.factor),
                "set a factor above 0 and at most 1000 that multiplies the arrival rate",
            ));
        }
        if last_day < start_date {
            return Err(check.invalid(
                &key("last_day"),
                format!("is {last_day}, before simulation.start_date {start_date}"),
                "move the surge into the simulated days or remove it",
            ));
        }
        if last_day < first_day {
            return Err(check.invalid(
                &key("last_day"),
                format!("is {last_day}, before first_day {first_day}"),
                "set last_day on or after first_day",
            ));
        }
        surges.push(Surge {
            first_day,
            last_day,
            factor: surge.factor,
        });
        surge_names.push(
            surge
                .name
                .clone()
                .unwrap_or_else(|| format!("surge {}", index + 1)),
        );
    }
    let arrivals = ArrivalShape {
        journeys_per_day: raw.journeys_per_day,
        hour_of_day,
        day_of_week,
        surges,
    };
    // Weights are the only values left for `validate` to reject. Its
    // messages read "NAME[INDEX] is VALUE; FIX".
    arrivals.validate().map_err(|message| {
        let (subject, fix) = message.split_once("; ").unwrap_or((
            message.as_str(),
            "see docs/simulation.md for the arrival keys",
        ));
        let (name, problem) = subject.split_once(' ').unwrap_or((subject, "is invalid"));
        check.invalid(&format!("simulation.{name}"), problem.to_owned(), fix)
    })?;

    let instances = check.count("simulation.instances", raw.instances, 1, 1_024)? as u32;
    let workers_per_instance = check.count(
        "simulation.workers_per_instance",
        raw.workers_per_instance,
        1,
        100_000,
    )? as u32;
    let [read_min, read_max] = raw.letter_read_delay_hours;
    if !(read_min.is_finite() && read_max.is_finite())
        || read_min < 0.0
        || read_max < read_min
        || read_max > 24.0 * 60.0
    {
        return Err(check.invalid(
            "simulation.letter_read_delay_hours",
            format!("is [{read_min}, {read_max}]"),
            "set [min, max] hours with 0 <= min <= max <= 1440",
        ));
    }
    let postal_validity_days = check.count(
        "simulation.postal_validity_days",
        raw.postal_validity_days,
        1,
        365,
    )? as u32;

    let mut service_time_ms = raw.service_time_ms;
    let default_service_time_ms = service_time_ms
        .remove("default")
        .unwrap_or(DEFAULT_SERVICE_TIME_MS);
    for (step, value) in service_time_ms
        .iter()
        .chain([(&"default".to_owned(), &default_service_time_ms)])
    {
        if step != "default" && !STEP_NAMES.contains(&step.as_str()) {
            return Err(check.invalid(
                &format!("simulation.service_time_ms.{step}"),
                "names no step".to_owned(),
                &format!("use `default` or one of: {}", STEP_NAMES.join(", ")),
            ));
        }
        if !value.is_finite() || *value < 0.0 || *value > 600_000.0 {
            return Err(check.invalid(
                &format!("simulation.service_time_ms.{step}"),
                format!("is {value}"),
                "set milliseconds from 0 to 600000",
            ));
        }
    }

    let prices = &raw.prices;
    for (channel, price) in [
        ("email", prices.email),
        ("sms", prices.sms),
        ("letter", prices.letter),
    ] {
        if !price.is_finite() || !(0.0..=1_000.0).contains(&price) {
            return Err(check.invalid(
                &format!("simulation.prices.{channel}"),
                format!("is {price}"),
                "set a price per message from 0 to 1000",
            ));
        }
    }
    let currency = prices.currency.clone().unwrap_or_else(|| "USD".to_owned());
    if currency.is_empty() || currency.len() > 8 {
        return Err(check.invalid(
            "simulation.prices.currency",
            format!("is {currency:?}"),
            "name the currency in up to 8 characters, such as \"USD\"",
        ));
    }

    Ok(SimulationSettings {
        start_date,
        days,
        drain_days,
        arrivals,
        surge_names,
        instances,
        workers_per_instance,
        letter_read_delay_hours: (read_min, read_max),
        postal_validity_days,
        service_time_ms,
        default_service_time_ms,
        prices: Prices {
            email: prices.email,
            sms: prices.sms,
            letter: prices.letter,
            currency,
        },
    })
}

fn date(check: &Checker<'_>, key: &str, text: &str) -> Result<NaiveDate, ScenarioError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        check.invalid(
            key,
            format!("is {text:?}"),
            "write a date as YYYY-MM-DD, such as \"2027-01-04\"",
        )
    })
}
