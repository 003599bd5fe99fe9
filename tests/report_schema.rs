//! docs/report.schema.json: current with the report model, and matched by
//! the reports that runs write.

#[path = "support/report_schema.rs"]
mod report_schema;

use std::path::Path;

use recoverylab::report::schema::{
    report_schema, simulation_schema, SCHEMA_FILE, SIMULATION_SCHEMA_FILE,
};

/// Fails when the file in docs/ differs from the schema the model gives,
/// and rewrites the file when `UPDATE_REPORT_SCHEMA` is set.
fn assert_current(file: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    if std::env::var_os("UPDATE_REPORT_SCHEMA").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{file} differs from the report model; run `UPDATE_REPORT_SCHEMA=1 cargo test --test report_schema` and commit the file"
    );
}

#[test]
fn schema_file_is_current() {
    assert_current(SCHEMA_FILE, &report_schema());
}

#[test]
fn simulation_schema_file_is_current() {
    assert_current(SIMULATION_SCHEMA_FILE, &simulation_schema());
}

#[test]
fn simulation_reports_match_schema() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_recoverylab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "simulate",
            "tests/fixtures/small-national.toml",
            "--days",
            "3",
        ])
        .args(["--what-if", "workers_per_instance=1,2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["what_if"]["rows"].as_array().unwrap().len(), 2);
    report_schema::assert_matches(&report, SIMULATION_SCHEMA_FILE);
    let mut broken = report.clone();
    broken["summary"]["started"] = serde_json::json!(-1);
    let caught =
        std::panic::catch_unwind(|| report_schema::assert_matches(&broken, SIMULATION_SCHEMA_FILE));
    assert!(caught.is_err(), "the schema rejects a negative count");
}

#[test]
fn schema_requires_the_version_fields() {
    let schema: serde_json::Value = serde_json::from_str(&report_schema()).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    for field in [
        "schema_version",
        "recoverylab_version",
        "steps",
        "journeys",
        "thresholds",
    ] {
        assert!(
            required.contains(&field),
            "{field} is required: {required:?}"
        );
    }
}

#[test]
fn run_reports_match_schema() {
    let folder = tempfile::tempdir().unwrap();
    let smoke =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
            .unwrap();
    // A failing threshold and abandoned journeys fill the optional parts.
    let scenario = folder.path().join("schema.toml");
    let text = smoke.replace("abandon_probability = 0.0", "abandon_probability = 0.2")
        + "\n[thresholds]\n\"steps\" = [\"p(99) < 1us\"]\n\"provider:postal\" = [\"lost == 0\"]\n";
    std::fs::write(&scenario, text).unwrap();
    let out = folder.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_recoverylab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["thresholds"].as_array().unwrap().len(), 2);
    report_schema::assert_matches_schema(&report);

    let mut broken = report.clone();
    broken["steps"]["sign_in.code"]["count"] = serde_json::json!("many");
    let caught = std::panic::catch_unwind(|| report_schema::assert_matches_schema(&broken));
    assert!(
        caught.is_err(),
        "the schema rejects a count that is not a number"
    );
    let mut unknown_stop = report.clone();
    unknown_stop["load"]["stopped_by"] = serde_json::json!("banana");
    let caught = std::panic::catch_unwind(|| report_schema::assert_matches_schema(&unknown_stop));
    assert!(caught.is_err(), "the schema rejects an unknown stopped_by");
}
