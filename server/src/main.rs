//! `strop-server`: parse the config, set up logging, run until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use strop_server::config::{Cli, Command, Config, VERSION};

// Returns freed memory to the OS (glibc's per-thread arenas kept it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        let url = url.clone().unwrap_or_else(|| cli.config.local_url());
        return match strop_server::ops::healthcheck::check(&url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("unhealthy: {reason}");
                ExitCode::FAILURE
            }
        };
    }
    // Held to the end: dropping it writes out the queued log lines.
    let logging = strop_server::ops::logging::init(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // An idle blocking thread (password hashing) exits after a second
        // instead of ten, and its allocator cache goes back to the OS with it.
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strop-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.spawn(logging.report_dropped());
    let code = runtime.block_on(serve(cli.config));
    drop(runtime);
    if logging.dropped_lines() > 0 {
        eprintln!(
            "strop-server: {} log lines were dropped because stdout could not keep up",
            logging.dropped_lines()
        );
    }
    code
}

async fn serve(mut config: Config) -> ExitCode {
    tracing::info!(version = VERSION, ?config, "starting strop-server");
    if let Some(limit) = strop_server::ops::fd_limit::raise() {
        let wanted = config.max_connections;
        config.max_connections = strop_server::ops::fd_limit::fit(wanted, limit, config.pool_size);
        tracing::info!(
            open_files = limit,
            max_connections = config.max_connections,
            wanted = wanted,
            "open-file limit and connection cap"
        );
        if config.max_connections < wanted {
            tracing::warn!(
                "the open-file limit ({limit}) leaves room for {} connections, not {wanted}; raise it (ulimit -n) to serve more",
                config.max_connections
            );
        }
    }
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
            let e = strop_server::ops::logging::Chain(&e);
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
