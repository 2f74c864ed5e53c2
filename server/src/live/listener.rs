//! The one `LISTEN` connection of this process and what it hears, fanned
//! out inside the process.
//!
//! Every server process on a database holds one dedicated connection (not
//! from the pool) listening on three channels:
//!
//! - [`HISTORY_CHANNEL`]: the payload is the comma-separated ids of the
//!   history rows one transaction committed ([`history_payload`]). The rows
//!   are read once per process per notification and broadcast as
//!   [`HistoryNotice::Rows`], so a thousand streams cost one query.
//! - [`DELETED_CHANNEL`]: whose entries were deleted ([`notify::Deletion`]),
//!   broadcast as [`HistoryNotice::Deleted`] on the history channel, after
//!   the rows of the notices that arrived before it.
//! - [`TOKENS_CHANNEL`]: the payload is the lowercase hex SHA-256 of a
//!   revoked token, or `*` for "forget every token"
//!   ([`token_payload`], [`FLUSH_ALL`]), broadcast as [`TokenNotice`].
//!
//! Token notices are passed on by the task that reads the connection, in
//! the order they arrive, so a [`Fence`] (an empty query on the same
//! connection, shared by every request waiting at that moment) proves that
//! every revocation committed before it began has been passed on.
//!
//! A notification sent while the connection is down is lost, so a drop is
//! announced: [`Listener::listening`] turns false and [`TokenNotice::Flush`]
//! goes out (whatever caches tokens must stop trusting its cache), and after
//! the reconnect [`HistoryNotice::Resync`] tells streams to catch up from
//! the table.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Notification};
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::history::OwnedEntry;
pub use crate::live::notify::TokenNotice;
use crate::live::notify::{self, DELETED_CHANNEL, HISTORY_CHANNEL, TOKENS_CHANNEL};

/// Notices kept for subscribers that are behind; one further behind has
/// lagged and is told so by its receiver.
const HISTORY_BACKLOG: usize = 256;
const TOKENS_BACKLOG: usize = 1024;
/// Notifications waiting between the connection and the fan-out.
const INBOX: usize = 1024;
/// Requests that may wait for one fence.
const FENCE_QUEUE: usize = 4096;
/// Longest a request waits for a fence before it asks the database instead.
const FENCE_PATIENCE: Duration = Duration::from_secs(1);
/// Longest the fence's empty query may take before the connection is deemed
/// dead and replaced (a cut network is otherwise noticed after many minutes of
/// retransmissions: keepalive only probes an idle socket).
const FENCE_DEADLINE: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the history channel said, rows already read.
#[derive(Debug, Clone)]
pub enum HistoryNotice {
    /// Rows just committed, in id order, of every user.
    Rows(Arc<[OwnedEntry]>),
    /// A user's entries were deleted.
    Deleted(Arc<notify::Deletion>),
    /// Notifications may have been missed: catch up from the table.
    /// (Deletions missed so are not in the table: see guarantee 4.)
    Resync,
}

/// The handle every part of the process subscribes through.
#[derive(Clone)]
pub struct Listener {
    history: broadcast::Sender<HistoryNotice>,
    tokens: broadcast::Sender<TokenNotice>,
    listening: watch::Receiver<bool>,
    fence: Fence,
}

/// Waits until every token notice committed before the wait began has been
/// broadcast. Callers that arrive while one round trip is in flight share
/// the next one.
#[derive(Clone)]
pub struct Fence(mpsc::Sender<oneshot::Sender<()>>);

impl Fence {
    /// A fence and the end that answers it (the listener task, or a test).
    pub fn channel() -> (Fence, mpsc::Receiver<oneshot::Sender<()>>) {
        let (tx, rx) = mpsc::channel(FENCE_QUEUE);
        (Fence(tx), rx)
    }

    /// True once passed; false when the listener could not prove it within
    /// [`FENCE_PATIENCE`] (not connected, the connection dropped or stalled).
    pub async fn pass(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        let passed = async { self.0.send(tx).await.is_ok() && rx.await.is_ok() };
        tokio::time::timeout(FENCE_PATIENCE, passed)
            .await
            .unwrap_or(false)
    }
}

