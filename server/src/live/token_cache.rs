//! Token hash → (user, expiry) in memory, so a request with a known token
//! needs no database round trip.
//!
//! Exact across processes: every token deletion notifies `strop_tokens` in
//! its own transaction, the listener turns that into a [`TokenNotice`], and
//! before answering from memory the cache passes the listener's [`Fence`]
//! (so every revocation committed before the request arrived, on any
//! server, has been heard) and applies every notice. The fence is one empty
//! query shared by all requests waiting at that moment: far cheaper for the
//! database than a token lookup each. While the listener is not listening
//! (notices may be lost), the cache is emptied and every lookup goes to the
//! database.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::live::listener::{Fence, TokenNotice};

/// Most tokens kept (about 100 bytes each).
pub const CAPACITY: usize = 10_000;

/// A live token's owner as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user_id: i64,
    pub username: Arc<str>,
}

#[derive(Clone)]
struct Entry {
    owner: Owner,
    expires: Instant,
}

pub struct TokenCache {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
    /// Bumped by every notice, flush and listener change: a lookup that
    /// raced one of them must not leave what it read from the database.
    generation: AtomicU64,
    feeds: Mutex<Feeds>,
    fence: Fence,
}

struct Feeds {
    notices: broadcast::Receiver<TokenNotice>,
    listening: watch::Receiver<bool>,
    /// The notices' sender is gone: nothing will ever evict again.
    closed: bool,
}

impl TokenCache {
    pub fn new(
        notices: broadcast::Receiver<TokenNotice>,
        listening: watch::Receiver<bool>,
        fence: Fence,
    ) -> Self {
        TokenCache {
            entries: quick_cache::sync::Cache::new(CAPACITY),
            generation: AtomicU64::new(0),
            feeds: Mutex::new(Feeds {
                notices,
                listening,
                closed: false,
            }),
            fence,
        }
    }

