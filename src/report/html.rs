//! report.html: the report as one self-contained page for a browser, with
//! its charts drawn as inline SVG.
//!
//! The page loads nothing: no script, stylesheet, font or image comes from
//! outside it, and its Content-Security-Policy forbids fetching any. Every
//! string taken from the report is escaped, so a scenario or step name
//! cannot add markup.

mod chart;
pub mod simulation;

use std::fmt::{self, Write};

use self::chart::{BarRow, Series};
use super::model::{FunnelStep, Percentiles, Report};

/// Forbids every fetch, scripts included. Only the page's own `<style>` applies.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b;margin:0 auto;max-width:980px;padding:0 16px 48px}
h1{font-size:1.6em;margin:24px 0 4px}h2{margin-top:36px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#0a6b2f}.fail{color:#b00020;font-weight:600}tr.fail td{background:#fde8eb}tr.pass td{background:#eaf6ee}
.verdict{display:inline-block;padding:2px 12px;border-radius:4px;font-weight:700;color:#fff}
.verdict.pass{background:#0a6b2f}.verdict.fail{background:#b00020}
.empty,.note{color:#555}figure.chart{margin:12px 0 20px}figcaption{color:#444;font-size:.92em}
svg{max-width:100%;height:auto;font:12px system-ui,sans-serif}svg text{fill:#1b1b1b}
svg .axis line{stroke:#333}svg .axis line.grid{stroke:#e6e6e6}svg line.whisker{stroke:#999;stroke-width:2}
.scroll{overflow-x:auto}
svg .title{font-weight:600}svg .note{fill:#444}
";

/// Renders the report as one HTML page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    write_head(&mut out, report);
    write_summary(&mut out, report);
    write_thresholds(&mut out, report);
    write_funnels(&mut out, report);
    write_step_latency(&mut out, report);
    write_over_time(&mut out, report);
    write_providers(&mut out, report);
    write_journeys(&mut out, report);
    write_service_outages(&mut out, report);
    write_abuse(&mut out, report);
    write_secret_leaks(&mut out, report);
    write_configuration(&mut out, report);
    out.push_str("</body>\n</html>\n");
    out
}

/// Text escaped for HTML element content and quoted attribute values.
#[derive(Debug, Clone, Copy)]
struct Escape<'a>(&'a str);

impl fmt::Display for Escape<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut plain_from = 0;
        for (index, byte) in self.0.bytes().enumerate() {
            let entity = match byte {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            formatter.write_str(&self.0[plain_from..index])?;
            formatter.write_str(entity)?;
            plain_from = index + 1;
        }
        formatter.write_str(&self.0[plain_from..])
    }
}

/// Formats `value` with `decimals` decimals and commas between thousands.
/// Values of 10^15 and more are written in scientific notation, and NaN or
/// infinities as `-`.
pub(crate) fn format_number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    if value.abs() >= 1e15 {
        return format!("{value:.2e}");
    }
    let plain = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = plain.split_at(plain.find('.').unwrap_or(plain.len()));
    let mut grouped = String::with_capacity(plain.len() + whole.len() / 3 + 1);
    if value < 0.0 && plain.bytes().any(|digit| matches!(digit, b'1'..=b'9')) {
        grouped.push('-');
    }
    push_grouped(&mut grouped, whole);
    grouped.push_str(fraction);
    grouped
}

/// Formats a count with commas between thousands.
pub(crate) fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    push_grouped(&mut grouped, &digits);
    grouped
}

/// Appends ASCII `digits` with a comma before each group of three from the right.
fn push_grouped(out: &mut String, digits: &str) {
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
}

/// Formats microseconds as milliseconds with one decimal.
fn milliseconds(micros: u64) -> String {
    format_number(micros as f64 / 1000.0, 1)
}

/// Returns the words and class of a verdict.
fn verdict(pass: bool) -> (&'static str, &'static str) {
    if pass {
        ("pass", "pass")
    } else {
        ("FAIL", "fail")
    }
}

/// Writes `items` one after another with `separator` between them.
fn write_joined<T: fmt::Display>(
    out: &mut String,
    separator: &str,
    items: impl Iterator<Item = T>,
) {
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{item}");
    }
}

fn empty_note(out: &mut String, text: &str) {
    let _ = writeln!(out, r#"<p class="empty">{}</p>"#, Escape(text));
}

/// Writes the opening of a table with one header cell per column. Columns
/// whose name starts with `#` contain numbers and are right-aligned.
fn open_table(out: &mut String, columns: &[&str]) {
    out.push_str(r#"<div class="scroll"><table><thead><tr>"#);
    for column in columns {
        match column.strip_prefix('#') {
            Some(name) => {
                let _ = write!(out, r#"<th class="n">{}</th>"#, Escape(name));
            }
            None => {
                let _ = write!(out, "<th>{}</th>", Escape(column));
            }
        }
    }
    out.push_str("</tr></thead><tbody>\n");
}

fn close_table(out: &mut String) {
    out.push_str("</tbody></table></div>\n");
}

/// Writes a right-aligned cell whose text needs no escaping.
fn number_cell(out: &mut String, text: &str) {
    let _ = write!(out, r#"<td class="n">{text}</td>"#);
}

fn text_cell(out: &mut String, text: &str) {
    let _ = write!(out, "<td>{}</td>", Escape(text));
}

fn write_head(out: &mut String, report: &Report) {
    write_page_head(out, &format!("recoverylab run: {}", report.scenario), "");
}

/// Writes the page up to and including its `<h1>`: the Content-Security-Policy,
/// the shared style followed by `extra_style`, and `title` as both the
/// document title and the heading. `extra_style` is CSS from the code and is
/// written unescaped. Both report pages start with it.
fn write_page_head(out: &mut String, title: &str, extra_style: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}{extra_style}</style>\n</head>\n<body>\n",
        Escape(title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", Escape(title));
}

/// Returns whether every gate passed: thresholds, abuse checks and the
/// secret-leak check, each counted only when the run had it.
fn overall_pass(report: &Report) -> bool {
    let thresholds = report.thresholds.iter().all(|threshold| threshold.pass);
    let abuse = report.abuse.as_ref().is_none_or(|abuse| abuse.pass);
    let leaks = report
        .secret_leaks
        .as_ref()
        .is_none_or(|leaks| leaks.findings_total == 0);
    thresholds && abuse && leaks
}

fn write_summary(out: &mut String, report: &Report) {
    let (word, class) = verdict(overall_pass(report));
    let _ = writeln!(
        out,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Verdict: <span class=\"verdict {class}\">{word}</span></p>"
    );
    out.push_str("<table><tbody>\n");
    let mut row = |name: &str, value: &str, class: &str| {
        let _ = writeln!(
            out,
            r#"<tr><th>{}</th><td class="{class}">{}</td></tr>"#,
            Escape(name),
            Escape(value)
        );
    };
    row("Scenario", &report.scenario, "");
    row(
        "Load duration",
        &format!("{} s", format_number(report.duration_s, 1)),
        "",
    );
    row(
        "Journeys completed per second",
        &format_number(report.throughput.journeys_completed_per_s, 1),
        "",
    );
    row(
        "Steps per second",
        &format_number(report.throughput.steps_per_s, 1),
        "",
    );

    let failed = report.thresholds.iter().filter(|t| !t.pass).count();
    let thresholds = match (report.thresholds.len(), failed) {
        (0, _) => ("none set".to_owned(), ""),
        (total, 0) => (format!("all {total} passed"), "pass"),
        (total, failed) => (format!("{failed} of {total} failed"), "fail"),
    };
    row("Thresholds", &thresholds.0, thresholds.1);
    let abuse = match &report.abuse {
        None => ("no attacks in the scenario".to_owned(), ""),
        Some(abuse) if abuse.pass => ("every check passed".to_owned(), "pass"),
        // An attack that ran no check fails too.
        Some(abuse) => match abuse.failures().len() {
            0 => ("an attack ran no check".to_owned(), "fail"),
            failed => (format!("{failed} check(s) failed"), "fail"),
        },
    };
    row("Abuse attacks", &abuse.0, abuse.1);
    let leaks = match &report.secret_leaks {
        None => ("not run".to_owned(), ""),
        Some(leaks) if leaks.findings_total == 0 => ("no secret found".to_owned(), "pass"),
        Some(leaks) => (
            format!("{} line(s) hold a secret", count(leaks.findings_total)),
            "fail",
        ),
    };
    row("Secret-leak check", &leaks.0, leaks.1);
    out.push_str("</tbody></table>\n");

    write_load_notes(out, report);
    out.push_str("</section>\n");
}

/// Writes why the load ended early or was absent, and skipped journeys.
fn write_load_notes(out: &mut String, report: &Report) {
    if report.load.users == 0 {
        empty_note(
            out,
            "No load: the scenario runs attacks only, and each attack enrolls its own victims.",
        );
        return;
    }
    let ending = match report.load.stopped_by.as_str() {
        "completed" => None,
        "max_duration" => Some(format!(
            "The load stopped at load.max_duration_s ({} s); journeys cut short count as in flight.",
            format_number(report.load.max_duration_s, 0)
        )),
        "sigterm" => Some(
            "The run was stopped early by SIGTERM; journeys cut short count as in flight."
                .to_owned(),
        ),
        "threshold" => Some(
            "A threshold with abort_on_fail failed and stopped the load; journeys cut short count as in flight."
                .to_owned(),
        ),
        _ => Some(
            "The run was interrupted before every user ran its journeys; journeys cut short count as in flight."
                .to_owned(),
        ),
    };
    if let Some(ending) = ending {
        let _ = writeln!(out, r#"<p class="fail">{}</p>"#, Escape(&ending));
    }
    if report.load.journeys_skipped > 0 {
        let _ = writeln!(
            out,
            "<p>{} journeys were not started because every enrolled person of their kind was used; raise population.people.</p>",
            count(report.load.journeys_skipped)
        );
    }
}

fn write_thresholds(out: &mut String, report: &Report) {
    out.push_str("<section id=\"thresholds\">\n<h2>Threshold verdicts</h2>\n");
    if report.thresholds.is_empty() {
        empty_note(out, "The scenario sets no thresholds.");
        out.push_str("</section>\n");
        return;
    }
    open_table(
        out,
        &[
            "target",
            "expression",
            "#value",
            "#limit",
            "unit",
            "verdict",
        ],
    );
    for threshold in &report.thresholds {
        let (word, class) = verdict(threshold.pass);
        let _ = write!(out, r#"<tr class="{class}">"#);
        text_cell(out, &threshold.target);
        text_cell(out, &threshold.expression);
        let value = threshold.value.map_or_else(
            || "not measured".to_owned(),
            |value| format_measure(value, &threshold.unit),
        );
        number_cell(out, &value);
        number_cell(out, &format_measure(threshold.limit, &threshold.unit));
        text_cell(
            out,
            if threshold.unit == "ratio" {
                "%"
            } else {
                &threshold.unit
            },
        );
        let stopped = if threshold.aborted_run {
            ", stopped the load"
        } else {
            ""
        };
        let _ = writeln!(out, r#"<td class="{class}">{word}{stopped}</td></tr>"#);
    }
    close_table(out);
    out.push_str("</section>\n");
}

/// Formats a threshold's value in its unit: milliseconds with two
/// decimals, ratios as percentages with two, counts whole.
fn format_measure(value: f64, unit: &str) -> String {
    match unit {
        "ratio" => format!("{}%", format_number(value * 100.0, 2)),
        "count" if value.fract() == 0.0 => format_number(value, 0),
        // A limit such as 1us would read as 0.00 ms.
        "ms" if value > 0.0 && value < 0.01 => format_number(value, 3),
        _ => format_number(value, 2),
    }
}

fn write_funnels(out: &mut String, report: &Report) {
    out.push_str("<section id=\"funnels\">\n<h2>Journey funnels</h2>\n");
    if report.funnels.is_empty() {
        empty_note(out, "The report has no funnels.");
    }
    for (journey, steps) in &report.funnels {
        let _ = writeln!(out, "<h3>{}</h3>", Escape(journey));
        write_funnel(out, journey, steps);
    }
    out.push_str("</section>\n");
}

/// Writes one journey kind's funnel: a bar per step, split into the
/// journeys that went on and those lost there by reason, and a table.
fn write_funnel(out: &mut String, journey: &str, steps: &[FunnelStep]) {
    if steps
        .iter()
        .all(|step| step.reached == 0 && step.lost.values().all(|lost| *lost == 0))
    {
        empty_note(out, "No journey of this kind reached a step.");
        return;
    }
    let mut reasons: Vec<&str> = steps
        .iter()
        .flat_map(|step| step.lost.keys().map(String::as_str))
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    let mut series = Vec::with_capacity(reasons.len() + 1);
    series.push("not lost here");
    series.extend(reasons.iter().copied());

    let rows: Vec<BarRow<'_>> = steps
        .iter()
        .map(|step| {
            let lost: u64 = step.lost.values().sum();
            let mut segments = Vec::with_capacity(series.len());
            segments.push(step.reached.saturating_sub(lost));
            segments.extend(
                reasons
                    .iter()
                    .map(|reason| step.lost.get(*reason).copied().unwrap_or(0)),
            );
            let note = match lost {
                0 => count(step.reached),
                lost => format!("{} reached, {} lost", count(step.reached), count(lost)),
            };
            BarRow {
                label: &step.step,
                segments,
                note,
            }
        })
        .collect();
    let caption = format!(
        "{journey}: journeys that reached each step, in the report's step order, with those lost at the step by reason"
    );
    chart::stacked_bars(
        out,
        &format!("funnel-{journey}"),
        &caption,
        "journeys",
        &series,
        &rows,
    );

    open_table(out, &["step", "#reached", "#lost", "lost by reason"]);
    for step in steps {
        out.push_str("<tr>");
        text_cell(out, &step.step);
        number_cell(out, &count(step.reached));
        number_cell(out, &count(step.lost.values().sum()));
        out.push_str("<td>");
        write_joined(
            out,
            ", ",
            step.lost
                .iter()
                .map(|(reason, lost)| format!("{} {}", Escape(reason), count(*lost))),
        );
        out.push_str("</td></tr>\n");
    }
    close_table(out);
}

fn write_step_latency(out: &mut String, report: &Report) {
    out.push_str("<section id=\"step-latency\">\n<h2>Step latency</h2>\n");
    if report.steps.is_empty() {
        empty_note(out, "No step got a response.");
        out.push_str("</section>\n");
        return;
    }
    let rows: Vec<(&str, Percentiles)> = report
        .steps
        .iter()
        .map(|(step, stats)| (step.as_str(), stats.latency_us))
        .collect();
    chart::percentile_dots(
        out,
        "step-latency",
        "Latency percentiles per step as the client saw them, in milliseconds on a log scale",
        &rows,
    );
    open_table(
        out,
        &[
            "step",
            "#count",
            "#errors",
            "#p50 ms",
            "#p90 ms",
            "#p99 ms",
            "#p99.9 ms",
            "#max ms",
        ],
    );
    for (step, stats) in &report.steps {
        out.push_str("<tr>");
        text_cell(out, step);
        number_cell(out, &count(stats.count));
        number_cell(out, &count(stats.errors));
        write_percentile_cells(out, &stats.latency_us);
        out.push_str("</tr>\n");
    }
    close_table(out);

    let mut errors = report
        .steps
        .iter()
        .flat_map(|(step, stats)| stats.error_codes.iter().map(move |code| (step, code)))
        .peekable();
    if errors.peek().is_some() {
        out.push_str("<p>Step errors, including those people got past by trying again: ");
        write_joined(
            out,
            "; ",
            errors.map(|(step, (code, errors))| {
                format!("{}: {} × {}", Escape(step), Escape(code), count(*errors))
            }),
        );
        out.push_str(".</p>\n");
    }
    out.push_str("</section>\n");
}

fn write_percentile_cells(out: &mut String, percentiles: &Percentiles) {
    for micros in [
        percentiles.p50,
        percentiles.p90,
        percentiles.p99,
        percentiles.p999,
        percentiles.max,
    ] {
        number_cell(out, &milliseconds(micros));
    }
}

fn write_over_time(out: &mut String, report: &Report) {
    out.push_str("<section id=\"over-time\">\n<h2>Latency and throughput over time</h2>\n");
    let timeline = &report.timeline;
    if timeline.intervals.is_empty() {
        empty_note(out, "The report has no timeline intervals.");
        out.push_str("</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>Intervals of {} s; the interval log {} holds their whole histograms.</p>",
        format_number(timeline.interval_s, 1),
        Escape(&timeline.interval_log)
    );
    let middle = |start_s: f64, duration_s: f64| start_s + duration_s / 2.0;

    let latency = |pick: fn(&Percentiles) -> u64| {
        timeline
            .intervals
            .iter()
            .map(|interval| {
                let x = middle(interval.start_s, interval.duration_s);
                interval
                    .latency_us
                    .as_ref()
                    .map(|p| (x, pick(p) as f64 / 1000.0))
            })
            .collect()
    };
    let latency_series = [
        Series {
            name: "p50",
            points: latency(|p| p.p50),
        },
        Series {
            name: "p99",
            points: latency(|p| p.p99),
        },
    ];
    let drawn = chart::line_chart(
        out,
        "latency-over-time",
        "p50 and p99 latency of every step per interval, in milliseconds",
        ("seconds since the start of load", "ms"),
        &latency_series,
    );
    if !drawn {
        empty_note(out, "No interval has a step with a response.");
    }

    // A rate needs a positive duration, so other intervals leave a gap.
    let rate = |pick: fn(&super::model::IntervalSummary) -> u64| {
        timeline
            .intervals
            .iter()
            .map(|interval| {
                (interval.duration_s > 0.0).then(|| {
                    (
                        middle(interval.start_s, interval.duration_s),
                        pick(interval) as f64 / interval.duration_s,
                    )
                })
            })
            .collect()
    };
    let throughput_series = [
        Series {
            name: "steps/s",
            points: rate(|interval| interval.steps),
        },
        Series {
            name: "journeys ended/s",
            points: rate(|interval| {
                interval.journeys_completed + interval.journeys_failed + interval.journeys_abandoned
            }),
        },
        Series {
            name: "step errors/s",
            points: rate(|interval| interval.step_errors),
        },
    ];
    let drawn = chart::line_chart(
        out,
        "throughput-over-time",
        "Steps, journeys ended (completed, failed or abandoned) and step errors per second, per interval",
        ("seconds since the start of load", "per second"),
        &throughput_series,
    );
    if !drawn {
        empty_note(out, "No interval has a positive duration.");
    }
    out.push_str("</section>\n");
}

fn write_providers(out: &mut String, report: &Report) {
    out.push_str("<section id=\"providers\">\n<h2>Providers</h2>\n");
    if let Some(profile) = &report.fault_profile {
        let _ = writeln!(
            out,
            "<p>Fault profile: {} (seed {}).</p>",
            Escape(&profile.file),
            profile.seed
        );
    }
    let deliveries: Vec<(&str, Percentiles)> = report
        .providers
        .iter()
        .filter_map(|(provider, traffic)| Some((provider.as_str(), traffic.delivery_latency_us?)))
        .collect();
    if deliveries.is_empty() {
        empty_note(out, "No delivery reached a synthetic person's inbox.");
    } else {
        chart::percentile_dots(
            out,
            "delivery-latency",
            "Delivery latency percentiles per provider, from the step that caused the send to the message in the inbox, in milliseconds on a log scale",
            &deliveries,
        );
        open_table(
            out,
            &[
                "provider",
                "#p50 ms",
                "#p90 ms",
                "#p99 ms",
                "#p99.9 ms",
                "#max ms",
            ],
        );
        for (provider, percentiles) in &deliveries {
            out.push_str("<tr>");
            text_cell(out, provider);
            write_percentile_cells(out, percentiles);
            out.push_str("</tr>\n");
        }
        close_table(out);
    }
    write_provider_traffic(out, report);
    out.push_str("</section>\n");
}

fn write_provider_traffic(out: &mut String, report: &Report) {
    if report.providers.is_empty() {
        empty_note(out, "The report has no provider traffic.");
        return;
    }
    open_table(
        out,
        &[
            "provider",
            "#requests",
            "#accepted",
            "#retries",
            "#faults",
            "#outage rejections",
            "#delivered",
            "#lost",
            "#failed deliveries",
            "#injected duplicates",
            "#retry duplicates",
            "#in transit",
        ],
    );
    for (provider, traffic) in &report.providers {
        let stats = &traffic.stats;
        out.push_str("<tr>");
        text_cell(out, provider);
        for value in [
            stats.requests,
            stats.accepted,
            stats.retries,
            stats.faults_total(),
            stats.outage_rejections,
            stats.delivered,
            stats.lost,
            stats.failed_deliveries(),
            stats.duplicates_injected,
            stats.retry_duplicates,
            stats.in_transit,
        ] {
            number_cell(out, &count(value));
        }
        out.push_str("</tr>\n");
    }
    close_table(out);
    out.push_str(
        "<p class=\"note\">Requests are calls to the send API and accepted counts distinct messages. \
         Retries repeat an idempotency key the provider had seen. Faults are those the fault profile injected, \
         whether the provider rejected the request or lost or returned the message later. \
         Outage rejections are requests rejected in an outage window and are not retries. \
         Failed deliveries are undeliverable texts, bounced emails and returned letters. \
         Retry duplicates are repeated deliveries that no injected fault caused. \
         docs/providers.md describes each counter.</p>\n",
    );
    let mut injected = report.injected_faults().peekable();
    if injected.peek().is_some() {
        out.push_str("<p>Injected faults: ");
        write_joined(
            out,
            ", ",
            injected.map(|(provider, kind, faults)| {
                format!("{} {}: {}", Escape(provider), Escape(kind), count(faults))
            }),
        );
        out.push_str(".</p>\n");
    }
}

fn write_journeys(out: &mut String, report: &Report) {
    out.push_str("<section id=\"journeys\">\n<h2>Journey outcomes</h2>\n");
    if report.journeys.is_empty() {
        empty_note(out, "No journey started.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str(
        "<p>Times are from the first step to the last, think time and waits for codes and letters included.</p>\n",
    );
    open_table(
        out,
        &[
            "journey",
            "#started",
            "#completed",
            "#failed",
            "failed by reason",
            "#abandoned",
            "#in flight",
            "#p50 ms",
            "#p99 ms",
        ],
    );
    for (journey, outcomes) in &report.journeys {
        let failed = outcomes.failed_total();
        let class = if failed > 0 { r#" class="fail""# } else { "" };
        let _ = write!(out, "<tr{class}>");
        text_cell(out, journey);
        number_cell(out, &count(outcomes.started));
        number_cell(out, &count(outcomes.completed));
        number_cell(out, &count(failed));
        out.push_str("<td>");
        write_joined(
            out,
            ", ",
            outcomes
                .failed
                .iter()
                .map(|(reason, failed)| format!("{} {}", Escape(reason), count(*failed))),
        );
        out.push_str("</td>");
        number_cell(out, &count(outcomes.abandoned));
        number_cell(out, &count(outcomes.in_flight));
        let (p50, p99) = outcomes.duration_us.map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |p| (milliseconds(p.p50), milliseconds(p.p99)),
        );
        number_cell(out, &p50);
        number_cell(out, &p99);
        out.push_str("</tr>\n");
    }
    close_table(out);
    out.push_str("</section>\n");
}

fn write_service_outages(out: &mut String, report: &Report) {
    if report.service_outages.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"service-outages\">\n<h2>Service outages</h2>\n\
         <p>Periods when load users found the service refusing connections, in seconds from the start of load.</p>\n",
    );
    open_table(out, &["#from s", "#to s"]);
    for outage in &report.service_outages {
        out.push_str("<tr>");
        number_cell(out, &format_number(outage.start_s, 1));
        let end = outage
            .end_s
            .map_or_else(|| "not back".to_owned(), |end| format_number(end, 1));
        number_cell(out, &end);
        out.push_str("</tr>\n");
    }
    close_table(out);
    out.push_str("</section>\n");
}

fn write_abuse(out: &mut String, report: &Report) {
    let Some(abuse) = &report.abuse else {
        return;
    };
    let (word, class) = verdict(abuse.pass);
    let _ = writeln!(
        out,
        "<section id=\"abuse\">\n<h2>Abuse attacks: <span class=\"{class}\">{word}</span></h2>"
    );
    for (attack, result) in &abuse.attacks {
        let (word, class) = verdict(result.pass);
        let _ = writeln!(
            out,
            "<h3>{}: <span class=\"{class}\">{word}</span></h3>\n<p>{} requests in {} s.</p>",
            Escape(attack),
            count(result.requests),
            format_number(result.duration_s, 1)
        );
        open_table(out, &["check", "verdict", "expected", "observed"]);
        for check in &result.checks {
            let (word, class) = verdict(check.pass);
            let _ = write!(out, r#"<tr class="{class}">"#);
            text_cell(out, &check.name);
            text_cell(out, word);
            text_cell(out, &check.expected);
            text_cell(out, &check.observed);
            out.push_str("</tr>\n");
        }
        close_table(out);
    }
    out.push_str("</section>\n");
}

fn write_secret_leaks(out: &mut String, report: &Report) {
    let Some(leaks) = &report.secret_leaks else {
        return;
    };
    out.push_str("<section id=\"secret-leaks\">\n<h2>Secret-leak check</h2>\n<p>Searched ");
    write_joined(
        out,
        ", ",
        leaks.files_scanned.iter().map(|file| Escape(file)),
    );
    out.push_str(" for the secrets the run knew (");
    write_joined(
        out,
        ", ",
        leaks
            .secrets_known
            .iter()
            .map(|(kind, known)| format!("{} {}", kind.name(), count(*known))),
    );
    out.push_str("); docs/secrets.md describes the rules.</p>\n");

    if leaks.findings_total == 0 {
        out.push_str("<p class=\"pass\">No secret found.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"fail\">{} line(s) hold a secret; each row names the file, line and kind, never the secret.</p>",
        count(leaks.findings_total)
    );
    open_table(out, &["file", "#line", "kind"]);
    for finding in &leaks.findings {
        out.push_str("<tr>");
        text_cell(out, &finding.file);
        number_cell(out, &count(finding.line));
        text_cell(out, finding.kind.name());
        out.push_str("</tr>\n");
    }
    close_table(out);

    let unlisted = leaks
        .findings_total
        .saturating_sub(leaks.findings.len() as u64);
    if unlisted > 0 {
        let _ = writeln!(
            out,
            "<p>{} more are counted but not listed.</p>",
            count(unlisted)
        );
    }
    out.push_str("</section>\n");
}

fn write_configuration(out: &mut String, report: &Report) {
    out.push_str("<section id=\"configuration\">\n<h2>Configuration</h2>\n<table><tbody>\n");
    let mut row = |name: &str, value: &str| {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            Escape(name),
            Escape(value)
        );
    };
    row("Scenario", &report.scenario);
    row("Scenario file", &report.scenario_file);
    row("Seed", &report.seed.to_string());
    row("Hash profile", &report.hash_profile);

    match &report.fault_profile {
        Some(profile) => {
            row("Fault profile file", &profile.file);
            row("Fault profile seed", &profile.seed.to_string());
        }
        None => row("Fault profile", "none: the run used other providers"),
    }

    row("Target URL", &report.target.service_url);
    row(
        "Started in process",
        if report.target.in_process {
            "yes: the run started the service and mocks"
        } else {
            "no"
        },
    );

    row("Users", &count(report.load.users as u64));
    row(
        "Journeys per user",
        &count(report.load.journeys_per_user as u64),
    );
    row("People", &count(report.load.people));
    row(
        "Max duration",
        &format!("{} s", format_number(report.load.max_duration_s, 1)),
    );
    row("Stopped by", &report.load.stopped_by);

    // RFC 3339 to the second; report.json keeps the nanoseconds.
    let started_at = report.started_at.get(..19).unwrap_or(&report.started_at);
    row("Started at (UTC)", started_at);
    row("recoverylab version", &report.recoverylab_version);
    row("Schema version", &report.schema_version.to_string());
    out.push_str("</tbody></table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            Escape(r#"<script>alert("x" & 'y')</script>"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(Escape("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn format_number_groups_thousands() {
        let cases = [
            (0.0, 1, "0.0"),
            (999.0, 0, "999"),
            (1234.56, 1, "1,234.6"),
            (-1234567.0, 0, "-1,234,567"),
            (-0.01, 1, "0.0"),
            (123456789012345.0, 0, "123,456,789,012,345"),
            (1e16, 0, "1.00e16"),
            (f64::NAN, 1, "-"),
            (f64::INFINITY, 1, "-"),
        ];
        for (value, decimals, expected) in cases {
            assert_eq!(
                format_number(value, decimals),
                expected,
                "{value} with {decimals} decimals"
            );
        }
    }

    #[test]
    fn count_and_milliseconds_format() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(milliseconds(12_345), "12.3");
        assert_eq!(milliseconds(u64::MAX), "1.84e16");
    }

    fn report() -> Report {
        use crate::report::model::*;
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            recoverylab_version: RECOVERYLAB_VERSION.to_owned(),
            scenario: "unit".to_owned(),
            scenario_file: "scenarios/unit.toml".to_owned(),
            seed: 1,
            hash_profile: "fast".to_owned(),
            started_at: "2026-12-05T00:00:00Z".to_owned(),
            duration_s: 10.0,
            target: Target {
                service_url: "http://127.0.0.1:1".to_owned(),
                in_process: true,
            },
            load: LoadSettings {
                users: 1,
                journeys_per_user: 1,
                people: 1,
                max_duration_s: 60.0,
                journeys_skipped: 0,
                stopped_by: "completed".to_owned(),
            },
            enrollment: EnrollmentStats {
                people: 1,
                already_enrolled: 0,
                duration_s: 0.1,
                people_per_s: 10.0,
            },
            throughput: Throughput {
                journeys_completed_per_s: 0.1,
                steps_per_s: 0.3,
            },
            journeys: Default::default(),
            steps: Default::default(),
            providers: Default::default(),
            fault_profile: None,
            service_outages: Vec::new(),
            funnels: Default::default(),
            timeline: Timeline::default(),
            thresholds: Vec::new(),
            abuse: None,
            secret_leaks: None,
        }
    }

    fn step_stats(latency_us: Percentiles) -> crate::report::model::StepStats {
        crate::report::model::StepStats {
            count: 3,
            errors: 0,
            error_codes: Default::default(),
            latency_us,
            histogram: String::new(),
        }
    }

    fn interval(
        start_s: f64,
        latency_us: Option<Percentiles>,
    ) -> crate::report::model::IntervalSummary {
        crate::report::model::IntervalSummary {
            start_s,
            duration_s: 1.0,
            steps: 10,
            step_errors: 1,
            journeys_completed: 2,
            journeys_failed: 0,
            journeys_abandoned: 0,
            latency_us,
        }
    }

    const LATENCY: Percentiles = Percentiles {
        p50: 1_000,
        p90: 2_000,
        p99: 5_000,
        p999: 9_000,
        max: 12_000,
    };

    #[test]
    fn step_names_are_escaped() {
        let mut report = report();
        report
            .steps
            .insert("<script>alert(1)</script>".to_owned(), step_stats(LATENCY));
        report.scenario = "a\"b".to_owned();
        let html = render(&report);
        assert!(!html.contains("<script"), "no script element: {html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a&quot;b"));
    }

    fn failed_threshold(aborted_run: bool) -> crate::report::model::ThresholdResult {
        crate::report::model::ThresholdResult {
            target: "steps".to_owned(),
            expression: "error_rate < 0.01".to_owned(),
            value: Some(0.5),
            limit: 0.01,
            unit: "ratio".to_owned(),
            pass: false,
            aborted_run,
            message: String::new(),
        }
    }

    #[test]
    fn verdict_fails_on_any_gate() {
        use crate::abuse::AbuseReport;
        use crate::leak_check::SecretLeaks;

        /// A case name, the change to the report, and the expected verdict.
        type Case = (&'static str, fn(&mut Report), &'static str);
        let cases: [Case; 4] = [
            (
                "no gates",
                |_| {},
                r#"<span class="verdict pass">pass</span>"#,
            ),
            (
                "failed threshold",
                |report| report.thresholds.push(failed_threshold(false)),
                r#"<span class="verdict fail">FAIL</span>"#,
            ),
            (
                "failed abuse check",
                |report| {
                    report.abuse = Some(AbuseReport {
                        pass: false,
                        attacks: Default::default(),
                    })
                },
                r#"<span class="verdict fail">FAIL</span>"#,
            ),
            (
                "secret found",
                |report| {
                    report.secret_leaks = Some(SecretLeaks {
                        findings_total: 1,
                        ..SecretLeaks::default()
                    })
                },
                r#"<span class="verdict fail">FAIL</span>"#,
            ),
        ];
        for (case, change, expected) in cases {
            let mut report = report();
            change(&mut report);
            assert!(
                render(&report).contains(expected),
                "case {case}: {expected}"
            );
        }
    }

    #[test]
    fn aborting_threshold_says_so() {
        let mut report = report();
        report.thresholds.push(failed_threshold(true));
        assert!(render(&report).contains("FAIL, stopped the load"));
    }

    #[test]
    fn empty_report_draws_no_chart() {
        let html = render(&report());
        assert!(!html.contains("<figure"), "no figure without data: {html}");
        for note in [
            "The scenario sets no thresholds.",
            "The report has no funnels.",
            "No step got a response.",
            "The report has no timeline intervals.",
            "No delivery reached a synthetic person&#39;s inbox.",
        ] {
            assert!(html.contains(note), "note {note:?} is shown");
        }
    }

    #[test]
    fn intervals_without_latency_get_a_note() {
        let mut report = report();
        report.timeline.interval_s = 1.0;
        report.timeline.intervals = vec![interval(0.0, None), interval(1.0, None)];
        let html = render(&report);
        assert!(!html.contains(r#"data-chart="latency-over-time""#));
        assert!(html.contains("No interval has a step with a response."));
        assert!(html.contains(r#"data-chart="throughput-over-time""#));
    }

    #[test]
    fn one_interval_is_drawn_as_dots() {
        let mut report = report();
        report.timeline.intervals = vec![interval(0.0, Some(LATENCY))];
        let html = render(&report);
        let start = html
            .find(r#"data-chart="latency-over-time""#)
            .expect("chart drawn");
        let chart = &html[start..start + html[start..].find("</figure>").unwrap()];
        assert_eq!(chart.matches("<circle").count(), 2, "p50 and p99 dots");
    }

    #[test]
    fn hostile_values_never_reach_attributes_as_nan() {
        let mut report = report();
        let huge = Percentiles {
            p50: 0,
            p90: 1,
            p99: u64::MAX / 2,
            p999: u64::MAX,
            max: u64::MAX,
        };
        for index in 0..30 {
            let name = format!("step_{index}_{}", "long".repeat(index));
            report.steps.insert(name, step_stats(huge));
        }
        report.timeline.intervals = vec![
            interval(f64::NAN, Some(huge)),
            interval(1.0, Some(huge)),
            interval(f64::INFINITY, Some(LATENCY)),
        ];
        report.timeline.intervals[1].duration_s = 0.0;
        report.duration_s = f64::NAN;
        let html = render(&report);
        for bad in ["NaN", "inf"] {
            assert!(!html.contains(bad), "{bad} appears in the page");
        }
        assert_eq!(
            html.matches("<figure").count(),
            2,
            "step latency and latency over time"
        );
    }
}
