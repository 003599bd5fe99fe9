//! `recoverylab compare`: the regression gate between two runs' reports.
//!
//! Every step and journey kind in either report gets a check per latency
//! percentile (p50, p90, p99) and one on its rate: the error rate of a step,
//! the success rate of a journey. A check is a regression only when the
//! change passes a relative and an absolute limit and is also beyond what the
//! sample counts explain, so that two runs of one build on a noisy machine
//! pass:
//!
//! - Step latencies: each report contains the step's whole histogram, so each
//!   percentile gets a distribution-free confidence interval from order
//!   statistics: the ranks n·q ± z·√(n·q·(1−q)). The current interval's
//!   lower end must lie above the baseline interval's upper end.
//! - Journey durations: reports keep percentiles only, so only the limits
//!   and the sample counts apply.
//! - Rates: a two-proportion z-test at the same confidence.
//!
//! Two runs of one build can still differ as a whole: a run on a busier
//! machine, or in a process the scheduler favours less, is slower at every
//! step. Latencies are therefore judged against the baseline scaled by the
//! run-wide drift, the median ratio of the steps' p50s, when it is above 1.
//! A delay in one step moves that step alone and stays visible, while a
//! uniform slowdown of every step passes unless `--no-drift-correction`.
//!
//! docs/compare.md gives the rules, defaults and outputs for users.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::exit::{fail, ExitKind};
use crate::report::model::{decode_histogram, JourneyOutcomes, Percentiles, StepStats};
use crate::report::model::{Report, REPORT_SCHEMA_VERSION};

mod markdown;
mod stats;

pub use markdown::render_markdown;
use markdown::{format_ms, format_percent_change};
pub use stats::{quantile_interval_us, quantile_rank_interval, two_proportion_z, Proportion};

#[derive(Args)]
pub struct CompareArgs {
    /// The baseline run: its output folder or its report.json.
    pub baseline: PathBuf,
    /// The run to check against the baseline: its output folder or its report.json.
    pub current: PathBuf,
    /// Also write compare.md, compare.json and junit.xml into this folder
    /// [default: print the Markdown only].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A step percentile regresses only when it rose by more than this, in percent.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    pub max_relative_increase: f64,
    /// A step percentile regresses only when it rose by more than this, in milliseconds.
    #[arg(long, default_value_t = 1.0, value_parser = non_negative)]
    pub max_absolute_increase_ms: f64,
    /// A journey duration percentile regresses only when it rose by more than this, in percent.
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    pub journey_max_relative_increase: f64,
    /// A journey duration percentile regresses only when it rose by more than
    /// this, in milliseconds.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    pub journey_max_absolute_increase_ms: f64,
    /// A rate regresses only when it moved the wrong way by more than this,
    /// in percentage points.
    #[arg(long, default_value_t = 2.0, value_parser = percentage_points)]
    pub max_rate_change_pp: f64,
    /// Minimum samples (step responses, completed or ended journeys) that each
    /// report needs for a verdict; fewer give "not enough samples".
    #[arg(long, default_value_t = 20)]
    pub min_samples: u64,
    /// Confidence of the percentile intervals and of the rate test: 0.9,
    /// 0.95, 0.99 or 0.999.
    #[arg(long, default_value = "0.99", value_parser = confidence_z)]
    pub confidence: Confidence,
    /// Judge latencies as measured, without first scaling the baseline by
    /// the run-wide drift, so that a slowdown of every step fails too.
    #[arg(long)]
    pub no_drift_correction: bool,
    /// The run-wide drift regresses when the median step p50 rose by more
    /// than this, in percent, which catches a slowdown of every step alike.
    #[arg(long, default_value_t = 100.0, value_parser = non_negative)]
    pub max_drift_increase: f64,
}

/// A two-sided confidence level and its standard normal quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub level: f64,
    /// The z with P(|Z| ≤ z) = level for a standard normal Z.
    pub z: f64,
}

/// The confidence levels offered, with their z to three decimals, from the
/// standard normal distribution's table.
const CONFIDENCE_LEVELS: [(f64, f64); 4] =
    [(0.9, 1.645), (0.95, 1.960), (0.99, 2.576), (0.999, 3.291)];

fn confidence_z(text: &str) -> Result<Confidence, String> {
    let level: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number; choose 0.9, 0.95, 0.99 or 0.999"))?;
    CONFIDENCE_LEVELS
        .iter()
        .find(|(known, _)| (known - level).abs() < 1e-9)
        .map(|&(level, z)| Confidence { level, z })
        .ok_or_else(|| {
            format!("{text} is not an offered confidence; choose 0.9, 0.95, 0.99 or 0.999")
        })
}

/// Parses a rate limit: above 100 percentage points no change could pass it.
fn percentage_points(text: &str) -> Result<f64, String> {
    match non_negative(text)? {
        value if value < 100.0 => Ok(value),
        _ => Err(format!("{text} is 100 or more, so no rate check could fail; give fewer percentage points, such as 2")),
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a non-negative number")),
    }
}

