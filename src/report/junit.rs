//! JUnit XML for CI systems: a run's gates and a comparison's checks, one
//! test case each, so a failed gate shows as a failed test.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::compare::{Comparison, Verdict};
use crate::report::Report;

/// Renders a run's gates: one test case per threshold, per abuse check when
/// the scenario has attacks, and one for the secret-leak check when it ran.
pub fn run_junit(report: &Report) -> String {
    let suite_name = format!("recoverylab.run.{}", report.scenario);
    let mut suite = TestSuite::new(suite_name.as_str());
    for threshold in &report.thresholds {
        let name = format!("{} {}", threshold.target, threshold.expression);
        let failure = (!threshold.pass).then(|| threshold.message.clone());
        suite.add_test_case(test_case(&name, &suite_name, failure));
    }
    if let Some(abuse) = &report.abuse {
        for (attack, result) in &abuse.attacks {
            for check in &result.checks {
                let name = format!("abuse:{attack} {}", check.name);
                let failure = (!check.pass).then(|| {
                    format!(
                        "{attack}: {}: expected {}, observed {}",
                        check.name, check.expected, check.observed
                    )
                });
                suite.add_test_case(test_case(&name, &suite_name, failure));
            }
        }
        // A run stopped before every attack ran fails without a failed check.
        if !abuse.pass && abuse.failures().is_empty() {
            let failure = Some("the run stopped before every attack ran".to_owned());
            suite.add_test_case(test_case("abuse attacks completed", &suite_name, failure));
        }
    }
    if let Some(leaks) = &report.secret_leaks {
        // Counts only, so the XML needs no care; report.json lists the files
        // and line numbers of the findings, never a secret.
        let failure = (leaks.findings_total > 0).then(|| {
            format!(
                "{} line(s) in the {} files scanned contain a secret of the run; report.json lists the files and line numbers under secret_leaks",
                leaks.findings_total,
                leaks.files_scanned.len()
            )
        });
        suite.add_test_case(test_case("secret-leak check", &suite_name, failure));
    }
    to_xml(suite)
}

/// Renders a comparison: one test case per check. A regression is a failure
/// and a check without enough samples is skipped, with the reason as its
/// message.
pub fn compare_junit(comparison: &Comparison) -> String {
    let suite_name = format!("recoverylab.compare.{}", comparison.scenario);
    let mut suite = TestSuite::new(suite_name.as_str());
    for check in &comparison.checks {
        let name = check.name();
        let mut case = match check.verdict {
            Verdict::Regression => test_case(
                &name,
                &suite_name,
                Some(format!("{name}: {}", check.reason)),
            ),
            Verdict::NotEnoughSamples => {
                let mut status = TestCaseStatus::skipped();
                if let TestCaseStatus::Skipped { message, .. } = &mut status {
                    *message = Some(check.reason.as_str().into());
                }
                let mut case = TestCase::new(name.as_str(), status);
                case.set_classname(suite_name.as_str());
                case
            }
            Verdict::Ok | Verdict::Improved => test_case(&name, &suite_name, None),
        };
        if check.verdict == Verdict::Improved {
            case.set_system_out(format!("improved: {}", check.reason));
        }
        suite.add_test_case(case);
    }
    to_xml(suite)
}

/// Builds a test case that passed, or failed with `failure` as its message.
fn test_case(name: &str, classname: &str, failure: Option<String>) -> TestCase {
    let status = match failure {
        None => TestCaseStatus::success(),
        Some(message) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message);
            status
        }
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    case
}

