//! `strop sessions`, `strop password`, `strop account delete`, and
//! `strop history --export / --import`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use futures::StreamExt;
use secrecy::SecretString;
use strop_common::api::{HistoryEntry, SessionInfo};

use super::input;
use super::{Authed, CliError, JsonFlag, print_json, print_line, write_out};
use crate::local_time::Clock;
use crate::settings::Settings;
use crate::token_store::TokenStore;

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub action: Option<SessionsAction>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// Log out one session (its ID from `strop sessions`), or with --others
    /// every session but this one.
    Revoke {
        /// The session's ID.
        #[arg(required_unless_present = "others", conflicts_with = "others")]
        id: Option<i64>,
        /// Every session but this one ("log out everywhere else").
        #[arg(long)]
        others: bool,
    },
}

#[derive(Debug, Args)]
pub struct PasswordChangeArgs {
    /// Read the current and the new password from standard input, one per
    /// line, instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    pub action: AccountAction,
}

#[derive(Debug, Subcommand)]
pub enum AccountAction {
    /// Delete your account: every history entry and every session, for good.
    /// Asks for your password and for your username to confirm.
    Delete {
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Your username, to confirm without a prompt (for scripts).
        #[arg(long, value_name = "USER")]
        confirm: Option<String>,
    },
}

pub(super) async fn sessions(
    authed: &Authed,
    args: SessionsArgs,
    clock: &Clock,
) -> Result<(), CliError> {
    match args.action {
        None => {
            let list = authed.call(authed.client.sessions()).await?;
            if args.json.json {
                return print_json(&list);
            }
            print_line(&table(&list.sessions, clock))
        }
        Some(SessionsAction::Revoke { others: true, .. }) => {
            let message = authed.call(authed.client.revoke_other_sessions()).await?;
            print_line(&message)
        }
        Some(SessionsAction::Revoke { id, .. }) => {
            let id = id.ok_or_else(|| {
                CliError::Usage("Name the session: strop sessions revoke ID.".into())
            })?;
            let message = authed.call(authed.client.revoke_session(id)).await?;
            print_line(&message)
        }
    }
}

