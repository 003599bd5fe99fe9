//! `recoverylab run`: validate a scenario, start or reach the stack, enroll
//! the people, drive the load, and write the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use secrecy::SecretString;

use crate::abuse::{self, AttackContext};
use crate::config::{load_scenario, Scenario};
use crate::exit::InvalidInput;
use crate::leak_check;
use crate::load::{self, LoadShared, Targets};
use crate::providers::{ProviderSettings, ProviderStats};
use crate::report::model::FunnelStep;
use crate::report::model::{
    EnrollmentStats, FaultProfileInfo, JourneyOutcomes, LoadSettings, Percentiles, ProviderTraffic,
    Report, ServiceOutage, StepStats, Target, Throughput, RECOVERYLAB_VERSION,
    REPORT_SCHEMA_VERSION,
};
use crate::report::progress::Progress;
use crate::report::recorder::{Recorded, BEFORE_FIRST_STEP};
use crate::report::thresholds::Measurements;
use crate::report::timeline::{OnInterval, TimelineTask, INTERVAL_LOG_FILE};
use crate::report::RunRecorder;
use crate::stack::{Stack, StackListeners, StackOptions};

/// The length of one interval of the timeline and interval log.
const TIMELINE_INTERVAL: Duration = Duration::from_secs(1);

/// A stack that is already running, reached by URL instead of started here.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    pub targets: Targets,
    pub admin_token: SecretString,
}

pub struct RunOptions {
    pub scenario: PathBuf,
    pub out: Option<PathBuf>,
    pub remote: Option<RemoteTarget>,
    /// Log files of the target deployment that the leak check searches too.
    pub scan_logs: Vec<PathBuf>,
    /// Delays the in-process service adds on chosen routes; see StackOptions.
    pub inject_delay: Vec<crate::service::delay::InjectedDelay>,
}

/// The output folder of a finished run and its report.
pub struct RunResult {
    pub out: PathBuf,
    pub report: Report,
    /// The gates that failed although the report was written: thresholds,
    /// abuse checks, the secret-leak check. The caller shows the summary,
    /// then exits with these as the error.
    pub failures: Vec<String>,
    /// The reason the run stopped before its end, as on SIGTERM, which
    /// makes it a run error.
    pub stopped_early: Option<String>,
}

/// Runs a scenario end to end. The scenario is validated before anything
/// starts; any error after that still stops the servers this run started.
pub async fn run(options: RunOptions) -> anyhow::Result<RunResult> {
    let scenario = load_scenario(&options.scenario).invalid_input()?;
    leak_check::check_scan_logs(&options.scan_logs).invalid_input()?;
    let out = match options.out.clone() {
        Some(out) => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create the output folder {}", out.display()))?;
            out
        }
        None => create_default_out_dir(&scenario)?,
    };
    let _run_log = leak_check::run_log::Capture::start(&out.join("run.log"))
        .with_context(|| format!("cannot create run.log in {}", out.display()))?;
    let scan_logs = &options.scan_logs;

    match options.remote {
        Some(remote) => {
            drive(
                &scenario,
                &out,
                remote.targets,
                &remote.admin_token,
                false,
                scan_logs,
            )
            .await
        }
        None => {
            let database_dir = tempfile::tempdir()
                .context("cannot create a folder for the service's SQLite file")?;
            let mut stack_options = StackOptions::new(
                Some(database_dir.path().join("service.sqlite")),
                scenario.hash_profile,
                provider_settings(&scenario),
            );
            stack_options.inject_delay = options.inject_delay;
            let stack = Stack::start(stack_options, StackListeners::loopback().await?).await?;
            let urls = stack.provider_urls();
            let targets = Targets {
                service: stack.service.url(),
                email: urls.email,
                sms: urls.sms,
                postal: urls.postal,
            };
            let admin_token = stack.admin_token.clone();
            let result = drive(&scenario, &out, targets, &admin_token, true, scan_logs).await;
            if let Err(error) = stack.stop().await {
                tracing::warn!(error = %error, "stopping the in-process stack failed");
            }
            result
        }
    }
}

