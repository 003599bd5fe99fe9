//! The verdicts of abuse attacks, as the report carries them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::timing::MedianDifference;

/// Every attack of a run and their joint verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AbuseReport {
    /// `true` when every check of every attack passed.
    pub pass: bool,
    pub attacks: BTreeMap<String, AttackReport>,
}

impl AbuseReport {
    /// Returns the checks that failed, as `(attack, check)`.
    pub fn failures(&self) -> Vec<(&str, &CheckResult)> {
        self.attacks
            .iter()
            .flat_map(|(attack, report)| {
                report
                    .checks
                    .iter()
                    .filter(|check| !check.pass)
                    .map(move |check| (attack.as_str(), check))
            })
            .collect()
    }
}

/// One attack's checks. Timing comparisons are checks too; their figures
/// are kept apart for readers who plot them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttackReport {
    pub pass: bool,
    /// Requests the attack sent, setup included.
    pub requests: u64,
    pub duration_s: f64,
    pub checks: Vec<CheckResult>,
    pub timing: Vec<TimingResult>,
}

impl AttackReport {
    pub fn check(
        &mut self,
        name: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
        pass: bool,
    ) {
        self.checks.push(CheckResult {
            name: name.into(),
            expected: expected.into(),
            observed: observed.into(),
            pass,
        });
    }

    /// Sets `pass` from the checks; an attack without checks fails.
    pub fn settle(&mut self) {
        self.pass = !self.checks.is_empty() && self.checks.iter().all(|check| check.pass);
    }
}

/// One rule the attack tested: what the service should do, what it did.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub name: String,
    pub expected: String,
    pub observed: String,
    pub pass: bool,
}

/// Response times of two kinds of probe on one identity check.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimingResult {
    /// The identity check, such as `forgot_username`.
    pub check: String,
    /// The probe kinds compared, such as `existing_wrong_ssn` and `unknown`.
    pub first: String,
    pub second: String,
    pub samples: usize,
    #[serde(flatten)]
    pub medians: MedianDifference,
    pub tolerance_us: f64,
    pub pass: bool,
}
