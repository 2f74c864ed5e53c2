//! Limits shared by every request: the memory budget that answers and
//! streams hold their bytes in, open streams per user, writes per user,
//! and search size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServeOptions;

/// A limit said no; `http/error.rs` turns it into the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many {what}; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        what: &'static str,
    },
    #[error("the server has no room for this now")]
    Busy,
}

/// How long an answer waits for room in the memory budget before it is 503.
const MEMORY_WAIT: Duration = Duration::from_secs(5);
/// How long a stream (events, an export) may wait on a client that reads
/// nothing, or on room in the memory budget, before it is given up.
pub const SLOW_READER: Duration = Duration::from_secs(10);
/// The budget's part one user's runs in flight may hold: one in this many.
const RUN_SHARES: usize = 16;
/// What one event or row is counted as beyond its input and output.
pub const ROW_OVERHEAD: usize = 256;

pub struct Limits {
    /// Bytes of rows a catch-up page or a `/get-history` answer holds.
    pub page_bytes: usize,
    pub max_search_bytes: usize,
    pub max_search_words: usize,
    pub streams_per_user: usize,
    open_streams: Arc<Mutex<HashMap<i64, usize>>>,
    /// Exports running per user: as many as streams, counted apart.
    open_exports: Arc<Mutex<HashMap<i64, usize>>>,
    /// Bytes of runs in flight per user, a share of the budget: one user's
    /// burst of large runs waits behind itself, not in front of everyone.
    run_shares: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    run_share_bytes: usize,
    /// Bytes every answer and stream event waiting to be sent holds.
    memory: Arc<Semaphore>,
    memory_bytes: usize,
    writes: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
    /// Searches (`q`) running at once: a quarter of the pool, so a burst of
    /// expensive searches cannot take every connection from other requests.
    searches: Arc<Semaphore>,
    /// How long a search waits for a place: as long as one may run.
    search_wait: Duration,
}

impl Limits {
    pub fn new(o: &ServeOptions) -> Self {
        let writes = Quota::with_period(o.write_limit.period.max(Duration::from_nanos(1)))
            .expect("the period is not zero")
            .allow_burst(o.write_limit.burst);
        let memory_bytes = o.stream_memory.min(Semaphore::MAX_PERMITS);
        Limits {
            searches: Arc::new(Semaphore::new((o.pool_size as usize / 4).max(1))),
            search_wait: o.statement_timeout,
            page_bytes: o.page_bytes,
            max_search_bytes: o.max_search_bytes,
            max_search_words: o.max_search_words,
            streams_per_user: o.streams_per_user,
            open_streams: Arc::default(),
            open_exports: Arc::default(),
            run_shares: Arc::default(),
            run_share_bytes: (memory_bytes / RUN_SHARES).max(1),
            memory: Arc::new(Semaphore::new(memory_bytes)),
            memory_bytes,
            writes: RateLimiter::keyed(writes),
            clock: DefaultClock::default(),
        }
    }

