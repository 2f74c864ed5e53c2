//! The login limiter: `/authenticate` and `/register` **failures** per
//! username (for any address) and per client address (a larger budget), and
//! a high ceiling on successes per address that only bounds the hashing
//! they cost. Each is a token bucket (a burst, then one more per period).
//!
//! An attempt reserves one unit of each bucket before any password hashing
//! (so concurrent guesses cannot overrun a budget) and gives back the units
//! that did not apply once its outcome is known: a success returns its
//! failure units, a failure its success unit.
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

use warp::http::{HeaderMap, HeaderName};

use crate::limits::{Refusal, whole_seconds};
use crate::ops::metrics;

/// Keys kept before full buckets are dropped.
const PRUNE_ABOVE: usize = 10_000;

pub use crate::config::LoginLimit;

/// The three buckets of the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub per_username: LoginLimit,
    pub per_address: LoginLimit,
    pub successes: LoginLimit,
}

/// Buckets by key; a bucket is its level at a time.
struct Buckets<K> {
    limit: LoginLimit,
    levels: Mutex<HashMap<K, (f64, Instant)>>,
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

    fn refilled(&self, (level, at): (f64, Instant), now: Instant) -> f64 {
        let period = self.limit.period.as_secs_f64().max(1e-9);
        (level + now.duration_since(at).as_secs_f64() / period).min(self.burst())
    }

    /// Takes one unit for `key`, or says how long until one is there.
    fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut levels = self.levels.lock().expect("limiter poisoned");
        if levels.len() > PRUNE_ABOVE {
            levels.retain(|_, b| self.refilled(*b, now) < self.burst());
        }
        let level = levels
            .get(key)
            .map_or(self.burst(), |b| self.refilled(*b, now));
        if level < 1.0 {
            let wait = (1.0 - level) * self.limit.period.as_secs_f64();
            return Err(Duration::from_secs_f64(wait));
        }
        levels.insert(key.clone(), (level - 1.0, now));
        Ok(())
    }

    /// Gives back a unit taken for `key`.
    fn give_back(&self, key: &K) {
        let now = Instant::now();
        let mut levels = self.levels.lock().expect("limiter poisoned");
        if let Some(b) = levels.get_mut(key) {
            *b = ((self.refilled(*b, now) + 1.0).min(self.burst()), now);
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
    by_username: Buckets<String>,
    by_address: Buckets<IpAddr>,
    successes: Buckets<IpAddr>,
    trusted_proxy_header: Option<HeaderName>,
}

/// One attempt's reservation; [`Attempt::succeeded`] or
/// [`Attempt::failed`] settles it (dropped unsettled, it counts as both).
#[must_use]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    username: String,
    address: IpAddr,
}

impl Attempt<'_> {
    /// Not a failure: the failure units go back.
    pub fn succeeded(self) {
        self.limiter.by_username.give_back(&self.username);
        self.limiter.by_address.give_back(&self.address);
    }

    /// Not a success: the success unit goes back.
    pub fn failed(self) {
        self.limiter.successes.give_back(&self.address);
    }
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits, trusted_proxy_header: Option<HeaderName>) -> Self {
        LoginLimiter {
            by_username: Buckets::new(limits.per_username),
            by_address: Buckets::new(limits.per_address),
            successes: Buckets::new(limits.successes),
            trusted_proxy_header,
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
    /// `address`, or says which budget is spent and for how long.
    pub fn attempt(&self, address: IpAddr, username: &str) -> Result<Attempt<'_>, Refusal> {
        let username = username.to_owned();
        self.by_username
            .take(&username)
            .map_err(|wait| refuse("username", "failed attempts for this username", wait))?;
        if let Err(wait) = self.by_address.take(&address) {
            self.by_username.give_back(&username);
            return Err(refuse("address", "failed attempts from this address", wait));
        }
        if let Err(wait) = self.successes.take(&address) {
            self.by_username.give_back(&username);
            self.by_address.give_back(&address);
            return Err(refuse(
                "successes",
                "logins and registrations from this address",
                wait,
            ));
        }
        Ok(Attempt {
            limiter: self,
            username,
            address,
        })
    }
}

fn refuse(by: &'static str, what: &'static str, wait: Duration) -> Refusal {
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

    #[test]
    fn failures_spend_the_username_budget_then_429_in_whole_seconds() {
        let l = limiter(3, 100, 100);
        for _ in 0..3 {
            l.attempt(ip("10.0.0.1"), "alice").unwrap().failed();
        }
        match l.attempt(ip("10.0.0.2"), "alice") {
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
        l.attempt(ip("10.0.0.1"), "bob").unwrap().failed();
    }

    #[test]
    fn successes_are_not_failures_but_have_a_ceiling() {
        let l = limiter(2, 2, 5);
        for i in 0..5 {
            l.attempt(ip("10.0.0.1"), &format!("u{i}"))
                .unwrap()
                .succeeded();
        }
        match l.attempt(ip("10.0.0.1"), "u9") {
            Err(Refusal::RateLimited { what, .. }) => assert!(what.contains("address")),
            _ => panic!("the success ceiling did not hold"),
        }
        // Another address is untouched, and one user's successes never lock it.
        for _ in 0..4 {
            l.attempt(ip("10.0.0.2"), "u0").unwrap().succeeded();
        }
    }

    #[test]
    fn an_address_runs_out_of_failures_across_usernames() {
        let l = limiter(100, 3, 100);
        for i in 0..3 {
            l.attempt(ip("10.0.0.1"), &format!("n{i}"))
                .unwrap()
                .failed();
        }
        assert!(l.attempt(ip("10.0.0.1"), "n9").is_err());
        assert!(l.attempt(ip("10.0.0.2"), "n9").is_ok());
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
