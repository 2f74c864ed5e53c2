//! Group commit for history rows: `/reverse` and `/piglatin` queue their row
//! here and wait; batches of queued rows are inserted with one statement and
//! one commit, then every waiting request gets its row's id (or the batch's
//! error, so a 200 still means a committed row), and the new ids are
//! announced on [`crate::listener::HISTORY_CHANNEL`] for live views.
//!
//! Batching is "smart": there is no timer. A batch starts as soon as a row
//! is queued and a batch slot is free, taking everything queued by then; rows
//! that arrive while all slots are committing form the next batches. A lone
//! request therefore waits for nothing but its own commit, and under load the
//! batches grow with the load.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::db;
pub use crate::db::history::{NewEntry, Saved};
use crate::error::{ApiError, Cause};

/// Most rows in one batch. Keeps the `pg_notify` payload (the batch's ids,
/// at most 20 bytes each with the comma) under PostgreSQL's 8000-byte limit.
pub const MAX_BATCH: usize = 256;
/// Default bound of the queue; a request finding it full waits for room.
pub const DEFAULT_QUEUE: usize = 256;
/// Batches committing at once, each on its own pooled connection.
pub const BATCHES_IN_FLIGHT: usize = 2;

struct Job {
    entry: NewEntry,
    reply: oneshot::Sender<Result<Saved, ApiError>>,
}

/// The handle requests queue their rows through; cheap to clone.
#[derive(Clone)]
pub struct HistoryWriter {
    queue: mpsc::Sender<Job>,
}

/// Owns the batching task; [`Drain::finish`] stops it once the queue is empty.
pub struct Drain {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HistoryWriter {
    /// Starts the batching task on `pool` with room for `queue` waiting rows.
    pub fn start(pool: deadpool_postgres::Pool, queue: usize) -> (HistoryWriter, Drain) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(batch_loop(pool, rx, stopped));
        (HistoryWriter { queue: tx }, Drain { stop, task })
    }

    /// Records `entry`; returns once its row is committed. Waits for room
    /// when the queue is full. After shutdown, answers `Unavailable`.
    pub async fn record(&self, entry: NewEntry) -> Result<Saved, ApiError> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job { entry, reply }).await.is_err() {
            return Err(ApiError::Unavailable(Cause::msg(
                "history writer is stopped; row not recorded",
            )));
        }
        // A dropped reply means the batch task died (it logged why).
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::Internal(Cause::msg(
                "the history batch task ended without an answer",
            )))
        })
    }
}

impl Drain {
    /// Refuses new rows, commits (or fails) everything already queued, and
    /// returns when every batch has answered its requests.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "history writer task failed");
        }
    }
}

async fn batch_loop(
    pool: deadpool_postgres::Pool,
    mut rx: mpsc::Receiver<Job>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let mut stopping = false;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let first = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                // Closed and empty: every queued row has a batch.
                None => break,
            },
            _ = &mut stop, if !stopping => {
                // Queued rows are still received; new sends fail.
                rx.close();
                stopping = true;
                continue;
            }
        };
        let mut batch = Vec::with_capacity(rx.len().min(MAX_BATCH - 1) + 1);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        tokio::spawn(commit(pool.clone(), batch, slot));
    }
    // Every slot back means every batch has answered.
    let _ = slots.acquire_many(BATCHES_IN_FLIGHT as u32).await;
}

/// Inserts one batch, answers each of its requests, then announces the rows.
async fn commit(pool: deadpool_postgres::Pool, batch: Vec<Job>, _slot: OwnedSemaphorePermit) {
    let started = Instant::now();
    let (entries, replies): (Vec<NewEntry>, Vec<_>) =
        batch.into_iter().map(|j| (j.entry, j.reply)).unzip();
    let result = async {
        let client = pool.get().await?;
        let saved = db::history::insert_batch(&client, &entries).await?;
        Ok::<_, ApiError>((client, saved))
    }
    .await;
    crate::metrics::record_history_batch(entries.len());
    tracing::debug!(
        target: "strop_server::history_writer",
        rows = entries.len(),
        ok = result.is_ok(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "history batch"
    );
    let (client, saved) = match result {
        Ok((client, saved)) if saved.len() == replies.len() => (client, saved),
        Ok((_, saved)) => {
            // The statement returns one row per entry; anything else is a bug,
            // and no request may be told its row is there.
            let err = ApiError::Internal(Cause::msg(format!(
                "history batch of {} rows returned {} rows",
                replies.len(),
                saved.len()
            )));
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
        Err(err) => {
            // Each request logs it once, in its own span, with the cause.
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
    };
    let mut ids = Vec::with_capacity(saved.len());
    for (reply, saved) in replies.into_iter().zip(saved) {
        ids.push(saved.id);
        let _ = reply.send(Ok(saved));
    }
    ids.sort_unstable();
    // The rows are committed and their requests answered; a lost announcement
    // only delays live views until they next read the history.
    let payload = crate::listener::history_payload(&ids);
    if let Err(e) = db::history::announce(&client, &payload).await {
        tracing::warn!(error = %e, rows = ids.len(), "could not announce new history rows");
    }
}
