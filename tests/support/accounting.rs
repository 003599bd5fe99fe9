//! The accounting identity every report keeps: a journey that started
//! ended in exactly one recorded outcome, or is still in flight.

use serde_json::Value;

/// Asserts that `started` equals completed + failed + abandoned + in flight
/// for every journey kind of report.json.
pub fn assert_accounting_holds(report: &Value) {
    for (kind, journey) in report["journeys"].as_object().unwrap() {
        let count = |field: &str| journey[field].as_u64().unwrap();
        let failed: u64 = journey["failed"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            count("started"),
            count("completed") + failed + count("abandoned") + count("in_flight"),
            "{kind} accounting identity: {journey}"
        );
    }
}
