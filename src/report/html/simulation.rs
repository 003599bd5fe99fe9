//! report.html of a simulation run: the sections of report.md as one
//! self-contained page, with per-day and step-latency charts drawn as
//! inline SVG by the live report's chart module.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::chart::{self, Series};
use super::{
    close_table, count, empty_note, format_number, number_cell, open_table, text_cell,
    write_joined, write_page_head, Escape,
};
use crate::report::model::Percentiles;
use crate::sim::report::{Day, HourPercentiles, SimulationReport, WhatIf};

/// CSS of this page only: grey rows for the days that are not business days.
const EXTRA_STYLE: &str = "tr.closed td{background:#f1f1f1;color:#555}\n";

/// Renders the report as one self-contained HTML page.
pub fn render(report: &SimulationReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    write_page_head(
        &mut out,
        &format!("recoverylab simulation: {}", report.scenario),
        EXTRA_STYLE,
    );
    write_settings(&mut out, report);
    write_surges(&mut out, report);
    write_answers(&mut out, report);
    if let Some(what_if) = &report.what_if {
        write_what_if(&mut out, report, what_if);
    }
    write_journeys(&mut out, report);
    write_steps(&mut out, report);
    write_days(&mut out, report);
    out.push_str("</body>\n</html>\n");
    out
}

/// Formats a time to recover in the unit report.md uses, with thousands
/// separators.
fn hours_or_days(hours: f64) -> String {
    let (value, decimals, unit) = crate::sim::report::recovery_time_unit(hours);
    format!("{} {unit}", format_number(value, decimals))
}

/// Formats a ratio as a percentage with two decimals.
fn percent(rate: f64) -> String {
    format!("{}%", format_number(rate * 100.0, 2))
}

/// Formats microseconds as milliseconds with two decimals, like report.md.
fn ms(micros: u64) -> String {
    format_number(micros as f64 / 1_000.0, 2)
}

/// Formats an amount of money with two decimals.
fn money(amount: f64) -> String {
    format_number(amount, 2)
}

fn write_settings(out: &mut String, report: &SimulationReport) {
    let settings = &report.settings;
    let rate = settings
        .journeys_per_day
        .map(|rate| format!(", {} journeys per ordinary day", format_number(rate, 0)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<p id=\"settings\">{} day(s) from {} ({} arrivals{}), then {} day(s) for journeys in progress to finish. \
         {} instance(s) × {} worker(s); service times from {}; postal temporary password valid {} days; \
         fault profile {}; seed {}.</p>",
        count(u64::from(settings.days)),
        settings.first_day,
        Escape(&settings.arrivals),
        rate,
        count(u64::from(settings.drain_days)),
        count(u64::from(settings.instances)),
        count(u64::from(settings.workers_per_instance)),
        Escape(&settings.service_times_from),
        count(u64::from(settings.postal_validity_days)),
        Escape(&settings.fault_profile),
        report.seed,
    );
}

fn write_surges(out: &mut String, report: &SimulationReport) {
    let surges = &report.settings.surges;
    if surges.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"surges\">\n<h2>Surges</h2>\n\
         <p>Days on which the journeys per day are multiplied by a factor.</p>\n",
    );
    open_table(out, &["surge", "first day", "last day", "#factor"]);
    for surge in surges {
        out.push_str("<tr>");
        text_cell(out, &surge.name);
        text_cell(out, &surge.first_day.to_string());
        text_cell(out, &surge.last_day.to_string());
        number_cell(out, &format!("×{}", format_number(surge.factor, 2)));
        out.push_str("</tr>\n");
    }
    close_table(out);
    out.push_str("</section>\n");
}

