//! report.md of a simulation run.

use std::fmt::Write;

use super::report::SimulationReport;
use crate::report::html::{count, format_number};

fn hours_and_days(hours: f64) -> String {
    let (value, decimals, unit) = super::report::recovery_time_unit(hours);
    format!("{value:.decimals$} {unit}")
}

fn money(amount: f64) -> String {
    format_number(amount, 2)
}

fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1_000.0)
}

/// Writes each step's p99 latency for each what-if value, so a planner
/// can read a step's target against every value.
fn write_what_if_steps(out: &mut String, what_if: &super::report::WhatIf) {
    let steps: std::collections::BTreeSet<&String> = what_if
        .rows
        .iter()
        .flat_map(|row| row.step_p99_ms.keys())
        .collect();
    if steps.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "p99 latency per step (ms) by {}:\n\n| step |",
        what_if.setting
    );
    for row in &what_if.rows {
        let _ = write!(out, " {} |", row.value);
    }
    out.push_str("\n|---|");
    for _ in &what_if.rows {
        out.push_str("---:|");
    }
    out.push('\n');
    for step in steps {
        let _ = write!(out, "| {step} |");
        for row in &what_if.rows {
            let cell = row
                .step_p99_ms
                .get(step)
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}"));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push('\n');
}

/// Renders the report as Markdown.
pub fn render(report: &SimulationReport) -> String {
    let mut out = String::new();
    let settings = &report.settings;
    let summary = &report.summary;
    let _ = writeln!(out, "# Simulation: {}\n", report.scenario);
    let _ = writeln!(
        out,
        "{} day(s) from {} ({} arrivals{}), then {} day(s) for journeys in progress to finish. {} instance(s) x {} worker(s); service times from {}; postal temporary password valid {} days; fault profile {}; seed {}.\n",
        settings.days,
        settings.first_day,
        settings.arrivals,
        settings
            .journeys_per_day
            .map(|rate| format!(", {rate:.0} journeys per ordinary day"))
            .unwrap_or_default(),
        settings.drain_days,
        settings.instances,
        settings.workers_per_instance,
        settings.service_times_from,
        settings.postal_validity_days,
        settings.fault_profile,
        report.seed,
    );
    for surge in &settings.surges {
        let _ = writeln!(
            out,
            "- Surge \"{}\": x{} from {} to {}",
            surge.name, surge.factor, surge.first_day, surge.last_day
        );
    }
    if !settings.surges.is_empty() {
        out.push('\n');
    }

    out.push_str("## Answers\n\n");
    let _ = writeln!(
        out,
        "- Journeys: {} started, {} completed ({}), {} failed, {} abandoned, {} in flight at the end.",
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
                "- Busiest letter day: {} with {} letters mailed; {} letters in all.",
                day.date,
                count(day.count),
                count(summary.letters_mailed)
            );
        }
        None => out.push_str("- No letters were mailed.\n"),
    }
    let _ = writeln!(
        out,
        "- Letters whose temporary password had expired when read: {} of {} mailed ({} returned to sender).",
        count(summary.letters_expired), count(summary.letters_mailed), count(summary.letters_returned)
    );
    for (kind, journey) in &report.journeys {
        if let Some(recover) = &journey.time_to_recover_hours {
            let _ = writeln!(
                out,
                "- Time to recover, {kind}: median {}, p90 {}, p99 {}.",
                hours_and_days(recover.p50),
                hours_and_days(recover.p90),
                hours_and_days(recover.p99)
            );
        }
    }
    let _ = writeln!(
        out,
        "- Codes moved from SMS to email: {}; provider sends failed after every retry: {}.",
        count(summary.sms_moved_to_email),
        count(summary.sends_failed)
    );
    let _ = writeln!(
        out,
        "- Peak journeys in progress: {} at {}; peak live flows: {} at {}.",
        count(summary.peak_in_progress.count),
        summary.peak_in_progress.at,
        count(summary.peak_flows.count),
        summary.peak_flows.at
    );
    let _ = writeln!(
        out,
        "- Queue wait for a worker: p50 {} ms, p99 {} ms, max {} ms.",
        ms(summary.queue_wait_us.p50),
        ms(summary.queue_wait_us.p99),
        ms(summary.queue_wait_us.max)
    );
    let cost = &summary.cost;
    let _ = writeln!(
        out,
        "- Cost: {} {} (email {}, SMS {}, letters {}).\n",
        money(cost.total),
        cost.currency,
        money(cost.email),
        money(cost.sms),
        money(cost.letters)
    );

    if let Some(what_if) = &report.what_if {
        let _ = writeln!(out, "## What if: {}\n", what_if.setting);
        let kinds: Vec<&String> = report.journeys.keys().collect();
        let _ = write!(
            out,
            "| {} | started | completed | success | abandoned | in flight | letters | expired letters | slowest step p99 (ms) | queue wait p99 (ms) | cost |",
            what_if.setting
        );
        for kind in &kinds {
            let _ = write!(out, " {kind} median |");
        }
        out.push_str("\n|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
        for _ in &kinds {
            out.push_str("---:|");
        }
        out.push('\n');
        for row in &what_if.rows {
            let slowest = row
                .slowest_step
                .as_ref()
                .map(|(step, ms)| format!("{step} {ms:.2}"))
                .unwrap_or_default();
            let _ = write!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                row.value,
                count(row.started),
                count(row.completed),
                percent(row.success_rate),
                count(row.abandoned),
                count(row.in_flight),
                count(row.letters_mailed),
                count(row.letters_expired),
                slowest,
                row.queue_wait_p99_ms,
                money(row.cost_total)
            );
            for kind in &kinds {
                let cell = row
                    .time_to_recover_p50_hours
                    .get(*kind)
                    .map(|hours| hours_and_days(*hours))
                    .unwrap_or_else(|| "-".to_owned());
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        out.push('\n');
        write_what_if_steps(&mut out, what_if);
    }

    out.push_str("## Journeys\n\n| journey | started | completed | success | failed | abandoned | in flight | p50 to recover | p90 | p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (kind, journey) in &report.journeys {
        let recover = journey.time_to_recover_hours;
        let cell = |pick: fn(&super::report::HourPercentiles) -> f64| {
            recover
                .as_ref()
                .map(|hours| hours_and_days(pick(hours)))
                .unwrap_or_else(|| "-".to_owned())
        };
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            count(journey.started),
            count(journey.completed),
            percent(journey.success_rate),
            count(journey.failed.values().sum::<u64>()),
            count(journey.abandoned),
            count(journey.in_flight),
            cell(|hours| hours.p50),
            cell(|hours| hours.p90),
            cell(|hours| hours.p99),
        );
    }
    if report.failures().next().is_some() {
        out.push_str("\nFailures by reason:\n\n");
        for (kind, reason, number) in report.failures() {
            let _ = writeln!(out, "- {kind}: {reason}: {}", count(number));
        }
    }

    out.push_str("\n## Steps\n\nLatency is queue wait plus service time, in ms.\n\n| step | count | errors | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (name, step) in &report.steps {
        let latency = &step.latency_us;
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            count(step.count),
            count(step.errors.values().sum::<u64>()),
            ms(latency.p50),
            ms(latency.p90),
            ms(latency.p99),
            ms(latency.max)
        );
    }

    let _ = writeln!(
        out,
        "\n## Days\n\n| date | day | started | completed | failed | abandoned | emails | SMS | letters mailed | letters in transit | expired letters | SMS to email | peak in progress | queue wait p99 (ms) | cost ({}) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        cost.currency
    );
    for day in &report.days {
        let label = if day.business_day {
            day.weekday.clone()
        } else {
            format!("{} (closed)", day.weekday)
        };
        let _ = writeln!(
            out,
            "| {} | {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            day.date,
            count(day.started),
            count(day.completed),
            count(day.failed),
            count(day.abandoned),
            count(day.emails_sent),
            count(day.sms_sent),
            count(day.letters_mailed),
            count(day.letters_in_transit),
            count(day.letters_expired),
            count(day.sms_moved_to_email),
            count(day.peak_in_progress),
            ms(day.queue_wait_p99_us),
            money(day.cost)
        );
    }
    out
}
