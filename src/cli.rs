//! The command line: `run`, `serve`, `compare`, `simulate` and `people`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::config::load_scenario;
use crate::exit::{fail, ExitKind, InvalidInput};
use crate::journeys::hashing::HashProfile;
use crate::load::Targets;
use crate::people::{person, JourneyMix};
use crate::providers::profile::FaultProfile;
use crate::providers::ProviderSettings;
use crate::run::{run, RemoteTarget, RunOptions};
use crate::service::delay::InjectedDelay;
use crate::stack::{ExternalProviders, Stack, StackListeners, StackOptions};

#[derive(Parser)]
#[command(
    name = "recoverylab",
    version,
    about = "Simulation and load-testing harness for account-recovery systems"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario: start the service and mocks on loopback (or reach a
    /// running stack with --target), enroll the people, drive the load,
    /// write report.html, report.json, report.md, junit.xml, latency.hlog,
    /// goose.html and run.log, and fail when a threshold or abuse check fails
    /// or when a file carries a secret of the run.
    Run(RunArgs),
    /// Start the reference service and the mock providers and print their URLs;
    /// Ctrl-C or SIGTERM stops them.
    Serve(ServeArgs),
    /// Print synthetic people as JSON lines.
    People(PeopleArgs),
    /// Compare two runs' reports step by step and journey by journey, print
    /// a Markdown table, and fail on a regression (docs/compare.md).
    Compare(crate::compare::CompareArgs),
    /// Run a scenario in virtual time, for days or weeks of arrivals in
    /// seconds, and write report.md, report.html and report.json
    /// (docs/simulation.md).
    Simulate(crate::sim::command::SimulateArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file, such as scenarios/smoke.toml.
    pub scenario: PathBuf,
    /// Folder for the report files [default: a new folder under reports/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Base URL of a running reference service to drive instead of starting one.
    #[arg(long, requires_all = ["email_url", "sms_url", "postal_url", "admin_token"])]
    pub target: Option<String>,
    /// Base URL of the email provider, with --target.
    #[arg(long, requires = "target")]
    pub email_url: Option<String>,
    /// Base URL of the SMS provider, with --target.
    #[arg(long, requires = "target")]
    pub sms_url: Option<String>,
    /// Base URL of the postal provider, with --target.
    #[arg(long, requires = "target")]
    pub postal_url: Option<String>,
    /// The target service's admin token, with --target.
    #[arg(long, env = "RECOVERYLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Also search this log file for the run's secrets after the load. Give
    /// the logs of a --target deployment here, and repeat for more files.
    #[arg(long = "scan-log", value_name = "FILE")]
    pub scan_logs: Vec<PathBuf>,
    /// Delay the in-process service's responses on one route, to check that a
    /// regression gate notices, such as /v1/forgot-username=5ms; repeatable.
    #[arg(long, value_name = "PATH=DURATION", conflicts_with = "target")]
    pub inject_delay: Vec<InjectedDelay>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// SQLite file of the service [default: state kept in memory].
    #[arg(long)]
    pub database: Option<PathBuf>,
    /// Argon2id cost: "production" (OWASP minimum) or "fast".
    #[arg(long, default_value = "production")]
    pub hash_profile: HashProfile,
    /// Address of the service.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the email mock.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub email_listen: SocketAddr,
    /// Address of the SMS mock.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub sms_listen: SocketAddr,
    /// Address of the postal mock.
    #[arg(long, default_value = "127.0.0.1:8083")]
    pub postal_listen: SocketAddr,
    /// Real seconds one postal business day lasts; match the scenario's
    /// providers.seconds_per_business_day when a run targets this stack.
    #[arg(long, default_value_t = 86_400.0, allow_negative_numbers = true)]
    pub seconds_per_business_day: f64,
    /// Fault profile of the mocks, such as mocks/flaky.toml [default: healthy].
    #[arg(long)]
    pub fault_profile: Option<PathBuf>,
    /// Admin token for enrollment [default: a random token, printed].
    #[arg(long, env = "RECOVERYLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Server key behind SSN and code digests; keep it to reuse a database
    /// [default: random, so SSN lookups in a reused database fail].
    #[arg(long, env = "RECOVERYLAB_SERVER_KEY", hide_env_values = true)]
    pub server_key: Option<String>,
    /// Take the client address from X-Forwarded-For (only behind a trusted proxy or for load tests).
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// The service's base URL as providers reach it, for their status
    /// callbacks [default: http:// and the --listen address, with 0.0.0.0
    /// read as 127.0.0.1].
    #[arg(long)]
    pub public_url: Option<String>,
    /// Send the service's email through this provider's base URL instead of the email mock.
    #[arg(long)]
    pub email_provider_url: Option<String>,
    /// Send the service's texts through this provider's base URL instead of the SMS mock.
    #[arg(long)]
    pub sms_provider_url: Option<String>,
    /// Send the service's letters through this provider's base URL instead of the postal mock.
    #[arg(long)]
    pub postal_provider_url: Option<String>,
    /// Delay the service's responses on one route, to check that a regression
    /// gate notices, such as /v1/forgot-username=5ms; repeatable.
    #[arg(long, value_name = "PATH=DURATION")]
    pub inject_delay: Vec<InjectedDelay>,
}

#[derive(Args)]
pub struct PeopleArgs {
    /// Seed of the population.
    #[arg(long)]
    pub seed: u64,
    /// How many people to print.
    #[arg(long)]
    pub count: u64,
    /// Index of the first person.
    #[arg(long, default_value_t = 0)]
    pub first_index: u64,
    /// Take the journey mix from this scenario file [default: equal weights].
    #[arg(long)]
    pub scenario: Option<PathBuf>,
}

/// The shortest server key accepted: the key behind SSN and code digests
/// must not be guessable.
const MIN_SERVER_KEY_BYTES: usize = 16;

/// Runs the parsed command.
pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run_command(args).await,
        Command::Serve(args) => serve_command(args).await,
        Command::People(args) => people_command(args),
        Command::Compare(args) => crate::compare::compare_command(args),
        Command::Simulate(args) => crate::sim::command::simulate_command(args),
    }
}

async fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let remote = match (
        args.target,
        args.email_url,
        args.sms_url,
        args.postal_url,
        args.admin_token,
    ) {
        (Some(service), Some(email), Some(sms), Some(postal), Some(token)) => Some(RemoteTarget {
            targets: Targets {
                service,
                email,
                sms,
                postal,
            },
            admin_token: SecretString::from(token),
        }),
        _ => None,
    };
    let result = run(RunOptions {
        scenario: args.scenario,
        out: args.out,
        remote,
        scan_logs: args.scan_logs,
        inject_delay: args.inject_delay,
    })
    .await?;
    print_summary(&result);
    let mut messages = result.failures.clone();
    if let Some(stopped) = &result.stopped_early {
        messages.push(stopped.clone());
        return Err(fail(ExitKind::RunError, messages.join("\n")));
    }
    if !messages.is_empty() {
        return Err(fail(ExitKind::GateFailed, messages.join("\n")));
    }
    Ok(())
}

fn print_summary(result: &crate::run::RunResult) {
    let report = &result.report;
    if report.load.users == 0 {
        println!(
            "{}: no load; the scenario runs attacks only",
            report.scenario
        );
    } else {
        println!(
            "{}: load ran {:.1} s, {:.1} journeys completed/s, {} people enrolled at {:.0}/s",
            report.scenario,
            report.duration_s,
            report.throughput.journeys_completed_per_s,
            report.enrollment.people,
            report.enrollment.people_per_s
        );
    }
    for (kind, journey) in &report.journeys {
        println!(
            "  {kind:<22} started {:>5}  completed {:>5}  failed {:>4}  abandoned {:>4}  in flight {:>4}",
            journey.started,
            journey.completed,
            journey.failed_total(),
            journey.abandoned,
            journey.in_flight
        );
    }
    for (provider, traffic) in &report.providers {
        let stats = &traffic.stats;
        let faults = stats.faults_total();
        let failed_deliveries = stats.failed_deliveries();
        println!(
            "  {provider:<22} accepted {:>5}  retries {:>4}  faults {:>4}  outage rejections {:>4}  lost {:>4}  failed deliveries {:>4}  retry duplicates {:>4}",
            stats.accepted,
            stats.retries,
            faults,
            stats.outage_rejections,
            stats.lost,
            failed_deliveries,
            stats.retry_duplicates
        );
    }
    for outage in &report.service_outages {
        match outage.end_s {
            Some(end) => println!(
                "  service refused connections from {:.1} s to {end:.1} s",
                outage.start_s
            ),
            None => println!(
                "  service refused connections from {:.1} s to the end of the run",
                outage.start_s
            ),
        }
    }
    for threshold in &report.thresholds {
        let verdict = match (threshold.pass, threshold.aborted_run) {
            (true, _) => "pass",
            (false, false) => "FAIL",
            (false, true) => "FAIL, stopped the load",
        };
        println!("  threshold {verdict}: {}", threshold.message);
    }
    if let Some(abuse) = &report.abuse {
        for (attack, result) in &abuse.attacks {
            println!(
                "  {attack:<22} {}: {} checks, {} requests",
                if result.pass { "pass" } else { "FAIL" },
                result.checks.len(),
                result.requests
            );
        }
    }
    if let Some(leaks) = &report.secret_leaks {
        let known = leaks.secrets_known.values().sum::<u64>();
        match leaks.findings_total {
            0 => println!(
                "  secret-leak check: no secret found in {} files ({known} secrets known)",
                leaks.files_scanned.len()
            ),
            found => println!(
                "  secret-leak check: FAIL, {found} line(s) with a secret in {} files ({known} secrets known)",
                leaks.files_scanned.len()
            ),
        }
    }
    println!("report: {}", result.out.join("report.html").display());
    println!("        {}", result.out.join("report.md").display());
}

