//! `GET /events`: a user's history as it is committed, as Server-Sent Events.
//!
//! Each stream is one task (a [`Subscriber`]) that turns the process-wide
//! notices of [`crate::live::listener`] into this user's events and hands them to
//! the response body through a small bounded channel. A client that does
//! not read fills that channel; after [`SLOW_READER`] the subscriber gives
//! up and the stream ends, so its memory never grows. Whatever was missed
//! (a lag, the listener reconnecting, the client reconnecting with
//! `Last-Event-ID`) is read from the table in id order.
//!
//! A stream sends a user's entries strictly in id order, each only after the
//! one before it, so the last id a client saw is a cursor that misses
//! nothing. Batches are announced after they commit, so two batches of one
//! user may be announced out of order; a row whose predecessor has not been
//! sent waits for it (at most [`GAP_WAIT`], then the table is read).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt;
use strop_common::ErrorBody;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::sse::Event;
use warp::{Reply, http::HeaderValue};

use crate::AppState;
use crate::db;
use crate::db::history::OwnedEntry;
use crate::http::auth::{self, User};
use crate::http::error::ApiError;
use crate::limits::{SLOW_READER, StreamGuard};
use crate::live::listener::{HistoryNotice, TokenNotice};

/// A comment line this often keeps proxies from timing the stream out and
/// tells the client the stream is alive; the token is checked again each time.
pub const HEARTBEAT: Duration = strop_common::EVENTS_HEARTBEAT;
/// Events waiting for one client. Small: whatever is missed is re-read.
const BUFFER: usize = 16;
/// Rows per catch-up query at most (the page byte budget usually ends it first).
const PAGE: i64 = 200;
/// How long a row may wait for the announcement of the row before it.
const GAP_WAIT: Duration = Duration::from_millis(250);
/// Rows that may wait so; more and the table is read at once.
const GAP_ROWS: usize = 256;

/// The id of the user's newest row (0 for none).
async fn newest_id(state: &AppState, user_id: i64) -> Result<i64, ApiError> {
    let client = state.pool.get().await?;
    Ok(db::history::newest_id(&client, user_id).await?.unwrap_or(0))
}

/// The `Last-Event-ID` header as an entry id; anything else is a 400.
pub fn last_event_id() -> BoxedFilter<(Option<i64>,)> {
    warp::header::optional::<String>("last-event-id")
        .and_then(|raw: Option<String>| async move {
            match raw.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(id) => id.parse::<i64>().map(Some).map_err(|_| {
                    warp::reject::custom(ApiError::invalid(
                        "The Last-Event-ID header must be an entry id.",
                    ))
                }),
            }
        })
        .boxed()
}