/// The limits every check applies, as given on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub step_relative_pct: f64,
    pub step_absolute_ms: f64,
    pub journey_relative_pct: f64,
    pub journey_absolute_ms: f64,
    pub rate_change_pp: f64,
    pub min_samples: u64,
    pub confidence: Confidence,
    /// Whether latencies are judged against the baseline scaled by the
    /// run-wide drift.
    pub drift_correction: bool,
    /// The largest run-wide drift that passes, as an increase in percent.
    pub max_drift_increase_pct: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            step_relative_pct: 10.0,
            step_absolute_ms: 1.0,
            journey_relative_pct: 20.0,
            journey_absolute_ms: 10.0,
            rate_change_pp: 2.0,
            min_samples: 20,
            confidence: Confidence {
                level: 0.99,
                z: 2.576,
            },
            drift_correction: true,
            max_drift_increase_pct: 100.0,
        }
    }
}

impl Limits {
    /// Returns the limits of a step percentile, with `drift` applied.
    fn for_steps(&self, drift: f64) -> LatencyLimits {
        LatencyLimits {
            relative_pct: self.step_relative_pct,
            absolute_ms: self.step_absolute_ms,
            min_samples: self.min_samples,
            confidence: self.confidence,
            drift,
        }
    }

    /// Returns the limits of a journey duration percentile, with `drift` applied.
    fn for_journeys(&self, drift: f64) -> LatencyLimits {
        LatencyLimits {
            relative_pct: self.journey_relative_pct,
            absolute_ms: self.journey_absolute_ms,
            ..self.for_steps(drift)
        }
    }
}

impl From<&CompareArgs> for Limits {
    fn from(args: &CompareArgs) -> Self {
        Self {
            step_relative_pct: args.max_relative_increase,
            step_absolute_ms: args.max_absolute_increase_ms,
            journey_relative_pct: args.journey_max_relative_increase,
            journey_absolute_ms: args.journey_max_absolute_increase_ms,
            rate_change_pp: args.max_rate_change_pp,
            min_samples: args.min_samples,
            confidence: args.confidence,
            drift_correction: !args.no_drift_correction,
            max_drift_increase_pct: args.max_drift_increase,
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Regression,
    Improved,
    /// Too few samples in either report for a verdict; passes.
    NotEnoughSamples,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Regression => "REGRESSION",
            Verdict::Improved => "improved",
            Verdict::NotEnoughSamples => "not enough samples",
        })
    }
}

/// One metric of one step or journey kind, in both reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `step:NAME` or `journey:KIND`.
    pub subject: String,
    /// `p50`, `p90`, `p99`, `error_rate` or `success_rate`.
    pub metric: String,
    /// `ms` for percentiles, `%` for rates.
    pub unit: String,
    /// `None` when the report has no such step or journey kind, or no
    /// completed journey to time.
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub baseline_samples: u64,
    pub current_samples: u64,
    pub verdict: Verdict,
    /// One line on why the verdict is what it is, with values and limits.
    pub reason: String,
}

impl Check {
    /// Names the check, such as `step:sign_in.code p99`.
    pub fn name(&self) -> String {
        format!("{} {}", self.subject, self.metric)
    }
}

/// One report given to `compare`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportSource {
    pub path: String,
    pub recoverylab_version: String,
    pub started_at: String,
}

/// The result of `compare`, as written to compare.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub scenario: String,
    pub baseline: ReportSource,
    pub current: ReportSource,
    pub limits: Limits,
    /// The run-wide drift: the median over steps of current p50 / baseline
    /// p50, with the steps it was taken from.
    pub step_drift: Drift,
    pub regressions: usize,
    pub checks: Vec<Check>,
}

impl Comparison {
    /// Returns a warning when no check had enough samples for a verdict,
    /// so that the comparison could not have found a regression.
    pub fn cannot_judge(&self) -> Option<String> {
        let judged = self
            .checks
            .iter()
            .any(|check| check.verdict != Verdict::NotEnoughSamples);
        (!judged).then(|| {
            format!(
                "none of the {} checks had enough samples for a verdict, so this comparison cannot find a regression; compare runs with at least {} samples per step, such as runs of scenarios/compare.toml",
                self.checks.len(),
                self.limits.min_samples
            )
        })
    }

    pub fn regressions(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|check| check.verdict == Verdict::Regression)
    }
}

/// Runs `recoverylab compare`: prints the Markdown, writes the files when
/// `--out` is given, and fails with exit code 1 on any regression.
pub fn compare_command(args: CompareArgs) -> anyhow::Result<()> {
    let (baseline, current) = load_pair(&args.baseline, &args.current)?;
    let comparison = compare(&baseline, &current, Limits::from(&args))?;
    let markdown = render_markdown(&comparison);
    print!("{markdown}");
    if let Some(warning) = comparison.cannot_judge() {
        eprintln!("warning: {warning}");
    }
    if let Some(out) = &args.out {
        write_outputs(out, &comparison, &markdown)?;
    }
    let regressions: Vec<String> = comparison
        .regressions()
        .map(|check| format!("{}: {}", check.name(), check.reason))
        .collect();
    if regressions.is_empty() {
        return Ok(());
    }
    Err(fail(
        ExitKind::GateFailed,
        format!(
            "{} regression(s) against the baseline:\n  {}",
            regressions.len(),
            regressions.join("\n  ")
        ),
    ))
}