/// Maps the scenario's provider settings onto the mocks' settings.
pub fn provider_settings(scenario: &Scenario) -> ProviderSettings {
    let (first, last) = scenario.postal_transit_business_days;
    ProviderSettings {
        seed: scenario.seed,
        seconds_per_business_day: scenario.seconds_per_business_day,
        postal_transit_business_days: first..=last,
        profile: scenario.fault_profile.clone(),
        ..ProviderSettings::default()
    }
}

/// Creates a new folder under reports/ named after the scenario and the
/// time, with a numbered suffix when a run started in the same second.
pub(crate) fn create_default_out_dir(scenario: &Scenario) -> anyhow::Result<PathBuf> {
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let name: String = scenario
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let reports = Path::new("reports");
    std::fs::create_dir_all(reports)
        .context("cannot create the reports folder; run from a writable folder or pass --out")?;
    for attempt in 1..=100 {
        let folder = match attempt {
            1 => reports.join(format!("{name}-{stamp}")),
            _ => reports.join(format!("{name}-{stamp}-{attempt}")),
        };
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(folder),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("cannot create the output folder {}", folder.display())
                })
            }
        }
    }
    anyhow::bail!("100 runs of {name} started in the same second; pass --out to choose a folder")
}

async fn drive(
    scenario: &Scenario,
    out: &Path,
    targets: Targets,
    admin_token: &SecretString,
    in_process: bool,
    scan_logs: &[PathBuf],
) -> anyhow::Result<RunResult> {
    let started_at = Utc::now();
    let hash_profile = service_hash_profile(&targets.service).await?;
    tracing::info!(people = scenario.people, "enrolling the population");
    let enrollment =
        load::enroll::enroll_population(&targets.service, admin_token, scenario).await?;
    tracing::info!(
        enrolled = enrollment.enrolled,
        already_enrolled = enrollment.already_enrolled,
        seconds = enrollment.elapsed.as_secs_f64(),
        "population enrolled"
    );

    // A running stack's mocks count traffic since they started; the report
    // shows this run's share.
    let before = provider_traffic(&targets).await;
    let shards = std::thread::available_parallelism().map_or(2, |cores| cores.get() * 4);
    let recorder = Arc::new(RunRecorder::new(shards));
    let load_started = Instant::now();
    let shared = Arc::new(LoadShared::new(
        scenario.clone(),
        targets.clone(),
        Arc::clone(&recorder),
        load_started + scenario.max_duration,
    ));
    let goose_report = out.join("goose.html");
    let sigterm = stop_on_sigterm(Arc::clone(&shared));
    let aborted_by = Arc::new(std::sync::OnceLock::new());
    let timeline = TimelineTask::start(
        Arc::clone(&recorder),
        &out.join(INTERVAL_LOG_FILE),
        TIMELINE_INTERVAL,
        watch_interval(scenario, Arc::clone(&shared), Arc::clone(&aborted_by)),
    )?;
    if scenario.has_load() {
        if let Err(error) = load::run_load(Arc::clone(&shared), &goose_report).await {
            if let Some(listener) = sigterm {
                listener.abort();
            }
            let _ = timeline.finish().await;
            return Err(error);
        }
    }
    let load_elapsed = load_started.elapsed();
    let timeline = timeline.finish().await?;
    let abuse = match &scenario.abuse {
        Some(settings) if !shared.stop_requested() => {
            let context = AttackContext {
                targets: &targets,
                admin_token,
                seed: scenario.seed,
                first_index: scenario.first_index + scenario.people,
                secrets: &shared.secrets,
            };
            Some(abuse::run_attacks(settings, &context, || shared.stop_requested()).await)
        }
        _ => None,
    };
    if let Some(listener) = sigterm {
        listener.abort();
    }

    let after = provider_traffic(&targets).await;
    let providers = after
        .into_iter()
        .map(|(name, stats)| {
            let since = before
                .get(name)
                .map_or_else(|| stats.clone(), |earlier| stats.since(earlier));
            (name, since)
        })
        .collect();
    let exhausted = shared
        .people_exhausted
        .load(std::sync::atomic::Ordering::Relaxed);
    if exhausted > 0 {
        tracing::warn!(
            skipped = exhausted,
            "journeys skipped because their kind ran out of people; raise population.people"
        );
    }
    let recorded = recorder.merged();
    let mut report = build_report(
        scenario,
        started_at,
        &targets,
        in_process,
        enrollment,
        load_elapsed,
        &recorded,
        providers,
    );
    report.hash_profile = hash_profile;
    report.load.journeys_skipped = exhausted;
    report.load.stopped_by = stopped_by(scenario, &shared, &report, load_elapsed).to_owned();
    report.timeline = timeline;
    report.thresholds = check_thresholds(scenario, &recorded, &report, aborted_by.get().copied());
    report.abuse = abuse;
    // NOTE: the in-process stack logs its shutdown after this check, to
    // stderr only, so those lines are not searched.
    let mut failures = Vec::new();
    if let Some(leaked) =
        leak_check::write_checked_report(out, &mut report, scenario, &shared.secrets, scan_logs)?
    {
        failures.push(leaked);
    }
    if let Some(abuse) = &report.abuse {
        let failed = abuse.failures();
        if !abuse.pass {
            let mut listed: Vec<String> = failed
                .iter()
                .map(|(attack, check)| {
                    format!(
                        "{attack}: {}: expected {}, observed {}",
                        check.name, check.expected, check.observed
                    )
                })
                .collect();
            if listed.is_empty() {
                listed.push("the run stopped before every attack ran".to_owned());
            }
            failures.push(format!(
                "the abuse attacks found {} failed check(s); the report in {} has every check:\n  {}",
                failed.len(),
                out.display(),
                listed.join("\n  ")
            ));
        }
    }
    let failed_thresholds: Vec<&str> = report
        .thresholds
        .iter()
        .filter(|threshold| !threshold.pass)
        .map(|threshold| threshold.message.as_str())
        .collect();
    if !failed_thresholds.is_empty() {
        failures.push(format!(
            "{} of {} threshold(s) failed:\n  {}",
            failed_thresholds.len(),
            report.thresholds.len(),
            failed_thresholds.join("\n  ")
        ));
    }
    let mut stopped_early = None;
    if matches!(report.load.stopped_by.as_str(), "sigterm" | "interrupted") {
        stopped_early = Some(format!(
            "the run was stopped early ({}) after {:.1} s of load; the report in {} covers the part that ran, with cut journeys in flight",
            report.load.stopped_by,
            load_elapsed.as_secs_f64(),
            out.display()
        ));
    }
    Ok(RunResult {
        out: out.to_owned(),
        report,
        failures,
        stopped_early,
    })
}