/// The sessions as aligned columns, this one marked with `*`; times in
/// `clock`'s zone, which the header names.
fn table(sessions: &[SessionInfo], clock: &Clock) -> String {
    let minute = |t: &str| clock.minute(t);
    let rows: Vec<[String; 5]> = sessions
        .iter()
        .map(|s| {
            [
                format!("{}{}", s.id, if s.current { " *" } else { "" }),
                minute(&s.created),
                minute(&s.last_used),
                minute(&s.expires),
                s.user_agent.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let created = format!("CREATED ({})", clock.label());
    let head = ["ID", created.as_str(), "LAST USED", "EXPIRES", "CLIENT"];
    let mut widths = head.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out
    };
    let mut out = vec![line(head)];
    for row in &rows {
        out.push(line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out.push("(* this session)".into());
    out.join("\n")
}

pub(super) async fn password(authed: &Authed, args: PasswordChangeArgs) -> Result<(), CliError> {
    let (current, new) = if args.password_stdin {
        let mut lines = std::io::stdin().lock().lines();
        let mut next = || {
            lines
                .next()
                .transpose()
                .map_err(|_| CliError::Usage("Standard input is not readable UTF-8.".into()))
        };
        match (next()?, next()?) {
            (Some(current), Some(new)) if !current.is_empty() && !new.is_empty() => (current, new),
            _ => {
                return Err(CliError::Usage(
                    "With --password-stdin, give the current and the new password on two lines."
                        .into(),
                ));
            }
        }
    } else {
        let current = input::prompt_password("Current password: ")?;
        let new = input::prompt_password("New password: ")?;
        if input::prompt_password("Repeat the new password: ")? != new {
            return Err(CliError::Usage("The new passwords do not match.".into()));
        }
        if new.is_empty() {
            return Err(CliError::Usage("The new password is empty.".into()));
        }
        (current, new)
    };
    let (current, new) = (SecretString::from(current), SecretString::from(new));
    let message = authed
        .call(authed.client.change_password(&current, &new))
        .await?;
    print_line(&message)
}

pub(super) async fn account(
    authed: &Authed,
    server: &str,
    args: AccountArgs,
) -> Result<(), CliError> {
    let AccountAction::Delete {
        password_stdin,
        confirm,
    } = args.action;
    let user = authed.call(authed.client.whoami()).await?;
    let typed = match confirm {
        Some(typed) => typed,
        None => {
            if !std::io::stdin().is_terminal() || password_stdin {
                return Err(CliError::Usage(format!(
                    "Confirm with --confirm {user}: deleting an account cannot be undone."
                )));
            }
            eprint!(
                "This deletes {user} on {server}: every history entry and every session, for good.\n\
                 Type the username to confirm: "
            );
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::Other(format!("Cannot read the confirmation: {e}.")))?;
            line.trim().to_string()
        }
    };
    if typed != user {
        return Err(CliError::Usage(format!(
            "\"{typed}\" is not {user}; nothing was deleted."
        )));
    }
    let password = input::password(password_stdin, false)?;
    let message = authed.call(authed.client.delete_account(&password)).await?;
    // Every token of the account is gone: forget this one too.
    let (server, name) = (server.to_string(), user.clone());
    let _ = tokio::task::spawn_blocking(move || {
        let _ = TokenStore::open().and_then(|store| store.delete(&server, &name));
        // The next start must not offer a user that no longer exists.
        Settings::update(|s| {
            if s.last_user_for(&server) == Some(name.as_str()) {
                s.last_user = None;
            }
        })
    })
    .await;
    print_line(&message)
}

/// `history --export`: the server's NDJSON, written out as it arrives.
pub(super) async fn export(authed: &Authed) -> Result<(), CliError> {
    let mut body = authed.call(authed.client.export()).await?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Other(format!("The export was cut short: {e}")))?;
        if !write_out(&String::from_utf8_lossy(&chunk))? {
            return Ok(());
        }
    }
    Ok(())
}

/// `history --import FILE`: every entry of an export, run again here. Each
/// carries an `Idempotency-Key` made from the entry, so importing the same
/// file twice (within the server's 24 hours) writes each entry once.
pub(super) async fn import(authed: &Authed, file: &str) -> Result<(), CliError> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).map_err(|e| {
            CliError::Other(format!(
                "Cannot open {file}: {}.",
                crate::settings::io_reason(&e)
            ))
        })?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut count = 0u64;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| {
            CliError::Other(format!(
                "Cannot read {file} at line {}: {}.",
                n + 1,
                crate::settings::io_reason(&e)
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: HistoryEntry = serde_json::from_str(&line).map_err(|e| {
            CliError::Usage(format!(
                "{file} line {} is not a history entry ({e}); {count} entries were imported before it.",
                n + 1
            ))
        })?;
        let key = import_key(&entry);
        authed
            .call(authed.client.run_keyed(entry.function, &entry.input, &key))
            .await?;
        count += 1;
    }
    eprintln!(
        "strop: imported {count} entr{} (each written once, however often imported).",
        if count == 1 { "y" } else { "ies" }
    );
    Ok(())
}

/// The key an imported entry carries: where it came from (its id and time
/// on the exporting server) and what it was.
fn import_key(entry: &HistoryEntry) -> String {
    format!("import-{}-{}-{}", entry.id, entry.timestamp, entry.function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_keys_are_visible_ascii_and_tell_entries_apart() {
        let entry = |id| HistoryEntry {
            function: strop_common::Function::Reverse,
            id,
            input: "a b".into(),
            output: "b a".into(),
            time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
            timestamp: "2021-04-10T19:59:53.123Z".into(),
            user: "u".into(),
        };
        let key = import_key(&entry(7));
        assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key}");
        assert_ne!(key, import_key(&entry(8)));
    }

    #[test]
    fn the_table_marks_this_session() {
        let s = |id, current| SessionInfo {
            created: "2026-12-03T09:00:12.000Z".into(),
            current,
            expires: "2026-12-04T09:00:12.000Z".into(),
            id,
            last_used: "2026-12-03T09:10:00.000Z".into(),
            user_agent: Some("strop/0.1.0".into()),
        };
        let utc = Clock::new(&crate::local_time::Zone::Utc);
        let t = table(&[s(3, false), s(4, true)], &utc);
        assert!(t.contains("4 *"), "{t}");
        assert!(t.contains("2026-12-03 09:10"), "{t}");
        assert!(t.lines().next().unwrap().starts_with("ID"));
        assert!(t.contains("CREATED (UTC)"), "{t}");
        // New-user test: --tz +09:00 showed UTC times under a UTC header;
        // the times and the header follow the zone in use.
        let tokyo = Clock::new(&"+09:00".parse().unwrap());
        let t = table(&[s(4, true)], &tokyo);
        assert!(t.contains("CREATED (+09:00)"), "{t}");
        assert!(t.contains("2026-12-03 18:10"), "{t}");
    }
}