fn write_outputs(out: &Path, comparison: &Comparison, markdown: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let json = serde_json::to_string_pretty(comparison).expect("a comparison serialises");
    let files = [
        ("compare.md", markdown.to_owned()),
        ("compare.json", json + "\n"),
        ("junit.xml", crate::report::junit::compare_junit(comparison)),
    ];
    for (name, contents) in files {
        let path = out.join(name);
        crate::report::write::write_atomically(&path, contents.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// A report read from disk, with the path it came from.
pub struct LoadedReport {
    pub path: PathBuf,
    pub report: Report,
}

/// Reads the baseline and current reports, each from a run's output folder
/// or a report.json file, and checks that they can be compared. Every
/// error is invalid input (exit code 2) naming the path or the values.
pub fn load_pair(baseline: &Path, current: &Path) -> anyhow::Result<(LoadedReport, LoadedReport)> {
    let (baseline_path, baseline_json) = read_json(baseline)?;
    let (current_path, current_json) = read_json(current)?;

    let version_of = |path: &Path, json: &serde_json::Value| {
        json.get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                fail(
                    ExitKind::InvalidInput,
                    format!(
                        "{} has no schema_version, so it is not a report.json that `recoverylab run` wrote; give a run's output folder or its report.json",
                        path.display()
                    ),
                )
            })
    };
    let baseline_version = version_of(&baseline_path, &baseline_json)?;
    let current_version = version_of(&current_path, &current_json)?;
    if baseline_version != current_version {
        return Err(fail(
            ExitKind::InvalidInput,
            format!(
                "the baseline {} has report schema_version {baseline_version} and the current {} has {current_version}; run both with the same recoverylab version (this one reads version {REPORT_SCHEMA_VERSION})",
                baseline_path.display(),
                current_path.display(),
            ),
        ));
    }
    if baseline_version != u64::from(REPORT_SCHEMA_VERSION) {
        return Err(fail(
            ExitKind::InvalidInput,
            format!(
                "both reports have schema_version {baseline_version}, but this recoverylab {} reads version {REPORT_SCHEMA_VERSION}; compare them with the recoverylab version that wrote them",
                crate::report::model::RECOVERYLAB_VERSION
            ),
        ));
    }

    let baseline = parse_report(baseline_path, baseline_json)?;
    let current = parse_report(current_path, current_json)?;
    if baseline.report.scenario != current.report.scenario {
        return Err(fail(
            ExitKind::InvalidInput,
            format!(
                "the baseline {} ran scenario {:?} and the current {} ran {:?}; compare two runs of the same scenario",
                baseline.path.display(),
                baseline.report.scenario,
                current.path.display(),
                current.report.scenario
            ),
        ));
    }

    for (role, loaded) in [("baseline", &baseline), ("current", &current)] {
        let load = &loaded.report.load;
        if load.stopped_early() {
            return Err(fail(
                ExitKind::InvalidInput,
                format!(
                    "the {role} run {} was stopped early ({}) after {:.1} s, so its latencies and rates cover only part of the load; compare runs that ran to their end",
                    loaded.path.display(),
                    load.stopped_by,
                    loaded.report.duration_s
                ),
            ));
        }
    }
    Ok((baseline, current))
}

fn read_json(given: &Path) -> anyhow::Result<(PathBuf, serde_json::Value)> {
    let path = if given.is_dir() {
        given.join("report.json")
    } else {
        given.to_owned()
    };
    let text = std::fs::read_to_string(&path).map_err(|error| {
        fail(
            ExitKind::InvalidInput,
            format!(
                "cannot read the report {}: {error}; give a run's output folder or its report.json",
                path.display()
            ),
        )
    })?;
    let json = serde_json::from_str(&text).map_err(|error| {
        fail(
            ExitKind::InvalidInput,
            format!(
                "{} is not valid JSON ({error}); give the report.json that `recoverylab run` wrote",
                path.display()
            ),
        )
    })?;
    Ok((path, json))
}

fn parse_report(path: PathBuf, json: serde_json::Value) -> anyhow::Result<LoadedReport> {
    match serde_json::from_value(json) {
        Ok(report) => Ok(LoadedReport { path, report }),
        Err(error) => Err(fail(
            ExitKind::InvalidInput,
            format!(
                "{} is not a recoverylab report ({error}); give the report.json that `recoverylab run` wrote",
                path.display()
            ),
        )),
    }
}

/// Compares every step and journey kind found in either report.
pub fn compare(
    baseline: &LoadedReport,
    current: &LoadedReport,
    limits: Limits,
) -> anyhow::Result<Comparison> {
    let mut checks = Vec::new();
    let steps: BTreeSet<&String> = baseline
        .report
        .steps
        .keys()
        .chain(current.report.steps.keys())
        .collect();
    let step_drift = measure_drift(&baseline.report, &current.report, limits.min_samples);
    let applied_drift = if limits.drift_correction {
        step_drift.factor
    } else {
        1.0
    };
    checks.push(drift_check(&step_drift, &limits));
    for name in steps {
        let before = StepSide::read(baseline, name)?;
        let after = StepSide::read(current, name)?;
        checks.extend(compare_step(name, &before, &after, &limits, applied_drift));
    }
    let kinds: BTreeSet<&String> = baseline
        .report
        .journeys
        .keys()
        .chain(current.report.journeys.keys())
        .collect();
    for kind in kinds {
        let before = baseline.report.journeys.get(kind);
        let after = current.report.journeys.get(kind);
        checks.extend(compare_journey(kind, before, after, &limits, applied_drift));
    }
    let source = |loaded: &LoadedReport| ReportSource {
        path: loaded.path.display().to_string(),
        recoverylab_version: loaded.report.recoverylab_version.clone(),
        started_at: loaded.report.started_at.clone(),
    };
    let regressions = checks
        .iter()
        .filter(|check| check.verdict == Verdict::Regression)
        .count();
    Ok(Comparison {
        scenario: current.report.scenario.clone(),
        baseline: source(baseline),
        current: source(current),
        limits,
        step_drift,
        regressions,
        checks,
    })
}

/// The run-wide change of step latencies between two reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Current p50 / baseline p50, the median over `steps`; 1 when fewer
    /// than [`MIN_DRIFT_STEPS`] steps qualify.
    pub factor: f64,
    /// Steps with enough samples in both reports and a non-zero baseline p50.
    pub steps: usize,
}