fn write_answers(out: &mut String, report: &SimulationReport) {
    let summary = &report.summary;
    out.push_str("<section id=\"answers\">\n<h2>Answers</h2>\n<ul>\n");
    let _ = writeln!(
        out,
        "<li>Journeys: {} started, {} completed ({}), {} failed, {} abandoned, {} in flight at the end.</li>",
        count(summary.started),
        count(summary.completed),
        percent(summary.success_rate),
        count(summary.failed),
        count(summary.abandoned),
        count(summary.in_flight)
    );

    match &summary.busiest_letter_day {
        Some(day) => {
            let _ = writeln!(
                out,
                "<li>Busiest letter day: {} with {} letters mailed; {} letters in all.</li>",
                day.date,
                count(day.count),
                count(summary.letters_mailed)
            );
        }
        None => out.push_str("<li>No letters were mailed.</li>\n"),
    }

    let _ = writeln!(
        out,
        "<li>Letters whose temporary password had expired when read: {} of {} mailed ({} returned to sender).</li>",
        count(summary.letters_expired),
        count(summary.letters_mailed),
        count(summary.letters_returned)
    );

    for (kind, journey) in &report.journeys {
        if let Some(recover) = &journey.time_to_recover_hours {
            let _ = writeln!(
                out,
                "<li>Time to recover, {}: median {}, p90 {}, p99 {}.</li>",
                Escape(kind),
                hours_or_days(recover.p50),
                hours_or_days(recover.p90),
                hours_or_days(recover.p99)
            );
        }
    }

    let _ = writeln!(
        out,
        "<li>Codes moved from SMS to email: {}; provider sends failed after every retry: {}.</li>",
        count(summary.sms_moved_to_email),
        count(summary.sends_failed)
    );

    let _ = writeln!(
        out,
        "<li>Peak journeys in progress: {} at {}; peak live flows: {} at {}.</li>",
        count(summary.peak_in_progress.count),
        Escape(&summary.peak_in_progress.at),
        count(summary.peak_flows.count),
        Escape(&summary.peak_flows.at)
    );

    let wait = &summary.queue_wait_us;
    let _ = writeln!(
        out,
        "<li>Queue wait for a worker: p50 {} ms, p99 {} ms, max {} ms.</li>",
        ms(wait.p50),
        ms(wait.p99),
        ms(wait.max)
    );

    let cost = &summary.cost;
    let _ = writeln!(
        out,
        "<li>Cost: {} {} (email {}, SMS {}, letters {}).</li>",
        money(cost.total),
        Escape(&cost.currency),
        money(cost.email),
        money(cost.sms),
        money(cost.letters)
    );
    out.push_str("</ul>\n</section>\n");
}

/// Writes one row per what-if value: the run's totals and each journey
/// kind's median time to recover.
fn write_what_if(out: &mut String, report: &SimulationReport, what_if: &WhatIf) {
    let _ = writeln!(
        out,
        "<section id=\"what-if\">\n<h2>What if: {}</h2>\n\
         <p>The scenario ran once per value of {}, with everything else unchanged.</p>",
        Escape(&what_if.setting),
        Escape(&what_if.setting)
    );
    // A kind can start in some runs only, such as at a higher journeys_per_day.
    let kinds: BTreeSet<&str> = report
        .journeys
        .keys()
        .map(String::as_str)
        .chain(
            what_if
                .rows
                .iter()
                .flat_map(|row| row.time_to_recover_p50_hours.keys().map(String::as_str)),
        )
        .collect();
    let mut columns = vec![
        what_if.setting.clone(),
        "#started".to_owned(),
        "#completed".to_owned(),
        "#success".to_owned(),
        "#failed".to_owned(),
        "#abandoned".to_owned(),
        "#in flight".to_owned(),
        "#letters".to_owned(),
        "#expired letters".to_owned(),
        "slowest step".to_owned(),
        "#slowest step p99 ms".to_owned(),
        "#queue wait p99 ms".to_owned(),
        format!("#cost {}", report.summary.cost.currency),
    ];
    columns.extend(kinds.iter().map(|kind| format!("#{kind} median")));
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    open_table(out, &columns);
    for row in &what_if.rows {
        out.push_str("<tr>");
        text_cell(out, &row.value);
        number_cell(out, &count(row.started));
        number_cell(out, &count(row.completed));
        number_cell(out, &percent(row.success_rate));
        number_cell(out, &count(row.failed.values().sum()));
        number_cell(out, &count(row.abandoned));
        number_cell(out, &count(row.in_flight));
        number_cell(out, &count(row.letters_mailed));
        number_cell(out, &count(row.letters_expired));
        match &row.slowest_step {
            Some((step, p99_ms)) => {
                text_cell(out, step);
                number_cell(out, &format_number(*p99_ms, 2));
            }
            None => {
                text_cell(out, "-");
                number_cell(out, "-");
            }
        }
        number_cell(out, &format_number(row.queue_wait_p99_ms, 2));
        number_cell(out, &money(row.cost_total));
        for kind in &kinds {
            let median = row
                .time_to_recover_p50_hours
                .get(*kind)
                .map_or_else(|| "-".to_owned(), |hours| hours_or_days(*hours));
            number_cell(out, &median);
        }
        out.push_str("</tr>\n");
    }
    close_table(out);
    write_what_if_steps(out, what_if);
    out.push_str("</section>\n");
}

