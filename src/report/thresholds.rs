//! Thresholds: pass/fail limits on steps, journeys and providers, written in
//! the scenario as k6 writes them, such as `"step:sign_in.code" = ["p(99) <
//! 250ms"]`, checked at the end of a run and, when asked, during it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::model::{ProviderTraffic, ThresholdResult};
use super::recorder::{new_histogram, JourneyRecord, Recorded};
use crate::people::JourneyKind;

/// The target of a threshold: one step, journey kind or provider, or every
/// step or journey kind together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Step(String),
    /// Every step together.
    AllSteps,
    Journey(JourneyKind),
    /// Every journey kind together.
    AllJourneys,
    Provider(String),
}

impl fmt::Display for Target {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Step(step) => write!(formatter, "step:{step}"),
            Target::AllSteps => formatter.write_str("steps"),
            Target::Journey(kind) => write!(formatter, "journey:{}", kind.name()),
            Target::AllJourneys => formatter.write_str("journeys"),
            Target::Provider(provider) => write!(formatter, "provider:{provider}"),
        }
    }
}

/// The unit a metric is measured and limited in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Ratio,
    Count,
}

impl Unit {
    /// Reads a unit as [`Unit::name`] writes it; anything else is a count.
    pub fn from_name(name: &str) -> Unit {
        match name {
            "ms" => Unit::Milliseconds,
            "ratio" => Unit::Ratio,
            _ => Unit::Count,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A latency percentile, from 0 (exclusive) to 100.
    Percentile(f64),
    Max,
    Mean,
    /// A counter, such as `errors` or a provider's `retry_duplicates`.
    Count(&'static str),
    /// A share of a total, such as `error_rate` or `success_rate`.
    Rate(&'static str),
}

impl Metric {
    fn unit(&self) -> Unit {
        match self {
            Metric::Percentile(_) | Metric::Max | Metric::Mean => Unit::Milliseconds,
            Metric::Count(_) => Unit::Count,
            Metric::Rate(_) => Unit::Ratio,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    /// Operators longest first, so that `<=` is not read as `<`.
    const SYMBOLS: [(&'static str, Comparison); 6] = [
        ("<=", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ];

    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Comparison::Less => value < limit,
            Comparison::LessOrEqual => value <= limit,
            Comparison::Greater => value > limit,
            Comparison::GreaterOrEqual => value >= limit,
            Comparison::Equal => value == limit,
            Comparison::NotEqual => value != limit,
        }
    }
}

/// One checked threshold of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub target: Target,
    /// The expression as written, such as `p(99) < 250ms`.
    pub expression: String,
    pub metric: Metric,
    pub comparison: Comparison,
    /// The limit in the metric's unit.
    pub limit: f64,
    /// Stop the load as soon as the threshold fails.
    pub abort_on_fail: bool,
    /// How long after the start of load the abort check begins.
    pub delay_abort_eval: Duration,
}

/// Step counters and rates a threshold can name.
const STEP_METRICS: &[&str] = &["count", "errors", "error_rate"];
const JOURNEY_METRICS: &[&str] = &[
    "started",
    "completed",
    "failed",
    "abandoned",
    "in_flight",
    "success_rate",
    "failure_rate",
    "abandon_rate",
];
/// Provider counters: the fields of `GET /v1/stats`, the sum of `faults`, and
/// `failed_deliveries`.
const PROVIDER_METRICS: &[&str] = &[
    "requests",
    "accepted",
    "retries",
    "replayed",
    "faults",
    "outage_rejections",
    "delivered",
    "lost",
    "undeliverable",
    "bounced",
    "returned",
    "duplicates_injected",
    "retry_duplicates",
    "in_transit",
    "failed_deliveries",
    "failure_rate",
];
pub const PROVIDERS: [&str; 3] = ["email", "sms", "postal"];

/// Parses a threshold target, such as `step:sign_in.code`; `steps` names
/// every known step in errors.
pub fn parse_target(text: &str, steps: &[&str]) -> Result<Target, String> {
    let text = text.trim();
    match text.split_once(':') {
        None if text == "steps" => Ok(Target::AllSteps),
        None if text == "journeys" => Ok(Target::AllJourneys),
        Some(("step", step)) if steps.contains(&step) => Ok(Target::Step(step.to_owned())),
        Some(("step", step)) => Err(format!(
            "names the step {step:?}, which no journey sends; use one of {}",
            steps.join(", ")
        )),
        Some(("journey", kind)) => JourneyKind::ALL
            .into_iter()
            .find(|known| known.name() == kind)
            .map(Target::Journey)
            .ok_or_else(|| {
                format!(
                    "names the journey {kind:?}, which does not exist; use one of {}",
                    JourneyKind::ALL.map(JourneyKind::name).join(", ")
                )
            }),
        Some(("provider", provider)) if PROVIDERS.contains(&provider) => {
            Ok(Target::Provider(provider.to_owned()))
        }
        Some(("provider", provider)) => Err(format!(
            "names the provider {provider:?}; use one of {}",
            PROVIDERS.join(", ")
        )),
        _ => Err(format!(
            "is not a threshold target; use step:<step>, steps, journey:<journey>, journeys or provider:<provider>, as in \"step:sign_in.code\", not {text:?}"
        )),
    }
}

/// Parses an expression such as `p(99) < 250ms`, `error_rate < 1%` or
/// `retry_duplicates == 0` for `target`.
pub fn parse_expression(
    target: &Target,
    expression: &str,
) -> Result<(Metric, Comparison, f64), String> {
    let Some((position, symbol, comparison)) = Comparison::SYMBOLS
        .iter()
        .filter_map(|(symbol, comparison)| {
            expression
                .find(symbol)
                .map(|position| (position, *symbol, *comparison))
        })
        .min_by_key(|(position, symbol, _)| (*position, std::cmp::Reverse(symbol.len())))
    else {
        return Err(format!(
            "{expression:?} has no comparison; write it as METRIC OPERATOR LIMIT, such as \"p(99) < 250ms\", with one of < <= > >= == !="
        ));
    };
    let metric_text = expression[..position].trim();
    let limit_text = expression[position + symbol.len()..].trim();
    // `=>`, `=<` or `<>` would otherwise read as a strange metric or limit.
    let stray = |c: char| matches!(c, '<' | '>' | '=' | '!');
    if metric_text.ends_with(stray) || limit_text.starts_with(stray) {
        return Err(format!(
            "{expression:?} has an operator that is not one of < <= > >= == !=; write it as METRIC OPERATOR LIMIT, such as \"p(99) <= 250ms\""
        ));
    }
    let metric = parse_metric(target, metric_text)?;
    let limit = parse_limit(metric.unit(), limit_text)
        .map_err(|problem| format!("{expression:?}: the limit {limit_text:?} {problem}"))?;
    Ok((metric, comparison, limit))
}

fn parse_metric(target: &Target, text: &str) -> Result<Metric, String> {
    if let Some(inner) = text
        .strip_prefix("p(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return match inner.trim().parse::<f64>() {
            Ok(percent) if percent > 0.0 && percent <= 100.0 => Ok(Metric::Percentile(percent)),
            _ => Err(format!(
                "{text:?} is not a percentile; write p(N) with N above 0 and at most 100, such as p(99.9)"
            )),
        };
    }
    if text == "max" {
        return Ok(Metric::Max);
    }
    if text == "mean" || text == "avg" {
        return Ok(Metric::Mean);
    }
    let names = match target {
        Target::Step(_) | Target::AllSteps => STEP_METRICS,
        Target::Journey(_) | Target::AllJourneys => JOURNEY_METRICS,
        Target::Provider(_) => PROVIDER_METRICS,
    };
    match names.iter().find(|name| **name == text) {
        Some(name) if name.ends_with("_rate") => Ok(Metric::Rate(name)),
        Some(name) => Ok(Metric::Count(name)),
        None => Err(format!(
            "{text:?} is not a metric of {target}; use p(N), max, mean or one of {}",
            names.join(", ")
        )),
    }
}

fn parse_limit(unit: Unit, text: &str) -> Result<f64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number
        .parse()
        .ok()
        .filter(|number: &f64| number.is_finite())
        .ok_or("is not a number")?;
    let value = match (unit, suffix.trim()) {
        (Unit::Milliseconds, "" | "ms") => number,
        (Unit::Milliseconds, "us" | "µs") => number / 1000.0,
        (Unit::Milliseconds, "s") => number * 1000.0,
        (Unit::Milliseconds, "m") => number * 60_000.0,
        (Unit::Milliseconds, other) => {
            return Err(format!("has the unit {other:?}; use us, ms, s or m"))
        }
        (Unit::Ratio, "%") => number / 100.0,
        (Unit::Ratio, "") => number,
        (Unit::Ratio, other) => {
            return Err(format!(
                "has the unit {other:?}; give a rate as a percentage such as 1% or a fraction such as 0.01"
            ))
        }
        (Unit::Count, "") if number.fract() == 0.0 => number,
        (Unit::Count, "") => return Err("is not a whole number; give a count".to_owned()),
        (Unit::Count, other) => return Err(format!("has the unit {other:?}; give a plain count")),
    };
    if value < 0.0 || (unit == Unit::Ratio && value > 1.0) {
        return Err(match unit {
            Unit::Ratio => "is outside 0% to 100%".to_owned(),
            _ => "is negative".to_owned(),
        });
    }
    Ok(value)
}

/// The data thresholds are checked against: what the recorder saw, and at
/// the end of the run the providers' counters.
pub struct Measurements<'a> {
    pub recorded: &'a Recorded,
    /// `None` while the load runs, which leaves provider thresholds unchecked.
    pub providers: Option<&'a BTreeMap<String, ProviderTraffic>>,
}

impl Threshold {
    /// Returns the measured value in the metric's unit, or `None` when
    /// nothing was measured.
    pub fn measure(&self, measurements: &Measurements<'_>) -> Option<f64> {
        let recorded = measurements.recorded;
        match &self.target {
            Target::Step(step) => {
                let record = recorded.steps.get(step.as_str())?;
                self.measure_steps(&record.latency, record.errors)
            }
            Target::AllSteps => {
                let mut latency = new_histogram();
                let mut errors = 0;
                for record in recorded.steps.values() {
                    latency
                        .add(&record.latency)
                        .expect("histograms share bounds");
                    errors += record.errors;
                }
                self.measure_steps(&latency, errors)
            }
            Target::Journey(kind) => self.measure_journey(recorded.journeys.get(kind)?),
            Target::AllJourneys => {
                let mut total = JourneyRecord::default();
                for journey in recorded.journeys.values() {
                    total.started += journey.started;
                    total.completed += journey.completed;
                    total.abandoned += journey.abandoned;
                    *total.failed.entry(String::new()).or_default() += journey.failed_total();
                    if let Some(duration) = &journey.duration {
                        total
                            .duration
                            .get_or_insert_with(new_histogram)
                            .add(duration)
                            .expect("histograms share bounds");
                    }
                }
                self.measure_journey(&total)
            }
            Target::Provider(provider) => {
                let delivery = recorded.deliveries.get(provider.as_str());
                match &self.metric {
                    Metric::Percentile(_) | Metric::Max | Metric::Mean => {
                        latency_in_ms(&self.metric, delivery?)
                    }
                    Metric::Count(name) | Metric::Rate(name) => {
                        provider_counter(&measurements.providers?.get(provider)?.stats, name)
                    }
                }
            }
        }
    }

    fn measure_steps(&self, latency: &Histogram<u64>, errors: u64) -> Option<f64> {
        let count = latency.len();
        match &self.metric {
            Metric::Count("errors") => Some(errors as f64),
            Metric::Count(_) => Some(count as f64),
            Metric::Rate(_) => (count > 0).then(|| errors as f64 / count as f64),
            latency_metric => latency_in_ms(latency_metric, latency),
        }
    }

    fn measure_journey(&self, journey: &JourneyRecord) -> Option<f64> {
        let failed = journey.failed_total();
        let ended = journey.completed + failed + journey.abandoned;
        let rate = |part: u64| (ended > 0).then(|| part as f64 / ended as f64);
        match &self.metric {
            Metric::Count(name) => Some(match *name {
                "started" => journey.started,
                "completed" => journey.completed,
                "failed" => failed,
                "abandoned" => journey.abandoned,
                _ => journey.started.saturating_sub(ended),
            } as f64),
            Metric::Rate("success_rate") => rate(journey.completed),
            Metric::Rate("failure_rate") => rate(failed),
            Metric::Rate(_) => rate(journey.abandoned),
            latency_metric => latency_in_ms(latency_metric, journey.duration.as_ref()?),
        }
    }

    /// Checks the threshold; `aborted_run` marks the one that stopped the load.
    pub fn check(&self, measurements: &Measurements<'_>, aborted_run: bool) -> ThresholdResult {
        let value = self.measure(measurements);
        let pass = value.is_some_and(|value| self.comparison.holds(value, self.limit));
        let unit = self.metric.unit();
        let message = match value {
            Some(value) => format!(
                "{} {}: measured {}, limit {}",
                self.target,
                self.expression,
                show(value, unit),
                show(self.limit, unit)
            ),
            None => format!(
                "{} {}: nothing was measured, so the threshold fails; check that the scenario runs this {}",
                self.target,
                self.expression,
                match self.target {
                    Target::Step(_) | Target::AllSteps => "step",
                    Target::Journey(_) | Target::AllJourneys => "journey",
                    Target::Provider(_) => "provider",
                }
            ),
        };
        ThresholdResult {
            target: self.target.to_string(),
            expression: self.expression.clone(),
            value,
            limit: self.limit,
            unit: unit.name().to_owned(),
            pass,
            aborted_run,
            message,
        }
    }

    /// Returns whether the threshold has failed on what was measured so far;
    /// a threshold with nothing measured yet has not failed.
    pub fn failed_so_far(&self, measurements: &Measurements<'_>) -> bool {
        self.measure(measurements)
            .is_some_and(|value| !self.comparison.holds(value, self.limit))
    }
}

/// Reads a latency metric of a histogram in microseconds, in milliseconds.
fn latency_in_ms(metric: &Metric, histogram: &Histogram<u64>) -> Option<f64> {
    if histogram.is_empty() {
        return None;
    }
    let micros = match metric {
        Metric::Percentile(percent) => histogram.value_at_quantile(percent / 100.0) as f64,
        Metric::Max => histogram.max() as f64,
        _ => histogram.mean(),
    };
    Some(micros / 1000.0)
}

fn provider_counter(stats: &crate::providers::ProviderStats, name: &str) -> Option<f64> {
    let value = match name {
        "faults" => stats.faults_total(),
        "failed_deliveries" => stats.failed_deliveries(),
        // Lost messages count as failed: the person never gets them.
        "failure_rate" => {
            let failed = stats.failed_deliveries() + stats.lost;
            return (stats.accepted > 0).then(|| failed as f64 / stats.accepted as f64);
        }
        field => serde_json::to_value(stats).ok()?.get(field)?.as_u64()?,
    };
    Some(value as f64)
}

/// Formats a value with its unit for messages: `312.4 ms`, `2.5%`, `3`.
pub fn show(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Milliseconds => format!("{} ms", trim_number(value)),
        Unit::Ratio => format!("{}%", trim_number(value * 100.0)),
        Unit::Count => trim_number(value),
    }
}

/// Writes a number with at most three decimals and no trailing zeros.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;
    use crate::report::RunRecorder;