/// The minimum number of steps a run-wide drift is measured from. With
/// fewer, one slower step would decide most of the median.
pub const MIN_DRIFT_STEPS: usize = 3;

/// Measures how much slower, or faster, the current run's steps are as a
/// whole, as the median of the steps' p50 ratios. A run on a busier machine,
/// or in a process the scheduler favours less, slows every step by about
/// the same factor, while a regression in one step moves only that step's
/// ratio, which the median ignores.
pub fn measure_drift(baseline: &Report, current: &Report, min_samples: u64) -> Drift {
    let mut ratios: Vec<f64> = baseline
        .steps
        .iter()
        .filter_map(|(name, before)| {
            let after = current.steps.get(name)?;
            let enough = before.count.min(after.count) >= min_samples.max(1);
            (enough && before.latency_us.p50 > 0)
                .then(|| after.latency_us.p50 as f64 / before.latency_us.p50 as f64)
        })
        .collect();
    let steps = ratios.len();
    if steps < MIN_DRIFT_STEPS {
        return Drift { factor: 1.0, steps };
    }
    ratios.sort_by(f64::total_cmp);
    let middle = steps / 2;
    let factor = if steps % 2 == 1 {
        ratios[middle]
    } else {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    };
    Drift { factor, steps }
}

/// Checks the run-wide drift itself, so that a slowdown of every step
/// alike, which the drift correction excuses in each step's check, still
/// fails when it is large. Values are the median p50 ratio in percent.
fn drift_check(drift: &Drift, limits: &Limits) -> Check {
    let limit = 100.0 + limits.max_drift_increase_pct;
    let current = drift.factor * 100.0;
    let (verdict, reason) = if drift.steps < MIN_DRIFT_STEPS {
        (
            Verdict::NotEnoughSamples,
            format!(
                "{} step(s) with at least {} samples in both reports; at least {MIN_DRIFT_STEPS} needed",
                drift.steps, limits.min_samples
            ),
        )
    } else if current > limit {
        (
            Verdict::Regression,
            format!(
                "the median step p50 is {current:.0}% of the baseline's over {} steps, above the limit {limit:.0}%",
                drift.steps
            ),
        )
    } else {
        (
            Verdict::Ok,
            format!(
                "the median step p50 is {current:.0}% of the baseline's over {} steps, within the limit {limit:.0}%",
                drift.steps
            ),
        )
    };
    let samples = drift.steps as u64;
    Check {
        subject: "steps".to_owned(),
        metric: "drift".to_owned(),
        unit: "%".to_owned(),
        baseline: Some(100.0),
        current: Some(current),
        baseline_samples: samples,
        current_samples: samples,
        verdict,
        reason,
    }
}

/// One report's view of a step: its counts and decoded histogram.
struct StepSide<'a> {
    stats: Option<&'a StepStats>,
    histogram: Option<Histogram<u64>>,
}

impl<'a> StepSide<'a> {
    fn read(loaded: &'a LoadedReport, name: &str) -> anyhow::Result<Self> {
        let Some(stats) = loaded.report.steps.get(name) else {
            return Ok(Self {
                stats: None,
                histogram: None,
            });
        };
        let histogram = decode_histogram(&stats.histogram).ok_or_else(|| {
            fail(
                ExitKind::InvalidInput,
                format!(
                    "the histogram of step {name} in {} cannot be decoded; give a report.json as `recoverylab run` wrote it",
                    loaded.path.display()
                ),
            )
        })?;
        Ok(Self {
            stats: Some(stats),
            histogram: Some(histogram),
        })
    }
}

const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

fn percentile_of(percentiles: &Percentiles, metric: &str) -> u64 {
    match metric {
        "p50" => percentiles.p50,
        "p90" => percentiles.p90,
        _ => percentiles.p99,
    }
}