/// Writes each step's p99 latency for each what-if value.
fn write_what_if_steps(out: &mut String, what_if: &WhatIf) {
    let steps: BTreeSet<&str> = what_if
        .rows
        .iter()
        .flat_map(|row| row.step_p99_ms.keys().map(String::as_str))
        .collect();
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h3>p99 latency per step (ms) by {}</h3>",
        Escape(&what_if.setting)
    );
    let mut columns = vec!["step".to_owned()];
    columns.extend(what_if.rows.iter().map(|row| format!("#{}", row.value)));
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    open_table(out, &columns);
    for step in steps {
        out.push_str("<tr>");
        text_cell(out, step);
        for row in &what_if.rows {
            let cell = row
                .step_p99_ms
                .get(step)
                .map_or_else(|| "-".to_owned(), |ms| format_number(*ms, 2));
            number_cell(out, &cell);
        }
        out.push_str("</tr>\n");
    }
    close_table(out);
}

fn write_journeys(out: &mut String, report: &SimulationReport) {
    out.push_str("<section id=\"journeys\">\n<h2>Journeys</h2>\n");
    if report.journeys.is_empty() {
        empty_note(out, "No journey started.");
        out.push_str("</section>\n");
        return;
    }
    out.push_str(
        "<p>Time to recover runs from a journey's start to its completion, \
         waits for codes and letters included, over completed journeys.</p>\n",
    );
    open_table(
        out,
        &[
            "journey",
            "#started",
            "#completed",
            "#success",
            "#failed",
            "#abandoned",
            "#in flight",
            "#p50 to recover",
            "#p90",
            "#p99",
            "#max",
        ],
    );
    for (kind, journey) in &report.journeys {
        out.push_str("<tr>");
        text_cell(out, kind);
        number_cell(out, &count(journey.started));
        number_cell(out, &count(journey.completed));
        number_cell(out, &percent(journey.success_rate));
        number_cell(out, &count(journey.failed.values().sum()));
        number_cell(out, &count(journey.abandoned));
        number_cell(out, &count(journey.in_flight));
        let recover = journey.time_to_recover_hours;
        let pickers: [fn(&HourPercentiles) -> f64; 4] = [
            |hours| hours.p50,
            |hours| hours.p90,
            |hours| hours.p99,
            |hours| hours.max,
        ];
        for pick in pickers {
            let cell = recover
                .as_ref()
                .map_or_else(|| "-".to_owned(), |hours| hours_or_days(pick(hours)));
            number_cell(out, &cell);
        }
        out.push_str("</tr>\n");
    }
    close_table(out);
    write_failures(out, report);
    out.push_str("</section>\n");
}

