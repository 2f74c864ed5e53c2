//! The interactive TUI: `strop` with no subcommand.
//!
//! Layout: `state` holds everything the screen shows, `update` turns a message
//! into state changes plus effects (no I/O), `view` draws a state, and
//! `runtime` owns the terminal, runs effects as tasks and feeds results back.

pub mod keymap;
pub mod runtime;
pub mod state;
pub mod update;
pub mod view;

/// What `main.rs` passes in; everything else comes from saved settings or the
/// user.
#[derive(Clone, Default)]
pub struct Options {
    /// `--server` / `STROP_SERVER`. `None`: use the saved settings, else ask.
    pub server: Option<String>,
    /// `STROP_TOKEN`: used instead of the keyring and never stored.
    pub token: Option<String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Runs the TUI until the user quits. The terminal is restored on every exit
/// path, panics included.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    runtime::run(opts).await
}