    const STEPS: &[&str] = &["sign_in.password", "sign_in.code"];

    fn threshold(target: &str, expression: &str) -> Threshold {
        let target = parse_target(target, STEPS).unwrap();
        let (metric, comparison, limit) = parse_expression(&target, expression).unwrap();
        Threshold {
            target,
            expression: expression.to_owned(),
            metric,
            comparison,
            limit,
            abort_on_fail: false,
            delay_abort_eval: Duration::ZERO,
        }
    }

    fn recorded() -> Recorded {
        let recorder = RunRecorder::new(1);
        for millis in 1..=100 {
            let error = (millis % 10 == 0).then_some("wrong_code");
            recorder.record_step(0, "sign_in.code", Duration::from_millis(millis), error);
        }
        for outcome in [Outcome::Completed, Outcome::Completed, Outcome::Abandoned] {
            recorder.journey_started(0, JourneyKind::SignIn);
            recorder.journey_ended(
                0,
                JourneyKind::SignIn,
                &outcome,
                Duration::from_secs(2),
                None,
            );
        }
        recorder.journey_started(0, JourneyKind::SignIn);
        recorder.merged()
    }

    fn measure(target: &str, expression: &str) -> Option<f64> {
        let recorded = recorded();
        threshold(target, expression).measure(&Measurements {
            recorded: &recorded,
            providers: None,
        })
    }