/// Stops the load, instead of the process, on SIGTERM, so that a run killed
/// by a CI timeout still writes its report. Returns the listening task.
fn stop_on_sigterm(shared: Arc<LoadShared>) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => Some(tokio::spawn(async move {
                if terminate.recv().await.is_some() {
                    tracing::warn!("SIGTERM received; stopping the load and writing the report");
                    shared.request_stop("sigterm");
                }
            })),
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM; it will end the run without a report");
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = shared;
        None
    }
}

/// Names why the load ended, for `load.stopped_by` in the report.
fn stopped_by(
    scenario: &Scenario,
    shared: &LoadShared,
    report: &Report,
    load_elapsed: Duration,
) -> &'static str {
    if let Some(reason) = shared.stop_reason() {
        return reason;
    }
    if !scenario.has_load() {
        return "completed";
    }
    if load_elapsed >= scenario.max_duration {
        return "max_duration";
    }
    let started: u64 = report
        .journeys
        .values()
        .map(|journey| journey.started)
        .sum();
    let planned = (scenario.users * scenario.journeys_per_user) as u64;
    if started + report.load.journeys_skipped < planned {
        // Goose ended before every user ran its journeys: it stops early
        // only when it is interrupted, as by Ctrl-C.
        return "interrupted";
    }
    "completed"
}

