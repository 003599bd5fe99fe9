//! Abuse attacks a scenario can run against the service, each ending in a
//! pass or fail verdict: code brute force, an enumeration probe with timing,
//! and identifier variants against lookups and rate limits.
//!
//! Attacks enroll their own victims, numbered after the scenario's
//! population, and send every request from an address of the benchmarking
//! range 198.18.0.0/15 in `X-Forwarded-For`, as a botnet would.

mod brute_force;
mod enumeration;
mod probe;
pub mod timing;
mod variants;
pub mod verdict;

use std::time::{Duration, Instant};

use secrecy::SecretString;

pub use probe::Prober;
pub use verdict::{AbuseReport, AttackReport, CheckResult, TimingResult};

use crate::leak_check::SecretBook;
use crate::load::Targets;

/// An attack a scenario can name in `abuse.attacks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attack {
    CodeBruteForce,
    EnumerationProbe,
    IdentifierVariants,
}

impl Attack {
    pub const ALL: [Attack; 3] = [
        Attack::CodeBruteForce,
        Attack::EnumerationProbe,
        Attack::IdentifierVariants,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::CodeBruteForce => "code_brute_force",
            Attack::EnumerationProbe => "enumeration_probe",
            Attack::IdentifierVariants => "identifier_variants",
        }
    }

    /// Returns the attack of a scenario name, such as `code_brute_force`.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|attack| attack.name() == name)
    }
}

/// The `[abuse]` table of a scenario, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AbuseSettings {
    pub attacks: Vec<Attack>,
    /// Accounts the code brute force attacks, one after another.
    pub brute_force_victims: usize,
    /// Timed probes of each kind on each identity check.
    pub timing_samples: usize,
    /// The largest difference of median response times the enumeration
    /// probe accepts between probe kinds.
    pub timing_tolerance: Duration,
}

impl AbuseSettings {
    /// Returns how many population indexes the attacks use after the
    /// scenario's people: enrolled victims and never-enrolled strangers.
    pub fn people_needed(&self) -> u64 {
        self.attacks
            .iter()
            .map(|attack| self.people_needed_by(*attack))
            .sum()
    }

    /// Returns how many population indexes `attack` uses.
    fn people_needed_by(&self, attack: Attack) -> u64 {
        match attack {
            Attack::CodeBruteForce => self.brute_force_victims as u64,
            Attack::EnumerationProbe => enumeration::people_needed(self.timing_samples),
            Attack::IdentifierVariants => variants::PEOPLE_NEEDED,
        }
    }
}

/// The targets, admin token and population range the attacks use.
pub struct AttackContext<'a> {
    pub targets: &'a Targets,
    pub admin_token: &'a SecretString,
    pub seed: u64,
    /// The first population index free for victims.
    pub first_index: u64,
    /// The book of secrets the attacks generate or read, for the run's
    /// secret-leak check.
    pub secrets: &'a SecretBook,
}

/// Runs each attack of `settings` in turn and returns their verdicts. An
/// attack that cannot run, as when enrollment fails, fails with a check that
/// gives the reason. Once `stop_requested` returns true, as after SIGTERM, no further
/// attack starts, and the report has no verdict for those.
pub async fn run_attacks(
    settings: &AbuseSettings,
    context: &AttackContext<'_>,
    stop_requested: impl Fn() -> bool,
) -> AbuseReport {
    let mut report = AbuseReport::default();
    let mut next_index = context.first_index;
    for (position, attack) in settings.attacks.iter().enumerate() {
        if stop_requested() {
            tracing::warn!(attack = attack.name(), "run stopped; attack not started");
            break;
        }
        let prober = Prober::new(context, position as u64);
        let started = Instant::now();
        tracing::info!(attack = attack.name(), "attack started");
        let outcome = match attack {
            Attack::CodeBruteForce => {
                brute_force::run(&prober, next_index, settings.brute_force_victims).await
            }
            Attack::EnumerationProbe => enumeration::run(&prober, next_index, settings).await,
            Attack::IdentifierVariants => variants::run(&prober, next_index).await,
        };
        next_index += settings.people_needed_by(*attack);
        let mut attack_report = outcome.unwrap_or_else(|error| {
            let mut failed = AttackReport::default();
            failed.check(
                "attack ran",
                "the attack runs to its end",
                format!("{error:#}"),
                false,
            );
            failed
        });
        attack_report.requests = prober.requests_sent();
        attack_report.duration_s = started.elapsed().as_secs_f64();
        attack_report.settle();
        tracing::info!(
            attack = attack.name(),
            pass = attack_report.pass,
            requests = attack_report.requests,
            "attack finished"
        );
        report
            .attacks
            .insert(attack.name().to_owned(), attack_report);
    }
    report.pass = report.attacks.len() == settings.attacks.len()
        && report.attacks.values().all(|attack| attack.pass);
    report
}
