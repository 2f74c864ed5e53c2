//! `strop history --follow`: the history, then every entry as it is
//! committed (from `GET /events`), one line each, until Ctrl+C.
//!
//! A dropped stream is reopened with `Last-Event-ID` (the last id seen), so
//! nothing is missed across a reconnect or a server restart; attempts back
//! off from [`FIRST_RETRY`] to [`MAX_RETRY`]. A server that stays away for
//! [`GIVE_UP`] ends the command with its sentence (exit 4). A refused
//! keyring token is looked up again: when a login of the same user on this
//! machine replaced it, the stream goes on with the new one (one line on
//! stderr); otherwise a revoked or expired token ends it at once (exit 3),
//! saying so when another strop here logged out (the keyring entry is gone).
//! A 429 (the user's streams are all open elsewhere) is waited out as its
//! Retry-After says, with one line on stderr.

use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::SecretString;
use strop_common::api::{Function, HistoryEntry};

use super::CliError;
use super::history_table::{self, Layout};
use crate::client::{Client, ClientError, LiveEvent};
use crate::local_time::Clock;
use crate::session::Stored;

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How long the server may stay unreachable before `--follow` gives up.
pub const GIVE_UP: Duration = Duration::from_secs(20);

/// Which live entries to print: the history's own filters, applied here.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    pub function: Option<Function>,
    /// The search; an entry matches as `strop_common::search` says (the
    /// server's `q`, the TUI's list).
    pub q: String,
}

impl Filter {
    pub fn new(function: Option<Function>, q: Option<&str>) -> Filter {
        Filter {
            function,
            q: q.unwrap_or_default().to_string(),
        }
    }

    fn matches(&self, e: &HistoryEntry) -> bool {
        self.function.is_none_or(|f| f == e.function)
            && strop_common::search::matches(&self.q, &e.input, &e.output)
    }
}

/// How each entry is printed.
#[derive(Debug, Clone)]
pub(super) enum Format {
    /// One tab-separated line, times in this clock's zone.
    Plain(Clock),
    /// One compact JSON object per line (the API's entry, UTC `timestamp`).
    Json,
}

impl Format {
    pub fn line(&self, e: &HistoryEntry) -> Result<String, CliError> {
        match self {
            Format::Plain(clock) => Ok(history_table::render(
                std::slice::from_ref(e),
                Layout::Plain,
                clock,
                false,
            )),
            Format::Json => serde_json::to_string(e)
                .map(|json| json + "\n")
                .map_err(|e| CliError::Other(format!("Cannot format the entry as JSON: {e}."))),
        }
    }
}

/// Where the token came from when it is a keyring one: where to look
/// for its successor.
pub(super) struct Keyring {
    pub server: String,
    pub user: String,
}