    #[test]
    fn expressions_parse_with_units() {
        let target = Target::Step("sign_in.code".to_owned());
        for (expression, limit) in [
            ("p(99) < 250ms", 250.0),
            ("p(99.9)<=0.5s", 500.0),
            ("max < 1500us", 1.5),
            ("mean > 2", 2.0),
            ("error_rate < 1%", 0.01),
            ("error_rate < 0.05", 0.05),
            ("errors == 0", 0.0),
        ] {
            let (_, _, parsed) = parse_expression(&target, expression).unwrap();
            assert!((parsed - limit).abs() < 1e-9, "{expression}: {parsed}");
        }
        let (_, comparison, _) = parse_expression(&target, "p(50) <= 1ms").unwrap();
        assert_eq!(comparison, Comparison::LessOrEqual);
    }

    #[test]
    fn bad_expressions_name_the_fix() {
        let step = Target::Step("sign_in.code".to_owned());
        for (expression, hint) in [
            ("p(99) 250ms", "has no comparison"),
            ("p(0) < 250ms", "not a percentile"),
            ("p(101) < 250ms", "not a percentile"),
            ("p99 < 250ms", "not a metric of step:sign_in.code"),
            ("p(99) < 250 hours", "use us, ms, s or m"),
            ("error_rate < 150%", "outside 0% to 100%"),
            ("p(99) < fast", "is not a number"),
            ("success_rate > 90%", "not a metric of step"),
            ("p(99) => 250ms", "not one of < <= > >= == !="),
            ("p(99) =< 250ms", "not one of < <= > >= == !="),
            ("p(99) <> 250ms", "not one of < <= > >= == !="),
            ("errors < 2.5", "not a whole number"),
        ] {
            let error = parse_expression(&step, expression).unwrap_err();
            assert!(error.contains(hint), "{expression}: {error}");
        }
        let error = parse_target("step:sign_in.cod", STEPS).unwrap_err();
        assert!(error.contains("sign_in.code"), "{error}");
        let error = parse_target("provider:fax", STEPS).unwrap_err();
        assert!(error.contains("email, sms, postal"), "{error}");
        let error = parse_target("journey:sign_out", STEPS).unwrap_err();
        assert!(error.contains("forgot_username"), "{error}");
        assert!(parse_target("sign_in.code", STEPS).is_err());
    }