/// Asks the service for its hash profile; this also checks that it is up
/// before enrollment starts.
async fn service_hash_profile(service_url: &str) -> anyhow::Result<String> {
    let health: crate::service::health::Health = reqwest::Client::new()
        .get(format!("{service_url}/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("the service at {service_url} did not answer /health; check the URL and that it is running"))?
        .json()
        .await
        .with_context(|| format!("{service_url}/health did not answer as a recoverylab service"))?;
    Ok(health.hash_profile)
}

/// Reads each mock's `/v1/stats`. Fields a provider does not report read as 0.
async fn provider_traffic(targets: &Targets) -> BTreeMap<&'static str, ProviderStats> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client with a timeout builds");
    let mut traffic = BTreeMap::new();
    for (name, base) in [
        ("email", &targets.email),
        ("sms", &targets.sms),
        ("postal", &targets.postal),
    ] {
        let stats = match client.get(format!("{base}/v1/stats")).send().await {
            Ok(response) => response.json::<ProviderStats>().await.ok(),
            Err(_) => None,
        };
        if stats.is_none() {
            tracing::warn!(
                provider = name,
                "provider statistics unavailable; the report shows zeros"
            );
        }
        traffic.insert(name, stats.unwrap_or_default());
    }
    traffic
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    scenario: &Scenario,
    started_at: chrono::DateTime<Utc>,
    targets: &Targets,
    in_process: bool,
    enrollment: load::enroll::EnrollmentResult,
    load_elapsed: Duration,
    recorded: &Recorded,
    providers: BTreeMap<&'static str, ProviderStats>,
) -> Report {
    let duration_s = load_elapsed.as_secs_f64();
    let mut journeys = BTreeMap::new();
    let mut completed_total = 0;
    let kinds = scenario.mix.active_kinds().filter(|_| scenario.has_load());
    for kind in kinds {
        let record = recorded.journeys.get(&kind).cloned().unwrap_or_default();
        let failed_total: u64 = record.failed.values().sum();
        let ended = record.completed + failed_total + record.abandoned;
        completed_total += record.completed;
        journeys.insert(
            kind.name().to_owned(),
            JourneyOutcomes {
                started: record.started,
                completed: record.completed,
                failed: record.failed.clone(),
                abandoned: record.abandoned,
                in_flight: record.started.saturating_sub(ended),
                duration_us: record
                    .duration
                    .as_ref()
                    .map(|histogram| Percentiles::from_histogram(histogram, 1)),
            },
        );
    }
    let mut steps = BTreeMap::new();
    let mut step_total = 0;
    for (name, record) in &recorded.steps {
        step_total += record.latency.len();
        steps.insert(
            (*name).to_owned(),
            StepStats {
                count: record.latency.len(),
                errors: record.errors,
                error_codes: record.error_codes.clone(),
                latency_us: Percentiles::from_histogram(&record.latency, 1),
                histogram: crate::report::model::encode_histogram(&record.latency),
            },
        );
    }
    let providers = providers
        .into_iter()
        .map(|(name, stats)| {
            let traffic = ProviderTraffic {
                stats,
                delivery_latency_us: recorded
                    .deliveries
                    .get(name)
                    .map(|histogram| Percentiles::from_histogram(histogram, 1)),
            };
            (name.to_owned(), traffic)
        })
        .collect();
    let enroll_seconds = enrollment.elapsed.as_secs_f64();
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        recoverylab_version: RECOVERYLAB_VERSION.to_owned(),
        scenario: scenario.name.clone(),
        scenario_file: scenario.path.display().to_string(),
        seed: scenario.seed,
        hash_profile: scenario.hash_profile.name().to_owned(),
        started_at: started_at.to_rfc3339(),
        duration_s,
        target: Target {
            service_url: targets.service.clone(),
            in_process,
        },
        load: LoadSettings {
            users: scenario.users,
            journeys_per_user: scenario.journeys_per_user,
            people: scenario.people,
            max_duration_s: scenario.max_duration.as_secs_f64(),
            journeys_skipped: 0,
            stopped_by: String::new(),
        },
        enrollment: EnrollmentStats {
            people: enrollment.enrolled,
            already_enrolled: enrollment.already_enrolled,
            duration_s: enroll_seconds,
            people_per_s: if enroll_seconds > 0.0 {
                enrollment.enrolled as f64 / enroll_seconds
            } else {
                0.0
            },
        },
        throughput: Throughput {
            journeys_completed_per_s: completed_total as f64 / duration_s.max(1e-9),
            steps_per_s: step_total as f64 / duration_s.max(1e-9),
        },
        journeys,
        steps,
        providers,
        fault_profile: in_process.then(|| {
            let profile = &scenario.fault_profile;
            FaultProfileInfo {
                file: profile
                    .path
                    .as_ref()
                    .map_or_else(|| "healthy".to_owned(), |path| path.display().to_string()),
                seed: profile.seed,
            }
        }),
        service_outages: recorded
            .service_outages
            .iter()
            .map(|window| ServiceOutage {
                start_s: window.start_s,
                end_s: window.end_s,
            })
            .collect(),
        funnels: funnels(recorded),
        timeline: Default::default(),
        thresholds: Vec::new(),
        abuse: None,
        secret_leaks: None,
    }
}