fn to_xml(suite: TestSuite) -> String {
    let mut report = quick_junit::Report::new("recoverylab");
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("serialising JUnit XML into memory succeeds")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::abuse::{AbuseReport, AttackReport, CheckResult};
    use crate::leak_check::SecretLeaks;
    use crate::report::model::ThresholdResult;

    /// Builds a report from the smallest valid report.json, in
    /// tests/fixtures, and adds failed and passed gates of every kind.
    fn report_with_gates() -> Report {
        let mut report: Report =
            serde_json::from_str(include_str!("../../tests/fixtures/minimal-report.json"))
                .expect("the minimal report parses");
        let threshold = |expression: &str, value: f64, pass: bool| ThresholdResult {
            target: "step:sign_in.code".to_owned(),
            expression: expression.to_owned(),
            value: Some(value),
            limit: 250.0,
            unit: "ms".to_owned(),
            pass,
            aborted_run: false,
            message: format!("step:sign_in.code {expression}: measured {value} ms, limit 250 ms"),
        };
        report.thresholds = vec![
            threshold("p(99) < 250ms", 312.4, false),
            threshold("p(50) < 250ms", 12.0, true),
        ];
        let check = |name: &str, pass: bool| CheckResult {
            name: name.to_owned(),
            expected: "locked after 5 attempts".to_owned(),
            observed: if pass {
                "locked after 5 attempts"
            } else {
                "never locked"
            }
            .to_owned(),
            pass,
        };
        let attack = AttackReport {
            checks: vec![check("lockout", false), check("lockout_lifts", true)],
            ..AttackReport::default()
        };
        report.abuse = Some(AbuseReport {
            pass: false,
            attacks: BTreeMap::from([("brute_force".to_owned(), attack)]),
        });
        report.secret_leaks = Some(SecretLeaks {
            files_scanned: vec!["report.json".to_owned(), "run.log".to_owned()],
            secrets_known: BTreeMap::new(),
            findings_total: 3,
            findings: Vec::new(),
        });
        report
    }

    #[test]
    fn run_junit_lists_every_gate() {
        let xml = run_junit(&report_with_gates());
        let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("the XML parses back");

        assert_eq!(
            parsed.tests, 5,
            "2 thresholds, 2 abuse checks, 1 leak check: {xml}"
        );
        assert_eq!(parsed.failures, 3, "{xml}");
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.name.as_str(), "recoverylab.run.smoke");
        let failures: BTreeMap<&str, &str> = suite
            .test_cases
            .iter()
            .filter_map(|case| match &case.status {
                TestCaseStatus::NonSuccess { message, .. } => Some((
                    case.name.as_str(),
                    message.as_ref().map_or("", |message| message.as_str()),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            failures.get("step:sign_in.code p(99) < 250ms"),
            Some(&"step:sign_in.code p(99) < 250ms: measured 312.4 ms, limit 250 ms")
        );
        assert_eq!(
            failures.get("abuse:brute_force lockout"),
            Some(&"brute_force: lockout: expected locked after 5 attempts, observed never locked")
        );
        let leak = failures
            .get("secret-leak check")
            .expect("the leak check failed");
        assert!(leak.starts_with("3 line(s) in the 2 files"), "{leak}");
    }

    #[test]
    fn run_junit_has_a_testsuites_root() {
        let xml = run_junit(&report_with_gates());
        let mut reader = quick_xml::Reader::from_str(&xml);
        let root = loop {
            match reader.read_event().expect("the XML is well formed") {
                quick_xml::events::Event::Start(element) => break element.name().as_ref().to_vec(),
                quick_xml::events::Event::Eof => panic!("no element in {xml}"),
                _ => {}
            }
        };
        assert_eq!(root, b"testsuites", "{xml}");
        assert!(xml.contains(r#"<failure message="step:sign_in.code p(99) &lt; 250ms: measured 312.4 ms, limit 250 ms""#), "{xml}");
    }

    #[test]
    fn run_without_gates_is_an_empty_suite() {
        let mut report = report_with_gates();
        report.thresholds.clear();
        report.abuse = None;
        report.secret_leaks = None;
        let parsed = quick_junit::Report::deserialize_from_str(&run_junit(&report)).unwrap();
        assert_eq!((parsed.tests, parsed.failures), (0, 0));
    }
}