fn write_failures(out: &mut String, report: &SimulationReport) {
    out.push_str("<h3>Failures by reason</h3>\n");
    if report.failures().next().is_none() {
        empty_note(out, "No journey failed.");
        return;
    }
    open_table(out, &["journey", "reason", "#failed"]);
    for (kind, reason, failed) in report.failures() {
        out.push_str("<tr>");
        text_cell(out, kind);
        text_cell(out, reason);
        number_cell(out, &count(failed));
        out.push_str("</tr>\n");
    }
    close_table(out);
}

fn write_steps(out: &mut String, report: &SimulationReport) {
    out.push_str(
        "<section id=\"steps\">\n<h2>Steps</h2>\n\
         <p>Latency is queue wait plus service time, in milliseconds. \
         Service time is the median time a worker spends on the step, queue wait excluded.</p>\n",
    );
    if report.steps.is_empty() {
        empty_note(out, "No step was taken.");
        out.push_str("</section>\n");
        return;
    }
    let rows: Vec<(&str, Percentiles)> = report
        .steps
        .iter()
        .map(|(step, summary)| (step.as_str(), summary.latency_us))
        .collect();
    chart::percentile_dots(
        out,
        "step-latency",
        "Latency percentiles per step, queue wait plus service time, in milliseconds on a log scale",
        &rows,
    );
    open_table(
        out,
        &[
            "step",
            "#count",
            "#errors",
            "errors by code",
            "#service time ms",
            "#p50 ms",
            "#p90 ms",
            "#p99 ms",
            "#p99.9 ms",
            "#max ms",
        ],
    );
    for (step, summary) in &report.steps {
        out.push_str("<tr>");
        text_cell(out, step);
        number_cell(out, &count(summary.count));
        number_cell(out, &count(summary.errors.values().sum()));
        out.push_str("<td>");
        write_joined(
            out,
            ", ",
            summary
                .errors
                .iter()
                .map(|(code, errors)| format!("{} {}", Escape(code), count(*errors))),
        );
        out.push_str("</td>");
        let service_time = report
            .settings
            .service_time_median_ms
            .get(step)
            .map_or_else(|| "-".to_owned(), |median| format_number(*median, 2));
        number_cell(out, &service_time);
        let latency = &summary.latency_us;
        for micros in [
            latency.p50,
            latency.p90,
            latency.p99,
            latency.p999,
            latency.max,
        ] {
            number_cell(out, &ms(micros));
        }
        out.push_str("</tr>\n");
    }
    close_table(out);
    out.push_str("</section>\n");
}

fn write_days(out: &mut String, report: &SimulationReport) {
    out.push_str("<section id=\"days\">\n<h2>Days</h2>\n");
    if report.days.is_empty() {
        empty_note(out, "The run has no days.");
        out.push_str("</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>Day 1 is {}. Days after day {} only let journeys in progress finish.</p>",
        report.settings.first_day,
        count(u64::from(report.settings.days))
    );
    write_day_charts(out, &report.days);
    write_day_table(out, report);
    out.push_str("</section>\n");
}

/// Returns one point per day of `pick(day)`, with x the day's number from 1.
fn per_day(days: &[Day], pick: fn(&Day) -> u64) -> Vec<Option<(f64, f64)>> {
    days.iter()
        .enumerate()
        .map(|(index, day)| Some(((index + 1) as f64, pick(day) as f64)))
        .collect()
}

/// One per-day chart: its name, caption, y-axis title and lines.
type DayChart = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, fn(&Day) -> u64)],
);

