//! `recoverylab simulate` as users run it: the binary on scenario files,
//! checked against a live run of the same scenario, for determinism, for
//! what-if runs, and for bad input.

#[path = "support/accounting.rs"]
mod accounting;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use accounting::assert_accounting_holds;
use recoverylab::report::model::decode_histogram;
use recoverylab::sim::plan::QUANTILES;
use serde_json::Value;

fn recoverylab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recoverylab"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("the binary starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("report.json is JSON")
}

const SMALL_NATIONAL: &str = "tests/fixtures/small-national.toml";

/// tests/fixtures/small-national.toml, copied into `folder` with its
/// profile path made absolute, so that tests can edit the copy.
fn small_national(folder: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mocks = root.join("mocks/national.toml");
    let text = std::fs::read_to_string(root.join(SMALL_NATIONAL))
        .unwrap()
        .replace("../../mocks/national.toml", &mocks.display().to_string());
    let path = folder.join("small-national.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn rate(journey: &Value) -> (f64, f64) {
    let started = journey["started"].as_u64().unwrap() as f64;
    (
        journey["completed"].as_u64().unwrap() as f64 / started,
        started,
    )
}

/// Returns the largest difference allowed between two binomial rates of
/// these sizes: 4 standard errors of the difference, and at least 0.05.
/// Chance alone exceeds 4 standard errors in about one comparison of 15,000.
fn tolerance(p_live: f64, n_live: f64, p_sim: f64, n_sim: f64) -> f64 {
    let pooled = (p_live * n_live + p_sim * n_sim) / (n_live + n_sim);
    let error = (pooled * (1.0 - pooled) * (1.0 / n_live + 1.0 / n_sim)).sqrt();
    (4.0 * error).max(0.05)
}

#[test]
fn simulated_run_agrees_with_live_run() {
    let folder = tempfile::tempdir().unwrap();
    let live = folder.path().join("live");
    let simulated = folder.path().join("simulated");
    run_ok(
        recoverylab()
            .args(["run", "scenarios/calibrate.toml", "--out"])
            .arg(&live),
    );
    let calibration = live.join("report.json");
    run_ok(
        recoverylab()
            .args(["simulate", "scenarios/calibrate.toml", "--calibrate"])
            .arg(&calibration)
            .arg("--out")
            .arg(&simulated),
    );
    let live = read_json(&calibration);
    let simulated = read_json(&simulated.join("report.json"));
    assert_eq!(simulated["kind"], "simulation");
    assert_eq!(
        live["load"]["stopped_by"], "completed",
        "the live run ran to its end"
    );
    assert_accounting_holds(&live);
    assert_accounting_holds(&simulated);

    let live_journeys = live["journeys"].as_object().unwrap();
    let simulated_journeys = simulated["journeys"].as_object().unwrap();
    assert_eq!(
        live_journeys.keys().collect::<Vec<_>>(),
        simulated_journeys.keys().collect::<Vec<_>>()
    );
    let (mut live_completed, mut sim_completed, mut total) = (0.0, 0.0, 0.0);
    for (kind, live_journey) in live_journeys {
        let sim_journey = &simulated_journeys[kind];
        assert_eq!(
            live_journey["started"], sim_journey["started"],
            "{kind}: both runs replay the same [load]"
        );
        assert_eq!(
            live_journey["in_flight"], 0,
            "{kind}: live journeys all ended"
        );
        assert_eq!(
            sim_journey["in_flight"], 0,
            "{kind}: simulated journeys all ended"
        );
        let (p_live, n) = rate(live_journey);
        let (p_sim, _) = rate(sim_journey);
        let limit = tolerance(p_live, n, p_sim, n);
        assert!(
            (p_live - p_sim).abs() <= limit,
            "{kind}: live success rate {p_live:.3}, simulated {p_sim:.3}, more than {limit:.3} apart"
        );
        live_completed += p_live * n;
        sim_completed += p_sim * n;
        total += n;
    }
    let (p_live, p_sim) = (live_completed / total, sim_completed / total);
    let limit = tolerance(p_live, total, p_sim, total);
    assert!(
        (p_live - p_sim).abs() <= limit,
        "overall: live success rate {p_live:.3}, simulated {p_sim:.3}, more than {limit:.3} apart"
    );

    // The calibration took the live run's step times.
    let settings = &simulated["settings"];
    assert!(settings["service_times_from"]
        .as_str()
        .unwrap()
        .ends_with("report.json"));
    // The median service time is the middle entry of the step's quantile
    // table, read from the live histogram at that entry's quantile.
    let histogram = decode_histogram(
        live["steps"]["sign_in.password"]["histogram"]
            .as_str()
            .unwrap(),
    )
    .expect("the live histogram decodes");
    let middle = QUANTILES / 2;
    let quantile = (middle as f64 + 0.5) / QUANTILES as f64;
    let live_ms = histogram.value_at_quantile(quantile) as f64 / 1_000.0;
    let service_ms = settings["service_time_median_ms"]["sign_in.password"]
        .as_f64()
        .unwrap();
    assert_eq!(
        service_ms, live_ms,
        "calibrated median against the live histogram"
    );
}

#[test]
fn same_scenario_gives_same_report_bytes() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = small_national(folder.path());
    let mut reports = Vec::new();
    for (name, threads) in [("a", "1"), ("b", "2"), ("c", "3")] {
        let out = folder.path().join(name);
        run_ok(
            recoverylab()
                .arg("simulate")
                .arg(&scenario)
                .args(["--threads", threads, "--out"])
                .arg(&out),
        );
        reports.push(std::fs::read(out.join("report.json")).unwrap());
    }
    assert_eq!(reports[0], reports[1], "1 and 2 threads");
    assert_eq!(reports[0], reports[2], "1 and 3 threads");

    let report: Value = serde_json::from_slice(&reports[0]).unwrap();
    assert_accounting_holds(&report);
    let summary = &report["summary"];
    assert_eq!(report["days"].as_array().unwrap().len(), 39);
    let started = summary["started"].as_u64().unwrap();
    // 14 days of 4,000 journeys a day, shaped by weekday weights of 1.
    assert!((50_000..62_000).contains(&started), "started {started}");
    assert_eq!(summary["in_flight"], 0, "25 days let every letter come");
    assert!(summary["letters_mailed"].as_u64().unwrap() > 0);
    let cost = &summary["cost"];
    let expected = summary["emails_sent"].as_f64().unwrap() * 0.001
        + summary["sms_sent"].as_f64().unwrap() * 0.01
        + summary["letters_mailed"].as_f64().unwrap() * 0.7;
    assert!((cost["total"].as_f64().unwrap() - expected).abs() < 0.01);
    // Closed days: 2027-01-09 is a Saturday, 2027-01-18 Martin Luther King Jr. Day.
    let days = report["days"].as_array().unwrap();
    assert_eq!(days[5]["business_day"], false);
    assert_eq!(days[14]["date"], "2027-01-18");
    assert_eq!(days[14]["business_day"], false);
    let postal = &report["journeys"]["temp_password_postal"]["time_to_recover_hours"];
    assert!(
        postal["p50"].as_f64().unwrap() > 5.0 * 24.0,
        "a letter takes at least 5 business days: {postal}"
    );
}

