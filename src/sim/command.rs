//! `recoverylab simulate`: read the scenario, run it in virtual time, and
//! write report.md, report.html and report.json.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::plan::{Plan, ServiceTimes};
use super::report::SimulationReport;
use super::run::{simulate, WhatIfArg};
use crate::config::load_scenario;
use crate::exit::{fail, ExitKind, InvalidInput};
use crate::report::html::count;
use crate::report::write::write_atomically;

#[derive(Args)]
pub struct SimulateArgs {
    /// The scenario file, such as scenarios/national.toml. Its [simulation]
    /// table sets arrivals, calendar and capacity; without one, its [load]
    /// is replayed.
    pub scenario: PathBuf,
    /// Days on which journeys start, instead of simulation.days.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: Option<u32>,
    /// A live run's report.json whose step latencies become the service
    /// times of the simulated steps.
    #[arg(long, value_name = "REPORT")]
    pub calibrate: Option<PathBuf>,
    /// Folder for report.md, report.html and report.json [default: a new
    /// folder under reports/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run again for each value of one setting and compare side by side,
    /// such as postal_validity_days=7,21,30. Settings: postal_validity_days,
    /// workers_per_instance, journeys_per_day, abandon_probability.
    #[arg(long, value_name = "SETTING=V1,V2,...")]
    pub what_if: Option<WhatIfArg>,
    /// Threads that run shards [default: the number of cores]. The report
    /// is the same whatever the number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
}

pub fn simulate_command(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = load_scenario(&args.scenario).invalid_input()?;
    if args.days.is_some() && scenario.simulation.is_none() {
        return Err(fail(
            ExitKind::InvalidInput,
            format!(
                "--days needs a [simulation] table in {}, and this scenario replays its [load]; add a [simulation] table (docs/simulation.md) or drop --days",
                args.scenario.display()
            ),
        ));
    }
    let mut plan = Plan::new(&scenario, args.days);
    for warning in plan.warnings() {
        eprintln!("warning: {warning}");
    }
    if let Some(report) = &args.calibrate {
        let calibration = ServiceTimes::calibrated(report, plan.service)?;
        if calibration.scenario != scenario.name {
            eprintln!(
                "warning: calibrating scenario {} from a live run of scenario {}",
                scenario.name, calibration.scenario
            );
        }
        plan.service = calibration.times;
    }
    if let Some(what_if) = &args.what_if {
        what_if
            .applies_to(&plan)
            .map_err(|message| fail(ExitKind::InvalidInput, message))?;
    }
    let out = match args.out {
        Some(out) => out,
        None => crate::run::create_default_out_dir(&scenario)?,
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))
        .map_err(|error| fail(ExitKind::RunError, format!("{error:#}")))?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |cores| cores.get()),
        |threads| threads as usize,
    );

    let started = Instant::now();
    let report = simulate(&plan, args.what_if.as_ref(), threads);
    let elapsed = started.elapsed().as_secs_f64();
    let runs = args.what_if.as_ref().map_or(1, |what_if| {
        let base = what_if.value_in(&plan);
        1 + what_if
            .values
            .iter()
            .filter(|value| **value != base)
            .count()
    });

    write_simulation_report(&out, &report)
        .with_context(|| format!("cannot write the report into {}", out.display()))
        .map_err(|error| fail(ExitKind::RunError, format!("{error:#}")))?;
    let summary = &report.summary;
    println!(
        "{}: {} journeys started, {} completed ({:.2}%), {} failed, {} abandoned, {} in flight",
        report.scenario,
        count(summary.started),
        count(summary.completed),
        summary.success_rate * 100.0,
        count(summary.failed),
        count(summary.abandoned),
        count(summary.in_flight)
    );
    println!(
        "simulated {} run(s) in {elapsed:.2} s of wall time on {threads} thread(s)",
        runs
    );
    println!("report: {}", out.join("report.html").display());
    Ok(())
}

/// Writes report.md, report.html and then report.json, each whole or not at all.
pub fn write_simulation_report(
    folder: &std::path::Path,
    report: &SimulationReport,
) -> std::io::Result<()> {
    write_atomically(
        &folder.join("report.md"),
        super::markdown::render(report).as_bytes(),
    )?;
    write_atomically(
        &folder.join("report.html"),
        crate::report::html::simulation::render(report).as_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(report).expect("a report serialises to JSON");
    write_atomically(&folder.join("report.json"), &json)
}
