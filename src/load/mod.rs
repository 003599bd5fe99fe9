//! Load: goose users that walk synthetic people through the journeys over
//! HTTP, read their codes and letters from the mock inboxes, and record
//! every step into the run recorder.

pub mod driver;
pub mod enroll;
pub mod inbox;
pub mod journeys;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use crate::config::Scenario;
use crate::leak_check::SecretBook;
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
    /// Secrets the run received, such as the codes and temporary passwords
    /// that load users read, for the leak check. Any load code may add to it.
    pub secrets: SecretBook,
    /// The next unused person of each kind, counted within that kind.
    cursors: [AtomicU64; 5],
    /// No journey starts after this, and waits end here.
    pub deadline: Instant,
    /// Journeys skipped because every person of their kind was used.
    pub people_exhausted: AtomicU64,
    /// Load users in the middle of a journey now.
    pub users_busy: AtomicUsize,
    /// Set when the run is asked to stop early, as by SIGTERM.
    stop: tokio::sync::watch::Sender<bool>,
    /// The reason the run was asked to stop, such as "sigterm".
    stop_reason: std::sync::OnceLock<&'static str>,
    ctrl_c_listener: std::sync::Once,
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
            secrets: SecretBook::default(),
            cursors: Default::default(),
            deadline,
            people_exhausted: AtomicU64::new(0),
            users_busy: AtomicUsize::new(0),
            stop: tokio::sync::watch::Sender::new(false),
            stop_reason: std::sync::OnceLock::new(),
            ctrl_c_listener: std::sync::Once::new(),
        }
    }

    /// Asks every load user to stop, for `reason`: no journey starts after
    /// this, and journeys under way end in flight at their next step or wait.
    pub fn request_stop(&self, reason: &'static str) {
        let _ = self.stop_reason.set(reason);
        self.stop.send_replace(true);
    }

    /// Returns whether [`LoadShared::request_stop`] was called.
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// Returns the reason given to the first [`LoadShared::request_stop`].
    pub fn stop_reason(&self) -> Option<&'static str> {
        self.stop_reason.get().copied()
    }

    /// Stops the load on Ctrl-C as well as goose does. Goose installs its own
    /// Ctrl-C handler when the attack starts, and then waits for every user to
    /// finish its journey, which can take a resend interval. This listener is
    /// installed once the first journey runs, and it makes the journeys end at
    /// their next step or wait.
    fn listen_for_ctrl_c(self: &Arc<Self>) {
        self.ctrl_c_listener.call_once(|| {
            let shared = Arc::clone(self);
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    tracing::warn!("Ctrl-C received; stopping the load and writing the report");
                    shared.request_stop("interrupted");
                }
            });
        });
    }

    /// Returns how long the run has left, or `None` once its deadline has
    /// passed or it was asked to stop.
    pub fn remaining(&self) -> Option<Duration> {
        if self.stop_requested() {
            return None;
        }
        remaining(self.deadline)
    }

    /// Sleeps for `pause`, waking early when the run reaches its deadline or
    /// is asked to stop. Returns `false` when the run has no time left.
    pub async fn sleep(&self, pause: Duration) -> bool {
        let Some(left) = self.remaining() else {
            return false;
        };
        let mut stop = self.stop.subscribe();
        tokio::select! {
            () = tokio::time::sleep(pause.min(left)) => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
        self.remaining().is_some()
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
            Box::pin(async move {
                shared.listen_for_ctrl_c();
                journeys::run_one(user, &shared, kind).await
            })
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
