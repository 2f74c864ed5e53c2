//! The login limiter: `/authenticate` and `/register` **failures** per
//! username (for any address) and per client address (a larger budget), and
//! a high ceiling on successes per address that only bounds the hashing
//! they cost. Each is a token bucket (a burst, then one more per period).
//!
//! An attempt reserves one unit of each bucket before any password hashing
//! (so concurrent guesses cannot overrun a budget) and gives back the units
//! that did not apply once its outcome is known: a success returns its
//! failure units, a failure its success unit. An attempt that finds a bucket
//! empty while other attempts still hold units of it waits (a few seconds at
//! most) for them to settle: parallel correct logins are not failures.
//!
//! A username's failures are counted apart for each address where that
//! user signed in within [`KNOWN_FOR`]: guesses from elsewhere cannot lock a
//! user out of the places they sign in from (their own failures there still
//! count, in a bucket of their own).
//!
//! Limits live in this process: behind a load balancer each replica limits
//! on its own. The client address is the socket peer unless a trusted proxy
//! header is configured (then its last address, the one the proxy added).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use warp::http::{HeaderMap, HeaderName};

use crate::limits::{Refusal, whole_seconds};
use crate::ops::metrics;

/// Keys kept before full buckets are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// How long an address where a user signed in stays theirs.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Known (user, address) pairs kept at most; when full of unexpired pairs,
/// new ones are not remembered (their failures count as anyone's).
const KNOWN_AT_MOST: usize = 100_000;

/// A username's failure bucket: its own address when the user signed in
/// from there, else the one shared by every other address.
type UserKey = (String, Option<IpAddr>);

pub use crate::config::LoginLimit;

/// The three buckets of the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub per_username: LoginLimit,
    pub per_address: LoginLimit,
    pub successes: LoginLimit,
}

/// Buckets by key: a bucket is its level at a time and the units that
/// attempts hold of it, not yet settled.
struct Buckets<K> {
    limit: LoginLimit,
    levels: Mutex<HashMap<K, Level>>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    level: f64,
    at: Instant,
    held: u32,
}

/// Why a bucket had no unit now.
enum Shortfall {
    /// Attempts hold units that may come back; else one refills after this.
    Held(Duration),
    /// Refills after this.
    Empty(Duration),
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(limit: LoginLimit) -> Self {
        Buckets {
            limit,
            levels: Mutex::new(HashMap::new()),
        }
    }

    fn burst(&self) -> f64 {
        f64::from(self.limit.burst.get())
    }

    fn refilled(&self, b: Level, now: Instant) -> f64 {
        let period = self.limit.period.as_secs_f64().max(1e-9);
        (b.level + now.duration_since(b.at).as_secs_f64() / period).min(self.burst())
    }

    /// Takes one unit for `key`, held until settled or given back.
    fn take(&self, key: &K) -> Result<(), Shortfall> {
        let now = Instant::now();
        let mut levels = self.levels.lock().expect("limiter poisoned");
        if levels.len() > PRUNE_ABOVE {
            levels.retain(|_, b| b.held > 0 || self.refilled(*b, now) < self.burst());
        }
        let held = levels.get(key).map_or(0, |b| b.held);
        let level = levels
            .get(key)
            .map_or(self.burst(), |b| self.refilled(*b, now));
        if level < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - level) * self.limit.period.as_secs_f64());
            return Err(match held {
                0 => Shortfall::Empty(wait),
                _ => Shortfall::Held(wait),
            });
        }
        let b = Level {
            level: level - 1.0,
            at: now,
            held: held + 1,
        };
        levels.insert(key.clone(), b);
        Ok(())
    }

    /// A held unit for `key` ends: returned to the bucket, or spent.
    fn settle(&self, key: &K, returned: bool) {
        let now = Instant::now();
        let mut levels = self.levels.lock().expect("limiter poisoned");
        if let Some(b) = levels.get_mut(key) {
            let level = self.refilled(*b, now) + if returned { 1.0 } else { 0.0 };
            *b = Level {
                level: level.min(self.burst()),
                at: now,
                held: b.held.saturating_sub(1),
            };
        }
    }
}

