//! A simulation run: shards on worker threads, merged in shard order, and
//! what-if runs over one setting.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::plan::{Plan, Starts};
use super::report::{SimulationReport, WhatIf};
use super::tally::Tally;
use super::world::Shard;

/// Runs every shard of `plan` on at most `threads` threads and merges them.
/// The result does not depend on `threads`: each shard has its own seed,
/// and shards merge in their order.
pub fn run_plan(plan: &Plan, threads: usize) -> Tally {
    let shards = plan.instances as usize;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Tally>>> = Mutex::new((0..shards).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, shards) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= shards {
                    break;
                }
                let tally = Shard::new(plan, index as u32).run();
                results.lock().expect("no shard panicked")[index] = Some(tally);
            });
        }
    });
    let mut results = results
        .into_inner()
        .expect("no shard panicked")
        .into_iter()
        .map(|tally| tally.expect("every shard ran"));
    let mut merged = results.next().expect("a plan has at least one shard");
    for tally in results {
        merged.merge(&tally);
    }
    merged
}

/// A setting a what-if run changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    PostalValidityDays,
    WorkersPerInstance,
    JourneysPerDay,
    AbandonProbability,
}

impl Setting {
    pub const ALL: [Setting; 4] = [
        Setting::PostalValidityDays,
        Setting::WorkersPerInstance,
        Setting::JourneysPerDay,
        Setting::AbandonProbability,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Setting::PostalValidityDays => "postal_validity_days",
            Setting::WorkersPerInstance => "workers_per_instance",
            Setting::JourneysPerDay => "journeys_per_day",
            Setting::AbandonProbability => "abandon_probability",
        }
    }
}

/// `SETTING=V1,V2,...` from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIfArg {
    pub setting: Setting,
    pub values: Vec<f64>,
}

impl FromStr for WhatIfArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let names = Setting::ALL.map(Setting::name).join(", ");
        let Some((name, values)) = text.split_once('=') else {
            return Err(format!(
                "{text:?} has no `=`; write SETTING=V1,V2,..., such as postal_validity_days=7,21,30"
            ));
        };
        let setting = Setting::ALL
            .into_iter()
            .find(|setting| setting.name() == name.trim())
            .ok_or_else(|| {
                format!("{name:?} is not a setting a what-if run can change; use one of: {names}")
            })?;
        let values = values
            .split(',')
            .map(|value| {
                let number: f64 = value.trim().parse().map_err(|_| {
                    format!(
                        "{value:?} in {text:?} is not a number; give numbers separated by commas"
                    )
                })?;
                check_value(setting, number)?;
                Ok(number)
            })
            .collect::<Result<Vec<f64>, String>>()?;
        if values.len() < 2 || values.len() > 12 {
            return Err(format!(
                "{text:?} gives {} value(s); give 2 to 12 values to compare",
                values.len()
            ));
        }
        for (index, value) in values.iter().enumerate() {
            if values[..index].contains(value) {
                return Err(format!(
                    "{text:?} gives {value} twice; give each value once"
                ));
            }
        }
        Ok(Self { setting, values })
    }
}

fn check_value(setting: Setting, value: f64) -> Result<(), String> {
    let (low, high, whole) = match setting {
        Setting::PostalValidityDays => (1.0, 365.0, true),
        Setting::WorkersPerInstance => (1.0, 100_000.0, true),
        Setting::JourneysPerDay => (1.0, 1e9, false),
        Setting::AbandonProbability => (0.0, 1.0, false),
    };
    if !(low..=high).contains(&value) || (whole && value.fract() != 0.0) {
        let kind = if whole { "a whole number" } else { "a number" };
        return Err(format!(
            "{} = {value} is out of range; give {kind} from {low} to {high}",
            setting.name()
        ));
    }
    Ok(())
}

