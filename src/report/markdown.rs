//! report.md: the report as tables a person reads in a terminal or a pull request.

use std::fmt::Write;

use super::model::{Percentiles, Report};

/// Renders the report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# recoverylab run: {}\n", report.scenario);
    let _ = writeln!(
        out,
        "Scenario file `{}`, seed {}, hash profile `{}`, started {} UTC, {} against {}{}.\n",
        report.scenario_file,
        report.seed,
        report.hash_profile,
        report.started_at.get(..19).unwrap_or(&report.started_at),
        if report.load.users == 0 {
            "ran".to_owned()
        } else {
            format!("load ran {:.1} s", report.duration_s)
        },
        report.target.service_url,
        if report.target.in_process {
            " (started in process)"
        } else {
            ""
        }
    );
    if report.load.users == 0 {
        let _ = writeln!(
            out,
            "No load: the scenario runs attacks only, and each attack enrolls its own victims.\n"
        );
        write_abuse(&mut out, report);
        write_secret_leaks(&mut out, report);
        return out;
    }
    let _ = writeln!(
        out,
        "{} users x {} journeys each; {} people enrolled in {:.2} s ({:.0} people/s); {:.1} journeys completed/s; {:.1} steps/s.\n",
        report.load.users,
        report.load.journeys_per_user,
        report.enrollment.people,
        report.enrollment.duration_s,
        report.enrollment.people_per_s,
        report.throughput.journeys_completed_per_s,
        report.throughput.steps_per_s
    );
    let ending = match report.load.stopped_by.as_str() {
        "completed" => None,
        "max_duration" => Some(format!(
            "The load stopped at load.max_duration_s ({:.0} s); journeys cut short count as in flight.\n",
            report.load.max_duration_s
        )),
        "sigterm" => Some("**The run was stopped early by SIGTERM**; journeys cut short count as in flight.\n".to_owned()),
        "threshold" => Some("**A threshold with abort_on_fail failed and stopped the load**; journeys cut short count as in flight.\n".to_owned()),
        _ => Some("**The run was interrupted** before every user ran its journeys; journeys cut short count as in flight.\n".to_owned()),
    };
    if let Some(ending) = ending {
        let _ = writeln!(out, "{ending}");
    }

    if report.load.journeys_skipped > 0 {
        let _ = writeln!(
            out,
            "{} journeys were not started because every enrolled person of their kind was used; raise population.people.\n",
            report.load.journeys_skipped
        );
    }
    write_thresholds(&mut out, report);
    let _ = writeln!(
        out,
        "## Journeys\n\nTimes in milliseconds, from the first step to the last, think time and waits for codes and letters included.\n"
    );
    let _ = writeln!(
        out,
        "| journey | started | completed | failed | abandoned | in flight | p50 | p99 |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (kind, journey) in &report.journeys {
        let (p50, p99) = journey
            .duration_us
            .map(|p| (milliseconds(p.p50), milliseconds(p.p99)))
            .unwrap_or(("-".into(), "-".into()));
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} | {p50} | {p99} |",
            journey.started,
            journey.completed,
            journey.failed_total(),
            journey.abandoned,
            journey.in_flight
        );
    }
    let failures: Vec<String> = report
        .journeys
        .iter()
        .flat_map(|(kind, journey)| {
            journey
                .failed
                .iter()
                .map(move |(reason, count)| format!("{kind}: {reason} x {count}"))
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailure reasons: {}.", failures.join("; "));
    }

    let _ = writeln!(
        out,
        "\n## Steps\n\nLatency in milliseconds as the client saw it; report.json has microseconds and the whole histograms.\n"
    );
    let _ = writeln!(
        out,
        "| step | count | errors | p50 | p90 | p99 | p99.9 | max |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (step, stats) in &report.steps {
        let Percentiles {
            p50,
            p90,
            p99,
            p999,
            max,
        } = stats.latency_us;
        let _ = writeln!(
            out,
            "| {step} | {} | {} | {} | {} | {} | {} | {} |",
            stats.count,
            stats.errors,
            milliseconds(p50),
            milliseconds(p90),
            milliseconds(p99),
            milliseconds(p999),
            milliseconds(max)
        );
    }
    let step_errors: Vec<String> = report
        .steps
        .iter()
        .flat_map(|(step, stats)| {
            stats
                .error_codes
                .iter()
                .map(move |(code, count)| format!("{step}: {code} x {count}"))
        })
        .collect();
    if !step_errors.is_empty() {
        let _ = writeln!(
            out,
            "\nStep errors, including those people got past by trying again: {}.",
            step_errors.join("; ")
        );
    }

    write_funnels(&mut out, report);
    write_providers(&mut out, report);
    write_service_outages(&mut out, report);
    write_abuse(&mut out, report);
    write_secret_leaks(&mut out, report);
    out
}

