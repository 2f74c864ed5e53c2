//! `GET /events`: a user's history as it is committed, as Server-Sent Events.
//!
//! Each stream is one task (a [`Subscriber`]) that turns the process-wide
//! notices of [`crate::listener`] into this user's events and hands them to
//! the response body through a small bounded channel. A client that does
//! not read fills that channel; after [`SLOW_READER`] the subscriber gives
//! up and the stream ends, so its memory never grows. Whatever was missed
//! (a lag, the listener reconnecting, the client reconnecting with
//! `Last-Event-ID`) is read from the table in id order.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use futures_util::StreamExt;
use strop_common::ErrorBody;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::sse::Event;
use warp::{Reply, http::HeaderValue};

use crate::AppState;
use crate::auth::User;
use crate::db;
use crate::error::ApiError;
use crate::listener::{HistoryNotice, TokenNotice};

/// A comment line this often keeps proxies from timing the stream out; the
/// token is checked again each time.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events waiting for one client. Small: whatever is missed is re-read.
const BUFFER: usize = 16;
/// How long a full buffer may stay full before the subscriber is dropped.
const SLOW_READER: Duration = Duration::from_secs(10);
/// Rows per catch-up query.
const PAGE: i64 = 200;
/// Sent ids remembered to drop duplicates where catch-up and live overlap.
const REMEMBERED: usize = 1024;