const DAY_CHARTS: [DayChart; 4] = [
    (
        "journeys-per-day",
        "Journeys started, completed, failed and abandoned per day",
        "journeys",
        &[
            ("started", |day| day.started),
            ("completed", |day| day.completed),
            ("failed", |day| day.failed),
            ("abandoned", |day| day.abandoned),
        ],
    ),
    (
        "messages-per-day",
        "Emails and SMS sent per day",
        "messages",
        &[
            ("emails", |day| day.emails_sent),
            ("SMS", |day| day.sms_sent),
        ],
    ),
    (
        "letters-per-day",
        "Letters mailed per day, and letters in transit at the day's end",
        "letters",
        &[
            ("letters mailed", |day| day.letters_mailed),
            ("letters in transit", |day| day.letters_in_transit),
        ],
    ),
    (
        "concurrency-per-day",
        "Peak journeys in progress and peak live server-side flows per day: the highest count in a minute, summed over instances",
        "journeys",
        &[
            ("peak in progress", |day| day.peak_in_progress),
            ("peak live flows", |day| day.peak_flows),
        ],
    ),
];

/// Draws the per-day charts, x being the day of the run from 1.
fn write_day_charts(out: &mut String, days: &[Day]) {
    for (name, caption, y_title, lines) in DAY_CHARTS {
        let series: Vec<Series<'_>> = lines
            .iter()
            .map(|(line, pick)| Series {
                name: line,
                points: per_day(days, *pick),
            })
            .collect();
        chart::line_chart(out, name, caption, ("day of the run", y_title), &series);
    }
}