fn write_thresholds(out: &mut String, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    let failed = report
        .thresholds
        .iter()
        .filter(|threshold| !threshold.pass)
        .count();
    let verdict = match failed {
        0 => "pass".to_owned(),
        failed => format!("FAIL, {failed} of {}", report.thresholds.len()),
    };
    let _ = writeln!(out, "## Thresholds: {verdict}\n");
    let _ = writeln!(out, "| target | threshold | measured | verdict |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for threshold in &report.thresholds {
        let unit = super::thresholds::Unit::from_name(&threshold.unit);
        let measured = threshold.value.map_or_else(
            || "nothing measured".to_owned(),
            |value| super::thresholds::show(value, unit),
        );
        let verdict = match (threshold.pass, threshold.aborted_run) {
            (true, _) => "pass",
            (false, true) => "**FAIL**, stopped the load",
            (false, false) => "**FAIL**",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {measured} | {verdict} |",
            threshold.target, threshold.expression
        );
    }
    let _ = writeln!(out);
}

fn write_funnels(out: &mut String, report: &Report) {
    if report.funnels.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Funnels\n\nJourneys that sent each step, and those that ended there without completing, by reason.\n"
    );
    let _ = writeln!(out, "| journey | step | reached | lost |");
    let _ = writeln!(out, "| --- | --- | ---: | --- |");
    for (kind, steps) in &report.funnels {
        for step in steps {
            let lost: Vec<String> = step
                .lost
                .iter()
                .map(|(reason, count)| format!("{reason} x {count}"))
                .collect();
            let _ = writeln!(
                out,
                "| {kind} | {} | {} | {} |",
                step.step,
                step.reached,
                if lost.is_empty() {
                    "-".to_owned()
                } else {
                    lost.join(", ")
                }
            );
        }
    }
}

fn write_abuse(out: &mut String, report: &Report) {
    let Some(abuse) = &report.abuse else {
        return;
    };
    let _ = writeln!(
        out,
        "\n## Abuse attacks: {}\n",
        if abuse.pass { "pass" } else { "**FAIL**" }
    );
    for (attack, result) in &abuse.attacks {
        let _ = writeln!(
            out,
            "### {attack}: {}\n\n{} requests in {:.1} s.\n",
            if result.pass { "pass" } else { "**FAIL**" },
            result.requests,
            result.duration_s
        );
        let _ = writeln!(out, "| check | verdict | expected | observed |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        for check in &result.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                check.name,
                if check.pass { "pass" } else { "**fail**" },
                check.expected.replace('|', "/"),
                check.observed.replace('|', "/")
            );
        }
        let _ = writeln!(out);
    }
}