impl Listener {
    /// Starts the listening task on `pg`; rows are read through `pool`.
    /// The task runs until `stop` is cancelled.
    pub fn spawn(
        pg: tokio_postgres::Config,
        pool: deadpool_postgres::Pool,
        stop: CancellationToken,
    ) -> (Listener, JoinHandle<()>) {
        let (history, _) = broadcast::channel(HISTORY_BACKLOG);
        let (tokens, _) = broadcast::channel(TOKENS_BACKLOG);
        let (listening_tx, listening) = watch::channel(false);
        let (fence, fences) = Fence::channel();
        let listener = Listener {
            history,
            tokens,
            listening,
            fence,
        };
        let task = Task {
            pg: listen_config(pg),
            pool,
            out: listener.clone(),
            listening: listening_tx,
        };
        (listener, tokio::spawn(task.run(fences, stop)))
    }

    pub fn history(&self) -> broadcast::Receiver<HistoryNotice> {
        self.history.subscribe()
    }

    pub fn tokens(&self) -> broadcast::Receiver<TokenNotice> {
        self.tokens.subscribe()
    }

    /// True only while `LISTEN` is in effect: while false, notices may be
    /// missed, so nothing may trust what it has cached from them.
    pub fn listening(&self) -> watch::Receiver<bool> {
        self.listening.clone()
    }

    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }
}

type FenceQueue = mpsc::Receiver<oneshot::Sender<()>>;

fn listen_config(mut pg: tokio_postgres::Config) -> tokio_postgres::Config {
    pg.application_name("strop-server listener")
        .connect_timeout(CONNECT_TIMEOUT)
        // A connection that silently died (a cut network) is noticed within
        // about half a minute instead of never.
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        // Sent data unacknowledged this long closes the connection too.
        .tcp_user_timeout(Duration::from_secs(20));
    pg
}

struct Task {
    pg: tokio_postgres::Config,
    pool: deadpool_postgres::Pool,
    out: Listener,
    listening: watch::Sender<bool>,
}

/// How a listening session ended.
enum Ended {
    Stopped,
    Dropped(String),
}

