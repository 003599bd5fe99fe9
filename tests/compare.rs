//! `recoverylab compare` as a CI job runs it: real runs of the binary,
//! compared, with a delay injected into one step to prove the gate fires.
//!
//! The two runs of each test start at the same time, so that they share
//! the machine's load, and the tests take turns, so that no other test's
//! runs load the machine meanwhile. Runs made minutes apart on a busy
//! machine differ by more than the gate's limits: that is a real change in
//! the measured latencies, which no statistics on the samples can remove.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use quick_junit::TestCaseStatus;
use serde_json::{json, Value};

/// The route and the one harness step that posts to it.
const DELAYED_ROUTE: &str = "/v1/flows/{flow_id}/answers";
const DELAYED_STEP: &str = "step:forgot_password.answers";

/// Held by each test that runs scenarios, so they run one at a time.
static MACHINE: Mutex<()> = Mutex::new(());

fn take_turn() -> MutexGuard<'static, ()> {
    // A test that panicked while holding the lock leaves nothing to clean.
    MACHINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn recoverylab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recoverylab"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Starts every run at once and waits for all; each is `(scenario, out,
/// extra arguments)`.
fn run_together(runs: &[(&str, &Path, Vec<String>)]) {
    let children: Vec<_> = runs
        .iter()
        .map(|(scenario, out, extra)| {
            recoverylab()
                .args(["run", scenario, "--out"])
                .arg(out)
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the binary starts")
        })
        .collect();
    for (child, (scenario, out, _)) in children.into_iter().zip(runs) {
        let output = child.wait_with_output().expect("the run ends");
        assert!(
            output.status.success(),
            "run of {scenario} into {} failed: {}",
            out.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn compare(baseline: &Path, current: &Path, out: Option<&Path>) -> Output {
    let mut command = recoverylab();
    command.arg("compare").arg(baseline).arg(current);
    if let Some(out) = out {
        command.arg("--out").arg(out);
    }
    command.output().expect("the binary runs")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Returns the names of the checks with the given verdict in compare.json.
fn checks_with(comparison: &Value, verdict: &str) -> BTreeSet<String> {
    comparison["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["verdict"] == verdict)
        .map(|check| {
            format!(
                "{} {}",
                check["subject"].as_str().unwrap(),
                check["metric"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn smoke_runs_of_one_build_pass() {
    let _turn = take_turn();
    let folder = tempfile::tempdir().unwrap();
    let (first, second) = (folder.path().join("first"), folder.path().join("second"));
    run_together(&[
        ("scenarios/smoke.toml", &first, Vec::new()),
        ("scenarios/smoke.toml", &second, Vec::new()),
    ]);

    let output = compare(&first, &second, None);
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    assert!(stdout.contains("**No regression**"), "{stdout}");
    // Smoke runs have too few samples per step for any verdict.
    assert!(stdout.contains("**Warning:** None of the"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("warning: none of the"),
        "the warning goes to stderr too"
    );
    assert!(
        stdout.contains("| `sign_in.code` | p50 |"),
        "a row per step and metric: {stdout}"
    );
    let files: Vec<_> = std::fs::read_dir(folder.path()).unwrap().collect();
    assert_eq!(files.len(), 2, "no files without --out");
}

#[test]
fn same_build_runs_pass() {
    let _turn = take_turn();
    let folder = tempfile::tempdir().unwrap();
    let run = |name: &str| folder.path().join(name);
    run_together(&[
        ("scenarios/compare.toml", &run("first"), Vec::new()),
        ("scenarios/compare.toml", &run("second"), Vec::new()),
    ]);

    let output = compare(&run("first"), &run("second"), Some(&run("compare")));
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");

    assert_eq!(output.status.code(), Some(0), "same build passes: {stdout}");
    let comparison = read_json(&run("compare").join("compare.json"));
    assert_eq!(
        checks_with(&comparison, "regression"),
        BTreeSet::new(),
        "{stdout}"
    );
    let ok = checks_with(&comparison, "ok");
    assert!(
        ok.contains("step:forgot_password.answers p50"),
        "enough samples for a verdict: {stdout}"
    );
    let xml = std::fs::read_to_string(run("compare").join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses");
    let checks = comparison["checks"].as_array().unwrap().len();
    assert_eq!(
        (junit.tests, junit.failures),
        (checks, 0),
        "a test case per check: {xml}"
    );
}

#[test]
fn delayed_step_fails_alone() {
    let _turn = take_turn();
    let folder = tempfile::tempdir().unwrap();
    let run = |name: &str| folder.path().join(name);
    let delay = vec!["--inject-delay".to_owned(), format!("{DELAYED_ROUTE}=5ms")];
    run_together(&[
        ("scenarios/compare.toml", &run("baseline"), Vec::new()),
        ("scenarios/compare.toml", &run("delayed"), delay),
    ]);

    let delayed = compare(
        &run("baseline"),
        &run("delayed"),
        Some(&run("delayed-vs-baseline")),
    );
    let stdout = String::from_utf8_lossy(&delayed.stdout);
    println!("{stdout}");
    assert_eq!(
        delayed.status.code(),
        Some(1),
        "the delayed run fails: {stdout}"
    );
    let comparison = read_json(&run("delayed-vs-baseline").join("compare.json"));
    let regressions = checks_with(&comparison, "regression");
    assert!(
        regressions.contains(&format!("{DELAYED_STEP} p50")),
        "the delayed step's median: {stdout}"
    );
    for name in &regressions {
        assert!(
            name.starts_with(&format!("{DELAYED_STEP} ")),
            "only the delayed step regresses, not {name}: {stdout}"
        );
    }
    assert!(stdout.contains("### Regressions"), "{stdout}");
    let stderr = String::from_utf8_lossy(&delayed.stderr);
    assert!(
        stderr.contains(&format!("{DELAYED_STEP} p50")),
        "the error names the check: {stderr}"
    );

    let xml = std::fs::read_to_string(run("delayed-vs-baseline").join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses");
    assert_eq!(junit.failures, regressions.len(), "{xml}");
    let suite = &junit.test_suites[0];
    assert_eq!(suite.name.as_str(), "recoverylab.compare.compare");
    let failing: BTreeSet<String> = suite
        .test_cases
        .iter()
        .filter(|case| matches!(case.status, TestCaseStatus::NonSuccess { .. }))
        .map(|case| case.name.as_str().to_owned())
        .collect();
    assert_eq!(
        failing, regressions,
        "junit.xml fails the regressions: {xml}"
    );
    for case in &suite.test_cases {
        if let TestCaseStatus::NonSuccess { message, .. } = &case.status {
            let message = message.as_ref().expect("a failure has a message").as_str();
            assert!(message.starts_with(case.name.as_str()), "{message}");
            assert!(message.contains(" ms to "), "the values: {message}");
            assert!(
                message.contains("limits +1 ms and +10%"),
                "the limits: {message}"
            );
        }
    }
}

/// Writes a report that compare accepts, without its steps and journeys.
fn write_report(path: &Path, scenario: &str, schema_version: u32) {
    let mut report: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minimal-report.json")).unwrap();
    report["scenario"] = json!(scenario);
    report["schema_version"] = json!(schema_version);
    std::fs::write(path, report.to_string()).unwrap();
}

fn assert_invalid_input(output: &Output, case: &str, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
    for text in expected {
        assert!(
            stderr.contains(text),
            "{case}: the error names {text:?}: {stderr}"
        );
    }
}

#[test]
fn compare_rejects_bad_reports() {
    let folder = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { folder.path().join(name) };
    write_report(&path("smoke.json"), "smoke", 3);
    write_report(&path("other.json"), "throughput", 3);
    write_report(&path("old.json"), "smoke", 2);
    std::fs::write(path("broken.json"), "{\"schema_version\": 3,").unwrap();
    std::fs::write(path("other-json.json"), "{\"a\": 1}").unwrap();
    let smoke = std::fs::read_to_string(path("smoke.json")).unwrap();
    std::fs::write(
        path("stopped.json"),
        smoke.replace("\"stopped_by\":\"completed\"", "\"stopped_by\":\"sigterm\""),
    )
    .unwrap();

    let missing = compare(&path("no-such-run"), &path("smoke.json"), None);
    assert_invalid_input(
        &missing,
        "missing folder",
        &["no-such-run", "give a run's output folder"],
    );

    let broken = compare(&path("smoke.json"), &path("broken.json"), None);
    assert_invalid_input(&broken, "not JSON", &["broken.json", "is not valid JSON"]);

    let scenarios = compare(&path("smoke.json"), &path("other.json"), None);
    assert_invalid_input(
        &scenarios,
        "other scenario",
        &["\"smoke\"", "\"throughput\"", "same scenario"],
    );

    let not_report = compare(&path("smoke.json"), &path("other-json.json"), None);
    assert_invalid_input(
        &not_report,
        "JSON that is no report",
        &["other-json.json", "has no schema_version"],
    );

    let stopped = compare(&path("smoke.json"), &path("stopped.json"), None);
    assert_invalid_input(
        &stopped,
        "stopped run",
        &[
            "stopped.json",
            "stopped early (sigterm)",
            "ran to their end",
        ],
    );

    let versions = compare(&path("old.json"), &path("smoke.json"), None);
    assert_invalid_input(
        &versions,
        "old schema",
        &[
            "old.json",
            "schema_version 2",
            "has 3",
            "same recoverylab version",
        ],
    );

    let same = compare(&path("smoke.json"), &path("smoke.json"), Some(&path("out")));
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    for file in ["compare.md", "compare.json", "junit.xml"] {
        assert!(path("out").join(file).exists(), "--out writes {file}");
    }
}

#[test]
fn inject_delay_rejects_bad_values() {
    let cases = [
        ("v1/sign-in=5ms", "does not start with '/'"),
        ("/v1/sign-in=5", "has no unit"),
        ("/v1/sign-in=11s", "longer than the maximum of 10 s"),
        (
            "/v1/flows/{flowid}/answer=5ms",
            "not a route of the service",
        ),
    ];
    for (value, expected) in cases {
        let output = recoverylab()
            .args(["run", "scenarios/smoke.toml", "--inject-delay", value])
            .output()
            .unwrap();
        assert_invalid_input(&output, value, &[value, expected]);
    }
    let remote = recoverylab()
        .args([
            "run",
            "scenarios/smoke.toml",
            "--inject-delay",
            "/v1/sign-in=5ms",
        ])
        .args([
            "--target",
            "http://127.0.0.1:9",
            "--email-url",
            "http://127.0.0.1:9",
        ])
        .args([
            "--sms-url",
            "http://127.0.0.1:9",
            "--postal-url",
            "http://127.0.0.1:9",
        ])
        .args(["--admin-token", "token"])
        .output()
        .unwrap();
    assert_invalid_input(&remote, "with --target", &["--inject-delay", "--target"]);
}