    /// The owner of the token with this SHA-256, from memory when the cache
    /// may be trusted, else from `fetch` (the database: the owner and how
    /// long the token still lives, or `None` for no live token).
    pub async fn owner<F, Fut, E>(&self, token_hash: [u8; 32], fetch: F) -> Result<Option<Owner>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<(Owner, Duration)>, E>>,
    {
        let trusted = self.listening() && self.fence.pass().await && self.catch_up();
        if trusted && let Some(entry) = self.entries.get(&token_hash) {
            if entry.expires > Instant::now() {
                return Ok(Some(entry.owner));
            }
            self.entries.remove(&token_hash);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let asked = Instant::now();
        let found = fetch().await?;
        if let (true, Some((owner, remaining))) = (trusted, &found) {
            self.entries.insert(
                token_hash,
                Entry {
                    owner: owner.clone(),
                    // From before the query: never later than the database's expiry.
                    expires: asked + *remaining,
                },
            );
            // A notice applied since the query began may be about this very
            // token; the evictor bumps before it removes, so one of us wins.
            if self.generation.load(Ordering::SeqCst) != generation {
                self.entries.remove(&token_hash);
            }
        }
        Ok(found.map(|(owner, _)| owner))
    }

    /// Whether the listener is listening now (cheap: no notices applied).
    fn listening(&self) -> bool {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        !feeds.closed && *feeds.listening.borrow()
    }

    /// Applies every notice received so far; whether the cache may be used.
    fn catch_up(&self) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let feeds = &mut *feeds;
        // Any change of the listener (down, or up again after missing
        // notices) empties the cache; its end disables it for good.
        match feeds.listening.has_changed() {
            Ok(false) => {}
            Ok(true) => {
                feeds.listening.borrow_and_update();
                self.flush();
            }
            Err(_) if feeds.closed => {}
            Err(_) => {
                feeds.closed = true;
                self.flush();
            }
        }
        while !feeds.closed {
            match feeds.notices.try_recv() {
                Ok(TokenNotice::Revoked(hash)) => {
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    self.entries.remove(&hash);
                }
                Ok(TokenNotice::Flush) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.flush();
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Closed) => {
                    feeds.closed = true;
                    self.flush();
                }
            }
        }
        !feeds.closed && *feeds.listening.borrow()
    }

    /// Drops a token the database has just refused (a write found it dead),
    /// also if it was deleted without a notice.
    pub fn forget(&self, token_hash: &[u8; 32]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(token_hash);
    }

    fn flush(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }

    /// Tokens held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const A: [u8; 32] = [0xa; 32];
    const B: [u8; 32] = [0xb; 32];
    const DAY: Duration = Duration::from_secs(86_400);

    struct Rig {
        cache: TokenCache,
        notices: broadcast::Sender<TokenNotice>,
        listening: watch::Sender<bool>,
        fetches: AtomicUsize,
    }

    fn rig(listening: bool) -> Rig {
        let (notices, rx) = broadcast::channel(4);
        let (fence, mut fences) = Fence::channel();
        tokio::spawn(async move {
            while let Some(waiter) = fences.recv().await {
                let _ = waiter.send(());
            }
        });
        rig_with(listening, notices, rx, fence)
    }

    fn rig_with(
        listening: bool,
        notices: broadcast::Sender<TokenNotice>,
        rx: broadcast::Receiver<TokenNotice>,
        fence: Fence,
    ) -> Rig {
        let (listening, watch_rx) = watch::channel(listening);
        Rig {
            cache: TokenCache::new(rx, watch_rx, fence),
            notices,
            listening,
            fetches: AtomicUsize::new(0),
        }
    }

    fn owner(id: i64) -> Owner {
        Owner {
            user_id: id,
            username: format!("u{id}").into(),
        }
    }

    impl Rig {
        /// A lookup whose database says the token lives for `ttl`.
        async fn lookup(&self, hash: [u8; 32], ttl: Duration) -> Option<Owner> {
            self.cache
                .owner(hash, || async {
                    self.fetches.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(Some((owner(i64::from(hash[0])), ttl)))
                })
                .await
                .unwrap()
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_known_token_is_answered_from_memory() {
        let r = rig(true);
        assert_eq!(r.lookup(A, DAY).await, Some(owner(0xa)));
        assert_eq!(r.lookup(A, DAY).await, Some(owner(0xa)));
        assert_eq!(r.fetches(), 1);
        assert_eq!(r.cache.len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_token_is_not_remembered() {
        let r = rig(true);
        for _ in 0..2 {
            let got = r
                .cache
                .owner(A, || async {
                    r.fetches.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(None)
                })
                .await;
            assert_eq!(got, Ok(None));
        }
        assert_eq!(r.fetches(), 2);
    }

    #[tokio::test]
    async fn expiry_is_checked_on_every_use() {
        let r = rig(true);
        r.lookup(A, Duration::from_millis(30)).await;
        r.lookup(A, Duration::from_millis(30)).await;
        assert_eq!(r.fetches(), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 2, "an expired entry goes back to the database");
    }

    #[tokio::test]
    async fn a_revoked_notice_evicts_that_token_only() {
        let r = rig(true);
        r.lookup(A, DAY).await;
        r.lookup(B, DAY).await;
        r.notices.send(TokenNotice::Revoked(A)).unwrap();
        r.lookup(A, DAY).await;
        r.lookup(B, DAY).await;
        assert_eq!(r.fetches(), 3, "A again, B still from memory");
    }

    #[tokio::test]
    async fn flush_and_lag_empty_everything() {
        let r = rig(true);
        r.lookup(A, DAY).await;
        r.lookup(B, DAY).await;
        r.notices.send(TokenNotice::Flush).unwrap();
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 3);
        assert_eq!(r.cache.len(), 1);
        // More notices than the channel holds: the ones missed could be about anything.
        for _ in 0..10 {
            r.notices.send(TokenNotice::Revoked([0; 32])).unwrap();
        }
        r.lookup(B, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 5);
    }

    #[tokio::test]
    async fn while_not_listening_every_lookup_asks_the_database() {
        let r = rig(false);
        r.lookup(A, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 2);
        assert!(r.cache.is_empty());
        r.listening.send(true).unwrap();
        r.lookup(A, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 3, "trusted again once listening");
    }

    #[tokio::test]
    async fn a_listener_outage_empties_the_cache() {
        let r = rig(true);
        r.lookup(A, DAY).await;
        // Down and up again between two requests: notices may have been lost.
        r.listening.send(false).unwrap();
        r.listening.send(true).unwrap();
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 2);
    }

    #[tokio::test]
    async fn a_closed_listener_means_no_cache_at_all() {
        let r = rig(true);
        r.lookup(A, DAY).await;
        let Rig {
            cache,
            notices,
            listening,
            fetches,
        } = r;
        drop((notices, listening));
        let r = Rig {
            cache,
            notices: broadcast::channel(1).0,
            listening: watch::channel(true).0,
            fetches,
        };
        r.lookup(A, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 3);
    }

    #[tokio::test]
    async fn a_revocation_during_the_lookup_is_not_undone_by_it() {
        let r = rig(true);
        // The database answers "live", but before the answer is stored the
        // token's revocation notice arrives and is applied (by a lookup of
        // another token).
        let got = r
            .cache
            .owner(A, || async {
                r.notices.send(TokenNotice::Revoked(A)).unwrap();
                r.lookup(B, DAY).await;
                Ok::<_, ()>(Some((owner(0xa), DAY)))
            })
            .await;
        assert_eq!(got, Ok(Some(owner(0xa))));
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 2, "B once, then A from the database");
    }

    #[tokio::test]
    async fn a_revocation_committed_before_the_request_is_heard_before_it_is_answered() {
        // The listener's connection delivers a revocation just before the
        // fence's answer: the cached entry must not be used.
        let (notices, rx) = broadcast::channel(4);
        let (fence, mut fences) = Fence::channel();
        let on_the_wire = notices.clone();
        let revoke_next = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let armed = revoke_next.clone();
        tokio::spawn(async move {
            while let Some(waiter) = fences.recv().await {
                if armed.swap(false, Ordering::SeqCst) {
                    on_the_wire.send(TokenNotice::Revoked(A)).unwrap();
                }
                let _ = waiter.send(());
            }
        });
        let r = rig_with(true, notices, rx, fence);
        r.lookup(A, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 1);
        revoke_next.store(true, Ordering::SeqCst);
        r.lookup(A, DAY).await;
        assert_eq!(
            r.fetches(),
            2,
            "revoked on another server: asked the database"
        );
    }

    #[tokio::test]
    async fn a_fence_that_cannot_be_passed_means_the_database_is_asked() {
        let (notices, rx) = broadcast::channel(4);
        // The listener let go of the waiter: disconnected meanwhile.
        let (fence, mut fences) = Fence::channel();
        tokio::spawn(async move { while fences.recv().await.is_some() {} });
        let r = rig_with(true, notices, rx, fence);
        r.lookup(A, DAY).await;
        r.lookup(A, DAY).await;
        assert_eq!(r.fetches(), 2);
        assert!(r.cache.is_empty());
    }
}