impl Task {
    async fn run(self, mut fences: FenceQueue, stop: CancellationToken) {
        let mut retry = FIRST_RETRY;
        loop {
            let ended = tokio::select! {
                ended = self.session(&mut fences) => ended,
                () = stop.cancelled() => Ended::Stopped,
            };
            if self.listening.send_replace(false) {
                let _ = self.out.tokens.send(TokenNotice::Flush);
                retry = FIRST_RETRY;
            }
            match ended {
                Ended::Stopped => return,
                Ended::Dropped(reason) => {
                    tracing::warn!(error = %reason, retry_in = ?retry, "live history connection lost");
                }
            }
            // Nothing can be proven while disconnected: waiters are let go
            // (their sender dropped) and look the token up themselves.
            let pause = tokio::time::sleep(retry);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    () = stop.cancelled() => return,
                    waiter = fences.recv() => drop(waiter),
                }
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    /// One connection: `LISTEN`, then fan out and answer fences until it drops.
    async fn session(&self, fences: &mut FenceQueue) -> Ended {
        let (client, mut connection) = match self.pg.connect(tokio_postgres::NoTls).await {
            Ok(pair) => pair,
            Err(e) => return Ended::Dropped(crate::ops::logging::Chain(&e).to_string()),
        };
        // The connection must be polled for the client's queries to run, so
        // it is driven by its own task. Token notices go out from here, before
        // anything that follows them on the wire: a fence's answer follows
        // every notice committed before the fence was sent.
        let (inbox, mut notifications) = mpsc::channel::<Notification>(INBOX);
        let tokens = self.out.tokens.clone();
        let history = self.out.history.clone();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) if n.channel() == TOKENS_CHANNEL => {
                        match notify::parse_token(n.payload()) {
                            Some(notice) => {
                                let _ = tokens.send(notice);
                            }
                            None => {
                                tracing::warn!(payload = n.payload(), "bad strop_tokens payload");
                            }
                        }
                    }
                    // Never wait for the fan-out: fences are answered only while
                    // this loop reads. Missed rows are in the table.
                    Ok(AsyncMessage::Notification(n)) => match inbox.try_send(n) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            let _ = history.send(HistoryNotice::Resync);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            return String::from("the listener stopped");
                        }
                    },
                    Ok(_) => {}
                    Err(e) => return crate::ops::logging::Chain(&e).to_string(),
                }
            }
            String::from("the server closed the connection")
        });
        let listen =
            format!("LISTEN {HISTORY_CHANNEL}; LISTEN {DELETED_CHANNEL}; LISTEN {TOKENS_CHANNEL}");
        if let Err(e) = client.batch_execute(&listen).await {
            driver.abort();
            return Ended::Dropped(crate::ops::logging::Chain(&e).to_string());
        }
        self.listening.send_replace(true);
        tracing::info!("listening for live history and token revocations");
        // Whatever was committed while nobody listened is in the table.
        let _ = self.out.history.send(HistoryNotice::Resync);
        let fan_out = async {
            let mut batch = Vec::new();
            while notifications.recv_many(&mut batch, INBOX).await > 0 {
                self.fan_out(&batch).await;
                batch.clear();
            }
        };
        let fenced = answer_fences(&client, fences);
        let dropped = tokio::select! {
            () = fan_out => None,
            e = fenced => Some(e),
        };
        drop(client);
        drop(notifications);
        let reason = driver.await.unwrap_or_else(|e| e.to_string());
        Ended::Dropped(dropped.unwrap_or(reason))
    }

    /// Passes on what arrived together, reading all announced rows in one
    /// query, then the deletions. The rows are read after every deletion in
    /// the batch committed (its notice came first), so a row deleted in the
    /// batch is not among them, and a stream hears of a deletion only after
    /// the deleted row's own notice.
    async fn fan_out(&self, batch: &[Notification]) {
        let mut ids = Vec::new();
        let mut deleted = Vec::new();
        for n in batch {
            match n.channel() {
                HISTORY_CHANNEL => match notify::parse_history(n.payload()) {
                    Some(mut more) => ids.append(&mut more),
                    None => tracing::warn!(payload = n.payload(), "bad strop_history payload"),
                },
                DELETED_CHANNEL => match notify::parse_deleted(n.payload()) {
                    Some(deletion) => deleted.push(deletion),
                    None => {
                        tracing::warn!(payload = n.payload(), "bad strop_history_deleted payload");
                    }
                },
                other => tracing::warn!(channel = other, "notification on an unknown channel"),
            }
        }
        // Rows nobody here follows are not read. A stream that subscribes
        // after this reads the table first, where these rows already are.
        if self.out.history.receiver_count() == 0 {
            return;
        }
        if !ids.is_empty() {
            self.announce_rows(&ids).await;
        }
        for deletion in deleted {
            let _ = self
                .out
                .history
                .send(HistoryNotice::Deleted(Arc::new(deletion)));
        }
    }

    async fn announce_rows(&self, ids: &[i64]) {
        let rows = async {
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| crate::ops::logging::Chain(&e).to_string())?;
            db::history::by_ids(&client, ids)
                .await
                .map_err(|e| crate::ops::logging::Chain(&e).to_string())
        };
        let notice = match rows.await {
            Ok(rows) => HistoryNotice::Rows(rows.into()),
            Err(e) => {
                // Streams read the rows themselves when they can.
                tracing::warn!(error = %e, "cannot read announced history rows");
                HistoryNotice::Resync
            }
        };
        let _ = self.out.history.send(notice);
    }
}

/// Answers fences until the connection fails: one empty query for all the
/// waiters queued together. PostgreSQL sends every notification it holds
/// for this session before the query's ReadyForQuery, so once it returns,
/// the driver has passed on every revocation committed before it was sent.
async fn answer_fences(client: &tokio_postgres::Client, fences: &mut FenceQueue) -> String {
    let mut waiting = Vec::new();
    loop {
        if fences.recv_many(&mut waiting, FENCE_QUEUE).await == 0 {
            // Every Fence is gone: nothing more to answer.
            return std::future::pending().await;
        }
        match tokio::time::timeout(FENCE_DEADLINE, client.batch_execute("")).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return crate::ops::logging::Chain(&e).to_string(),
            Err(_) => return format!("no answer to a fence within {FENCE_DEADLINE:?}"),
        }
        for waiter in waiting.drain(..) {
            let _ = waiter.send(());
        }
    }
}
