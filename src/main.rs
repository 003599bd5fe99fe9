use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_env("RECOVERYLAB_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,recoverylab=info"));
    // `run` copies the same events into run.log for its secret-leak check.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(recoverylab::leak_check::run_log::layer())
        .init();
    let cli = recoverylab::cli::Cli::parse();
    match recoverylab::cli::execute(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(recoverylab::exit::kind_of(&error).code())
        }
    }
}
