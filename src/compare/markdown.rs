//! The Markdown rendering of a comparison, for pull-request comments.

use super::{relative_change_pct, Check, Comparison, Verdict, MIN_DRIFT_STEPS};

pub(super) fn format_ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

pub(super) fn format_percent_change(relative_pct: f64) -> String {
    if relative_pct.is_finite() {
        format!("{relative_pct:+.0}%")
    } else {
        "from 0".to_owned()
    }
}

fn format_value(value: Option<f64>, unit: &str) -> String {
    match (value, unit) {
        (None, _) => "–".to_owned(),
        (Some(value), "ms") => format!("{} ms", format_ms(value)),
        (Some(value), _) => format!("{value:.2}%"),
    }
}

fn format_change(check: &Check) -> String {
    let (Some(old), Some(new)) = (check.baseline, check.current) else {
        return "–".to_owned();
    };
    let change = new - old;
    if check.unit == "ms" {
        let relative = relative_change_pct(old, new);
        if change == 0.0 {
            return "0 ms".to_owned();
        }
        return format!("{change:+.2} ms ({})", format_percent_change(relative));
    }
    format!("{change:+.2} pp")
}

/// Describes the run-wide drift and whether it was applied.
fn drift_line(comparison: &Comparison) -> String {
    let drift = &comparison.step_drift;
    if drift.steps < MIN_DRIFT_STEPS {
        return format!(
            "Run-wide drift: not measured, because {} steps have enough samples in both reports and {MIN_DRIFT_STEPS} are needed.\n\n",
            drift.steps
        );
    }
    let measured = format!(
        "Run-wide drift: the median step p50 is ×{:.2} the baseline's, over {} steps.",
        drift.factor, drift.steps
    );
    if comparison.limits.drift_correction {
        format!("{measured} Latencies are judged against the baseline scaled by it, up when looking for a regression and down when looking for an improvement, so a slowdown of every step alike fails only the `steps drift` check, past its limit. `--no-drift-correction` turns this off.\n\n")
    } else {
        format!("{measured} It was not applied (`--no-drift-correction`).\n\n")
    }
}

/// Renders the comparison as Markdown for a pull-request comment: a
/// summary, the regressions first, then every step and journey.
pub fn render_markdown(comparison: &Comparison) -> String {
    let mut text = format!("## recoverylab compare: {}\n\n", comparison.scenario);
    text.push_str(&format!(
        "Baseline `{}` (recoverylab {}, {}); current `{}` (recoverylab {}, {}).\n\n",
        comparison.baseline.path,
        comparison.baseline.recoverylab_version,
        comparison.baseline.started_at,
        comparison.current.path,
        comparison.current.recoverylab_version,
        comparison.current.started_at
    ));
    let count = |verdict: Verdict| {
        comparison
            .checks
            .iter()
            .filter(|check| check.verdict == verdict)
            .count()
    };
    let summary = match comparison.regressions {
        0 => "**No regression**".to_owned(),
        1 => "**1 regression**".to_owned(),
        many => format!("**{many} regressions**"),
    };
    text.push_str(&format!(
        "{summary} in {} checks; {} improved, {} without enough samples.\n\n",
        comparison.checks.len(),
        count(Verdict::Improved),
        count(Verdict::NotEnoughSamples)
    ));
    if let Some(warning) = comparison.cannot_judge() {
        let mut warning = warning;
        if let Some(first) = warning.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        text.push_str(&format!("**Warning:** {warning}.\n\n"));
    }
    text.push_str(&drift_line(comparison));
    if comparison.regressions > 0 {
        text.push_str("### Regressions\n\n| check | baseline | current | change | why |\n| --- | --- | ---: | ---: | --- |\n");
        for check in comparison.regressions() {
            text.push_str(&format!(
                "| `{}` {} | {} | {} | {} | {} |\n",
                check.subject,
                check.metric,
                format_value(check.baseline, &check.unit),
                format_value(check.current, &check.unit),
                format_change(check),
                check.reason
            ));
        }
        text.push('\n');
    }
    for (title, prefix) in [("Steps", "step:"), ("Journeys", "journey:")] {
        text.push_str(&format!(
            "### {title}\n\n| {} | metric | samples | baseline | current | change | verdict |\n| --- | --- | ---: | ---: | ---: | ---: | --- |\n",
            title.trim_end_matches('s').to_lowercase()
        ));
        for check in comparison
            .checks
            .iter()
            .filter(|check| check.subject.starts_with(prefix))
        {
            text.push_str(&format!(
                "| `{}` | {} | {} / {} | {} | {} | {} | {} |\n",
                &check.subject[prefix.len()..],
                check.metric,
                check.baseline_samples,
                check.current_samples,
                format_value(check.baseline, &check.unit),
                format_value(check.current, &check.unit),
                format_change(check),
                check.verdict
            ));
        }
        text.push('\n');
    }
    let limits = &comparison.limits;
    text.push_str(&format!(
        "A step percentile regresses when it rises by more than {}% and {} ms and its {}% interval lies above the baseline's, after the drift correction. \
A journey percentile regresses when it rises by more than {}% and {} ms, after the same correction. Journey durations include think time and waits for deliveries. \
A rate regresses when it moves the wrong way by more than {} pp with a significant two-proportion z-test. \
Each check needs at least {} samples in both reports.\n",
        limits.step_relative_pct,
        limits.step_absolute_ms,
        limits.confidence.level * 100.0,
        limits.journey_relative_pct,
        limits.journey_absolute_ms,
        limits.rate_change_pp,
        limits.min_samples
    ));
    text
}