    /// Room for `bytes` in the memory budget, waiting up to `wait`; `None`
    /// if none came. More than the whole budget waits for all of it.
    pub async fn memory(&self, bytes: usize, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes.clamp(1, self.memory_bytes)).unwrap_or(u32::MAX);
        tokio::time::timeout(wait, self.memory.clone().acquire_many_owned(n))
            .await
            .ok()?
            .ok()
    }

    /// A place among the searches running at once, waiting as long as a
    /// search may run (the statement timeout); 503 if none came.
    pub async fn search(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        let place = self.searches.clone().acquire_owned();
        match tokio::time::timeout(self.search_wait, place).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                tracing::warn!("every search place stayed taken; refusing a search");
                Err(Refusal::Busy)
            }
        }
    }

    /// [`Self::memory`] for an answer: 503 when the budget stays full.
    pub async fn answer_memory(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Refusal> {
        self.memory(bytes, MEMORY_WAIT).await.ok_or_else(|| {
            tracing::warn!(bytes, "the answer memory budget stayed full");
            Refusal::Busy
        })
    }

    /// `held` grown or shrunk to `bytes` (at most the whole budget); growing
    /// waits as [`Self::answer_memory`] does.
    pub async fn resize(
        &self,
        held: &mut OwnedSemaphorePermit,
        bytes: usize,
    ) -> Result<(), Refusal> {
        let bytes = bytes.clamp(1, self.memory_bytes);
        match bytes.checked_sub(held.num_permits()) {
            None => drop(held.split(held.num_permits() - bytes)),
            Some(0) => {}
            Some(more) => held.merge(self.answer_memory(more).await?),
        }
        Ok(())
    }

    /// Serialises `value` as JSON within the memory budget: starts from
    /// `held` and takes more as the text grows, without waiting; `None`
    /// when the budget has no more room.
    pub fn json_within<T: serde::Serialize>(
        &self,
        value: &T,
        held: OwnedSemaphorePermit,
    ) -> Option<(Vec<u8>, OwnedSemaphorePermit)> {
        let mut out = BudgetWriter {
            buf: Vec::new(),
            held,
            memory: &self.memory,
        };
        serde_json::to_writer(&mut out, value).ok()?;
        let BudgetWriter { buf, mut held, .. } = out;
        // What was taken beyond the buffer goes back at once.
        let extra = held.num_permits().saturating_sub(buf.capacity().max(1));
        drop(held.split(extra));
        Some((buf, held))
    }

    /// Bytes of the budget not held now (for tests and metrics).
    pub fn memory_free(&self) -> usize {
        self.memory.available_permits()
    }

    /// One more open stream for `user_id`, or 429.
    pub fn open_stream(&self, user_id: i64) -> Result<StreamGuard, Refusal> {
        let what = "open event streams for this user (close one first)";
        self.open(&self.open_streams, user_id, "streams", what)
    }

    /// One more running export for `user_id`, or 429.
    pub fn open_export(&self, user_id: i64) -> Result<StreamGuard, Refusal> {
        let what = "exports running for this user (let one finish first)";
        self.open(&self.open_exports, user_id, "exports", what)
    }

    fn open(
        &self,
        counts: &Arc<Mutex<HashMap<i64, usize>>>,
        user_id: i64,
        metric: &'static str,
        what: &'static str,
    ) -> Result<StreamGuard, Refusal> {
        let mut open = counts.lock().expect("open streams poisoned");
        let n = open.entry(user_id).or_insert(0);
        if *n >= self.streams_per_user {
            crate::ops::metrics::record_rate_limited(metric);
            return Err(Refusal::RateLimited {
                retry_after_secs: 5,
                what,
            });
        }
        *n += 1;
        Ok(StreamGuard {
            open: counts.clone(),
            user_id,
        })
    }

    /// Room for a run of `user_id` holding `bytes` within the user's share
    /// (at most the whole share), waiting as [`Self::answer_memory`] does.
    /// Taken before the run's place in the shared budget.
    pub async fn run_share(&self, user_id: i64, bytes: usize) -> Result<RunShare, Refusal> {
        let share = {
            let mut shares = self.run_shares.lock().expect("run shares poisoned");
            let fresh = || Arc::new(Semaphore::new(self.run_share_bytes));
            shares.entry(user_id).or_insert_with(fresh).clone()
        };
        let n = u32::try_from(bytes.clamp(1, self.run_share_bytes)).unwrap_or(u32::MAX);
        let permit = tokio::time::timeout(MEMORY_WAIT, share.acquire_many_owned(n))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                tracing::info!(bytes, "the user's share of the memory budget stayed full");
                crate::ops::metrics::record_rate_limited("run_bytes");
                Refusal::RateLimited {
                    retry_after_secs: 1,
                    what: "large runs at once for this account (each holds server memory until answered)",
                }
            })?;
        Ok(RunShare {
            permit: Some(permit),
            shares: self.run_shares.clone(),
            user_id,
            whole: self.run_share_bytes,
        })
    }

    /// One write by `user_id`, or 429.
    pub fn write(&self, user_id: i64) -> Result<(), Refusal> {
        if self.writes.len() > 10_000 {
            self.writes.retain_recent();
        }
        self.writes.check_key(&user_id).map_err(|not_until| {
            crate::ops::metrics::record_rate_limited("writes");
            let wait = not_until.wait_time_from(self.clock.now());
            Refusal::RateLimited {
                retry_after_secs: whole_seconds(wait),
                what: "writes for this account",
            }
        })
    }
}

/// A `Vec` that grows only within the permits it holds.
struct BudgetWriter<'a> {
    buf: Vec<u8>,
    held: OwnedSemaphorePermit,
    memory: &'a Arc<Semaphore>,
}