impl Default for LoginLimit {
    /// Failures of one username.
    fn default() -> Self {
        LoginLimit {
            burst: NonZeroU32::new(5).expect("5 is not zero"),
            period: Duration::from_secs(3),
        }
    }
}

impl LoginLimit {
    /// Failures from one address: a larger budget than one username's.
    pub fn default_address() -> Self {
        LoginLimit {
            burst: NonZeroU32::new(30).expect("30 is not zero"),
            period: Duration::from_secs(3),
        }
    }

    /// Successes from one address: only to bound the hashing they cost.
    pub fn default_success() -> Self {
        LoginLimit {
            burst: NonZeroU32::new(120).expect("120 is not zero"),
            period: Duration::from_millis(250),
        }
    }
}

pub struct LoginLimiter {
    by_username: Buckets<UserKey>,
    /// When each user last signed in from each address.
    known: Mutex<HashMap<(String, IpAddr), Instant>>,
    by_address: Buckets<IpAddr>,
    successes: Buckets<IpAddr>,
    trusted_proxy_header: Option<HeaderName>,
    /// Woken whenever an attempt settles, for attempts waiting on held units.
    settled: Notify,
}

/// How long an attempt waits for other attempts' held units to settle.
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// One attempt's reservation; [`Attempt::succeeded`] or
/// [`Attempt::failed`] settles it (dropped unsettled, it counts as both).
#[must_use]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    user: UserKey,
    address: IpAddr,
    /// Whether the attempt was a success, once known.
    outcome: Option<bool>,
}

impl Attempt<'_> {
    /// Not a failure: the failure units go back.
    pub fn succeeded(mut self) {
        self.outcome = Some(true);
    }

    /// The user proved the password from this address: a success, and the
    /// address becomes one of theirs (see [`KNOWN_FOR`]).
    pub fn signed_in(self) {
        self.limiter.remember(&self.user.0, self.address);
        self.succeeded();
    }

    /// Not a success: the success unit goes back.
    pub fn failed(mut self) {
        self.outcome = Some(false);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let l = self.limiter;
        let (success, failure) = match self.outcome {
            Some(true) => (false, true),
            Some(false) => (true, false),
            None => (false, false),
        };
        l.by_username.settle(&self.user, failure);
        l.by_address.settle(&self.address, failure);
        l.successes.settle(&self.address, success);
        l.settled.notify_waiters();
    }
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits, trusted_proxy_header: Option<HeaderName>) -> Self {
        LoginLimiter {
            by_username: Buckets::new(limits.per_username),
            known: Mutex::new(HashMap::new()),
            by_address: Buckets::new(limits.per_address),
            successes: Buckets::new(limits.successes),
            trusted_proxy_header,
            settled: Notify::new(),
        }
    }

    /// The address to limit: the trusted header's last address, else the peer.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        self.trusted_proxy_header
            .as_ref()
            .and_then(|name| headers.get_all(name).iter().next_back())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer.ip())
    }

    /// Reserves one attempt for `username` (its canonical form) from
    /// `address`, or says which budget is spent and for how long. A budget
    /// held by attempts still running is waited for, up to [`SETTLE_WAIT`].
    pub async fn attempt(&self, address: IpAddr, username: &str) -> Result<Attempt<'_>, Refusal> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match self.try_attempt(address, username) {
                Ok(attempt) => return Ok(attempt),
                Err((Shortfall::Held(wait), which)) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(refuse(which, wait));
                    }
                    // Until one settles, or a unit refills.
                    let _ = tokio::time::timeout_at(deadline.min(now + wait), settled).await;
                }
                Err((Shortfall::Empty(wait), which)) => return Err(refuse(which, wait)),
            }
        }
    }

    fn try_attempt(
        &self,
        address: IpAddr,
        username: &str,
    ) -> Result<Attempt<'_>, (Shortfall, Budget)> {
        let own = self.is_known(username, address).then_some(address);
        let user = (username.to_owned(), own);
        self.by_username
            .take(&user)
            .map_err(|s| (s, Budget::Username))?;
        if let Err(s) = self.by_address.take(&address) {
            self.by_username.settle(&user, true);
            return Err((s, Budget::Address));
        }
        if let Err(s) = self.successes.take(&address) {
            self.by_username.settle(&user, true);
            self.by_address.settle(&address, true);
            return Err((s, Budget::Successes));
        }
        Ok(Attempt {
            limiter: self,
            user,
            address,
            outcome: None,
        })
    }

    /// Whether `username` signed in from `address` within [`KNOWN_FOR`].
    fn is_known(&self, username: &str, address: IpAddr) -> bool {
        let known = self.known.lock().expect("limiter poisoned");
        known
            .get(&(username.to_owned(), address))
            .is_some_and(|at| at.elapsed() < KNOWN_FOR)
    }

    fn remember(&self, username: &str, address: IpAddr) {
        let mut known = self.known.lock().expect("limiter poisoned");
        if known.len() >= KNOWN_AT_MOST {
            known.retain(|_, at| at.elapsed() < KNOWN_FOR);
        }
        let key = (username.to_owned(), address);
        if known.len() < KNOWN_AT_MOST || known.contains_key(&key) {
            known.insert(key, Instant::now());
        }
    }
}

