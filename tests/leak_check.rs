//! The secret-leak check as a user meets it: `recoverylab run` on loopback
//! servers it starts itself, with its report and exit status.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn recoverylab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recoverylab"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// A short run: two sign-ins among five people.
const SMALL_SCENARIO: &str = r#"
name = "leak-check"
seed = 7
hash_profile = "fast"
[population]
people = 5
[load]
users = 2
journeys_per_user = 1
max_duration_s = 30
[mix]
sign_in = 1
[behaviour]
think_time_ms = [0, 10]
"#;

fn read_report(out: &Path) -> Value {
    let text = std::fs::read(out.join("report.json")).expect("report.json is written");
    serde_json::from_slice(&text).expect("report.json is JSON")
}

fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn smoke_run_finds_no_leaks() {
    let out = tempfile::tempdir().unwrap();
    let output = recoverylab()
        .args(["run", "scenarios/smoke.toml", "--out"])
        .arg(out.path())
        .env("RECOVERYLAB_LOG", "debug")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // stderr carries the whole debug log, so a failure shows only the
    // error line, which names findings but never a secret.
    let error: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert!(output.status.success(), "run failed: {error:?}");

    let leaks = &read_report(out.path())["secret_leaks"];
    let scanned: Vec<&str> = leaks["files_scanned"]
        .as_array()
        .expect("files_scanned is a list")
        .iter()
        .map(|file| file.as_str().unwrap())
        .collect();
    assert_eq!(
        scanned,
        ["run.log", "report.json", "report.md", "goose.html"],
        "files scanned"
    );
    for kind in [
        "ssn",
        "date_of_birth",
        "password",
        "answer",
        "code",
        "temporary_password",
    ] {
        let known = leaks["secrets_known"][kind].as_u64().unwrap_or(0);
        assert!(
            known > 0,
            "the smoke run knows some secret of kind {kind}: {leaks}"
        );
    }
    assert_eq!(leaks["findings_total"], 0, "no findings: {leaks}");
    assert_eq!(
        leaks["findings"],
        Value::Array(Vec::new()),
        "no findings listed"
    );

    let run_log = std::fs::read_to_string(out.path().join("run.log")).expect("run.log is written");
    let debug_lines = run_log
        .lines()
        .filter(|line| line.contains(r#""level":"DEBUG""#))
        .count();
    assert!(
        debug_lines > 100,
        "run.log carries the debug log: {debug_lines} lines"
    );
    assert!(
        run_log
            .lines()
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "every run.log line is JSON"
    );
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        markdown.contains("## Secret-leak check"),
        "report.md has the section"
    );
    assert!(
        markdown.contains("No secret found."),
        "report.md states the result"
    );
    assert!(
        stdout.contains("secret-leak check: no secret found in 4 files"),
        "summary line: {stdout}"
    );
}

#[test]
fn planted_secret_fails_the_run() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = folder.path().join("scenario.toml");
    std::fs::write(&scenario, SMALL_SCENARIO).unwrap();
    let people = recoverylab()
        .args(["people", "--seed", "7", "--count", "1", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(people.status.success(), "people runs");
    let person: Value = serde_json::from_slice(&people.stdout).unwrap();
    let ssn = person["ssn"].as_str().unwrap().to_owned();
    let password = person["password"].as_str().unwrap().to_owned();

    // A deployment's log: plain text around one JSON line.
    let service_log = folder.path().join("service.log");
    std::fs::write(
        &service_log,
        format!(
            "2026-05-01T10:00:00Z INFO service started\n\
             {{\"level\":\"INFO\",\"fields\":{{\"message\":\"identity checked\",\"ssn\":\"{ssn}\"}}}}\n\
             2026-05-01T10:00:01Z DEBUG sign-in body password={password}\n"
        ),
    )
    .unwrap();
    let out = folder.path().join("out");
    let output = recoverylab()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--scan-log")
        .arg(&service_log)
        .output()
        .unwrap();
    let printed = text_of(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a leak fails the run: {printed}"
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("secret-leak check: FAIL, 2 line(s)"),
        "the summary is printed before the error: {stdout}"
    );

    let log_name = service_log.display().to_string();
    assert!(
        printed.contains(&format!("{log_name}:2 (ssn)")),
        "the error names the SSN's file and line: {printed}"
    );
    assert!(
        printed.contains(&format!("{log_name}:3 (password)")),
        "the error names the password's file and line: {printed}"
    );

    let report = read_report(&out);
    let leaks = &report["secret_leaks"];
    assert_eq!(leaks["findings_total"], 2, "{leaks}");
    let findings = leaks["findings"].as_array().unwrap();
    assert_eq!(findings[0]["file"], log_name.as_str());
    assert_eq!(findings[0]["line"], 2);
    assert_eq!(findings[0]["kind"], "ssn");
    assert_eq!(findings[1]["line"], 3);
    assert_eq!(findings[1]["kind"], "password");
    assert!(
        leaks["files_scanned"]
            .as_array()
            .unwrap()
            .contains(&Value::from(log_name.as_str())),
        "the log is listed as scanned: {leaks}"
    );

    let report_json = std::fs::read_to_string(out.join("report.json")).unwrap();
    let report_md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report_md.contains("**2 line(s) hold a secret**"),
        "report.md shows the findings"
    );
    for (what, text) in [
        ("the output", &printed),
        ("report.json", &report_json),
        ("report.md", &report_md),
    ] {
        for secret in [&ssn, &ssn.replace('-', ""), &password] {
            assert!(!text.contains(secret.as_str()), "{what} carries no secret");
        }
    }
}

#[test]
fn missing_scan_log_fails_before_any_server_starts() {
    let output = recoverylab()
        .args([
            "run",
            "scenarios/smoke.toml",
            "--scan-log",
            "/nonexistent/service.log",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the run is rejected");
    assert!(
        stderr.contains("/nonexistent/service.log"),
        "names the path: {stderr}"
    );
    assert!(stderr.contains("--scan-log"), "names the option: {stderr}");
    assert!(!stderr.contains("started"), "starts no server: {stderr}");
}