/// What the keyring now holds for `k` against `refused` (`Same` when there
/// is no keyring token or no keyring to ask: nothing more is known).
async fn successor(k: Option<&Keyring>, refused: Option<&SecretString>) -> Stored {
    let (Some(k), Some(refused)) = (k, refused.cloned()) else {
        return Stored::Same;
    };
    let (server, user) = (k.server.clone(), k.user.clone());
    tokio::task::spawn_blocking(move || {
        let store = crate::token_store::TokenStore::open().ok()?;
        crate::session::newer_token(&store, &server, &user, &refused).ok()
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(Stored::Same)
}

/// Follows the stream after entry `after`, printing what `filter` keeps,
/// until Ctrl+C (Ok), a closed stdout (Ok), or a failure.
pub(super) async fn follow(
    client: &Client,
    keyring: Option<&Keyring>,
    after: i64,
    filter: &Filter,
    format: &Format,
) -> Result<(), CliError> {
    tokio::select! {
        result = run(client, keyring, after, filter, format) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn run(
    client: &Client,
    keyring: Option<&Keyring>,
    after: i64,
    filter: &Filter,
    format: &Format,
) -> Result<(), CliError> {
    let mut client = client.clone();
    let mut last = after;
    let mut retry = FIRST_RETRY;
    // Since when the server has not answered; `None` while it does.
    let mut away_since: Option<Instant> = None;
    let mut capped = false;
    loop {
        let attempt = Instant::now();
        match client.events(Some(last)).await {
            Ok(stream) => {
                away_since = None;
                capped = false;
                retry = FIRST_RETRY;
                let ended = match print_stream(stream, &mut last, filter, format).await? {
                    Drained::StdoutClosed => return Ok(()),
                    Drained::Ended(why) => why,
                };
                if let Some(why) = ended {
                    client = renewed(&client, keyring, why).await?;
                    continue;
                }
            }
            Err(e) if e.is_auth_failure() => {
                client = renewed(&client, keyring, e).await?;
                continue;
            }
            Err(e) if e.is_rate_limited() => {
                // The per-user stream cap: others of this user's windows hold
                // them all. Wait as told (said once per wait), then try again.
                if !capped {
                    eprintln!("strop: {LIVE_CAPPED}");
                }
                capped = true;
                tokio::time::sleep(e.retry_after().unwrap_or(MAX_RETRY)).await;
                continue;
            }
            Err(e) if gone(&e) => {
                // From the start of the first failed attempt: a stalled
                // server's attempt alone lasts the client's read timeout.
                let since = *away_since.get_or_insert(attempt);
                if since.elapsed() >= GIVE_UP {
                    return Err(e.into());
                }
            }
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// How reading one opened stream ended.
enum Drained {
    /// Nobody reads our output any more: done.
    StdoutClosed,
    /// The server ended it with an error event, or it dropped (`None`).
    Ended(Option<ClientError>),
}

/// Prints what `filter` keeps of `stream` until it ends or errs (silence
/// too: the client's read timeout ends a stream that misses its heartbeats).
async fn print_stream(
    stream: impl futures::Stream<Item = Result<LiveEvent, ClientError>>,
    last: &mut i64,
    filter: &Filter,
    format: &Format,
) -> Result<Drained, CliError> {
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(LiveEvent::Entry(entry)) => {
                *last = (*last).max(entry.id);
                if filter.matches(&entry) && !super::write_out(&format.line(&entry)?)? {
                    return Ok(Drained::StdoutClosed);
                }
            }
            // Lines already printed stay printed: --follow only adds.
            Ok(LiveEvent::Deleted(_)) => {}
            Ok(LiveEvent::Ended(why)) => return Ok(Drained::Ended(Some(why))),
            Err(_) => break,
        }
    }
    Ok(Drained::Ended(None))
}

/// The server refused the token (`why`): the client with its successor
/// from the keyring, said on stderr, or `why` when there is none.
async fn renewed(
    client: &Client,
    keyring: Option<&Keyring>,
    why: ClientError,
) -> Result<Client, CliError> {
    if !why.is_auth_failure() {
        return Err(why.into());
    }
    match successor(keyring, client.token()).await {
        Stored::Newer(newer) => {
            eprintln!(
                "strop: this token was replaced by a newer login on this machine; following on with that one."
            );
            Ok(client.with_token(Some(newer)))
        }
        Stored::Nothing => Err(CliError::LoggedOutElsewhere),
        Stored::Same => Err(why.into()),
    }
}

/// Said when the server refuses a stream with 429 (too many open for this
/// user); the stream is asked for again after the answer's Retry-After.
pub const LIVE_CAPPED: &str = "Too many live views are open for this user; \
     waiting for one to close (trying again every few seconds).";

/// A failure worth waiting out: the server is down, slow, or restarting
/// behind a proxy (502/503/504).
fn gone(e: &ClientError) -> bool {
    e.is_unreachable()
        || matches!(e, ClientError::Unexpected { detail, .. }
            if ["HTTP 502", "HTTP 503", "HTTP 504"].iter().any(|s| detail.starts_with(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: Function, input: &str, output: &str) -> HistoryEntry {
        HistoryEntry {
            function,
            id: 7,
            input: input.into(),
            output: output.into(),
            time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
            timestamp: "2021-04-10T19:59:53.123Z".into(),
            user: "wonsun".into(),
        }
    }

    #[test]
    fn live_entries_pass_the_same_filters_as_the_history() {
        let e = entry(Function::Reverse, "Alpha beta", "ateb ahplA");
        assert!(Filter::default().matches(&e));
        assert!(Filter::new(Some(Function::Reverse), Some("BETA alpha")).matches(&e));
        assert!(Filter::new(None, Some("ateb")).matches(&e), "output counts");
        assert!(!Filter::new(Some(Function::Piglatin), None).matches(&e));
        assert!(!Filter::new(None, Some("alpha gamma")).matches(&e));
    }

    #[test]
    fn one_line_per_entry_plain_or_json() {
        let e = entry(Function::Piglatin, "a\tb", "x");
        let plain = Format::Plain(Clock::new(&crate::local_time::Zone::Utc))
            .line(&e)
            .unwrap();
        assert_eq!(plain, "2021-04-10 19:59:53 +00:00\tpiglatin\ta\\tb\tx\n");
        let json = Format::Json.line(&e).unwrap();
        assert_eq!(json.lines().count(), 1);
        let back: HistoryEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