async fn serve_command(args: ServeArgs) -> anyhow::Result<()> {
    let generated_token = args.admin_token.is_none();
    let addresses = [
        args.listen,
        args.email_listen,
        args.sms_listen,
        args.postal_listen,
    ];
    let options = serve_options(args).invalid_input()?;
    let [service, email, sms, postal] = addresses;
    let listeners = StackListeners {
        service: bind(service, "--listen").await?,
        email: bind(email, "--email-listen").await?,
        sms: bind(sms, "--sms-listen").await?,
        postal: bind(postal, "--postal-listen").await?,
    };
    let stack = Stack::start(options, listeners).await?;

    let mocks = stack.provider_urls();
    let used = &stack.service_providers;
    println!("service: {}", stack.service.url());
    for (name, mock, sends_to) in [
        ("email: ", &mocks.email, &used.email),
        ("sms:   ", &mocks.sms, &used.sms),
        ("postal:", &mocks.postal, &used.postal),
    ] {
        if mock == sends_to {
            println!("{name} {mock}");
        } else {
            println!("{name} {mock} (mock; the service sends to {sends_to})");
        }
    }
    if generated_token {
        use secrecy::ExposeSecret;
        println!("admin token: {}", stack.admin_token.expose_secret());
    }
    println!("Press Ctrl-C to stop.");

    wait_for_shutdown_signal().await?;
    println!("stopping");
    stack.stop().await?;
    Ok(())
}

/// Checks the serve options and builds the stack's, before any port is bound.
fn serve_options(args: ServeArgs) -> anyhow::Result<StackOptions> {
    let profile = match &args.fault_profile {
        Some(path) => FaultProfile::load(path).context("invalid --fault-profile")?,
        None => FaultProfile::healthy(),
    };
    let providers = ProviderSettings {
        seconds_per_business_day: args.seconds_per_business_day,
        profile,
        ..ProviderSettings::default()
    };
    providers
        .validate()
        .context("invalid --seconds-per-business-day")?;
    let mut options = StackOptions::new(args.database, args.hash_profile, providers);
    options.trust_forwarded_for = args.trust_forwarded_for;
    options.inject_delay = args.inject_delay;
    options.public_url = checked_base_url("--public-url", args.public_url)?;
    options.external_providers = ExternalProviders {
        email: checked_base_url("--email-provider-url", args.email_provider_url)?,
        sms: checked_base_url("--sms-provider-url", args.sms_provider_url)?,
        postal: checked_base_url("--postal-provider-url", args.postal_provider_url)?,
    };
    if let Some(token) = args.admin_token {
        if token.trim().is_empty() {
            anyhow::bail!(
                "--admin-token is empty; give a token, or leave the option out to get a random one"
            );
        }
        options.admin_token = SecretString::from(token);
    }
    match args.server_key {
        Some(key) if key.len() < MIN_SERVER_KEY_BYTES => anyhow::bail!(
            "--server-key is shorter than {MIN_SERVER_KEY_BYTES} bytes; use a long random value such as 32 hex digits"
        ),
        Some(key) => options.server_key = SecretString::from(key),
        None if options.database.is_some() => {
            tracing::warn!("no --server-key given: SSN lookups will not match accounts enrolled by an earlier run on this database")
        }
        None => {}
    }
    Ok(options)
}

/// Checks that a provider URL is an http or https base URL and drops a
/// trailing slash, so paths join cleanly.
fn checked_base_url(flag: &str, url: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(url) = url else {
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(&url).with_context(|| {
        format!("{flag} {url:?} is not a URL; give a base URL such as http://127.0.0.1:9000")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        anyhow::bail!(
            "{flag} {url:?} is not an http or https URL; give a base URL such as http://127.0.0.1:9000"
        );
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

async fn bind(address: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {address}; free the port or choose another address with {flag}"
            )
        })
}

/// Waits for Ctrl-C, or SIGTERM on Unix, so a service manager's stop is as
/// clean as a person's.
async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    }
}

fn people_command(args: PeopleArgs) -> anyhow::Result<()> {
    let mix = match &args.scenario {
        Some(path) => load_scenario(path).invalid_input()?.mix,
        None => JourneyMix::new([1; 5]),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let Some(end) = args.first_index.checked_add(args.count) else {
        return Err(fail(
            ExitKind::InvalidInput,
            format!(
                "--first-index {} plus --count {} is past the last index {}; lower one of them",
                args.first_index,
                args.count,
                u64::MAX
            ),
        ));
    };
    for index in args.first_index..end {
        serde_json::to_writer(&mut out, &person(args.seed, index, &mix))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