impl std::io::Write for BudgetWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self.buf.len() + data.len();
        if needed > self.buf.capacity() {
            // The buffer's capacity is what it holds, not its length: it
            // grows in steps (doubling, at least 256 KiB) that are taken from
            // the budget first, then reserved exactly.
            let grown = needed.max(self.buf.capacity() * 2).max(256 << 10);
            let missing = grown.saturating_sub(self.held.num_permits());
            if missing > 0 {
                let take = |n: usize| {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    self.memory.clone().try_acquire_many_owned(n)
                };
                let exact = needed.saturating_sub(self.held.num_permits());
                let (extra, cap) = match take(missing) {
                    Ok(extra) => (extra, grown),
                    // Near the end of the budget, just what is missing.
                    Err(_) => (
                        take(exact)
                            .map_err(|_| std::io::Error::other("the memory budget is full"))?,
                        needed,
                    ),
                };
                self.held.merge(extra);
                self.buf.reserve_exact(cap - self.buf.len());
            } else {
                self.buf.reserve_exact(grown - self.buf.len());
            }
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whole seconds, rounded up, at least one: a client that waits this long gets in.
pub fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// An open stream of a user; dropping it closes the count.
#[derive(Debug)]
pub struct StreamGuard {
    open: Arc<Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("open streams poisoned");
        if let Some(n) = open.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

/// A run's place in its user's share; the user's entry goes with the last.
#[derive(Debug)]
pub struct RunShare {
    permit: Option<OwnedSemaphorePermit>,
    shares: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    user_id: i64,
    whole: usize,
}

impl Drop for RunShare {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut shares = self.shares.lock().expect("run shares poisoned");
        // Only the map holds it, and nothing is taken: no one waits on it.
        let unused = shares
            .get(&self.user_id)
            .is_some_and(|s| Arc::strong_count(s) == 1 && s.available_permits() == self.whole);
        if unused {
            shares.remove(&self.user_id);
        }
    }
}

/// Budget held by a response until its body is done: the accept loop moves
/// it from the response's extensions into the body.
#[derive(Clone, Debug)]
pub struct HeldMemory(pub Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl HeldMemory {
    pub fn new(permit: OwnedSemaphorePermit) -> Self {
        HeldMemory(Arc::new(Mutex::new(Some(permit))))
    }

    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().ok()?.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn limits(f: impl FnOnce(&mut ServeOptions)) -> Limits {
        let mut o = ServeOptions::default();
        f(&mut o);
        Limits::new(&o)
    }

    #[test]
    fn a_user_has_at_most_its_streams() {
        let l = limits(|o| o.streams_per_user = 2);
        let a = l.open_stream(1).unwrap();
        let _b = l.open_stream(1).unwrap();
        assert!(matches!(l.open_stream(1), Err(Refusal::RateLimited { .. })));
        assert!(l.open_stream(2).is_ok());
        drop(a);
        assert!(l.open_stream(1).is_ok());
    }

    #[tokio::test]
    async fn one_users_runs_wait_within_its_share_and_others_go_on() {
        let l = limits(|o| o.stream_memory = 16 * 1000);
        // A share is 1,000 bytes: a larger run takes all of it.
        let a = l.run_share(1, 5000).await.unwrap();
        let waiting = l.run_share(1, 10);
        tokio::pin!(waiting);
        let blocked = tokio::time::timeout(Duration::from_millis(20), waiting.as_mut()).await;
        assert!(blocked.is_err(), "a second run went past a full share");
        // Another user is not behind it.
        let b = tokio::time::timeout(Duration::from_millis(20), l.run_share(2, 10))
            .await
            .expect("another user waited")
            .unwrap();
        drop(a);
        let c = tokio::time::timeout(Duration::from_millis(20), waiting)
            .await
            .expect("the share came back")
            .unwrap();
        drop((b, c));
        assert!(l.run_shares.lock().unwrap().is_empty(), "shares kept");
    }

    #[test]
    fn exports_are_capped_per_user_apart_from_streams() {
        let l = limits(|o| o.streams_per_user = 2);
        let _exports = [l.open_export(1).unwrap(), l.open_export(1).unwrap()];
        assert!(matches!(l.open_export(1), Err(Refusal::RateLimited { .. })));
        assert!(l.open_export(2).is_ok());
        assert!(l.open_stream(1).is_ok(), "exports counted as streams");
    }

    #[test]
    fn writes_past_the_burst_wait() {
        let l = limits(|o| {
            o.write_limit.burst = NonZeroU32::new(3).unwrap();
            o.write_limit.period = Duration::from_secs(2);
        });
        for _ in 0..3 {
            l.write(7).unwrap();
        }
        match l.write(7) {
            Err(Refusal::RateLimited {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 2),
            other => panic!("{other:?}"),
        }
        l.write(8).unwrap();
    }

    #[tokio::test]
    async fn the_memory_budget_is_shared_and_returned() {
        let l = limits(|o| o.stream_memory = 1000);
        let a = l.memory(600, Duration::from_millis(10)).await.unwrap();
        assert!(l.memory(600, Duration::from_millis(10)).await.is_none());
        assert_eq!(l.memory_free(), 400);
        drop(a);
        // More than the whole budget waits for all of it.
        let all = l.memory(5000, Duration::from_millis(10)).await.unwrap();
        assert_eq!(all.num_permits(), 1000);
        drop(all);
        // An answer is built within the budget, and holds only its own size.
        let held = l.memory(10, Duration::from_millis(10)).await.unwrap();
        let (json, held) = l.json_within(&"x".repeat(500), held).unwrap();
        assert_eq!(held.num_permits(), json.len());
        let held2 = l.memory(10, Duration::from_millis(10)).await.unwrap();
        assert!(l.json_within(&"x".repeat(900), held2).is_none());
    }
}
