//! `strop`: the interactive client, or one scripting command.

use std::process::ExitCode;

use strop_tui::app;
use strop_tui::cli::{self, exit};
use strop_tui::session::Launch;
use strop_tui::token_store;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    // Before the runtime's threads exist, so that they all share one keyring session.
    token_store::prepare_process();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("strop: cannot start the async runtime: {e}.");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let mut cli = cli;
    match cli.command.take() {
        Some(command) => match runtime.block_on(cli::execute(cli, command)) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("strop: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        None if !std::io::IsTerminal::is_terminal(&std::io::stdin())
            || !std::io::IsTerminal::is_terminal(&std::io::stdout()) =>
        {
            eprintln!("strop: {}", cli::NO_TERMINAL);
            ExitCode::from(exit::USAGE)
        }
        None => {
            // The one start-up path: the same Launch the commands use.
            let launch = Launch::new(cli.server.clone(), cli.user.clone());
            let choices = cli.choices(&launch.settings);
            match runtime.block_on(app::run(launch, choices)) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(e) => {
                    eprintln!("strop: {e:#}");
                    ExitCode::from(exit::FAILURE)
                }
            }
        }
    }
}