/// Writes one row per day. Weekends and US federal holidays get the
/// `closed` class and "(closed)" after the weekday, because postal transit
/// counts business days only.
fn write_day_table(out: &mut String, report: &SimulationReport) {
    let cost_column = format!("#cost {}", report.summary.cost.currency);
    open_table(
        out,
        &[
            "#day",
            "date",
            "weekday",
            "#started",
            "#completed",
            "#failed",
            "#abandoned",
            "#emails",
            "#SMS",
            "#letters mailed",
            "#letters in transit",
            "#expired letters",
            "#SMS to email",
            "#peak in progress",
            "#peak live flows",
            "#queue wait p99 ms",
            &cost_column,
        ],
    );
    for (index, day) in report.days.iter().enumerate() {
        if day.business_day {
            out.push_str("<tr>");
        } else {
            out.push_str(r#"<tr class="closed">"#);
        }
        number_cell(out, &count(index as u64 + 1));
        text_cell(out, &day.date.to_string());
        if day.business_day {
            text_cell(out, &day.weekday);
        } else {
            text_cell(out, &format!("{} (closed)", day.weekday));
        }
        for value in [
            day.started,
            day.completed,
            day.failed,
            day.abandoned,
            day.emails_sent,
            day.sms_sent,
            day.letters_mailed,
            day.letters_in_transit,
            day.letters_expired,
            day.sms_moved_to_email,
            day.peak_in_progress,
            day.peak_flows,
        ] {
            number_cell(out, &count(value));
        }
        number_cell(out, &ms(day.queue_wait_p99_us));
        number_cell(out, &money(day.cost));
        out.push_str("</tr>\n");
    }
    close_table(out);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use scraper::{ElementRef, Html, Selector};

    use super::*;
    use crate::sim::run::WhatIfArg;

    /// Six days from Friday 2026-07-03, the observed Independence Day
    /// holiday, so the run has a holiday and a weekend, with a surge,
    /// every journey kind and expired letters.
    const SCENARIO: &str = r#"
name = "<b>sim</b> & co"
seed = 7

[load]
users = 10
journeys_per_user = 1
max_duration_s = 60

[mix]
sign_in = 3
forgot_username = 1
forgot_password = 2
temp_password_postal = 3
temp_password_email = 1

[simulation]
start_date = "2026-07-03"
days = 6
drain_days = 20
journeys_per_day = 1200
# Shorter than the slowest letters take, so some postal journeys fail.
postal_validity_days = 10

[[simulation.surges]]
name = "<i>launch</i>"
first_day = "2026-07-06"
last_day = "2026-07-07"
factor = 2.5

[simulation.prices]
email = 0.001
sms = 0.05
letter = 1.2
currency = "USD"
"#;

    /// Runs the scenario, with a what-if comparison when `what_if` is given.
    fn simulated(what_if: Option<&str>) -> SimulationReport {
        let scenario = crate::config::scenario::parse_scenario(Path::new("t.toml"), SCENARIO)
            .expect("the test scenario is valid");
        let plan = crate::sim::plan::Plan::new(&scenario, None);
        let what_if: Option<WhatIfArg> =
            what_if.map(|text| text.parse().expect("the what-if argument is valid"));
        crate::sim::run::simulate(&plan, what_if.as_ref(), 1)
    }

    /// Runs the scenario with a what-if comparison and renders it, once for
    /// every test.
    fn page() -> &'static (SimulationReport, String) {
        static PAGE: std::sync::OnceLock<(SimulationReport, String)> = std::sync::OnceLock::new();
        PAGE.get_or_init(|| {
            let report = simulated(Some("postal_validity_days=3,30"));
            let html = render(&report);
            (report, html)
        })
    }

    fn selector(css: &str) -> Selector {
        Selector::parse(css).unwrap_or_else(|error| panic!("selector {css}: {error}"))
    }

    fn text_of(element: ElementRef<'_>) -> String {
        element.text().collect()
    }

    /// Returns the text of each cell of the rows `rows` selects.
    fn table(document: &Html, rows: &str) -> Vec<Vec<String>> {
        document
            .select(&selector(rows))
            .map(|row| row.select(&selector("td")).map(text_of).collect())
            .collect()
    }

    #[test]
    fn scenario_run_has_every_outcome() {
        let (report, _) = page();
        let summary = &report.summary;
        assert!(summary.started > 1_000, "started {}", summary.started);
        assert!(summary.completed > 1_000, "completed {}", summary.completed);
        assert!(summary.letters_mailed > 0, "letters mailed");
        assert!(
            report.journeys.values().any(|j| !j.failed.is_empty()),
            "failures"
        );
        assert!(
            report.days.iter().any(|day| !day.business_day),
            "closed days"
        );
        assert!(report.accounting_holds());
    }

    #[test]
    fn page_has_every_section() {
        let (_, html) = page();
        let document = Html::parse_document(html);
        let headings: Vec<String> = document.select(&selector("h2")).map(text_of).collect();
        assert_eq!(
            headings,
            [
                "Surges",
                "Answers",
                "What if: postal_validity_days",
                "Journeys",
                "Steps",
                "Days",
            ],
            "section headings in order"
        );
        let subheadings: Vec<String> = document.select(&selector("h3")).map(text_of).collect();
        assert_eq!(
            subheadings,
            [
                "p99 latency per step (ms) by postal_validity_days",
                "Failures by reason"
            ]
        );
        let settings = document
            .select(&selector("p#settings"))
            .next()
            .map(text_of)
            .expect("settings paragraph");
        assert!(
            settings.starts_with("6 day(s) from 2026-07-03 (open arrivals, 1,200 journeys per ordinary day), then 20 day(s)"),
            "settings: {settings}"
        );
    }

    #[test]
    fn page_fetches_nothing() {
        let (_, html) = page();
        for forbidden in ["<script", "<link", "<img", "http://", "https://", "url("] {
            assert!(!html.contains(forbidden), "the page contains {forbidden}");
        }
        let document = Html::parse_document(html);
        let policy = document
            .select(&selector(r#"meta[http-equiv="Content-Security-Policy"]"#))
            .next()
            .and_then(|meta| meta.value().attr("content"))
            .expect("a Content-Security-Policy");
        assert!(policy.starts_with("default-src 'none'"), "policy {policy}");
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let (_, html) = page();
        assert!(!html.contains("<b>"), "the scenario name adds no markup");
        assert!(!html.contains("<i>"), "the surge name adds no markup");
        let document = Html::parse_document(html);
        let title = document.select(&selector("h1")).next().map(text_of);
        assert_eq!(
            title.as_deref(),
            Some("recoverylab simulation: <b>sim</b> & co")
        );
        let surge = table(&document, "#surges tbody tr");
        assert_eq!(surge[0][0], "<i>launch</i>", "surge name as text");
        assert_eq!(surge[0][3], "×2.50", "surge factor");
    }

    #[test]
    fn every_chart_has_drawn_marks() {
        let (report, html) = page();
        let document = Html::parse_document(html);
        let mut names = Vec::new();
        for figure in document.select(&selector("figure.chart")) {
            let name = figure.value().attr("data-chart").unwrap_or("").to_owned();
            let svg = figure.select(&selector("svg")).next().expect("an svg");
            assert!(
                svg.select(&selector("g.axis text")).count() >= 2,
                "chart {name} has labelled ticks"
            );
            let marks = svg.select(&selector("polyline, circle")).count();
            assert!(marks > 0, "chart {name} has drawn marks");
            assert!(!svg.html().contains("NaN"), "chart {name} has NaN");
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "step-latency",
                "journeys-per-day",
                "messages-per-day",
                "letters-per-day",
                "concurrency-per-day",
            ],
            "charts in page order"
        );
        let lines = selector(r#"figure[data-chart="journeys-per-day"] polyline"#);
        let first = document.select(&lines).next().expect("the started line");
        let points = first.value().attr("points").unwrap_or("");
        assert_eq!(
            points.split_whitespace().count(),
            report.days.len(),
            "one point per day"
        );
        let dots = selector(r#"figure[data-chart="step-latency"] circle"#);
        assert_eq!(
            document.select(&dots).count(),
            report.steps.len() * 5,
            "five percentile dots per step"
        );
    }

    #[test]
    fn answers_show_grouped_numbers() {
        let (report, html) = page();
        let summary = &report.summary;
        let document = Html::parse_document(html);
        let answers: Vec<String> = document
            .select(&selector("#answers li"))
            .map(text_of)
            .collect();
        let journeys = format!(
            "Journeys: {} started, {} completed ({}), {} failed, {} abandoned, {} in flight at the end.",
            count(summary.started),
            count(summary.completed),
            percent(summary.success_rate),
            count(summary.failed),
            count(summary.abandoned),
            count(summary.in_flight)
        );
        assert_eq!(answers[0], journeys);
        assert!(
            answers[0].contains(','),
            "thousands separator: {}",
            answers[0]
        );
        let recover_lines = answers
            .iter()
            .filter(|answer| answer.starts_with("Time to recover, "))
            .count();
        let kinds_recovered = report
            .journeys
            .values()
            .filter(|journey| journey.time_to_recover_hours.is_some())
            .count();
        assert_eq!(
            recover_lines, kinds_recovered,
            "one answer per kind recovered"
        );
        assert!(
            answers
                .iter()
                .any(|answer| answer.starts_with("Cost: ") && answer.contains("USD")),
            "cost answer: {answers:?}"
        );
    }

    #[test]
    fn journeys_table_matches_report() {
        let (report, html) = page();
        let document = Html::parse_document(html);
        let rows = table(&document, "#journeys tbody tr");
        let rows: Vec<&Vec<String>> = rows.iter().filter(|row| row.len() == 11).collect();
        assert_eq!(rows.len(), report.journeys.len(), "one row per kind");
        for (row, (kind, journey)) in rows.iter().zip(&report.journeys) {
            assert_eq!(&row[0], kind);
            assert_eq!(row[1], count(journey.started), "{kind} started");
            assert_eq!(row[3], percent(journey.success_rate), "{kind} success");
            let p50 = journey
                .time_to_recover_hours
                .map_or_else(|| "-".to_owned(), |hours| hours_or_days(hours.p50));
            assert_eq!(row[7], p50, "{kind} p50 to recover");
        }
        let postal = &report.journeys["temp_password_postal"];
        let median = postal
            .time_to_recover_hours
            .expect("postal journeys recover")
            .p50;
        assert!(median >= 48.0, "a letter takes days: {median} h");
        assert!(hours_or_days(median).ends_with(" d"));

        let failures = table(&document, "#journeys tbody tr");
        let listed: u64 = failures
            .iter()
            .filter(|row| row.len() == 3)
            .map(|row| row[2].replace(',', "").parse::<u64>().expect("a count"))
            .sum();
        let failed: u64 = report
            .journeys
            .values()
            .flat_map(|j| j.failed.values())
            .sum();
        assert_eq!(listed, failed, "failures by reason add up");
    }

    #[test]
    fn days_table_marks_closed_days() {
        let (report, html) = page();
        let document = Html::parse_document(html);
        let rows: Vec<ElementRef<'_>> = document.select(&selector("#days tbody tr")).collect();
        assert_eq!(rows.len(), report.days.len(), "one row per day");
        for (row, day) in rows.iter().zip(&report.days) {
            let cells: Vec<String> = row.select(&selector("td")).map(text_of).collect();
            assert_eq!(cells[1], day.date.to_string());
            assert_eq!(cells[3], count(day.started), "{} started", day.date);
            let closed = row.value().attr("class") == Some("closed");
            assert_eq!(closed, !day.business_day, "{} class", day.date);
            assert_eq!(
                cells[2].ends_with(" (closed)"),
                !day.business_day,
                "{} label {}",
                day.date,
                cells[2]
            );
        }
        // 2026-07-03 is the observed Independence Day, and 07-04 a Saturday.
        assert_eq!(
            text_of(rows[0].select(&selector("td")).nth(2).unwrap()),
            "Fri (closed)"
        );
        assert_eq!(
            text_of(rows[3].select(&selector("td")).nth(2).unwrap()),
            "Mon"
        );
    }

    #[test]
    fn what_if_has_a_row_per_value() {
        let (report, html) = page();
        let what_if = report.what_if.as_ref().expect("a what-if run");
        let document = Html::parse_document(html);
        let tables: Vec<_> = document.select(&selector("#what-if table")).collect();
        assert_eq!(tables.len(), 2, "the summary and the p99 of each step");
        let rows = table(&document, "#what-if div:first-of-type table tbody tr");
        let values: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
        assert_eq!(values, ["3", "30"]);
        let step_rows = table(&document, "#what-if div:last-of-type table tbody tr");
        let sign_in = step_rows
            .iter()
            .find(|row| row[0] == "sign_in.password")
            .expect("a row for sign_in.password");
        for (cell, row) in sign_in[1..].iter().zip(&what_if.rows) {
            assert_eq!(
                *cell,
                format_number(row.step_p99_ms["sign_in.password"], 2),
                "{}",
                row.value
            );
        }
        for (row, expected) in rows.iter().zip(&what_if.rows) {
            assert_eq!(
                row[1],
                count(expected.started),
                "{} started",
                expected.value
            );
            assert_eq!(
                row[8],
                count(expected.letters_expired),
                "{} expired",
                expected.value
            );
        }
        let headers: Vec<String> = document
            .select(&selector("#what-if th"))
            .map(text_of)
            .collect();
        assert_eq!(headers[0], "postal_validity_days");
        assert!(
            headers.contains(&"temp_password_postal median".to_owned()),
            "{headers:?}"
        );
    }

    #[test]
    fn page_without_what_if_skips_it() {
        let html = render(&simulated(None));
        assert!(!html.contains("What if"), "no what-if section");
        assert!(html.contains("<h2>Days</h2>"));
    }

    #[test]
    fn hours_or_days_picks_unit() {
        let cases = [
            (0.001, "4 s"),
            (0.25, "15 min"),
            (1.0, "1.0 h"),
            (47.9, "47.9 h"),
            (48.0, "2.0 d"),
            (24_000.0 * 24.0, "24,000.0 d"),
        ];
        for (hours, expected) in cases {
            assert_eq!(hours_or_days(hours), expected, "{hours} h");
        }
    }
}