/// Returns what runs after each interval of the load: the progress line,
/// and the check of thresholds that abort the run when they fail. The index
/// of the first threshold that aborted goes into `aborted_by`.
fn watch_interval(
    scenario: &Scenario,
    shared: Arc<LoadShared>,
    aborted_by: Arc<std::sync::OnceLock<usize>>,
) -> OnInterval {
    let mut progress = scenario.has_load().then(|| Progress::new(scenario.users));
    let abort_checks: Vec<(usize, crate::report::thresholds::Threshold)> = scenario
        .thresholds
        .iter()
        .cloned()
        .enumerate()
        .filter(|(_, threshold)| threshold.abort_on_fail)
        .collect();
    Box::new(move |interval, recorder, last| {
        if let Some(progress) = &mut progress {
            let busy = shared.users_busy.load(std::sync::atomic::Ordering::Relaxed);
            progress.update(interval, recorder, busy, last);
        }
        if abort_checks.is_empty() || aborted_by.get().is_some() || last {
            return;
        }
        let elapsed = recorder.elapsed();
        let failed = recorder.with_totals(|totals| {
            let measurements = Measurements {
                recorded: totals,
                providers: None,
            };
            abort_checks.iter().find(|(_, threshold)| {
                elapsed >= threshold.delay_abort_eval && threshold.failed_so_far(&measurements)
            })
        });
        if let Some((index, threshold)) = failed {
            if aborted_by.set(*index).is_ok() {
                tracing::warn!(
                    threshold = %format!("{} {}", threshold.target, threshold.expression),
                    "a threshold with abort_on_fail failed; stopping the load and writing the report"
                );
                shared.request_stop("threshold");
            }
        }
    })
}

/// Checks every threshold of the scenario against the whole run.
fn check_thresholds(
    scenario: &Scenario,
    recorded: &Recorded,
    report: &Report,
    aborted_by: Option<usize>,
) -> Vec<crate::report::model::ThresholdResult> {
    let measurements = Measurements {
        recorded,
        providers: Some(&report.providers),
    };
    scenario
        .thresholds
        .iter()
        .enumerate()
        .map(|(index, threshold)| threshold.check(&measurements, aborted_by == Some(index)))
        .collect()
}

/// Turns the recorded funnels into the report's, each journey kind's steps
/// in the order journeys sent them on average.
fn funnels(recorded: &Recorded) -> BTreeMap<String, Vec<FunnelStep>> {
    recorded
        .funnels
        .iter()
        .map(|(kind, steps)| {
            let mut ordered: Vec<(f64, FunnelStep)> = steps
                .iter()
                .map(|(step, funnel)| {
                    // Journeys lost before any step come first.
                    let position = match *step == BEFORE_FIRST_STEP {
                        true => -1.0,
                        false => funnel.position_sum as f64 / funnel.reached.max(1) as f64,
                    };
                    let step = FunnelStep {
                        step: (*step).to_owned(),
                        reached: funnel.reached,
                        lost: funnel.lost.clone(),
                    };
                    (position, step)
                })
                .collect();
            ordered.sort_by(|(left, _), (right, _)| left.total_cmp(right));
            let steps = ordered.into_iter().map(|(_, step)| step).collect();
            (kind.name().to_owned(), steps)
        })
        .collect()
}
