//! Group commit for history rows: `/reverse` and `/piglatin` queue their row
//! here and wait; batches of queued rows are inserted with one statement and
//! one commit (which also checks each row's token, when the request has not:
//! migration V12), then every waiting request gets its row's id (or the batch's
//! error, so a 200 still means a committed row), and the new ids are
//! announced on [`crate::live::notify::HISTORY_CHANNEL`] for live views.
//!
//! Batching is "smart": there is no timer. A batch starts as soon as a row
//! is queued and a batch slot is free, taking everything queued by then
//! except the rows of users who have a batch committing here; those wait for
//! that commit and go together in a later batch. A lone request therefore
//! waits for nothing but its own commit, and under load the batches grow with
//! the load.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::db;
pub use crate::db::history::{NewEntry, Saved};

/// Most rows in one batch. Keeps the `pg_notify` payload (the batch's ids,
/// at most 20 bytes each with the comma) under PostgreSQL's 8000-byte limit.
pub const MAX_BATCH: usize = 256;
/// Most bytes of text in one batch (a larger row goes alone): a batch of
/// large rows must commit well within the statement timeout, or every
/// other user's row in it fails with it.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Batches committing at once, each on its own pooled connection.
pub const BATCHES_IN_FLIGHT: usize = 2;

struct Job {
    entry: NewEntry,
    /// The SHA-256 of a token still to be checked in the insert itself.
    token: Option<[u8; 32]>,
    reply: oneshot::Sender<Result<Saved, WriteError>>,
}

/// Why a row was not recorded. One batch's failure goes to each of its
/// requests, so it is shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("history writer is stopped; row not recorded")]
    Stopped,
    #[error("the history batch task ended without an answer")]
    NoAnswer,
    #[error("history batch of {sent} rows returned {returned} rows")]
    Miscounted { sent: usize, returned: usize },
    #[error("no connection for a history batch")]
    Pool(#[source] Arc<deadpool_postgres::PoolError>),
    #[error("history batch failed")]
    Database(#[source] Arc<tokio_postgres::Error>),
    /// The account was deleted while its row waited.
    #[error("the user no longer exists; row not recorded")]
    UserGone,
    /// The row's token was unknown, revoked or expired at the insert.
    #[error("the token is not live; row not recorded")]
    TokenGone,
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
    pub async fn record(&self, entry: NewEntry) -> Result<Saved, WriteError> {
        self.record_checked(entry, None).await
    }

    /// As [`record`](Self::record), the row written only if the token with
    /// this SHA-256 (when given) is live and the entry's user's at the
    /// insert: the check costs no round trip of its own.
    pub async fn record_checked(
        &self,
        entry: NewEntry,
        token: Option<[u8; 32]>,
    ) -> Result<Saved, WriteError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            entry,
            token,
            reply,
        };
        if self.queue.send(job).await.is_err() {
            return Err(WriteError::Stopped);
        }
        // A dropped reply means the batch task died (it logged why).
        answer.await.unwrap_or(Err(WriteError::NoAnswer))
    }
}

impl Drain {
    /// Refuses new rows, commits (or fails) everything already queued, and
    /// returns when every batch has answered its requests.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %crate::ops::logging::Chain(&e), "history writer task failed");
        }
    }
}

