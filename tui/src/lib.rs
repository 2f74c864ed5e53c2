//! strop-tui: the `strop` terminal client.
//!
//! `main.rs` parses the command line: no subcommand opens the interactive
//! client ([`app`]), a subcommand runs one scripting command ([`cli`]). Both
//! share [`client`] (HTTP), [`token_store`] (OS keyring), [`settings`]
//! (saved server and user) and [`session`] (which server/user/token to use).

pub mod app;
pub mod cli;
pub mod client;
pub mod local_time;
pub mod run_input;
pub mod session;
pub mod settings;
pub mod token_store;
