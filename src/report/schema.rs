//! The JSON Schema of report.json, generated from the report model, so
//! the file in docs/ cannot drift from what runs write.

use super::model::{Report, REPORT_SCHEMA_VERSION};

/// The schema file's path in the repository.
pub const SCHEMA_FILE: &str = "docs/report.schema.json";

/// Returns the JSON Schema of report.json as pretty-printed JSON, ending
/// with a newline.
pub fn report_schema() -> String {
    let mut schema = schemars::schema_for!(Report);
    schema.insert(
        "description".to_owned(),
        format!(
            "report.json of a recoverylab run, schema_version {REPORT_SCHEMA_VERSION}. Latencies are in microseconds unless a field's name says otherwise."
        )
        .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises to JSON");
    text.push('\n');
    text
}
