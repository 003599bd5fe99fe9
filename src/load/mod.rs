//! Load: goose users that walk synthetic people through the journeys over
//! HTTP, read their codes and letters from the mock inboxes, and record
//! every step into the run recorder.

pub mod driver;
pub mod enroll;
pub mod inbox;
pub mod journeys;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use crate::config::Scenario;
use crate::people::{JourneyKind, Person};
use crate::report::RunRecorder;

/// Base URLs of the service and providers a run sends traffic to.
#[derive(Debug, Clone)]
pub struct Targets {
    pub service: String,
    pub email: String,
    pub sms: String,
    pub postal: String,
}

/// State shared by every load user of one run.
pub struct LoadShared {
    pub scenario: Scenario,
    pub targets: Targets,
    pub recorder: Arc<RunRecorder>,
    /// The next unused person of each kind, counted within that kind.
    cursors: [AtomicU64; 5],
    /// No journey starts after this, and waits end here.
    pub deadline: Instant,
    /// Journeys skipped because every person of their kind was used.
    pub people_exhausted: AtomicU64,
}

impl LoadShared {
    pub fn new(
        scenario: Scenario,
        targets: Targets,
        recorder: Arc<RunRecorder>,
        deadline: Instant,
    ) -> Self {
        Self {
            scenario,
            targets,
            recorder,
            cursors: Default::default(),
            deadline,
            people_exhausted: AtomicU64::new(0),
        }
    }

    /// Takes the next person who needs `kind`, or `None` when the enrolled
    /// population has no one left of that kind.
    pub fn next_person(&self, kind: JourneyKind) -> Option<Person> {
        let nth = self.cursors[kind.index()].fetch_add(1, Ordering::Relaxed);
        let scenario = &self.scenario;
        let offset = scenario.mix.nth_of_kind(kind, nth)?;
        if offset >= scenario.people {
            return None;
        }
        Some(crate::people::person(
            scenario.seed,
            scenario.first_index + offset,
            &scenario.mix,
        ))
    }
}

/// Runs goose with one scenario per journey kind, weighted as in the scenario
/// file, until every user has run its journeys or the deadline passes.
pub async fn run_load(
    shared: Arc<LoadShared>,
    goose_report: &Path,
) -> anyhow::Result<goose::metrics::GooseMetrics> {
    let scenario = &shared.scenario;
    let mut attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?;
    for kind in scenario.mix.active_kinds() {
        let transaction_shared = Arc::clone(&shared);
        let transaction: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
            let shared = Arc::clone(&transaction_shared);
            Box::pin(async move { journeys::run_one(user, &shared, kind).await })
        });
        attack = attack.register_scenario(
            goose::goose::Scenario::new(kind.name())
                .set_weight(scenario.mix.weight(kind) as usize)?
                .register_transaction(Transaction::new(transaction).set_name(kind.name())),
        );
    }
    let metrics = attack
        .set_default(GooseDefault::Host, shared.targets.service.as_str())?
        .set_default(GooseDefault::Users, scenario.users)?
        .set_default(
            GooseDefault::IncreaseRate,
            format!("{}", scenario.users_per_second).as_str(),
        )?
        .set_default(GooseDefault::Iterations, scenario.journeys_per_user)?
        .set_default(
            GooseDefault::ReportFile,
            goose_report.to_string_lossy().as_ref(),
        )?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::Quiet, 1)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::Timeout, "30")?
        .set_scheduler(GooseScheduler::RoundRobin)
        .execute()
        .await?;
    Ok(metrics)
}

/// Returns how long is left before `deadline`, or `None` once it has passed.
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}