async fn batch_loop(
    pool: deadpool_postgres::Pool,
    mut rx: mpsc::Receiver<Job>,
    mut stop: oneshot::Receiver<()>,
) {
    let room = rx.max_capacity();
    // Up to `room` rows wait here for their users' batches; while a slot is
    // free, up to `room` more are taken, so that rows of other users behind
    // a held user's (another replica holding that user's lock) still reach
    // the free slot. Beyond that, requests wait for room in the queue.
    let takes_more = |held: usize, committing: usize| {
        held < room || (committing < BATCHES_IN_FLIGHT && held < 2 * room)
    };
    let mut held: VecDeque<Job> = VecDeque::new();
    let mut busy: HashSet<i64> = HashSet::new();
    let (freed_tx, mut freed) = mpsc::unbounded_channel();
    let mut committing = 0;
    let mut running = JoinSet::new();
    let mut open = true;
    let mut stopping = false;
    loop {
        // Committing batches, and as many again still announcing: each holds
        // a pooled connection.
        while committing < BATCHES_IN_FLIGHT && running.len() < 2 * BATCHES_IN_FLIGHT {
            while takes_more(held.len(), committing) {
                match rx.try_recv() {
                    Ok(job) => held.push_back(job),
                    Err(_) => break,
                }
            }
            let batch = take_batch(&mut held, &busy, |j| (j.entry.user_id, j.entry.bytes()));
            if batch.is_empty() {
                break;
            }
            let users: Vec<i64> = batch.iter().map(|j| j.entry.user_id).collect();
            busy.extend(users.iter().copied());
            committing += 1;
            let slot = Slot {
                users,
                freed: freed_tx.clone(),
            };
            running.spawn(commit(pool.clone(), batch, slot));
        }
        if !open && held.is_empty() && committing == 0 {
            // Closed and drained: every accepted row has been answered.
            break;
        }
        tokio::select! {
            Some(users) = freed.recv() => {
                committing -= 1;
                for u in users {
                    busy.remove(&u);
                }
            }
            Some(ended) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = ended {
                    // Its requests see their answers dropped (500).
                    tracing::error!(error = %crate::ops::logging::Chain(&e), "history batch task failed");
                }
            }
            job = rx.recv(), if open && takes_more(held.len(), committing) => match job {
                Some(job) => held.push_back(job),
                None => open = false,
            },
            _ = &mut stop, if !stopping => {
                // Queued rows are still received; new sends fail.
                rx.close();
                stopping = true;
            }
        }
    }
    // The last announcements.
    while running.join_next().await.is_some() {}
}

/// A batch's claim on a commit slot and on its users; dropped (also if the
/// batch's task panics) as soon as the batch's commit has ended, before its
/// announcement, so the users' next rows need not wait for that round trip.
struct Slot {
    users: Vec<i64>,
    freed: mpsc::UnboundedSender<Vec<i64>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The loop outlives every batch, so it still receives.
        let _ = self.freed.send(std::mem::take(&mut self.users));
    }
}

/// The next batch from `held` (oldest first): every row whose user has no
/// batch in flight here, up to [`MAX_BATCH`] rows and [`MAX_BATCH_BYTES`]
/// (`user_and_bytes` tells a job's). A user's rows wait while one
/// of their batches commits, because the user's lock (migration V3) would
/// hold the new batch, and every other user's rows in it, until that commit
/// ends; waiting here lets the next batch gather them all at once instead.
/// Rows stay in queue order, so a user's rows keep their order.
fn take_batch<J>(
    held: &mut VecDeque<J>,
    busy: &HashSet<i64>,
    user_and_bytes: impl Fn(&J) -> (i64, usize),
) -> Vec<J> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut full = false;
    let mut rest = VecDeque::new();
    for job in held.drain(..) {
        let (user, size) = user_and_bytes(&job);
        // Once full, nothing more: a later row must not pass an earlier
        // row of its user.
        full = full
            || batch.len() == MAX_BATCH
            || (!batch.is_empty() && bytes + size > MAX_BATCH_BYTES);
        if !full && !busy.contains(&user) {
            bytes += size;
            batch.push(job);
        } else {
            rest.push_back(job);
        }
    }
    *held = rest;
    batch
}

