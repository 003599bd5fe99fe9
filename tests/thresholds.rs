//! Thresholds in a scenario, as a CI pipeline meets them: the exit code, the
//! report and the message of a threshold that fails.

#[path = "support/accounting.rs"]
mod accounting;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn smoke_with(extra: &str, folder: &Path) -> std::path::PathBuf {
    let smoke =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap();
    let path = folder.join("gated.toml");
    std::fs::write(&path, format!("{smoke}\n{extra}")).unwrap();
    path
}

fn run(scenario: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverylab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the binary runs")
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn unmeetable_threshold_fails_run() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = smoke_with(
        r#"[thresholds]
"step:sign_in.code" = ["p(99) < 1us", "error_rate < 1%"]
"journeys" = ["success_rate > 50%"]
"provider:sms" = ["retry_duplicates == 0"]
"#,
        folder.path(),
    );
    let out = folder.path().join("out");
    let output = run(&scenario, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed threshold exits with 1: {stderr}"
    );
    assert!(
        stderr.contains("1 of 4 threshold(s) failed"),
        "the error counts the failures: {stderr}"
    );
    assert!(
        stderr.contains("step:sign_in.code p(99) < 1us: measured "),
        "the error names the threshold and value: {stderr}"
    );
    assert!(
        stderr.contains("limit 0.001 ms"),
        "the error names the limit: {stderr}"
    );
    assert!(
        stdout.contains("threshold FAIL: step:sign_in.code p(99) < 1us"),
        "the summary lists the threshold: {stdout}"
    );

    let report = report(&out);
    assert_eq!(report["load"]["stopped_by"], "completed");
    let thresholds = report["thresholds"].as_array().unwrap();
    let verdicts: Vec<(&str, &str, bool)> = thresholds
        .iter()
        .map(|threshold| {
            (
                threshold["target"].as_str().unwrap(),
                threshold["expression"].as_str().unwrap(),
                threshold["pass"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("journeys", "success_rate > 50%", true),
            ("provider:sms", "retry_duplicates == 0", true),
            ("step:sign_in.code", "p(99) < 1us", false),
            ("step:sign_in.code", "error_rate < 1%", true),
        ]
    );
    let failed = &thresholds[2];
    assert!(failed["value"].as_f64().unwrap() > 0.001);
    assert_eq!(failed["limit"], 0.001);
    assert_eq!(failed["unit"], "ms");
    assert_eq!(failed["aborted_run"], false);
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        markdown.contains("## Thresholds: FAIL, 1 of 4"),
        "{markdown}"
    );

    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="recoverylab.run.smoke" tests="5" skipped="0" errors="0" failures="1">"#),
        "one case per threshold and the leak check, one failed: {junit}"
    );
    assert!(
        junit.contains(r#"<testcase name="step:sign_in.code p(99) &lt; 1us" classname="recoverylab.run.smoke">"#),
        "the case names the threshold: {junit}"
    );
    let failure = junit
        .lines()
        .find(|line| line.contains("<failure message="))
        .unwrap_or_else(|| panic!("a failure element: {junit}"));
    assert!(
        failure.contains("step:sign_in.code p(99) &lt; 1us: measured ")
            && failure.contains(" ms, limit 0.001 ms"),
        "the failure names the threshold, the value and the limit: {failure}"
    );
}

#[test]
fn met_thresholds_pass_run() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = smoke_with(
        r#"[thresholds]
"steps" = ["p(50) < 10s", "max < 1m"]
"journey:sign_in" = ["success_rate == 100%", "in_flight == 0"]
"provider:email" = ["failure_rate < 1%", "p(99) < 30s"]
"#,
        folder.path(),
    );
    let out = folder.path().join("out");
    let output = run(&scenario, &out);
    assert!(
        output.status.success(),
        "met thresholds pass: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report(&out);
    let thresholds = report["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 6);
    for threshold in thresholds {
        assert_eq!(threshold["pass"], true, "{threshold}");
    }
}

#[test]
fn abort_on_fail_stops_load() {
    let folder = tempfile::tempdir().unwrap();
    // Ten times the smoke scenario's journeys, which would take about a
    // minute; the threshold fails in the first interval after its delay.
    let scenario = smoke_with(
        r#"[thresholds]
"steps" = [{ threshold = "p(50) < 1us", abort_on_fail = true, delay_abort_eval = "2s" }]
"#,
        folder.path(),
    );
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace("journeys_per_user = 2", "journeys_per_user = 20");
    std::fs::write(&scenario, text).unwrap();
    let out = folder.path().join("out");
    let output = run(&scenario, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(
        output.status.code(),
        Some(1),
        "an aborting threshold is a failed gate: {stderr}"
    );
    let report = report(&out);
    assert_eq!(report["load"]["stopped_by"], "threshold");
    let duration = report["duration_s"].as_f64().unwrap();
    assert!(
        (2.0..30.0).contains(&duration),
        "the load stopped after the delay and well before its end: {duration} s"
    );
    let threshold = &report["thresholds"][0];
    assert_eq!(threshold["aborted_run"], true, "{threshold}");
    assert_eq!(threshold["pass"], false);
    accounting::assert_accounting_holds(&report);
}