/// The budget an attempt found spent.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Username,
    Address,
    Successes,
}

fn refuse(budget: Budget, wait: Duration) -> Refusal {
    let (by, what) = match budget {
        Budget::Username => ("username", "failed attempts for this username"),
        Budget::Address => ("address", "failed attempts from this address"),
        Budget::Successes => ("successes", "logins and registrations from this address"),
    };
    metrics::record_rate_limited(by);
    tracing::info!(
        by,
        wait_ms = wait.as_millis() as u64,
        "login attempt rate limited"
    );
    Refusal::RateLimited {
        retry_after_secs: whole_seconds(wait),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn limit(burst: u32, period: Duration) -> LoginLimit {
        LoginLimit {
            burst: NonZeroU32::new(burst).unwrap(),
            period,
        }
    }

    fn limiter(user: u32, address: u32, successes: u32) -> LoginLimiter {
        LoginLimiter::new(
            LoginLimits {
                per_username: limit(user, Duration::from_secs(10)),
                per_address: limit(address, Duration::from_secs(10)),
                successes: limit(successes, Duration::from_secs(10)),
            },
            Some(HeaderName::from_static("x-forwarded-for")),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn failures_spend_the_username_budget_then_429_in_whole_seconds() {
        let l = limiter(3, 100, 100);
        for _ in 0..3 {
            l.attempt(ip("10.0.0.1"), "alice").await.unwrap().failed();
        }
        match l.attempt(ip("10.0.0.2"), "alice").await {
            Err(Refusal::RateLimited {
                retry_after_secs,
                what,
            }) => {
                assert!((9..=10).contains(&retry_after_secs), "{retry_after_secs}");
                assert!(what.contains("username"), "{what}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a fourth failure went through"),
        }
        // Other keys have their own buckets.
        l.attempt(ip("10.0.0.1"), "bob").await.unwrap().failed();
    }

    #[tokio::test]
    async fn successes_are_not_failures_but_have_a_ceiling() {
        let l = limiter(2, 2, 5);
        for i in 0..5 {
            l.attempt(ip("10.0.0.1"), &format!("u{i}"))
                .await
                .unwrap()
                .succeeded();
        }
        match l.attempt(ip("10.0.0.1"), "u9").await {
            Err(Refusal::RateLimited { what, .. }) => assert!(what.contains("address")),
            _ => panic!("the success ceiling did not hold"),
        }
        // Another address is untouched, and one user's successes never lock it.
        for _ in 0..4 {
            l.attempt(ip("10.0.0.2"), "u0").await.unwrap().succeeded();
        }
    }

    #[tokio::test]
    async fn an_address_runs_out_of_failures_across_usernames() {
        let l = limiter(100, 3, 100);
        for i in 0..3 {
            l.attempt(ip("10.0.0.1"), &format!("n{i}"))
                .await
                .unwrap()
                .failed();
        }
        assert!(l.attempt(ip("10.0.0.1"), "n9").await.is_err());
        assert!(l.attempt(ip("10.0.0.2"), "n9").await.is_ok());
    }

    #[tokio::test]
    async fn parallel_correct_logins_wait_for_each_other_instead_of_429() {
        // Two failure units per username: a third attempt while two run.
        let l = limiter(2, 100, 100);
        let a = l.attempt(ip("10.0.0.1"), "alice").await.unwrap();
        let b = l.attempt(ip("10.0.0.1"), "alice").await.unwrap();
        let third = l.attempt(ip("10.0.0.1"), "alice");
        tokio::pin!(third);
        let pending = tokio::time::timeout(Duration::from_millis(50), third.as_mut()).await;
        assert!(pending.is_err(), "the third attempt did not wait");
        a.succeeded();
        let c = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("a success gave its unit back")
            .expect("not refused");
        c.succeeded();
        // Failures still spend the budget: with both units failed, a new
        // attempt is refused at once.
        b.failed();
        let d = l.attempt(ip("10.0.0.1"), "alice").await.unwrap();
        d.failed();
        assert!(matches!(
            tokio::time::timeout(
                Duration::from_millis(500),
                l.attempt(ip("10.0.0.1"), "alice")
            )
            .await,
            Ok(Err(Refusal::RateLimited { .. }))
        ));
    }

    #[tokio::test]
    async fn guesses_from_elsewhere_do_not_lock_a_user_out_of_where_they_sign_in() {
        let l = limiter(3, 100, 100);
        l.attempt(ip("10.0.0.1"), "bob").await.unwrap().signed_in();
        for i in 0..3 {
            l.attempt(ip(&format!("10.0.1.{i}")), "bob")
                .await
                .unwrap()
                .failed();
        }
        // Every other address shares the spent bucket...
        assert!(matches!(
            l.attempt(ip("10.0.2.1"), "bob").await,
            Err(Refusal::RateLimited { .. })
        ));
        // ...but bob's own address has its own, and its failures count there.
        for _ in 0..3 {
            l.attempt(ip("10.0.0.1"), "bob").await.unwrap().failed();
        }
        assert!(matches!(
            l.attempt(ip("10.0.0.1"), "bob").await,
            Err(Refusal::RateLimited { .. })
        ));
    }

    #[tokio::test]
    async fn only_a_proven_password_makes_an_address_known() {
        let l = limiter(1, 100, 100);
        // Not a failure (e.g. a sign-up already in flight), but no proof.
        l.attempt(ip("10.0.0.1"), "bob").await.unwrap().succeeded();
        l.attempt(ip("10.0.0.2"), "bob").await.unwrap().failed();
        assert!(l.attempt(ip("10.0.0.1"), "bob").await.is_err());
    }

    #[test]
    fn the_client_address_comes_from_the_trusted_header_only() {
        let l = limiter(1, 1, 1);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(l.client(peer, &h), peer.ip());
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.2.3"),
        );
        assert_eq!(l.client(peer, &h), ip("10.1.2.3"));
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(l.client(peer, &h), peer.ip());
        let defaults = LoginLimits {
            per_username: LoginLimit::default(),
            per_address: LoginLimit::default_address(),
            successes: LoginLimit::default_success(),
        };
        let untrusting = LoginLimiter::new(defaults, None);
        h.insert("x-forwarded-for", HeaderValue::from_static("10.1.2.3"));
        assert_eq!(untrusting.client(peer, &h), peer.ip());
    }
}