/// Inserts one batch, answers each of its requests, then announces the rows.
async fn commit(pool: deadpool_postgres::Pool, batch: Vec<Job>, slot: Slot) {
    let started = Instant::now();
    let mut entries = Vec::with_capacity(batch.len());
    let mut tokens = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        entries.push(job.entry);
        tokens.push(job.token);
        replies.push(job.reply);
    }
    let result = async {
        let client = pool
            .get()
            .await
            .map_err(|e| WriteError::Pool(Arc::new(e)))?;
        let saved = db::history::insert_batch_checked(&client, &entries, &tokens)
            .await
            .map_err(|e| WriteError::Database(Arc::new(e)))?;
        Ok::<_, WriteError>((client, saved))
    }
    .await;
    // Committed (or failed): in autocommit the users' transaction locks
    // ended with the statement either way.
    drop(slot);
    crate::ops::metrics::record_history_batch(entries.len());
    tracing::debug!(
        target: "strop_server::live::history_writer",
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
            let err = WriteError::Miscounted {
                sent: replies.len(),
                returned: saved.len(),
            };
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
    for ((reply, saved), token) in replies.into_iter().zip(saved).zip(tokens) {
        if let Some(saved) = saved {
            ids.push(saved.id);
        }
        let gone = match token {
            Some(_) => WriteError::TokenGone,
            None => WriteError::UserGone,
        };
        let _ = reply.send(saved.ok_or(gone));
    }
    ids.sort_unstable();
    // The rows are committed and their requests answered; a lost announcement
    // only delays live views until they next read the history.
    if let Err(e) = crate::live::notify::announce_history(&client, &ids).await {
        tracing::warn!(error = %crate::ops::logging::Chain(&e), rows = ids.len(), "could not announce new history rows");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_every_row_of_users_without_a_batch_in_flight() {
        // (user, sequence number within the queue)
        let mut held: VecDeque<(i64, u32)> = [(1, 0), (2, 1), (1, 2), (3, 3), (2, 4)].into();
        let busy = HashSet::from([2]);
        let batch = take_batch(&mut held, &busy, |j| (j.0, 1));
        assert_eq!(batch, vec![(1, 0), (1, 2), (3, 3)]);
        assert_eq!(held, VecDeque::from([(2, 1), (2, 4)]));
    }

    #[test]
    fn a_full_batch_leaves_the_rest_in_queue_order() {
        let mut held: VecDeque<(i64, u32)> = (0..MAX_BATCH as u32 + 3)
            .map(|n| (i64::from(n % 2), n))
            .collect();
        let batch = take_batch(&mut held, &HashSet::new(), |j| (j.0, 1));
        assert_eq!(batch.len(), MAX_BATCH);
        assert!(batch.iter().enumerate().all(|(i, j)| j.1 == i as u32));
        let left: Vec<u32> = held.iter().map(|j| j.1).collect();
        assert_eq!(
            left,
            vec![MAX_BATCH as u32, MAX_BATCH as u32 + 1, MAX_BATCH as u32 + 2]
        );
    }

    #[test]
    fn a_batch_ends_at_its_byte_cap_and_a_larger_row_goes_alone() {
        let half = MAX_BATCH_BYTES / 2;
        // (user, bytes)
        let mut held: VecDeque<(i64, usize)> = [
            (1, half),
            (2, half),
            (3, 1),
            (1, MAX_BATCH_BYTES * 3),
            (4, 1),
        ]
        .into();
        let one = |j: &(i64, usize)| *j;
        let batch = take_batch(&mut held, &HashSet::new(), one);
        assert_eq!(batch, vec![(1, half), (2, half)]);
        // Full: the small row behind waits too, keeping the queue's order.
        let batch = take_batch(&mut held, &HashSet::new(), one);
        assert_eq!(batch, vec![(3, 1)]);
        let batch = take_batch(&mut held, &HashSet::new(), one);
        assert_eq!(batch, vec![(1, MAX_BATCH_BYTES * 3)]);
        assert_eq!(held, VecDeque::from([(4, 1)]));
    }

    #[test]
    fn nothing_is_taken_while_every_queued_user_is_committing() {
        let mut held: VecDeque<(i64, u32)> = [(7, 0), (7, 1)].into();
        let batch = take_batch(&mut held, &HashSet::from([7]), |j| (j.0, 1));
        assert!(batch.is_empty());
        assert_eq!(held.len(), 2);
    }
}