impl WhatIfArg {
    /// Checks that the scenario has the setting: a replayed `[load]` has no
    /// journeys per day to change.
    pub fn applies_to(&self, plan: &Plan) -> Result<(), String> {
        if self.setting == Setting::JourneysPerDay && matches!(plan.starts, Starts::Replay { .. }) {
            return Err(
                "journeys_per_day needs a [simulation] table in the scenario, and this one replays [load]; add a [simulation] table (docs/simulation.md) or vary another setting"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// Returns the value of the setting in `plan`.
    pub fn value_in(&self, plan: &Plan) -> f64 {
        match self.setting {
            Setting::PostalValidityDays => {
                plan.policy.postal_temporary_password_validity.num_days() as f64
            }
            Setting::WorkersPerInstance => f64::from(plan.workers_per_instance),
            Setting::JourneysPerDay => match &plan.starts {
                Starts::Open { shape, .. } => shape.journeys_per_day,
                Starts::Replay { .. } => f64::NAN,
            },
            Setting::AbandonProbability => plan.abandon_probability,
        }
    }

    /// Returns `plan` with the setting at `value`.
    pub fn apply(&self, plan: &Plan, value: f64) -> Plan {
        let mut plan = plan.clone();
        match self.setting {
            Setting::PostalValidityDays => {
                plan.policy.postal_temporary_password_validity =
                    chrono::Duration::days(value as i64);
            }
            Setting::WorkersPerInstance => plan.workers_per_instance = value as u32,
            Setting::JourneysPerDay => {
                if let Starts::Open { shape, .. } = &mut plan.starts {
                    shape.journeys_per_day = value;
                }
            }
            Setting::AbandonProbability => plan.abandon_probability = value,
        }
        plan
    }
}

/// Runs `plan`, and when `what_if` is given, one run per value, side by side.
pub fn simulate(plan: &Plan, what_if: Option<&WhatIfArg>, threads: usize) -> SimulationReport {
    let mut report = SimulationReport::new(plan, &run_plan(plan, threads));
    if let Some(what_if) = what_if {
        let rows = what_if
            .values
            .iter()
            .map(|value| {
                // The scenario's own value needs no second run.
                if *value == what_if.value_in(plan) {
                    return report.what_if_row(format_value(*value));
                }
                let variant = what_if.apply(plan, *value);
                let variant_report = SimulationReport::new(&variant, &run_plan(&variant, threads));
                variant_report.what_if_row(format_value(*value))
            })
            .collect();
        report.what_if = Some(WhatIf {
            setting: what_if.setting.name().to_owned(),
            rows,
        });
    }
    report
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::scenario::parse_scenario;
    use crate::providers::profile::FaultProfile;

    /// Simulates one day of open arrivals of `mix` with the providers of
    /// `profile`.
    fn report(mix: &str, profile: &str) -> SimulationReport {
        let text = format!(
            r#"
name = "unit"
seed = 3
[load]
users = 5
journeys_per_user = 1
max_duration_s = 60
[mix]
{mix}
[behaviour]
think_time_ms = [1000, 5000]
code_wait_s = 3600
[simulation]
start_date = "2027-01-04"
days = 1
drain_days = 1
journeys_per_day = 2000
"#
        );
        let scenario = parse_scenario(Path::new("unit.toml"), &text).expect("valid scenario");
        let mut plan = Plan::new(&scenario, None);
        plan.profile =
            FaultProfile::parse(Path::new("unit-profile.toml"), profile).expect("valid profile");
        let report = simulate(&plan, None, 1);
        assert!(report.accounting_holds(), "{:?}", report.summary);
        report
    }

    #[test]
    fn late_codes_expire_by_the_rules() {
        // Codes arrive after 11 minutes; the rules void them after 10.
        let report = report(
            "sign_in = 1",
            "[sms]\ndelivery_delay = { distribution = \"fixed\", value_s = 660 }\n\
             [email]\ndelivery_delay = { distribution = \"fixed\", value_s = 660 }\n",
        );
        let sign_in = &report.journeys["sign_in"];
        assert_eq!(sign_in.completed, 0, "{sign_in:?}");
        assert_eq!(sign_in.failed["code_expired"], sign_in.started);
        assert_eq!(
            report.steps["sign_in.code"].errors["code_expired"],
            sign_in.started
        );
    }

    #[test]
    fn sms_outage_moves_forgot_password_codes_to_email() {
        let report = report(
            "sign_in = 1\nforgot_password = 1",
            "[[sms.outages]]\nstart_s = 0\nend_s = 1000000\nkind = \"http_503\"\n",
        );
        let forgot = &report.journeys["forgot_password"];
        assert_eq!(forgot.completed, forgot.started, "{forgot:?}");
        assert_eq!(report.summary.sms_sent, 0);
        assert!(report.summary.sms_moved_to_email > forgot.started / 3);
        // Sign-in has no other channel: people with SMS codes cannot finish.
        let sign_in = &report.journeys["sign_in"];
        assert!(sign_in.failed["provider_unavailable"] > sign_in.started / 3);
        assert_eq!(
            sign_in.completed + sign_in.failed["provider_unavailable"],
            sign_in.started
        );
    }

    #[test]
    fn what_if_values_are_checked() {
        for (text, expected) in [
            ("postal_validity_days", "has no `=`"),
            ("workers=1,2", "not a setting"),
            ("workers_per_instance=1.5,2", "a whole number"),
            ("journeys_per_day=100", "give 2 to 12 values"),
        ] {
            let error = text.parse::<WhatIfArg>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let parsed: WhatIfArg = "postal_validity_days=7, 21,30".parse().unwrap();
        assert_eq!(parsed.values, [7.0, 21.0, 30.0]);
    }
}
