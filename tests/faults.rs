//! `recoverylab run scenarios/flaky.toml`, twice at once: faulty providers,
//! people who resend and wait, and reports that count it all the same way.

use std::path::Path;
use std::process::{Command, Output};

use recoverylab::load::journeys::HARNESS_FAILURE_REASONS;
use serde_json::Value;

/// Service problem codes a journey may end on when its providers fail.
const SERVICE_FAILURE_CODES: [&str; 3] = ["provider_unavailable", "resend_limit", "try_later"];

/// Counters that the fault profile draws; outage refusals and retries are
/// left out, since they depend on when requests reach the outage window.
const DRAWN_COUNTERS: [&str; 6] = [
    "faults",
    "lost",
    "undeliverable",
    "bounced",
    "returned",
    "duplicates_injected",
];

fn start_flaky_run(out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_recoverylab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "scenarios/flaky.toml", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

fn read_report(out: &Path, output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the flaky run failed: {stderr}");
    let text = std::fs::read(out.join("report.json")).expect("report.json is written");
    serde_json::from_slice(&text).expect("report.json is JSON")
}

fn check_journeys(report: &Value) {
    let journeys = report["journeys"].as_object().expect("journeys");
    assert_eq!(journeys.len(), 5, "every kind ran: {journeys:?}");
    for (kind, journey) in journeys {
        let count = |field: &str| journey[field].as_u64().expect(field);
        let failed = journey["failed"].as_object().expect("failed reasons");
        let failed_total: u64 = failed.values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(
            count("started"),
            count("completed") + failed_total + count("abandoned") + count("in_flight"),
            "{kind}: accounting identity in {journey}"
        );
        assert!(count("completed") > 0, "{kind} completed some: {journey}");
        for reason in failed.keys() {
            let classified = HARNESS_FAILURE_REASONS
                .iter()
                .any(|(known, _)| known == reason)
                || SERVICE_FAILURE_CODES.contains(&reason.as_str());
            assert!(classified, "{kind}: unclassified failure {reason:?}");
        }
    }
}

fn check_providers(report: &Value) {
    let providers = &report["providers"];
    for name in ["email", "sms", "postal"] {
        assert_eq!(
            providers[name]["retry_duplicates"], 0,
            "{name}: no retry delivered a message twice: {}",
            providers[name]
        );
    }
    let sms = &providers["sms"];
    let sms_5xx = sms["faults"]["http_500"].as_u64().unwrap_or(0)
        + sms["faults"]["http_503"].as_u64().unwrap_or(0);
    assert!(sms_5xx > 0, "the SMS provider answered 5xx: {sms}");
    assert!(
        sms["faults"]["hang_after_accept"].as_u64().unwrap_or(0) > 0,
        "some texts hung after acceptance: {sms}"
    );
    assert!(
        sms["retries"].as_u64().unwrap_or(0) > 0,
        "the service retried: {sms}"
    );
    assert!(
        providers["email"]["outage_rejections"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the email outage refused sends: {}",
        providers["email"]
    );
}

#[test]
fn flaky_runs_classify_failures_and_repeat_faults() {
    let first_out = tempfile::tempdir().unwrap();
    let second_out = tempfile::tempdir().unwrap();
    let first = start_flaky_run(first_out.path());
    let second = start_flaky_run(second_out.path());
    let first = read_report(first_out.path(), &first.wait_with_output().unwrap());
    let second = read_report(second_out.path(), &second.wait_with_output().unwrap());

    for report in [&first, &second] {
        check_journeys(report);
        check_providers(report);
    }
    for name in ["email", "sms", "postal"] {
        for counter in DRAWN_COUNTERS {
            assert_eq!(
                first["providers"][name][counter], second["providers"][name][counter],
                "{name}.{counter} is the same in both runs"
            );
        }
    }
}
