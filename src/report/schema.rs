//! The JSON Schema of report.json, generated from the report model, so
//! the file in docs/ cannot drift from what runs write.

use super::model::{Report, REPORT_SCHEMA_VERSION};
use crate::sim::report::{SimulationReport, SIMULATION_SCHEMA_VERSION};

/// The schema file's path in the repository.
pub const SCHEMA_FILE: &str = "docs/report.schema.json";

/// The path of the schema of a simulation's report.json.
pub const SIMULATION_SCHEMA_FILE: &str = "docs/simulation.schema.json";

/// Returns the JSON Schema of report.json as pretty-printed JSON, ending
/// with a newline.
pub fn report_schema() -> String {
    described(
        schemars::schema_for!(Report),
        format!(
            "report.json of a recoverylab run, schema_version {REPORT_SCHEMA_VERSION}. Latencies are in microseconds unless a field's name says otherwise."
        ),
    )
}

/// Returns the JSON Schema of a simulation's report.json, like [`report_schema`].
pub fn simulation_schema() -> String {
    described(
        schemars::schema_for!(SimulationReport),
        format!(
            "report.json of `recoverylab simulate`, schema_version {SIMULATION_SCHEMA_VERSION}. Latencies are in microseconds unless a field's name says otherwise."
        ),
    )
}

fn described(mut schema: schemars::Schema, description: String) -> String {
    schema.insert("description".to_owned(), description.into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises to JSON");
    text.push('\n');
    text
}
