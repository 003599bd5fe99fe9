//! report.html as a browser meets it: written by a real smoke run, parsed
//! for its structure, and drawn by headless Chromium from a file:// URL.
//!
//! The Chromium test needs Debian's `chromium` package, or the path of
//! another Chromium build in `RECOVERYLAB_CHROMIUM`. It fails when neither
//! is there. Set `RECOVERYLAB_SCREENSHOT` to a PNG path to keep a
//! screenshot of the populated page, and the page beside it as .html.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use recoverylab::report::model::{
    FunnelStep, IntervalSummary, Percentiles, ThresholdResult, Timeline,
};
use recoverylab::report::Report;
use scraper::{ElementRef, Html, Selector};

/// The files of one smoke run, shared by the tests of this file so the
/// run happens once.
struct SmokeRun {
    report_json: String,
    report_html: String,
}

fn smoke_run() -> &'static SmokeRun {
    static RUN: OnceLock<SmokeRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_recoverylab"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "scenarios/smoke.toml", "--out"])
            .arg(out.path())
            .output()
            .expect("the binary runs");
        assert!(
            output.status.success(),
            "smoke run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read = |name: &str| {
            std::fs::read_to_string(out.path().join(name))
                .unwrap_or_else(|error| panic!("the smoke run wrote no readable {name}: {error}"))
        };
        SmokeRun {
            report_json: read("report.json"),
            report_html: read("report.html"),
        }
    })
}

/// Returns the smoke run's report with funnels, 20 timeline intervals and three
/// thresholds filled in, one of them failed.
fn populated_report() -> Report {
    let mut report: Report =
        serde_json::from_str(&smoke_run().report_json).expect("report.json is a Report");
    report.funnels = report
        .journeys
        .keys()
        .map(|journey| (journey.clone(), funnel(&report, journey)))
        .collect();
    report.timeline = Timeline {
        interval_s: 1.0,
        interval_log: "intervals.hlog".to_owned(),
        intervals: (0..20).map(interval).collect(),
    };
    report.thresholds = vec![
        threshold(
            "step:sign_in.code",
            "p(99) < 250ms",
            Some(12.5),
            250.0,
            "ms",
            true,
        ),
        threshold(
            "steps",
            "error_rate < 0.01",
            Some(0.02),
            0.01,
            "ratio",
            false,
        ),
        threshold("journeys", "failed < 5", None, 5.0, "count", true),
    ];
    report
}

/// Builds a funnel over the journey's steps from the report, each losing a few
/// journeys more than the one before.
fn funnel(report: &Report, journey: &str) -> Vec<FunnelStep> {
    let prefix = format!("{journey}.");
    let mut steps: Vec<&str> = report
        .steps
        .keys()
        .filter(|step| step.starts_with(&prefix))
        .map(String::as_str)
        .collect();
    if steps.is_empty() {
        steps = vec!["start", "verify", "finish"];
    }
    let mut reached = 120;
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let mut lost = BTreeMap::from([("abandoned".to_owned(), 1 + index as u64 % 2)]);
            if index > 0 {
                lost.insert("code_expired".to_owned(), index as u64);
            }
            let this_step = FunnelStep {
                step: (*step).to_owned(),
                reached,
                lost,
            };
            reached -= this_step.lost.values().sum::<u64>();
            this_step
        })
        .collect()
}

fn interval(index: u64) -> IntervalSummary {
    let wave = (index as f64 * 0.7).sin().abs();
    let p50 = 2_000 + (wave * 3_000.0) as u64;
    IntervalSummary {
        start_s: index as f64,
        duration_s: 1.0,
        steps: 80 + (wave * 40.0) as u64,
        step_errors: index % 4,
        journeys_completed: 10 + index % 5,
        journeys_failed: index % 3,
        journeys_abandoned: index % 2,
        // One interval without a response leaves a gap in the latency lines.
        latency_us: (index != 7).then_some(Percentiles {
            p50,
            p90: p50 * 3,
            p99: p50 * 8,
            p999: p50 * 12,
            max: p50 * 20,
        }),
    }
}