/// Starts `user`'s stream; with `last_event_id`, every later entry is sent
/// first. A user with as many open streams as allowed gets 429 instead.
#[utoipa::path(get, path = "/events", tag = "strop", security(("token" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, nullable = false,
        description = "Resume: every entry with a higher id is sent first, from the table. \
            Absent or empty: the stream starts at what exists now.")),
    responses(
        (status = 200, content_type = "text/event-stream", body = strop_common::HistoryEntry,
            description = "Server-Sent Events. Each `event: entry` has `id:` the entry id and \
                `data:` one history entry (the schema shown, exactly as /get-history returns \
                it), for every entry of the caller committed by any server on the database; an \
                `event: delete` with no `id:` and `data:` a DeleteEvent (`{\"ids\": [12], \
                \"up_to\": null}`, or `up_to` set when all history was deleted) when entries \
                of the caller are deleted on any server (not replayed on resume: reload what \
                you show after reconnecting); a comment line every 15 s; a final `event: error` (`data:` the usual error JSON) \
                when the token is revoked or expires. A client that does not read for 10 s is \
                dropped; reconnect with Last-Event-ID."),
        (status = 400, description = "Last-Event-ID is not an entry id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 429, description = "The user has as many open streams as allowed \
            (STROP_STREAMS_PER_USER); Retry-After says when to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn stream(state: AppState, user: User, last_event_id: Option<i64>) -> Response {
    let open = match state.limits.open_stream(user.id) {
        Ok(open) => open,
        Err(refused) => return ApiError::from(refused).into_response(),
    };
    // Subscribed before anything is read, so nothing committed from here on is missed.
    let history = state.listener.history();
    let tokens = state.listener.tokens();
    // Without a cursor the stream starts at what exists before its answer
    // begins: a row committed after the client sees the 200 is always sent.
    let start = match last_event_id {
        Some(id) => id,
        None => match newest_id(&state, user.id).await {
            Ok(newest) => newest,
            Err(err) => return err.into_response(),
        },
    };
    let (out, body) = mpsc::channel(BUFFER);
    let subscriber = Subscriber {
        state,
        user_id: user.id,
        user_name: user.name,
        token_hash: user.token_hash,
        out,
        cursor: Cursor::after(Some(start)),
        _open: open,
    };
    tokio::spawn(subscriber.run(history, tokens, last_event_id));
    let mut body = body;
    // An event's share of the memory budget is returned once the body takes it.
    let events = futures_util::stream::poll_fn(move |cx| body.poll_recv(cx))
        .map(|(event, _memory)| Ok::<Event, Infallible>(event));
    let mut res = warp::sse::reply(events).into_response();
    // nginx and some other proxies buffer responses unless told not to.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Why a stream ends.
enum End {
    /// The client went away, did not read, or the server is stopping.
    Gone,
    /// The token is no longer valid; the client is told why.
    Refused(ApiError),
}

/// Where a stream is: the last id sent, and announced rows that wait for
/// the rows before them.
struct Cursor {
    /// Every row of the user up to here has been sent (or the client had it
    /// when it connected: `Last-Event-ID`).
    high: i64,
    /// Announced rows whose predecessor is not sent yet, by id.
    waiting: BTreeMap<i64, OwnedEntry>,
    /// When the oldest of them began to wait.
    gap_since: Option<tokio::time::Instant>,
}

impl Cursor {
    fn after(last_event_id: Option<i64>) -> Self {
        Cursor {
            high: last_event_id.unwrap_or(0),
            waiting: BTreeMap::new(),
            gap_since: None,
        }
    }

    /// Takes an announced row; returns, in order, the rows now ready to send
    /// (`row` and whatever waited for it).
    fn offer(&mut self, row: &OwnedEntry) -> Vec<OwnedEntry> {
        if row.entry.id <= self.high {
            return Vec::new();
        }
        self.waiting.insert(row.entry.id, row.clone());
        let mut ready = Vec::new();
        let mut high = self.high;
        while let Some(entry) = self.waiting.first_entry() {
            if entry.get().prev_id > high {
                break;
            }
            let row = entry.remove();
            high = row.entry.id;
            ready.push(row);
        }
        self.gap_since = match (self.waiting.is_empty(), self.gap_since) {
            (true, _) => None,
            (false, None) => Some(tokio::time::Instant::now()),
            (false, since) if ready.is_empty() => since,
            (false, _) => Some(tokio::time::Instant::now()),
        };
        ready
    }

    /// Records a row as sent (live or from the table).
    fn sent(&mut self, id: i64) {
        self.high = self.high.max(id);
        self.waiting.retain(|&waiting, _| waiting > self.high);
        if self.waiting.is_empty() {
            self.gap_since = None;
        }
    }

    /// Drops waiting rows that were deleted.
    fn forget(&mut self, gone: &strop_common::DeleteEvent) {
        self.waiting.retain(|&id, _| !gone.covers(id));
        if self.waiting.is_empty() {
            self.gap_since = None;
        }
    }

    /// When the rows that wait must be read from the table instead.
    fn gap_deadline(&self) -> Option<tokio::time::Instant> {
        if self.waiting.len() > GAP_ROWS {
            return Some(tokio::time::Instant::now());
        }
        self.gap_since.map(|since| since + GAP_WAIT)
    }
}

struct Subscriber {
    state: AppState,
    user_id: i64,
    user_name: String,
    token_hash: [u8; 32],
    out: mpsc::Sender<(Event, Option<OwnedSemaphorePermit>)>,
    cursor: Cursor,
    /// Counts this stream against the user's open streams.
    _open: StreamGuard,
}

impl Subscriber {
    async fn run(
        mut self,
        history: broadcast::Receiver<HistoryNotice>,
        tokens: broadcast::Receiver<TokenNotice>,
        last_event_id: Option<i64>,
    ) {
        let Err(end) = self.follow(history, tokens, last_event_id).await;
        if let End::Refused(err) = end {
            let body = ErrorBody {
                error: err.code(),
                message: err.message(),
            };
            if let Ok(event) = Event::default().event("error").json_data(body) {
                let _ = self.send(event).await;
            }
        }
    }

    async fn follow(
        &mut self,
        mut history: broadcast::Receiver<HistoryNotice>,
        mut tokens: broadcast::Receiver<TokenNotice>,
        last_event_id: Option<i64>,
    ) -> Result<Infallible, End> {
        // Without a cursor the stream began at the newest row (`stream`).
        if last_event_id.is_some() {
            self.catch_up().await?;
        }
        let start = tokio::time::Instant::now() + HEARTBEAT;
        let mut heartbeat = tokio::time::interval_at(start, HEARTBEAT);
        loop {
            let gap = self.cursor.gap_deadline();
            tokio::select! {
                notice = history.recv() => match notice {
                    Ok(HistoryNotice::Rows(rows)) => {
                        let mine = self.user_id;
                        for row in rows.iter().filter(|r| r.user_id == mine) {
                            for ready in self.cursor.offer(row) {
                                self.send_entry(&ready.entry).await?;
                            }
                        }
                    }
                    Ok(HistoryNotice::Deleted(deletion)) if deletion.user_id == self.user_id => {
                        self.send_deleted(&deletion.gone).await?;
                    }
                    Ok(HistoryNotice::Deleted(_)) => {}
                    // Missed notices: the table has every row.
                    Ok(HistoryNotice::Resync) | Err(RecvError::Lagged(_)) => {
                        self.catch_up().await?;
                    }
                    Err(RecvError::Closed) => return Err(End::Gone),
                },
                notice = tokens.recv() => match notice {
                    Ok(TokenNotice::Revoked(hash)) if hash == self.token_hash => {
                        return Err(End::Refused(ApiError::InvalidToken));
                    }
                    Ok(TokenNotice::Revoked(_)) => {}
                    Ok(TokenNotice::Flush) | Err(RecvError::Lagged(_)) => {
                        self.check_token().await?;
                    }
                    Err(RecvError::Closed) => return Err(End::Gone),
                },
                _ = heartbeat.tick() => {
                    self.check_token().await?;
                    // A full buffer already gives the client something to read.
                    let _ = self.out.try_send((Event::default().comment(""), None));
                }
                // The row before a waiting one was never announced here (its
                // announcement failed): the table has it.
                () = sleep_until(gap), if gap.is_some() => self.catch_up().await?,
                () = self.state.stopping.cancelled() => return Err(End::Gone),
                () = self.out.closed() => return Err(End::Gone),
            }
        }
    }

    /// Sends every row after the highest id sent, page by page, in id order.
    /// A page holds at most the page byte budget, taken from the memory
    /// budget before it is read; each event keeps its share until sent.
    async fn catch_up(&mut self) -> Result<(), End> {
        let limits = self.state.limits.clone();
        loop {
            let mut held = limits
                .memory(limits.page_bytes, SLOW_READER)
                .await
                .ok_or_else(|| {
                    tracing::info!(user = %self.user_name, "the stream memory budget stayed full; ending a stream");
                    End::Gone
                })?;
            let page_bytes = i64::try_from(held.num_permits()).unwrap_or(i64::MAX);
            let (page, cut) = {
                let client = self.state.pool.get().await.map_err(|_| End::Gone)?;
                db::history::after(&client, self.user_id, self.cursor.high, PAGE, page_bytes)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %crate::ops::logging::Chain(&e), "cannot read history for a stream");
                        End::Gone
                    })?
            };
            let full = page.len() as i64 == PAGE || cut;
            for record in page {
                let entry = record.into_entry(self.user_name.clone());
                let size = entry_bytes(&entry);
                let share = match held.split(size.min(held.num_permits())) {
                    Some(share) if share.num_permits() >= size => Some(share),
                    // The row that crossed the budget: the rest of its size.
                    _ => None,
                };
                self.send_entry_with(&entry, share).await?;
            }
            drop(held);
            if !full {
                return Ok(());
            }
        }
    }

    async fn send_entry(&mut self, entry: &strop_common::HistoryEntry) -> Result<(), End> {
        self.send_entry_with(entry, None).await
    }

    /// Sends `entry` holding `memory` of the budget, or its size taken now.
    async fn send_entry_with(
        &mut self,
        entry: &strop_common::HistoryEntry,
        memory: Option<OwnedSemaphorePermit>,
    ) -> Result<(), End> {
        if entry.id <= self.cursor.high {
            return Ok(());
        }
        let memory = match memory {
            Some(memory) => memory,
            None => self
                .state
                .limits
                .memory(entry_bytes(entry), SLOW_READER)
                .await
                .ok_or_else(|| {
                    tracing::info!(user = %self.user_name, "the stream memory budget stayed full; ending a stream");
                    End::Gone
                })?,
        };
        let event = Event::default()
            .event("entry")
            .id(entry.id.to_string())
            .json_data(entry)
            .map_err(|_| End::Gone)?;
        self.send_held(event, Some(memory)).await?;
        self.cursor.sent(entry.id);
        // A catch-up over large rows is CPU work event after event, and a
        // channel with room never makes the task wait: let others run.
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Tells the client these entries are gone. No `id:`: a deletion is not
    /// a position in the history, so the client's `Last-Event-ID` stays the
    /// last entry it saw. A waiting row that went is not sent at all.
    async fn send_deleted(&mut self, gone: &strop_common::DeleteEvent) -> Result<(), End> {
        self.cursor.forget(gone);
        let event = Event::default()
            .event("delete")
            .json_data(gone)
            .map_err(|_| End::Gone)?;
        self.send(event).await
    }

    /// Hands one event to the response body, waiting at most [`SLOW_READER`].
    async fn send(&self, event: Event) -> Result<(), End> {
        self.send_held(event, None).await
    }

    async fn send_held(
        &self,
        event: Event,
        memory: Option<OwnedSemaphorePermit>,
    ) -> Result<(), End> {
        tokio::select! {
            sent = tokio::time::timeout(SLOW_READER, self.out.send((event, memory))) => match sent {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::Gone),
                Err(_) => {
                    tracing::info!(user = %self.user_name, "dropping a stream whose client does not read");
                    Err(End::Gone)
                }
            },
            () = self.state.stopping.cancelled() => Err(End::Gone),
        }
    }

    /// Ends the stream if the token was revoked or has expired. A database
    /// that does not answer is not a reason to: nothing is written meanwhile.
    async fn check_token(&self) -> Result<(), End> {
        match auth::lookup(&self.state, self.token_hash).await {
            Ok(None) => Err(End::Refused(ApiError::InvalidToken)),
            Ok(Some(_)) | Err(_) => Ok(()),
        }
    }
}

