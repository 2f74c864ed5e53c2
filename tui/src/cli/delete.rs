//! `strop history delete ID…` and `strop history delete --all`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use strop_common::api::ErrorCode;

use super::{Authed, CliError, print_line};

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Delete history entries by ID (each entry's "id" in `strop history
    /// --json`), or with --all every one of yours (asked to confirm on a
    /// terminal; --yes for scripts).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The entries' IDs.
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub ids: Vec<i64>,
    /// Every entry of your history, for good.
    #[arg(long)]
    pub all: bool,
    /// Do not ask before deleting all (needed without a terminal).
    #[arg(long, short = 'y', requires = "all")]
    pub yes: bool,
}

pub(super) async fn run(
    authed: &Authed,
    server: &str,
    action: HistoryAction,
) -> Result<(), CliError> {
    let HistoryAction::Delete(args) = action;
    if args.all {
        return delete_all(authed, server, args.yes).await;
    }
    // An id that is not (or no longer) yours is reported once at the end;
    // anything else (the login, the server) stops here.
    let mut missing = Vec::new();
    let mut deleted = 0;
    // `delete 5 5` is one delete: the second would find 5 gone.
    let mut ids = args.ids;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    for id in ids {
        match authed.client.delete_entry(id).await {
            Ok(done) => {
                deleted += 1;
                print_line(&done.message)?;
            }
            Err(e) if e.code() == Some(ErrorCode::NotFound) => missing.push(id),
            Err(e) => return Err(authed.refusal(e.into())),
        }
    }
    let listed = missing
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match (missing.len(), deleted) {
        (0, _) => Ok(()),
        (1, 0) => Err(CliError::Other(format!(
            "You have no history entry {listed}."
        ))),
        (1, _) => Err(CliError::Other(format!(
            "You have no history entry {listed}; the others are deleted."
        ))),
        (_, 0) => Err(CliError::Other(format!(
            "You have no history entries {listed}."
        ))),
        _ => Err(CliError::Other(format!(
            "You have no history entries {listed}; the others are deleted."
        ))),
    }
}

async fn delete_all(authed: &Authed, server: &str, yes: bool) -> Result<(), CliError> {
    if !yes {
        let user = authed.call(authed.client.whoami()).await?;
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(CliError::Usage(format!(
                "Deleting all of {user}'s history cannot be undone; without a terminal to ask \
                 on, confirm with --yes."
            )));
        }
        eprint!("Delete every history entry of {user} on {server}? This cannot be undone. [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Other(format!("Cannot read the answer: {e}.")))?;
        if !matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(CliError::Other("Nothing was deleted.".into()));
        }
    }
    let done = authed.call(authed.client.delete_all_history()).await?;
    print_line(&done.message)
}
