//! `strop-server`: parse the config, set up logging, run until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use strop_server::config::{Cli, Command, Config, LogFormat, VERSION};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        let url = url.clone().unwrap_or_else(|| cli.config.local_url());
        return match strop_server::healthcheck::check(&url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("unhealthy: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strop-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(cli.config))
}

async fn serve(config: Config) -> ExitCode {
    tracing::info!(version = VERSION, ?config, "starting strop-server");
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            let addr = config.addr;
            tracing::error!(
                "cannot listen on {addr}: {e}; choose another address with --addr or STROP_ADDR"
            );
            eprintln!(
                "strop-server: cannot listen on {addr}: {e}; choose another address with --addr or STROP_ADDR"
            );
            return ExitCode::FAILURE;
        }
    };
    let shutdown = strop_server::shutdown_on(signal());
    match strop_server::run(&config, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            // Also on stderr, plain, for whoever started us without reading logs.
            eprintln!("strop-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM (as PID 1 in a container the
/// default SIGTERM action is ignored, so the handler is what makes it stop).
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        }
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(signal = name, "shutdown requested");
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stdout);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