#[test]
fn what_if_compares_postal_validity() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = small_national(folder.path());
    let out = folder.path().join("what-if");
    run_ok(
        recoverylab()
            .arg("simulate")
            .arg(&scenario)
            .args(["--what-if", "postal_validity_days=7,30", "--out"])
            .arg(&out),
    );

    let report = read_json(&out.join("report.json"));
    let what_if = &report["what_if"];
    assert_eq!(what_if["setting"], "postal_validity_days");
    let rows = what_if["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);

    let expired = |row: &Value| row["letters_expired"].as_u64().unwrap();
    // Transit alone is 5 to 10 business days, so a 7-day password mostly
    // expires in the mail, and a 30-day one almost never does.
    assert!(
        expired(&rows[0]) > 10 * expired(&rows[1]).max(1),
        "7 days: {}, 30 days: {}",
        rows[0],
        rows[1]
    );
    assert_eq!(rows[1]["started"], report["summary"]["started"]);

    // Each journey keeps its own draws in every row, and validity cannot
    // change how many letters go out, so the counts match exactly.
    assert_eq!(rows[0]["letters_mailed"], rows[1]["letters_mailed"]);

    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("## What if: postal_validity_days"));
}

#[test]
fn bad_input_fails_before_running() {
    let folder = tempfile::tempdir().unwrap();
    let scenario = small_national(folder.path());
    let not_a_report = folder.path().join("not-a-report.json");
    std::fs::write(&not_a_report, "{\"a\": 1}").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--what-if".into(), "postal_validity=7,30".into()],
            "not a setting a what-if run can change",
        ),
        (
            vec!["--what-if".into(), "postal_validity_days=7".into()],
            "give 2 to 12 values",
        ),
        (
            vec!["--what-if".into(), "postal_validity_days=7,x".into()],
            "is not a number",
        ),
        (
            vec!["--what-if".into(), "abandon_probability=0.1,2".into()],
            "out of range",
        ),
        (
            vec!["--calibrate".into(), "no-such-report.json".into()],
            "cannot read the calibration report",
        ),
        (
            vec!["--calibrate".into(), not_a_report.display().to_string()],
            "is not a live run's report.json",
        ),
        (vec!["--days".into(), "0".into()], "--days"),
        (
            vec!["--what-if".into(), "postal_validity_days=7,7".into()],
            "gives 7 twice",
        ),
    ];
    for (arguments, expected) in cases {
        let output = recoverylab()
            .arg("simulate")
            .arg(&scenario)
            .args(&arguments)
            .arg("--out")
            .arg(folder.path().join("never"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
    }

    let broken: [(&str, &str); 6] = [
        ("start_date = \"2027-01-04\"", "start_date = \"4 Jan\""),
        (
            "[simulation.prices]",
            "[[simulation.surges]]\nfirst_day = \"2026-01-01\"\nlast_day = \"2026-01-05\"\nfactor = 2\n[simulation.prices]",
        ),
        ("journeys_per_day = 4000", "journeys_per_day = -1"),
        ("instances = 3", "instances = 0"),
        ("days = 14", "days = 14\nhour_of_day = [1.0, 2.0]"),
        ("email = 0.001", "email = -0.5"),
    ];
    for (from, to) in broken {
        let text = std::fs::read_to_string(&scenario)
            .unwrap()
            .replace(from, to);
        let path = folder.path().join("broken.toml");
        std::fs::write(&path, text).unwrap();
        let output = recoverylab().arg("simulate").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains("simulation."), "{to}: {stderr}");
    }
    let unknown_step = std::fs::read_to_string(&scenario).unwrap().replace(
        "[simulation.prices]",
        "[simulation.service_time_ms]\n\"sign_in.pasword\" = 9\n[simulation.prices]",
    );
    let path = folder.path().join("unknown-step.toml");
    std::fs::write(&path, unknown_step).unwrap();
    let output = recoverylab().arg("simulate").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("sign_in.pasword") && stderr.contains("sign_in.password"),
        "{stderr}"
    );
    assert!(!folder.path().join("never").exists(), "nothing was written");

    // A replayed [load] has no days to set, and a simulation's own report
    // cannot calibrate another.
    let simulated = folder.path().join("simulated");
    run_ok(
        recoverylab()
            .arg("simulate")
            .arg(&scenario)
            .args(["--days", "1", "--out"])
            .arg(&simulated),
    );
    for (arguments, expected) in [
        (
            vec!["scenarios/calibrate.toml", "--days", "3"],
            "--days needs a [simulation] table",
        ),
        (
            vec!["scenarios/calibrate.toml", "--calibrate", "SIMULATED"],
            "is a simulation's report",
        ),
    ] {
        let report = simulated.join("report.json");
        let output = recoverylab()
            .arg("simulate")
            .args(arguments.iter().map(|argument| {
                if *argument == "SIMULATED" {
                    report.display().to_string()
                } else {
                    (*argument).to_owned()
                }
            }))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
    }
}