fn threshold(
    target: &str,
    expression: &str,
    value: Option<f64>,
    limit: f64,
    unit: &str,
    pass: bool,
) -> ThresholdResult {
    ThresholdResult {
        target: target.to_owned(),
        expression: expression.to_owned(),
        value,
        limit,
        unit: unit.to_owned(),
        pass,
        aborted_run: false,
        message: format!("{target} {expression}"),
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|error| panic!("selector {css}: {error}"))
}

fn text_of(element: ElementRef<'_>) -> String {
    element.text().collect()
}

/// Asserts that the page refers to nothing a browser would fetch: no
/// script, stylesheet link, image, frame or embedded object, no `url(` or
/// `@import` in its style, and web addresses only as text in the
/// configuration table.
fn assert_fetches_nothing(html: &str, page: &str) {
    let document = Html::parse_document(html);
    for element in [
        "script", "link", "img", "iframe", "object", "embed", "image", "use",
    ] {
        assert!(
            document.select(&selector(element)).next().is_none(),
            "{page} has a <{element}> element"
        );
    }
    for style in document.select(&selector("style")) {
        let css = text_of(style);
        assert!(!css.contains("url("), "{page} style has url(");
        assert!(!css.contains("@import"), "{page} style has @import");
    }
    for element in document.select(&selector("*")) {
        for (name, value) in element.value().attrs() {
            assert!(
                !value.contains("//"),
                "{page}: attribute {name}=\"{value}\" of <{}> holds an address",
                element.value().name()
            );
        }
    }
    let addresses = |text: &str| text.matches("http://").count() + text.matches("https://").count();
    let in_configuration: usize = document
        .select(&selector("#configuration td"))
        .map(|cell| addresses(&text_of(cell)))
        .sum();
    assert_eq!(
        addresses(html),
        in_configuration,
        "{page} has web addresses outside the configuration table's cells"
    );
    let policy = document
        .select(&selector(r#"meta[http-equiv="Content-Security-Policy"]"#))
        .next()
        .unwrap_or_else(|| panic!("{page} has no Content-Security-Policy"));
    assert!(
        policy
            .value()
            .attr("content")
            .unwrap_or("")
            .starts_with("default-src 'none'"),
        "{page} policy forbids fetches"
    );
}

/// Returns whether an SVG mark has a non-zero size as written.
fn mark_has_size(mark: ElementRef<'_>) -> bool {
    let number = |name: &str| {
        mark.value()
            .attr(name)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    match mark.value().name() {
        "rect" => number("width") > 0.0 && number("height") > 0.0,
        "circle" => number("r") > 0.0,
        "polyline" => {
            let points: Vec<&str> = mark
                .value()
                .attr("points")
                .unwrap_or("")
                .split_whitespace()
                .collect();
            points.windows(2).any(|pair| pair[0] != pair[1])
        }
        _ => mark.value().attr("d").is_some_and(|d| !d.trim().is_empty()),
    }
}

/// Returns the `data-chart` names of the page's charts, in page order,
/// after asserting that each is an accessible SVG with a caption, axes
/// and drawn marks.
fn assert_charts_are_drawn(html: &str, page: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    let mut names = Vec::new();
    for figure in document.select(&selector("figure.chart")) {
        let name = figure.value().attr("data-chart").unwrap_or("").to_owned();
        let svg = figure
            .select(&selector("svg"))
            .next()
            .unwrap_or_else(|| panic!("{page} chart {name} has no svg"));
        assert_eq!(
            svg.value().attr("role"),
            Some("img"),
            "{page} chart {name} role"
        );
        assert!(
            !svg.value().attr("aria-label").unwrap_or("").is_empty(),
            "{page} chart {name} has an aria-label"
        );
        let caption = figure
            .select(&selector("figcaption"))
            .next()
            .map(text_of)
            .unwrap_or_default();
        assert!(!caption.is_empty(), "{page} chart {name} has a caption");
        assert!(
            svg.select(&selector("g.axis text")).count() >= 2,
            "{page} chart {name} has labelled ticks"
        );
        let drawn = svg
            .select(&selector("path, rect, polyline, circle"))
            .filter(|mark| mark_has_size(*mark))
            .count();
        assert!(drawn > 0, "{page} chart {name} has drawn marks");
        for attribute in ["NaN", "inf"] {
            assert!(
                !svg.html().contains(attribute),
                "{page} chart {name} contains {attribute}"
            );
        }
        names.push(name);
    }
    names
}

fn headings(html: &str) -> Vec<String> {
    Html::parse_document(html)
        .select(&selector("h2"))
        .map(text_of)
        .collect()
}

#[test]
fn smoke_run_writes_self_contained_report_html() {
    let run = smoke_run();
    let report: Report = serde_json::from_str(&run.report_json).unwrap();
    let html = &run.report_html;
    assert_fetches_nothing(html, "smoke report.html");

    let charts = assert_charts_are_drawn(html, "smoke report.html");
    for expected in ["step-latency", "delivery-latency"] {
        assert!(
            charts.iter().any(|chart| chart == expected),
            "smoke report.html has chart {expected}: {charts:?}"
        );
    }
    assert_eq!(
        report.funnels.len(),
        5,
        "the smoke run has a funnel per journey kind"
    );
    for journey in report.funnels.keys() {
        let expected = format!("funnel-{journey}");
        assert!(
            charts.contains(&expected),
            "smoke report.html has chart {expected}"
        );
    }
    assert!(
        !report.timeline.intervals.is_empty(),
        "the smoke run has a timeline"
    );
    for expected in ["latency-over-time", "throughput-over-time"] {
        assert!(
            charts.iter().any(|chart| chart == expected),
            "smoke report.html has chart {expected}: {charts:?}"
        );
    }
    let headings = headings(html);
    for expected in [
        "Summary",
        "Step latency",
        "Providers",
        "Journey outcomes",
        "Configuration",
    ] {
        assert!(
            headings.iter().any(|heading| heading == expected),
            "smoke report.html has heading {expected}: {headings:?}"
        );
    }
}

#[test]
fn populated_report_has_every_section_and_chart() {
    let report = populated_report();
    let html = recoverylab::report::html::render(&report);
    assert_fetches_nothing(&html, "populated page");

    let expected_headings = [
        "Summary",
        "Threshold verdicts",
        "Journey funnels",
        "Step latency",
        "Latency and throughput over time",
        "Providers",
        "Journey outcomes",
        "Secret-leak check",
        "Configuration",
    ];
    assert_eq!(
        headings(&html),
        expected_headings,
        "section headings in order"
    );

    let charts = assert_charts_are_drawn(&html, "populated page");
    let mut expected_charts: Vec<String> = report
        .funnels
        .keys()
        .map(|journey| format!("funnel-{journey}"))
        .collect();
    expected_charts.extend(
        [
            "step-latency",
            "latency-over-time",
            "throughput-over-time",
            "delivery-latency",
        ]
        .map(String::from),
    );
    assert_eq!(charts, expected_charts, "charts in page order");
    let document = Html::parse_document(&html);
    for chart in &charts {
        let legend = selector(&format!(r#"figure[data-chart="{chart}"] g.legend"#));
        assert!(
            document.select(&legend).count() >= 2,
            "chart {chart} has a legend"
        );
    }
}

#[test]
fn threshold_table_marks_failures() {
    let report = populated_report();
    let html = recoverylab::report::html::render(&report);
    let document = Html::parse_document(&html);
    let rows: Vec<ElementRef<'_>> = document.select(&selector("#thresholds tbody tr")).collect();
    assert_eq!(rows.len(), report.thresholds.len(), "one row per threshold");

    let expected = [
        ("step:sign_in.code", "12.50", "250.00", "pass"),
        ("steps", "2.00%", "1.00%", "fail"),
        ("journeys", "not measured", "5", "pass"),
    ];
    for (row, (target, value, limit, class)) in rows.iter().zip(expected) {
        let cells: Vec<String> = row.select(&selector("td")).map(text_of).collect();
        assert_eq!(cells[0], target, "threshold {target} target");
        assert_eq!(cells[2], value, "threshold {target} value");
        assert_eq!(cells[3], limit, "threshold {target} limit");
        assert_eq!(
            row.value().attr("class"),
            Some(class),
            "threshold {target} row class"
        );
    }
    let failed_verdict = text_of(rows[1].select(&selector("td")).last().unwrap());
    assert_eq!(failed_verdict, "FAIL", "failed threshold says so");
    let overall = document
        .select(&selector("#summary .verdict"))
        .next()
        .map(text_of);
    assert_eq!(
        overall.as_deref(),
        Some("FAIL"),
        "a failed threshold fails the run"
    );
}

/// Counts the charts whose marks Chromium laid out with a non-zero area,
/// and writes `drawn/total` into the body's `data-charts-drawn`.
const CHECK_SCRIPT: &str = r#"<script>
(function () {
  var charts = document.querySelectorAll("figure.chart svg");
  var drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) return;
    var left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    svg.querySelectorAll("path, rect, polyline, circle").forEach(function (mark) {
      var bbox = mark.getBBox();
      if (bbox.width <= 0 && bbox.height <= 0) return;
      left = Math.min(left, bbox.x);
      top = Math.min(top, bbox.y);
      right = Math.max(right, bbox.x + bbox.width);
      bottom = Math.max(bottom, bbox.y + bbox.height);
    });
    if (right > left && bottom > top) drawn += 1;
  });
  document.body.dataset.chartsDrawn = drawn + "/" + charts.length;
})();
</script>
"#;

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

fn chromium_binary() -> PathBuf {
    std::env::var_os("RECOVERYLAB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chromium"))
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or
/// `--screenshot=PATH`) and a new profile, offline, and returns its
/// standard output. Kills it after [`CHROMIUM_TIMEOUT`].
fn run_chromium(folder: &Path, url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir_in(folder).unwrap();
    let stdout_path = folder.join("chromium.stdout");
    let stderr_path = folder.join("chromium.stderr");
    let binary = chromium_binary();
    let spawned = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,6000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == ErrorKind::NotFound => panic!(
            "Chromium not found as {}: install Debian's chromium package \
             (apt-get install chromium) or set RECOVERYLAB_CHROMIUM to a Chromium binary",
            binary.display()
        ),
        Err(error) => panic!("cannot start {}: {error}", binary.display()),
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium timed out after {CHROMIUM_TIMEOUT:?}: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "Chromium failed with {status}: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// Opens `html` in Chromium with the check script added and returns
/// `(drawn, total)` charts.
fn charts_drawn_by_chromium(html: &str, folder: &Path) -> (usize, usize) {
    // The page's policy forbids scripts, so the copy allows the check's own.
    let checked = html
        .replacen(
            "default-src 'none';",
            "default-src 'none'; script-src 'unsafe-inline';",
            1,
        )
        .replacen("</body>", &format!("{CHECK_SCRIPT}</body>"), 1);
    assert_ne!(checked, html, "the check script was added");
    let page = folder.join("report.html");
    std::fs::write(&page, checked).unwrap();
    let url = format!("file://{}", page.display());

    let dom = run_chromium(folder, &url, "--dump-dom");
    let document = Html::parse_document(&dom);
    let result = document
        .select(&selector("body"))
        .next()
        .and_then(|body| body.value().attr("data-charts-drawn"))
        .unwrap_or_else(|| panic!("the check script did not run; Chromium wrote: {dom}"))
        .to_owned();
    let (drawn, total) = result.split_once('/').expect("drawn/total");
    (drawn.parse().unwrap(), total.parse().unwrap())
}

#[test]
fn chromium_draws_every_chart() {
    let folder = tempfile::tempdir().unwrap();
    let report = populated_report();
    let html = recoverylab::report::html::render(&report);
    let (drawn, total) = charts_drawn_by_chromium(&html, folder.path());
    let expected = report.funnels.len() + 4;
    assert!(
        total >= expected,
        "populated page: {total} charts, expected {expected}"
    );
    assert_eq!(drawn, total, "populated page: charts drawn out of all");

    let smoke = tempfile::tempdir().unwrap();
    let (drawn, total) = charts_drawn_by_chromium(&smoke_run().report_html, smoke.path());
    assert!(
        total >= 9,
        "smoke page: {total} charts, expected five funnels, step and delivery latency, latency and throughput over time"
    );
    assert_eq!(drawn, total, "smoke page: charts drawn out of all");

    if let Some(screenshot) = std::env::var_os("RECOVERYLAB_SCREENSHOT") {
        let screenshot = PathBuf::from(screenshot);
        let page = screenshot.with_extension("html");
        std::fs::write(&page, &html)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", page.display()));
        let url = format!("file://{}", page.display());
        let mode = format!("--screenshot={}", screenshot.display());
        run_chromium(folder.path(), &url, &mode);
    }
}