/// The OpenAPI description of the route (the stream itself is [`stream`]).
#[utoipa::path(get, path = "/events", tag = "strop", security(("token" = [])),
    params(("Last-Event-ID" = Option<i64>, Header,
        description = "Resume: every entry with a higher id is sent first, from the table")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "Server-Sent Events: `event: entry`, `id:` the entry id, `data:` the \
                history entry JSON exactly as /get-history returns it, for every entry of the \
                caller committed by any server on the database; a comment line every 15 s; a \
                final `event: error` (`data:` the usual error JSON) when the token is revoked \
                or expires. A client that does not read for 10 s is dropped; reconnect with \
                Last-Event-ID."),
        (status = 400, description = "Last-Event-ID is not an entry id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
#[allow(dead_code)]
pub(crate) fn openapi() {}

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

/// Starts `user`'s stream; with `last_event_id`, every later entry is sent first.
pub fn stream(state: AppState, user: User, last_event_id: Option<i64>) -> Response {
    // Subscribed before anything is read, so nothing committed from here on is missed.
    let history = state.listener.history();
    let tokens = state.listener.tokens();
    let (out, body) = mpsc::channel(BUFFER);
    let mut token_hash = [0u8; 32];
    token_hash.copy_from_slice(&user.token_hash);
    let subscriber = Subscriber {
        state,
        user_id: user.id,
        user_name: user.name,
        token_hash,
        out,
        sent: Sent::after(last_event_id),
    };
    tokio::spawn(subscriber.run(history, tokens, last_event_id));
    let mut body = body;
    let events =
        futures_util::stream::poll_fn(move |cx| body.poll_recv(cx)).map(Ok::<Event, Infallible>);
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

/// The ids a stream has sent, so catch-up and live notices never send one twice.
struct Sent {
    /// Entries up to here the client had when it connected (`Last-Event-ID`).
    floor: i64,
    /// The latest ids sent, at most [`REMEMBERED`].
    recent: BTreeSet<i64>,
    /// The highest id sent, where a catch-up resumes.
    high: i64,
}

impl Sent {
    fn after(last_event_id: Option<i64>) -> Self {
        let floor = last_event_id.unwrap_or(i64::MIN);
        Sent {
            floor,
            recent: BTreeSet::new(),
            high: floor,
        }
    }

    fn is_new(&self, id: i64) -> bool {
        if id <= self.floor || self.recent.contains(&id) {
            return false;
        }
        // Older than everything remembered: it was sent long ago.
        !(self.recent.len() >= REMEMBERED && self.recent.first().is_some_and(|&min| id < min))
    }

    fn record(&mut self, id: i64) {
        self.recent.insert(id);
        if self.recent.len() > REMEMBERED {
            self.recent.pop_first();
        }
        self.high = self.high.max(id);
    }
}

struct Subscriber {
    state: AppState,
    user_id: i64,
    user_name: String,
    token_hash: [u8; 32],
    out: mpsc::Sender<Event>,
    sent: Sent,
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
        if last_event_id.is_some() {
            self.catch_up().await?;
        } else {
            // Without a cursor, a later catch-up starts at what exists now.
            self.sent.high = self.newest_id().await;
        }
        let start = tokio::time::Instant::now() + HEARTBEAT;
        let mut heartbeat = tokio::time::interval_at(start, HEARTBEAT);
        loop {
            tokio::select! {
                notice = history.recv() => match notice {
                    Ok(HistoryNotice::Rows(rows)) => {
                        let mine = self.user_id;
                        for row in rows.iter().filter(|r| r.user_id == mine) {
                            self.send_entry(&row.entry).await?;
                        }
                    }
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
                    let _ = self.out.try_send(Event::default().comment(""));
                }
                () = self.state.stopping.cancelled() => return Err(End::Gone),
                () = self.out.closed() => return Err(End::Gone),
            }
        }
    }

    /// Sends every row after the highest id sent, page by page, in id order.
    async fn catch_up(&mut self) -> Result<(), End> {
        loop {
            let page = {
                let client = self.state.pool.get().await.map_err(|_| End::Gone)?;
                db::history::after(&client, self.user_id, self.sent.high, PAGE)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "cannot read history for a stream");
                        End::Gone
                    })?
            };
            let full = page.len() as i64 == PAGE;
            for record in page {
                let entry = record.into_entry(self.user_name.clone());
                self.send_entry(&entry).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn newest_id(&self) -> i64 {
        let newest = async {
            let client = self.state.pool.get().await.ok()?;
            db::history::newest_id(&client, self.user_id).await.ok()
        };
        newest.await.flatten().unwrap_or(0)
    }

    async fn send_entry(&mut self, entry: &strop_common::HistoryEntry) -> Result<(), End> {
        if !self.sent.is_new(entry.id) {
            return Ok(());
        }
        let event = Event::default()
            .event("entry")
            .id(entry.id.to_string())
            .json_data(entry)
            .map_err(|_| End::Gone)?;
        self.send(event).await?;
        self.sent.record(entry.id);
        Ok(())
    }

    /// Hands one event to the response body, waiting at most [`SLOW_READER`].
    async fn send(&self, event: Event) -> Result<(), End> {
        tokio::select! {
            sent = tokio::time::timeout(SLOW_READER, self.out.send(event)) => match sent {
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
        let owner = async {
            let client = self.state.pool.get().await.ok()?;
            db::tokens::owner(&client, &self.token_hash).await.ok()
        };
        match owner.await {
            Some(None) => Err(End::Refused(ApiError::InvalidToken)),
            Some(Some(_)) | None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_ids_are_never_new_again() {
        let mut sent = Sent::after(Some(10));
        assert!(!sent.is_new(10), "the client had it");
        assert!(!sent.is_new(3));
        assert!(sent.is_new(11));
        sent.record(11);
        assert!(!sent.is_new(11));
        assert_eq!(sent.high, 11);
        // A later-committed lower id than the highest sent is still new.
        sent.record(15);
        assert!(sent.is_new(13));
    }

    #[test]
    fn memory_of_sent_ids_is_bounded() {
        let mut sent = Sent::after(None);
        for id in 0..(REMEMBERED as i64 + 100) {
            sent.record(id);
        }
        assert_eq!(sent.recent.len(), REMEMBERED);
        assert!(!sent.is_new(5), "older than all remembered counts as sent");
        assert!(sent.is_new(REMEMBERED as i64 + 100));
    }
}