fn compare_step(
    name: &str,
    before: &StepSide,
    after: &StepSide,
    limits: &Limits,
    drift: f64,
) -> Vec<Check> {
    let subject = format!("step:{name}");
    // The report's percentiles come from the same histogram, so reading the
    // value from it matches report.json.
    let side = |step: &StepSide, quantile: f64| match &step.histogram {
        Some(histogram) => Quantile::of_histogram(histogram, quantile, limits.confidence.z),
        None => Quantile::missing(),
    };
    let mut checks = latency_checks(&subject, &limits.for_steps(drift), |_, quantile| {
        (side(before, quantile), side(after, quantile))
    });
    let rate = |step: &StepSide| {
        step.stats
            .map_or(Proportion::default(), |stats| Proportion {
                events: stats.errors,
                trials: stats.count,
            })
    };
    checks.push(rate_check(
        &subject,
        "error_rate",
        rate(before),
        rate(after),
        Direction::HigherIsWorse,
        limits,
    ));
    checks
}

/// Compares a journey kind. Its durations are judged against the baseline
/// scaled by the steps' drift too: a journey is steps plus think time and
/// deliveries, so it slows by at most the steps' factor.
fn compare_journey(
    kind: &str,
    before: Option<&JourneyOutcomes>,
    after: Option<&JourneyOutcomes>,
    limits: &Limits,
    drift: f64,
) -> Vec<Check> {
    let subject = format!("journey:{kind}");
    let side = |journey: Option<&JourneyOutcomes>, metric: &str, quantile: f64| match journey {
        Some(journey) => Quantile {
            value_ms: journey
                .duration_us
                .as_ref()
                .map(|percentiles| us_to_ms(percentile_of(percentiles, metric))),
            samples: journey.completed,
            bounds: quantile_rank_interval(journey.completed, quantile, limits.confidence.z)
                .map(|_| Bounds::RanksOnly),
        },
        None => Quantile::missing(),
    };
    let mut checks = latency_checks(&subject, &limits.for_journeys(drift), |metric, quantile| {
        (
            side(before, metric, quantile),
            side(after, metric, quantile),
        )
    });
    let rate = |journey: Option<&JourneyOutcomes>| {
        journey.map_or(Proportion::default(), |journey| Proportion {
            events: journey.completed,
            trials: journey.completed + journey.failed_total() + journey.abandoned,
        })
    };
    checks.push(rate_check(
        &subject,
        "success_rate",
        rate(before),
        rate(after),
        Direction::LowerIsWorse,
        limits,
    ));
    checks
}

/// Judges each percentile of [`PERCENTILES`], with `sides` giving the
/// baseline's and the current report's view of it.
fn latency_checks(
    subject: &str,
    limits: &LatencyLimits,
    sides: impl Fn(&str, f64) -> (Quantile, Quantile),
) -> Vec<Check> {
    PERCENTILES
        .iter()
        .map(|&(metric, quantile)| {
            let (before, after) = sides(metric, quantile);
            let (verdict, reason) = judge_latency(metric, &before, &after, limits);
            latency_check(subject, metric, &before, &after, verdict, reason)
        })
        .collect()
}

fn latency_check(
    subject: &str,
    metric: &str,
    before: &Quantile,
    after: &Quantile,
    verdict: Verdict,
    reason: String,
) -> Check {
    Check {
        subject: subject.to_owned(),
        metric: metric.to_owned(),
        unit: "ms".to_owned(),
        baseline: before.value_ms,
        current: after.value_ms,
        baseline_samples: before.samples,
        current_samples: after.samples,
        verdict,
        reason,
    }
}

fn rate_check(
    subject: &str,
    metric: &str,
    before: Proportion,
    after: Proportion,
    direction: Direction,
    limits: &Limits,
) -> Check {
    let (verdict, reason) = judge_rate(before, after, direction, limits);
    Check {
        subject: subject.to_owned(),
        metric: metric.to_owned(),
        unit: "%".to_owned(),
        baseline: before.percent(),
        current: after.percent(),
        baseline_samples: before.trials,
        current_samples: after.trials,
        verdict,
        reason,
    }
}

fn us_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

struct LatencyLimits {
    relative_pct: f64,
    absolute_ms: f64,
    min_samples: u64,
    confidence: Confidence,
    /// The run-wide drift the baseline is scaled by: only up when looking
    /// for a regression and only down when looking for an improvement, so
    /// that the drift can excuse a change but never cause a verdict.
    drift: f64,
}

/// One report's percentile, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Quantile {
    value_ms: Option<f64>,
    samples: u64,
    /// `None` when the sample is too small to bound the percentile.
    bounds: Option<Bounds>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bounds {
    /// The confidence interval, from the histogram.
    Interval(f64, f64),
    /// The sample is large enough, but without a histogram the interval is
    /// unknown: only the limits apply.
    RanksOnly,
}