fn write_providers(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\n## Providers\n");
    if let Some(profile) = &report.fault_profile {
        let _ = writeln!(
            out,
            "Fault profile: {} (seed {}).\n",
            profile.file, profile.seed
        );
    }
    let _ = writeln!(
        out,
        "| provider | requests | accepted | retries | faults | outage rejections | delivered | lost | failed deliveries | injected duplicates | retry duplicates | in transit | delivery p50 ms | delivery p99 ms |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (provider, traffic) in &report.providers {
        let (p50, p99) = traffic
            .delivery_latency_us
            .map(|p| (milliseconds(p.p50), milliseconds(p.p99)))
            .unwrap_or(("-".into(), "-".into()));
        let stats = &traffic.stats;
        let faults = stats.faults_total();
        let failed_deliveries = stats.failed_deliveries();
        let _ = writeln!(
            out,
            "| {provider} | {} | {} | {} | {faults} | {} | {} | {} | {failed_deliveries} | {} | {} | {} | {p50} | {p99} |",
            stats.requests,
            stats.accepted,
            stats.retries,
            stats.outage_rejections,
            stats.delivered,
            stats.lost,
            stats.duplicates_injected,
            stats.retry_duplicates,
            stats.in_transit,
        );
    }
    let _ = writeln!(
        out,
        "\nRequests are calls to the send API; accepted counts distinct messages; \
         retries are attempts that repeat an idempotency key the provider had seen; \
         faults are those the fault profile injected, refused ones (5xx, 429, resets, hangs) \
         and accepted ones (hangs after acceptance, losses, bounces, returns) alike; \
         outage rejections are requests rejected in an outage window, never counted as retries; \
         retry duplicates are repeated deliveries that no injected fault caused. \
         Delivery times are from the step that caused the send to the message in the inbox, \
         as people saw them. docs/providers.md describes each counter."
    );
    let injected: Vec<String> = report
        .injected_faults()
        .map(|(provider, kind, count)| format!("{provider} {kind}: {count}"))
        .collect();
    if !injected.is_empty() {
        let _ = writeln!(out, "\nInjected faults: {}.", injected.join(", "));
    }
}

fn write_service_outages(out: &mut String, report: &Report) {
    if report.service_outages.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Service outages\n");
    let _ = writeln!(
        out,
        "Periods when load users found the service refusing connections, in seconds from the start of load.\n"
    );
    let _ = writeln!(out, "| from s | to s |");
    let _ = writeln!(out, "| ---: | ---: |");
    for window in &report.service_outages {
        let end = window
            .end_s
            .map_or_else(|| "not back".to_owned(), |end| format!("{end:.1}"));
        let _ = writeln!(out, "| {:.1} | {end} |", window.start_s);
    }
}

/// Writes the leak check's result. It is the last section, so that line
/// numbers of findings in report.md hold for the file as written.
fn write_secret_leaks(out: &mut String, report: &Report) {
    let Some(leaks) = &report.secret_leaks else {
        return;
    };
    let _ = writeln!(out, "\n## Secret-leak check\n");
    let known: Vec<String> = leaks
        .secrets_known
        .iter()
        .map(|(kind, count)| format!("{} {count}", kind.name()))
        .collect();
    let _ = writeln!(
        out,
        "Searched {} for the secrets the run knew ({}); docs/secrets.md describes the rules.\n",
        leaks.files_scanned.join(", "),
        known.join(", ")
    );
    if leaks.findings_total == 0 {
        let _ = writeln!(out, "No secret found.");
        return;
    }
    let _ = writeln!(
        out,
        "**{} line(s) hold a secret**; each row names the file, line and kind, never the secret.\n",
        leaks.findings_total
    );
    let _ = writeln!(out, "| file | line | kind |");
    let _ = writeln!(out, "| --- | ---: | --- |");
    for finding in &leaks.findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            finding.file,
            finding.line,
            finding.kind.name()
        );
    }
    let unlisted = leaks
        .findings_total
        .saturating_sub(leaks.findings.len() as u64);
    if unlisted > 0 {
        let _ = writeln!(out, "\n{unlisted} more are counted but not listed.");
    }
}

/// Formats microseconds as milliseconds with one decimal.
fn milliseconds(micros: u64) -> String {
    format!("{:.1}", micros as f64 / 1000.0)
}
