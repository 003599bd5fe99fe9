//! The secret-leak check that ends every run. The run collects every secret
//! it generated or received in a [`SecretBook`]. After the load it searches
//! its log, its reports, goose's report and the `--scan-log` files for those
//! secrets, and it fails when it finds one. docs/secrets.md describes what
//! is searched and how.
//!
//! - `book`: the secrets, by kind.
//! - `scanner`: matching secrets in text, and the rules for numbers that
//!   only look like secrets.
//! - `run_log`: run.log, the copy of the process's tracing output.

pub mod book;
pub mod run_log;
pub mod scanner;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use book::{SecretBook, SecretKind};
pub use scanner::{Codes, Format, LeakScanner};

use crate::config::Scenario;
use crate::report::Report;

/// Maximum findings that report.json lists; `findings_total` counts them all.
pub const MAX_LISTED_FINDINGS: usize = 1000;
/// Maximum findings that the error message of a failed check names.
const MAX_NAMED_FINDINGS: usize = 10;

/// The result of the leak check, as report.json carries it. It names files,
/// line numbers and kinds, never a secret or the text around one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecretLeaks {
    /// Files searched: names inside the out folder, or --scan-log paths as given.
    pub files_scanned: Vec<String>,
    /// Distinct secrets of each kind the run knew.
    pub secrets_known: BTreeMap<SecretKind, u64>,
    /// Lines that contain a secret, counted once per line and kind.
    pub findings_total: u64,
    /// The first [`MAX_LISTED_FINDINGS`] of those, in the order scanned.
    pub findings: Vec<LeakFinding>,
}

/// One line that contains a secret of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeakFinding {
    pub file: String,
    /// Line number, counted from 1.
    pub line: u64,
    pub kind: SecretKind,
}

/// Checks the given log files before a run starts, so a wrong path fails
/// at once rather than after the load.
pub fn check_scan_logs(scan_logs: &[PathBuf]) -> anyhow::Result<()> {
    for path in scan_logs {
        let readable = std::fs::File::open(path).and_then(|file| file.metadata());
        match readable {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => anyhow::bail!(
                "--scan-log {} is not a file; give the path of a log file the target deployment writes",
                path.display()
            ),
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "--scan-log {} cannot be read; give the path of a log file the target deployment writes, or leave the option out",
                        path.display()
                    )
                })
            }
        }
    }
    Ok(())
}

/// Adds the scenario's people to `secrets`, searches run.log, the rendered
/// report.json and report.md, goose.html and `scan_logs` for every secret,
/// records the result in `report`, and writes report.md and report.json
/// into `out`. Returns a message that names each file, line and kind found
/// when any secret was found, and `None` when none was.
///
/// # Errors
///
/// Returns an error without writing the report when a file cannot be read,
/// because the report could not be checked, or when writing fails.
pub fn write_checked_report(
    out: &Path,
    report: &mut Report,
    scenario: &Scenario,
    secrets: &SecretBook,
    scan_logs: &[PathBuf],
) -> anyhow::Result<Option<String>> {
    // The people are rebuilt here rather than kept from enrollment, so that
    // only their secrets stay in memory.
    secrets.add_population(
        scenario.seed,
        scenario.first_index,
        scenario.people,
        &scenario.mix,
    );
    let scanner = LeakScanner::new(secrets).context("cannot build the secret matchers")?;
    let run_log = run_log::finish()
        .with_context(|| format!("cannot write run.log into {}", out.display()))?;

    // Line numbers of report findings hold for the written files too,
    // because secret_leaks is the last field and section of each.
    report.secret_leaks = None;
    let json = serde_json::to_vec_pretty(&*report).expect("a report serialises to JSON");
    let markdown = crate::report::markdown::render(report);

    let mut leaks = SecretLeaks {
        secrets_known: secrets.counts(),
        ..SecretLeaks::default()
    };
    if let Some(path) = run_log {
        scan_file(&scanner, &mut leaks, "run.log", &path, Format::JsonLines)?;
    }
    scan(
        &scanner,
        &mut leaks,
        "report.json",
        json.as_slice(),
        Format::Json,
        Codes::Match,
    )?;
    // report.md is rendered from the report alone, so a code can reach it
    // only through a string that report.json carries. Its six-digit counts
    // and latencies are not codes.
    scan(
        &scanner,
        &mut leaks,
        "report.md",
        markdown.as_bytes(),
        Format::Text,
        Codes::Skip,
    )?;
    let goose_report = out.join("goose.html");
    if goose_report.exists() {
        scan_file(
            &scanner,
            &mut leaks,
            "goose.html",
            &goose_report,
            Format::Text,
        )?;
    }
    for path in scan_logs {
        let name = path.display().to_string();
        scan_file(&scanner, &mut leaks, &name, path, Format::JsonLines)?;
    }

    report.secret_leaks = Some(leaks.clone());
    crate::report::write::write_report(out, report)
        .with_context(|| format!("cannot write the report into {}", out.display()))?;
    tracing::info!(
        files = leaks.files_scanned.len(),
        secrets_known = leaks.secrets_known.values().sum::<u64>(),
        findings = leaks.findings_total,
        "secret-leak check finished"
    );
    Ok((leaks.findings_total > 0).then(|| failure_message(&leaks, out)))
}