    #[test]
    fn step_metrics_measure_the_histogram() {
        let p99 = measure("step:sign_in.code", "p(99) < 250ms").unwrap();
        assert!((98.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(measure("step:sign_in.code", "count > 0"), Some(100.0));
        assert_eq!(measure("step:sign_in.code", "errors == 0"), Some(10.0));
        assert_eq!(measure("step:sign_in.code", "error_rate < 1%"), Some(0.1));
        assert_eq!(measure("steps", "errors < 1"), Some(10.0));
        assert_eq!(measure("step:sign_in.password", "p(50) < 1ms"), None);
    }

    #[test]
    fn journey_rates_leave_in_flight_out() {
        let success = measure("journey:sign_in", "success_rate > 90%").unwrap();
        assert!((success - 2.0 / 3.0).abs() < 1e-9, "{success}");
        assert_eq!(measure("journeys", "in_flight == 0"), Some(1.0));
        assert_eq!(measure("journey:sign_in", "abandoned == 0"), Some(1.0));
        assert_eq!(
            measure("journey:forgot_username", "success_rate > 0.9"),
            None
        );
    }

    #[test]
    fn check_message_names_value_and_limit() {
        let recorded = recorded();
        let measurements = Measurements {
            recorded: &recorded,
            providers: None,
        };
        let result = threshold("step:sign_in.code", "error_rate < 1%").check(&measurements, false);
        assert!(!result.pass);
        assert_eq!(
            result.message,
            "step:sign_in.code error_rate < 1%: measured 10%, limit 1%"
        );
        let missing = threshold("step:sign_in.password", "p(99) < 1s").check(&measurements, false);
        assert!(!missing.pass);
        assert!(
            missing.message.contains("nothing was measured"),
            "{}",
            missing.message
        );
        let passed = threshold("step:sign_in.code", "p(50) < 1s").check(&measurements, false);
        assert!(passed.pass, "{}", passed.message);
    }

    #[test]
    fn provider_thresholds_wait_for_the_counters() {
        let recorded = recorded();
        let during = Measurements {
            recorded: &recorded,
            providers: None,
        };
        let duplicates = threshold("provider:sms", "retry_duplicates == 0");
        assert!(!duplicates.failed_so_far(&during));
        let mut providers = BTreeMap::new();
        let mut traffic = ProviderTraffic::default();
        traffic.stats.accepted = 40;
        traffic.stats.retry_duplicates = 2;
        traffic.stats.lost = 4;
        providers.insert("sms".to_owned(), traffic);
        let after = Measurements {
            recorded: &recorded,
            providers: Some(&providers),
        };
        assert_eq!(duplicates.measure(&after), Some(2.0));
        let rate = threshold("provider:sms", "failure_rate < 5%")
            .measure(&after)
            .unwrap();
        assert!((rate - 0.1).abs() < 1e-9, "{rate}");
    }
}