#[test]
fn sms_outage_moves_codes_to_email() {
    let folder = tempfile::tempdir().unwrap();
    let profile = folder.path().join("sms-down.toml");
    std::fs::write(
        &profile,
        "[[sms.outages]]\nstart_s = 0\nend_s = 3600\nkind = \"http_503\"\n",
    )
    .unwrap();
    let scenario = folder.path().join("sms-down.toml.scenario");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "sms-down"
seed = 8
[load]
users = 6
journeys_per_user = 1
max_duration_s = 60
[mix]
forgot_password = 1
[providers]
profile = "{}"
"#,
            profile.display()
        ),
    )
    .unwrap();
    let live = folder.path().join("live");
    let simulated = folder.path().join("simulated");
    run_ok(
        recoverylab()
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(&live),
    );
    run_ok(
        recoverylab()
            .arg("simulate")
            .arg(&scenario)
            .arg("--out")
            .arg(&simulated),
    );
    let live = read_json(&live.join("report.json"));
    let simulated = read_json(&simulated.join("report.json"));
    for report in [&live, &simulated] {
        let journey = &report["journeys"]["forgot_password"];
        assert_eq!(journey["started"], 6, "{journey}");
        assert_eq!(
            journey["completed"], 6,
            "every code went by email: {journey}"
        );
    }
    let rejected = |report: &Value| {
        report["steps"]["forgot_password.channel"]["error_codes"]["provider_unavailable"]
            .as_u64()
            .unwrap_or(0)
    };
    // People are derived from the seed, so which of them have SMS as their
    // second factor is fixed: with seed 8 some of the six do.
    assert!(rejected(&live) > 0, "some people have SMS as second factor");
    assert_eq!(
        simulated["steps"]["forgot_password.channel"]["errors"]["provider_unavailable"]
            .as_u64()
            .unwrap_or(0),
        4 * simulated["summary"]["sms_moved_to_email"].as_u64().unwrap(),
        "each moved person tried SMS four times"
    );
    assert!(simulated["summary"]["sms_moved_to_email"].as_u64().unwrap() > 0);
    assert_eq!(simulated["summary"]["sms_sent"], 0);
}