impl Quantile {
    /// Reads a percentile of a step's latency histogram, in microseconds,
    /// with its order-statistic interval at `z`.
    fn of_histogram(histogram: &Histogram<u64>, quantile: f64, z: f64) -> Self {
        Self {
            value_ms: (!histogram.is_empty())
                .then(|| us_to_ms(histogram.value_at_quantile(quantile))),
            samples: histogram.len(),
            bounds: quantile_interval_us(histogram, quantile, z)
                .map(|(low, high)| Bounds::Interval(us_to_ms(low), us_to_ms(high))),
        }
    }

    fn missing() -> Self {
        Self {
            value_ms: None,
            samples: 0,
            bounds: None,
        }
    }
}

/// Judges a latency percentile. A regression needs the rise to exceed both
/// limits and, with intervals, the current interval to lie wholly above
/// the baseline's. An improvement is the mirror image.
fn judge_latency(
    metric: &str,
    before: &Quantile,
    after: &Quantile,
    limits: &LatencyLimits,
) -> (Verdict, String) {
    let fewest = before.samples.min(after.samples);
    // A step or journey that the baseline measured well and the current run
    // lost is a regression of coverage, not a lack of samples.
    if before.value_ms.is_some() && after.value_ms.is_none() && before.samples >= limits.min_samples
    {
        return (
            Verdict::Regression,
            format!(
                "the current report has no {metric} ({} samples) where the baseline had {} samples",
                after.samples, before.samples
            ),
        );
    }
    let (Some(old), Some(new)) = (before.value_ms, after.value_ms) else {
        return (
            Verdict::NotEnoughSamples,
            format!(
                "{metric} is missing from a report ({} and {} samples)",
                before.samples, after.samples
            ),
        );
    };
    if fewest < limits.min_samples {
        return (
            Verdict::NotEnoughSamples,
            format!(
                "{} and {} samples; at least {} needed in both",
                before.samples, after.samples, limits.min_samples
            ),
        );
    }
    let (Some(old_bounds), Some(new_bounds)) = (before.bounds, after.bounds) else {
        return (
            Verdict::NotEnoughSamples,
            format!(
                "{} and {} samples cannot bound {metric} at {}% confidence",
                before.samples,
                after.samples,
                limits.confidence.level * 100.0
            ),
        );
    };
    let change = new - old;
    let describe = format!(
        "{metric} {} ms to {} ms ({:+.2} ms, {})",
        format_ms(old),
        format_ms(new),
        change,
        format_percent_change(relative_change_pct(old, new))
    );
    let limits_text = format!(
        "limits {:+} ms and {:+}%",
        limits.absolute_ms, limits.relative_pct
    );
    let intervals = match (old_bounds, new_bounds) {
        (Bounds::Interval(old_low, old_high), Bounds::Interval(new_low, new_high)) => format!(
            "; {}% intervals {}–{} ms and {}–{} ms",
            limits.confidence.level * 100.0,
            format_ms(old_low),
            format_ms(old_high),
            format_ms(new_low),
            format_ms(new_high)
        ),
        _ => String::new(),
    };
    let (up, down) = (limits.drift.max(1.0), limits.drift.min(1.0));
    let drift_text = |scale: f64| {
        if scale == 1.0 {
            String::new()
        } else {
            format!(" after the run-wide drift ×{scale:.2}")
        }
    };
    let beyond_limits = |from: f64, to: f64| {
        to - from > limits.absolute_ms && relative_change_pct(from, to) > limits.relative_pct
    };

    let rose = match (old_bounds, new_bounds) {
        (Bounds::Interval(_, old_high), Bounds::Interval(new_low, _)) => new_low > old_high * up,
        _ => true,
    };
    if beyond_limits(old * up, new) && rose {
        let reason = format!(
            "{describe} is beyond the {limits_text}{}{intervals}",
            drift_text(up)
        );
        return (Verdict::Regression, reason);
    }
    let fell = match (old_bounds, new_bounds) {
        (Bounds::Interval(old_low, _), Bounds::Interval(_, new_high)) => new_high < old_low * down,
        _ => true,
    };
    if beyond_limits(new, old * down) && fell {
        let reason = format!(
            "{describe} is beyond the {limits_text}{}{intervals}",
            drift_text(down)
        );
        return (Verdict::Improved, reason);
    }
    let why = if beyond_limits(old * up, new) || beyond_limits(new, old * down) {
        "the intervals overlap"
    } else {
        "within the limits"
    };
    let scale = if new >= old { up } else { down };
    let reason = format!(
        "{describe}, {why} ({limits_text}{}){intervals}",
        drift_text(scale)
    );
    (Verdict::Ok, reason)
}

/// Returns the change from `from` to `to` in percent of `from`; infinite
/// for a change from 0.
pub(crate) fn relative_change_pct(from: f64, to: f64) -> f64 {
    let change = to - from;
    if from > 0.0 {
        change / from * 100.0
    } else if change == 0.0 {
        0.0
    } else {
        f64::INFINITY * change.signum()
    }
}

/// The direction in which a rate gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsWorse,
    LowerIsWorse,
}

