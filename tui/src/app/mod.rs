//! The interactive TUI: `strop` with no subcommand.
//!
//! Layout: `state` holds everything the screen shows, `update` turns a message
//! into state changes plus effects (no I/O), `view` draws a state, and
//! `runtime` owns the terminal, runs effects as tasks and feeds results back.
//! Start-up goes through the same [`Launch`] as the scripting commands.

pub mod keymap;
pub mod message;
pub mod runtime;
pub mod start;
pub mod state;
pub mod update;
pub mod view;

use crate::session::Launch;
use crate::settings::Choices;

/// Runs the TUI until the user quits. The terminal is restored on every exit
/// path, panics included.
pub async fn run(launch: Launch, choices: Choices) -> anyhow::Result<()> {
    runtime::run(launch, choices).await
}
