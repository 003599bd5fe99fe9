//! Checks a report.json against the JSON Schema in docs/.

use serde_json::Value;

/// Panics with every error when `report` does not match docs/report.schema.json.
pub fn assert_matches_schema(report: &Value) {
    assert_matches(report, "docs/report.schema.json");
}

/// Panics with every error when `report` does not match the schema file
/// at `schema_file`, relative to the repository.
#[allow(dead_code, reason = "not every test file checks simulation reports")]
pub fn assert_matches(report: &Value, schema_file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(schema_file);
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json does not match the schema:\n{}",
        errors.join("\n")
    );
}