fn scan_file(
    scanner: &LeakScanner,
    leaks: &mut SecretLeaks,
    name: &str,
    path: &Path,
    format: Format,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} for the secret-leak check", path.display()))?;
    scan(
        scanner,
        leaks,
        name,
        std::io::BufReader::new(file),
        format,
        Codes::Match,
    )
}

fn scan(
    scanner: &LeakScanner,
    leaks: &mut SecretLeaks,
    name: &str,
    reader: impl std::io::BufRead,
    format: Format,
    codes: Codes,
) -> anyhow::Result<()> {
    leaks.files_scanned.push(name.to_owned());
    scanner
        .scan_lines(reader, format, codes, |line, kind| {
            leaks.findings_total += 1;
            if leaks.findings.len() < MAX_LISTED_FINDINGS {
                leaks.findings.push(LeakFinding {
                    file: name.to_owned(),
                    line,
                    kind,
                });
            }
        })
        .with_context(|| format!("cannot read {name} for the secret-leak check"))
}

/// Names the first findings by file, line and kind, and what to do.
fn failure_message(leaks: &SecretLeaks, out: &Path) -> String {
    let mut message = format!(
        "the secret-leak check found {} line(s) holding a secret outside the message meant to carry it:",
        leaks.findings_total
    );
    for finding in leaks.findings.iter().take(MAX_NAMED_FINDINGS) {
        let _ = write!(
            message,
            " {}:{} ({}),",
            finding.file,
            finding.line,
            finding.kind.name()
        );
    }
    message.pop();
    let unnamed = leaks
        .findings_total
        .saturating_sub(MAX_NAMED_FINDINGS as u64);
    if unnamed > 0 {
        let _ = write!(message, " and {unnamed} more");
    }
    let _ = write!(
        message,
        ". Files without a folder are in {}; secret_leaks in its report.json lists the findings. \
         Find the code that wrote each line and log or report the value masked, or not at all.",
        out.display()
    );
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_names_files_lines_and_kinds() {
        let findings: Vec<LeakFinding> = (1..=12)
            .map(|line| LeakFinding {
                file: "run.log".to_owned(),
                line,
                kind: SecretKind::Code,
            })
            .collect();
        let leaks = SecretLeaks {
            files_scanned: vec!["run.log".to_owned()],
            findings_total: 12,
            findings,
            ..SecretLeaks::default()
        };
        let message = failure_message(&leaks, Path::new("reports/x"));
        assert!(message.contains("found 12 line(s)"), "{message}");
        assert!(
            message.contains(" run.log:1 (code), run.log:2 (code),"),
            "{message}"
        );
        assert!(
            message.contains("run.log:10 (code) and 2 more."),
            "{message}"
        );
        assert!(!message.contains("run.log:11"), "{message}");
        assert!(message.contains("reports/x"), "{message}");
    }

    #[test]
    fn missing_scan_log_names_the_path() {
        let error = check_scan_logs(&[PathBuf::from("/nonexistent/service.log")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/service.log"), "{error}");
        assert!(error.contains("--scan-log"), "{error}");
    }
}
