//! The `recoverylab` binary as a user runs it.

#[path = "support/accounting.rs"]
mod accounting;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn recoverylab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recoverylab"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn smoke_run_completes_every_journey_kind() {
    let out = tempfile::tempdir().unwrap();
    let output = recoverylab()
        .args(["run", "scenarios/smoke.toml", "--out"])
        .arg(out.path())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run failed: {stderr}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scenario"], "smoke");
    assert_eq!(report["hash_profile"], "fast");
    assert_eq!(report["load"]["stopped_by"], "completed");
    for kind in [
        "sign_in",
        "forgot_username",
        "forgot_password",
        "temp_password_postal",
        "temp_password_email",
    ] {
        let journey = &report["journeys"][kind];
        let count = |field: &str| {
            journey[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{kind}.{field} missing"))
        };
        let failed: u64 = journey["failed"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(
            count("completed") >= 1,
            "{kind} completed at least once: {journey}"
        );
        assert_eq!(failed, 0, "{kind} has no failed journeys: {journey}");
        assert_eq!(
            count("started"),
            count("completed") + failed + count("abandoned") + count("in_flight"),
            "{kind} accounting identity"
        );
    }
    for provider in ["email", "sms", "postal"] {
        assert!(
            report["providers"][provider]["accepted"].as_u64().unwrap() >= 1,
            "{provider} carried traffic"
        );
    }
    assert!(
        report["steps"]["sign_in.code"]["latency_us"]["p99"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(out.path().join("report.md").exists());
    assert!(out.path().join("goose.html").exists());
    assert_eq!(report["schema_version"], 3);
    assert_eq!(report["recoverylab_version"], env!("CARGO_PKG_VERSION"));

    let funnel = report["funnels"]["sign_in"].as_array().unwrap();
    let funnel_steps: Vec<&str> = funnel
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        funnel_steps,
        ["sign_in.password", "sign_in.code"],
        "in the order sent"
    );
    assert_eq!(
        funnel[0]["reached"],
        report["journeys"]["sign_in"]["started"]
    );

    let intervals = report["timeline"]["intervals"].as_array().unwrap();
    assert!(!intervals.is_empty(), "the timeline has intervals");
    let steps_in_intervals: u64 = intervals
        .iter()
        .map(|interval| interval["steps"].as_u64().unwrap())
        .sum();
    let steps_total: u64 = report["steps"]
        .as_object()
        .unwrap()
        .values()
        .map(|step| step["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        steps_in_intervals, steps_total,
        "every step falls in one interval"
    );

    let log = std::fs::read_to_string(out.path().join("latency.hlog")).unwrap();
    assert!(log.contains("Tag=step:sign_in.code,"), "tagged per step");
    assert!(
        log.contains("Tag=journey:temp_password_postal,"),
        "tagged per journey"
    );
}

#[test]
fn broken_scenario_fails_before_any_server_starts() {
    let folder = tempfile::tempdir().unwrap();
    let smoke =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap();
    let cases = [
        (
            "unknown key",
            smoke.replace("seed = 42", "seed = 42\nsede = 43"),
            "sede",
        ),
        (
            "no users",
            smoke.replace("users = 10", "users = 0"),
            "load.users",
        ),
        (
            "negative duration",
            smoke.replace("max_duration_s = 60", "max_duration_s = -5"),
            "load.max_duration_s",
        ),
        (
            "wrong type",
            smoke.replace("journeys_per_user = 2", "journeys_per_user = \"two\""),
            "journeys_per_user",
        ),
        (
            "missing fault profile",
            smoke.replace(
                "[providers]\n",
                "[providers]\nprofile = \"no-such-profile.toml\"\n",
            ),
            "providers.profile",
        ),
        (
            "threshold on an unknown step",
            format!("{smoke}\n[thresholds]\n\"step:sign_in.cod\" = [\"p(99) < 1s\"]\n"),
            "sign_in.code",
        ),
        (
            "threshold without comparison",
            format!("{smoke}\n[thresholds]\n\"steps\" = [\"p(99) 1s\"]\n"),
            "has no comparison",
        ),
        (
            "threshold metric of another target",
            format!("{smoke}\n[thresholds]\n\"steps\" = [\"success_rate > 1%\"]\n"),
            "not a metric of steps",
        ),
        (
            "threshold with a bad unit",
            format!("{smoke}\n[thresholds]\n\"journeys\" = [\"p(50) < 3 days\"]\n"),
            "use us, ms, s or m",
        ),
        (
            "threshold abort delay without abort",
            format!("{smoke}\n[thresholds]\n\"steps\" = [{{ threshold = \"p(99) < 1s\", delay_abort_eval = \"5s\" }}]\n"),
            "without abort_on_fail",
        ),
        (
            "threshold abort delay not a duration",
            format!("{smoke}\n[thresholds]\n\"steps\" = [{{ threshold = \"p(99) < 1s\", abort_on_fail = true, delay_abort_eval = 5 }}]\n"),
            "delay_abort_eval = 5",
        ),
        (
            "threshold table of wrong shape",
            format!("thresholds = 3\n{smoke}"),
            "thresholds",
        ),
        (
            "threshold on a journey kind without weight",
            format!("{smoke}\n[thresholds]\n\"step:sign_in.code\" = [\"p(99) < 1s\"]\n")
                .replace("sign_in = 3", "sign_in = 0"),
            "give mix.sign_in a positive weight",
        ),
        (
            "threshold abort on a provider",
            format!("{smoke}\n[thresholds]\n\"provider:sms\" = [{{ threshold = \"lost == 0\", abort_on_fail = true }}]\n"),
            "provider counters are read only after the load",
        ),
        (
            "threshold abort after the load",
            format!("{smoke}\n[thresholds]\n\"steps\" = [{{ threshold = \"p(99) < 1s\", abort_on_fail = true, delay_abort_eval = \"1h\" }}]\n"),
            "the abort could never start",
        ),
        (
            "threshold with a wrong operator",
            format!("{smoke}\n[thresholds]\n\"steps\" = [\"p(99) => 1s\"]\n"),
            "not one of < <= > >= == !=",
        ),
        (
            "threshold entry of wrong type",
            format!("{smoke}\n[thresholds]\n\"steps\" = [42]\n"),
            "has the entry 42",
        ),
        (
            "invalid fault profile",
            smoke.replace(
                "[providers]\n",
                "[providers]\nprofile = \"broken-profile.toml\"\n",
            ),
            "sms.faults.http_500",
        ),
    ];
    // The scenario names this profile relative to its own folder.
    std::fs::write(
        folder.path().join("broken-profile.toml"),
        "[sms.faults]\nhttp_500 = 1.5\n",
    )
    .unwrap();
    for (case, text, key) in cases {
        assert_rejected_before_start(folder.path(), case, &text, key);
    }
}

/// Runs a broken scenario `text` and checks that the run fails naming
/// `expected` and the file, before any server starts.
fn assert_rejected_before_start(folder: &Path, case: &str, text: &str, expected: &str) {
    let path = folder.join("broken.toml");
    std::fs::write(&path, text).unwrap();
    let output = recoverylab()
        .arg("run")
        .arg(&path)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "case {case} exits with 2, invalid input: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "case {case} names {expected}: {stderr}"
    );
    assert!(
        stderr.contains("broken.toml"),
        "case {case} names the file: {stderr}"
    );
    assert!(
        !stderr.contains("started"),
        "case {case} starts no server: {stderr}"
    );
}

#[test]
fn broken_abuse_table_fails_before_any_server_starts() {
    let folder = tempfile::tempdir().unwrap();
    let scenario =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/abuse.toml"))
            .unwrap();
    let attacks =
        "attacks = [\"code_brute_force\", \"enumeration_probe\", \"identifier_variants\"]";
    assert!(scenario.contains(attacks));
    let cases = [
        (
            "unknown attack",
            scenario.replace("\"code_brute_force\",", "\"code_brute_forse\","),
            "code_brute_forse",
        ),
        (
            "no attack",
            scenario.replace(attacks, "attacks = []"),
            "abuse.attacks",
        ),
        (
            "attack twice",
            scenario.replace(
                "\"identifier_variants\"]",
                "\"identifier_variants\", \"enumeration_probe\"]",
            ),
            "twice",
        ),
        (
            "too few samples",
            scenario.replace("timing_samples = 100", "timing_samples = 3"),
            "abuse.timing_samples",
        ),
        (
            "zero tolerance",
            scenario.replace("timing_tolerance_ms = 2.0", "timing_tolerance_ms = 0"),
            "abuse.timing_tolerance_ms",
        ),
        (
            "no victims",
            scenario.replace("brute_force_victims = 4", "brute_force_victims = 0"),
            "abuse.brute_force_victims",
        ),
        (
            "unknown key",
            scenario.replace("brute_force_victims = 4", "victims = 4"),
            "victims",
        ),
        (
            "attacks as a string",
            scenario.replace(attacks, "attacks = \"code_brute_force\""),
            "not a list",
        ),
        (
            "attacks as numbers",
            scenario.replace(attacks, "attacks = [1, 2]"),
            "not an attack name",
        ),
        (
            "attacks missing",
            scenario.replace(attacks, ""),
            "abuse.attacks` is missing",
        ),
        (
            "abuse as a list",
            scenario
                .lines()
                .take_while(|line| !line.starts_with("[abuse]"))
                .chain(["abuse = [\"code_brute_force\"]"])
                .collect::<Vec<_>>()
                .join("\n"),
            "not a table",
        ),
        (
            "no load and no abuse",
            scenario
                .lines()
                .take_while(|line| !line.starts_with("[abuse]"))
                .collect::<Vec<_>>()
                .join("\n"),
            "[load]",
        ),
    ];
    for (case, text, expected) in cases {
        assert_rejected_before_start(folder.path(), case, &text, expected);
    }
}

#[test]
fn missing_scenario_file_names_the_path() {
    let output = recoverylab()
        .args(["run", "scenarios/no-such-file.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no-such-file.toml"), "{stderr}");
}

#[test]
fn people_prints_deterministic_json_lines() {
    let run = || {
        let output = recoverylab()
            .args(["people", "--seed", "7", "--count", "5"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    assert_eq!(first, run(), "same seed, same people");
    let lines: Vec<Value> = first
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for person in &lines {
        assert!(
            person["ssn"].as_str().unwrap().starts_with('9'),
            "never-issued SSN area"
        );
        assert!(
            person["email"].as_str().unwrap().contains("@example."),
            "reserved email domain"
        );
    }
}

/// Runs a scenario written from `text` and returns its report.
fn run_scenario(text: &str) -> Value {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    let out = folder.path().join("out");
    let output = recoverylab()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn total(report: &Value, field: &str) -> u64 {
    report["journeys"]
        .as_object()
        .unwrap()
        .values()
        .map(|journey| journey[field].as_u64().unwrap())
        .sum()
}

#[test]
fn deadline_leaves_journeys_in_flight() {
    let report = run_scenario(
        r#"
name = "deadline"
seed = 3
[load]
users = 4
journeys_per_user = 5
max_duration_s = 1.5
[mix]
sign_in = 1
forgot_password = 1
[behaviour]
think_time_ms = [600, 600]
"#,
    );
    accounting::assert_accounting_holds(&report);
    assert!(
        total(&report, "in_flight") >= 1,
        "journeys cut by the deadline stay in flight: {}",
        report["journeys"]
    );
    assert!(
        report["duration_s"].as_f64().unwrap() < 10.0,
        "the run stops soon after its deadline"
    );
}

#[test]
fn abandonment_and_typos_are_counted() {
    let report = run_scenario(
        r#"
name = "behaviour"
seed = 5
[load]
users = 4
journeys_per_user = 10
max_duration_s = 30
[mix]
sign_in = 1
forgot_password = 1
[behaviour]
abandon_probability = 0.2
typo_probability = 0.5
"#,
    );
    accounting::assert_accounting_holds(&report);
    assert!(
        total(&report, "abandoned") >= 1,
        "some people abandon: {}",
        report["journeys"]
    );
    assert!(
        total(&report, "completed") >= 1,
        "some people complete: {}",
        report["journeys"]
    );
    assert_eq!(total(&report, "in_flight"), 0, "nothing is cut short");
    let code_errors = report["steps"]["sign_in.code"]["errors"]
        .as_u64()
        .unwrap_or(0)
        + report["steps"]["forgot_password.code"]["errors"]
            .as_u64()
            .unwrap_or(0);
    assert!(
        code_errors >= 1,
        "mistyped codes are rejected and counted: {}",
        report["steps"]
    );
}

#[test]
fn serve_rejects_bad_flags_before_listening() {
    let loopback = [
        "--listen",
        "127.0.0.1:0",
        "--email-listen",
        "127.0.0.1:0",
        "--sms-listen",
        "127.0.0.1:0",
        "--postal-listen",
        "127.0.0.1:0",
    ];
    let cases: [(&str, &[&str], &str); 8] = [
        (
            "negative postal day",
            &["--seconds-per-business-day", "-1"],
            "seconds_per_business_day",
        ),
        (
            "unknown hash profile",
            &["--hash-profile", "slow"],
            "hash profile",
        ),
        ("empty admin token", &["--admin-token", ""], "--admin-token"),
        ("short server key", &["--server-key", "abc"], "--server-key"),
        (
            "provider URL scheme",
            &["--email-provider-url", "ftp://127.0.0.1"],
            "--email-provider-url",
        ),
        (
            "public URL scheme",
            &["--public-url", "mailto:service@example.org"],
            "--public-url",
        ),
        (
            "fault profile missing",
            &["--fault-profile", "/nonexistent/profile.toml"],
            "--fault-profile",
        ),
        (
            "database folder missing",
            &["--database", "/nonexistent/folder/db.sqlite"],
            "/nonexistent/folder/db.sqlite",
        ),
    ];
    for (case, flags, named) in cases {
        let mut child = recoverylab()
            .arg("serve")
            .args(loopback)
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        // A serve that accepted the flags would run until stopped: bound the wait.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("case {case}: serve accepted the flags and kept running");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!status.success(), "case {case} exits non-zero");
        assert!(
            stderr.contains(named),
            "case {case} names {named}: {stderr}"
        );
        assert!(
            !stdout.contains("service:"),
            "case {case} starts no server: {stdout}"
        );
    }
}

#[test]
fn sigterm_stops_run_with_report() {
    use std::io::{BufRead, BufReader};

    let out = tempfile::tempdir().unwrap();
    let mut child = recoverylab()
        .args(["run", "scenarios/flaky.toml", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");

    // SIGTERM is handled from the start of the load, after enrollment.
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let enrolled = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("population enrolled"));
    assert!(enrolled, "the run logs the end of enrollment");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("the run ends");

    assert_eq!(
        status.code(),
        Some(3),
        "a stopped run exits with 3, a run error: {rest:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the load stops at once, not after the scenario's 35 s"
    );
    assert!(
        rest.iter()
            .any(|line| line.contains("stopped early (sigterm)")),
        "the error names the signal: {rest:?}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["load"]["stopped_by"], "sigterm");
    accounting::assert_accounting_holds(&report);
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(markdown.contains("stopped early by SIGTERM"));
}