/// What an entry's event is counted as in the memory budget.
fn entry_bytes(entry: &strop_common::HistoryEntry) -> usize {
    entry.input.len() + entry.output.len() + crate::limits::ROW_OVERHEAD
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, prev_id: i64) -> OwnedEntry {
        OwnedEntry {
            user_id: 1,
            prev_id,
            entry: strop_common::HistoryEntry {
                function: strop_common::Function::Reverse,
                id,
                input: "x".into(),
                output: "x".into(),
                time: String::new(),
                timestamp: String::new(),
                user: "u".into(),
            },
        }
    }

    fn ids(rows: Vec<OwnedEntry>) -> Vec<i64> {
        rows.into_iter().map(|r| r.entry.id).collect()
    }

    #[test]
    fn rows_in_order_go_out_at_once() {
        let mut c = Cursor::after(Some(10));
        assert_eq!(ids(c.offer(&row(12, 10))), [12]);
        c.sent(12);
        assert_eq!(ids(c.offer(&row(15, 12))), [15]);
        c.sent(15);
        assert!(c.gap_deadline().is_none());
    }

    #[test]
    fn a_row_announced_before_its_predecessor_waits_for_it() {
        let mut c = Cursor::after(Some(10));
        assert!(c.offer(&row(13, 12)).is_empty(), "12 is not sent yet");
        assert!(c.gap_deadline().is_some());
        assert_eq!(ids(c.offer(&row(12, 10))), [12, 13]);
        c.sent(12);
        c.sent(13);
        assert!(c.gap_deadline().is_none());
    }

    #[test]
    fn what_the_client_has_is_never_sent_again() {
        let mut c = Cursor::after(Some(10));
        assert!(c.offer(&row(10, 4)).is_empty());
        assert!(c.offer(&row(3, 0)).is_empty());
        assert!(c.gap_deadline().is_none());
    }

    #[test]
    fn a_catch_up_past_waiting_rows_releases_them() {
        let mut c = Cursor::after(Some(10));
        assert!(c.offer(&row(13, 12)).is_empty());
        // The table had 12 and 13.
        c.sent(12);
        c.sent(13);
        assert!(c.gap_deadline().is_none());
        assert!(c.offer(&row(13, 12)).is_empty());
    }

    #[test]
    fn a_deleted_waiting_row_is_never_sent() {
        let mut c = Cursor::after(Some(10));
        assert!(c.offer(&row(13, 12)).is_empty());
        c.forget(&strop_common::DeleteEvent {
            ids: vec![13],
            up_to: None,
        });
        assert!(c.gap_deadline().is_none());
        assert_eq!(ids(c.offer(&row(12, 10))), [12]);
    }

    #[test]
    fn too_many_waiting_rows_read_the_table_at_once() {
        let mut c = Cursor::after(Some(0));
        for id in 0..=GAP_ROWS as i64 {
            assert!(c.offer(&row(100 + id, 99 + id)).is_empty());
        }
        assert!(c.gap_deadline().unwrap() <= tokio::time::Instant::now());
    }
}