/// Judges a rate. A regression needs a move the wrong way by more than the
/// limit in percentage points and a two-sided two-proportion z-test
/// significant at the configured confidence.
pub fn judge_rate(
    before: Proportion,
    after: Proportion,
    direction: Direction,
    limits: &Limits,
) -> (Verdict, String) {
    if before.trials.min(after.trials) < limits.min_samples.max(1) {
        return (
            Verdict::NotEnoughSamples,
            format!(
                "{} and {} samples; at least {} needed in both",
                before.trials, after.trials, limits.min_samples
            ),
        );
    }
    let change_pp = (after.rate() - before.rate()) * 100.0;
    let z = two_proportion_z(before, after);
    let worse_pp = match direction {
        Direction::HigherIsWorse => change_pp,
        Direction::LowerIsWorse => -change_pp,
    };
    let significant = z.abs() > limits.confidence.z;
    let describe = format!(
        "{:.2}% ({}/{}) to {:.2}% ({}/{}), {:+.2} pp, z = {:.2}",
        before.rate() * 100.0,
        before.events,
        before.trials,
        after.rate() * 100.0,
        after.events,
        after.trials,
        change_pp,
        z
    );
    let limits_text = format!(
        "limits {} pp and |z| > {} for {}% confidence",
        limits.rate_change_pp,
        limits.confidence.z,
        limits.confidence.level * 100.0
    );
    if significant && worse_pp > limits.rate_change_pp {
        return (
            Verdict::Regression,
            format!("{describe} is beyond the {limits_text}"),
        );
    }
    if significant && -worse_pp > limits.rate_change_pp {
        return (
            Verdict::Improved,
            format!("{describe} is beyond the {limits_text}"),
        );
    }
    (Verdict::Ok, format!("{describe}, within the {limits_text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_check_fails_large_uniform_slowdown() {
        let limits = Limits::default();
        let verdict =
            |factor: f64, steps: usize| drift_check(&Drift { factor, steps }, &limits).verdict;
        assert_eq!(verdict(2.5, 5), Verdict::Regression);
        assert_eq!(verdict(1.66, 5), Verdict::Ok);
        assert_eq!(verdict(0.5, 5), Verdict::Ok);
        assert_eq!(verdict(1.0, 2), Verdict::NotEnoughSamples);
        let check = drift_check(
            &Drift {
                factor: 2.5,
                steps: 5,
            },
            &limits,
        );
        assert_eq!(check.name(), "steps drift");
        assert!(
            check.reason.contains("250% of the baseline's over 5 steps"),
            "{}",
            check.reason
        );
        assert!(check.reason.contains("limit 200%"), "{}", check.reason);
    }

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = crate::report::recorder::new_histogram();
        for value in values {
            histogram.record(value).unwrap();
        }
        histogram
    }

    fn step_quantile(histogram: &Histogram<u64>, quantile: f64) -> Quantile {
        Quantile::of_histogram(histogram, quantile, Limits::default().confidence.z)
    }

    fn step_limits() -> LatencyLimits {
        Limits::default().for_steps(1.0)
    }

    /// Judges one percentile of two step histograms under the default limits.
    fn judge_step(
        metric: &str,
        quantile: f64,
        before: &Histogram<u64>,
        after: &Histogram<u64>,
    ) -> (Verdict, String) {
        judge_latency(
            metric,
            &step_quantile(before, quantile),
            &step_quantile(after, quantile),
            &step_limits(),
        )
    }

    fn judge_with_drift(
        before: &Histogram<u64>,
        after: &Histogram<u64>,
        drift: f64,
    ) -> (Verdict, String) {
        let limits = LatencyLimits {
            drift,
            ..step_limits()
        };
        judge_latency(
            "p50",
            &step_quantile(before, 0.5),
            &step_quantile(after, 0.5),
            &limits,
        )
    }

    #[test]
    fn drift_excuses_uniform_slowdown() {
        // Every latency 40% higher, as when the whole run got less CPU.
        let before = spread_from(2_000);
        let after = histogram_of(
            before
                .iter_recorded()
                .map(|bucket| bucket.value_iterated_to() * 14 / 10),
        );

        let (verdict, reason) = judge_with_drift(&before, &after, 1.4);
        assert_eq!(verdict, Verdict::Ok, "{reason}");
        assert!(reason.contains("drift ×1.40"), "{reason}");
        let (verdict, reason) = judge_with_drift(&before, &after, 1.0);
        assert_eq!(verdict, Verdict::Regression, "without drift: {reason}");
    }

    #[test]
    fn drift_does_not_hide_one_step_delay() {
        let (before, after) = (spread_from(2_000), spread_from(7_000));
        let (verdict, reason) = judge_with_drift(&before, &after, 1.2);
        assert_eq!(verdict, Verdict::Regression, "{reason}");
    }

    #[test]
    fn faster_run_does_not_flag_unchanged_step() {
        let before = spread_from(4_000);
        let (verdict, reason) = judge_with_drift(&before, &before, 0.6);
        assert_eq!(verdict, Verdict::Ok, "{reason}");
        let (verdict, reason) = judge_with_drift(&before, &before, 1.6);
        assert_eq!(verdict, Verdict::Ok, "slower run: {reason}");
    }

    /// 100 latencies spread evenly from `low_us` to `low_us` + 1,980 µs.
    fn spread_from(low_us: u64) -> Histogram<u64> {
        histogram_of((0..100).map(|index| low_us + index * 20))
    }

    #[test]
    fn shifted_latencies_are_a_regression() {
        let (before, after) = (spread_from(2_000), spread_from(7_000));
        let (verdict, reason) = judge_step("p50", 0.5, &before, &after);
        assert_eq!(verdict, Verdict::Regression, "{reason}");
        let (verdict, reason) = judge_step("p50", 0.5, &after, &before);
        assert_eq!(verdict, Verdict::Improved, "{reason}");
    }

    #[test]
    fn identical_latencies_are_ok() {
        let before = spread_from(2_000);
        let (verdict, reason) = judge_step("p90", 0.9, &before, &before);
        assert_eq!(verdict, Verdict::Ok, "{reason}");
    }

    #[test]
    fn overlapping_intervals_are_ok_despite_limits() {
        // Half the samples at 12 ms: the median moves from 3 ms to 4.2 ms
        // (+40%), but both 99% intervals reach 12 ms and overlap.
        let split = |low: u64| std::iter::repeat_n(low, 50).chain(std::iter::repeat_n(12_000, 50));
        let (before, after) = (histogram_of(split(3_000)), histogram_of(split(4_200)));
        let (verdict, reason) = judge_step("p50", 0.5, &before, &after);
        assert_eq!(verdict, Verdict::Ok, "{reason}");
        assert!(reason.contains("intervals overlap"), "{reason}");
    }

    #[test]
    fn small_absolute_rise_is_ok() {
        // +50% but only +0.5 ms, under the 1 ms limit.
        let (before, after) = (histogram_of([1_000; 100]), histogram_of([1_500; 100]));
        let (verdict, reason) = judge_step("p50", 0.5, &before, &after);
        assert_eq!(verdict, Verdict::Ok, "{reason}");
        assert!(reason.contains("within the limits"), "{reason}");
    }

    #[test]
    fn few_samples_are_not_enough() {
        let (before, after) = (
            spread_from(2_000),
            histogram_of((0..10).map(|index| 9_000 + index)),
        );
        let (verdict, reason) = judge_step("p50", 0.5, &before, &after);
        assert_eq!(verdict, Verdict::NotEnoughSamples, "{reason}");
        assert!(reason.contains("at least 20"), "{reason}");
    }

    #[test]
    fn lost_step_is_regression() {
        let before = spread_from(2_000);
        let (verdict, reason) = judge_latency(
            "p50",
            &step_quantile(&before, 0.5),
            &Quantile::missing(),
            &step_limits(),
        );
        assert_eq!(verdict, Verdict::Regression, "{reason}");
        assert!(reason.contains("the current report has no p50"), "{reason}");

        let (verdict, reason) = judge_latency(
            "p50",
            &Quantile::missing(),
            &step_quantile(&before, 0.5),
            &step_limits(),
        );
        assert_eq!(verdict, Verdict::NotEnoughSamples, "a new step: {reason}");
    }

    #[test]
    fn p99_of_100_samples_is_not_enough() {
        let (before, after) = (spread_from(2_000), spread_from(9_000));
        let (verdict, reason) = judge_step("p99", 0.99, &before, &after);
        assert_eq!(verdict, Verdict::NotEnoughSamples, "{reason}");
        assert!(reason.contains("cannot bound p99"), "{reason}");
    }

    #[test]
    fn rate_verdicts_of_known_counts() {
        let limits = Limits::default();
        let rate = |events, trials| Proportion { events, trials };
        let cases = [
            (
                "0 to 10 errors in 100",
                rate(0, 100),
                rate(10, 100),
                Direction::HigherIsWorse,
                Verdict::Regression,
            ),
            (
                "2 to 5 errors in 100, not significant",
                rate(2, 100),
                rate(5, 100),
                Direction::HigherIsWorse,
                Verdict::Ok,
            ),
            (
                "10 to 0 errors in 100",
                rate(10, 100),
                rate(0, 100),
                Direction::HigherIsWorse,
                Verdict::Improved,
            ),
            (
                "success 100% to 90%",
                rate(100, 100),
                rate(90, 100),
                Direction::LowerIsWorse,
                Verdict::Regression,
            ),
            (
                "1,000 to 1,500 errors in 100,000, under 2 pp",
                rate(1_000, 100_000),
                rate(1_500, 100_000),
                Direction::HigherIsWorse,
                Verdict::Ok,
            ),
            (
                "19 trials",
                rate(0, 19),
                rate(19, 19),
                Direction::HigherIsWorse,
                Verdict::NotEnoughSamples,
            ),
        ];
        for (case, before, after, direction, expected) in cases {
            let (verdict, reason) = judge_rate(before, after, direction, &limits);
            assert_eq!(verdict, expected, "{case}: {reason}");
        }
    }

    #[test]
    fn confidence_offers_listed_levels() {
        assert_eq!(confidence_z("0.99").unwrap().z, 2.576);
        assert_eq!(confidence_z("0.95").unwrap().z, 1.960);
        let error = confidence_z("0.98").unwrap_err();
        assert!(error.contains("choose 0.9, 0.95, 0.99 or 0.999"), "{error}");
    }
}
