//! The login limiter: `/authenticate` and `/register` attempts, per client
//! address and per username, each a token bucket (a burst, then one attempt
//! per period). Checked before any password hashing.
//!
//! Limits live in this process: behind a load balancer each replica limits
//! on its own. The client address is the socket peer unless a trusted proxy
//! header is configured (then its last address, the one the proxy added).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use warp::http::{HeaderMap, HeaderName};

use crate::http::error::ApiError;
use crate::ops::metrics;

/// Keys kept before idle buckets are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// A token bucket: `burst` attempts at once, then one per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub burst: NonZeroU32,
    pub period: Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit {
            burst: NonZeroU32::new(5).expect("5 is not zero"),
            period: Duration::from_secs(3),
        }
    }
}

pub struct LoginLimiter {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_username: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    trusted_proxy_header: Option<HeaderName>,
}

impl LoginLimiter {
    pub fn new(limit: LoginLimit, trusted_proxy_header: Option<HeaderName>) -> Self {
        // A zero period is refused by the config; one nanosecond is "no limit".
        let quota = Quota::with_period(limit.period.max(Duration::from_nanos(1)))
            .expect("the period is not zero")
            .allow_burst(limit.burst);
        LoginLimiter {
            by_address: RateLimiter::keyed(quota),
            by_username: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
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

    /// One attempt from `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), ApiError> {
        prune(&self.by_address);
        self.by_address
            .check_key(&address)
            .map_err(|not_until| self.refuse("address", not_until.wait_time_from(self.clock.now())))
    }

    /// One attempt for `username` (its canonical form).
    pub fn check_username(&self, username: &str) -> Result<(), ApiError> {
        prune(&self.by_username);
        self.by_username
            .check_key(&username.to_owned())
            .map_err(|not_until| {
                self.refuse("username", not_until.wait_time_from(self.clock.now()))
            })
    }

    fn refuse(&self, by: &'static str, wait: Duration) -> ApiError {
        metrics::record_rate_limited(by);
        tracing::info!(
            by,
            wait_ms = wait.as_millis() as u64,
            "login attempt rate limited"
        );
        // Whole seconds, rounded up: a client that waits this long gets in.
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited {
            retry_after_secs: retry_after_secs.max(1),
        }
    }
}

/// Drops the buckets that are full again, once there are many.
fn prune<K: std::hash::Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>) {
    if limiter.len() > PRUNE_ABOVE {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn limiter(burst: u32, period: Duration) -> LoginLimiter {
        LoginLimiter::new(
            LoginLimit {
                burst: NonZeroU32::new(burst).unwrap(),
                period,
            },
            Some(HeaderName::from_static("x-forwarded-for")),
        )
    }

    #[test]
    fn a_burst_then_429_with_a_wait_in_whole_seconds() {
        let l = limiter(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert!(l.check_username("alice").is_ok());
        }
        match l.check_username("alice") {
            Err(ApiError::RateLimited { retry_after_secs }) => {
                assert!((9..=10).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("{other:?}"),
        }
        // Other keys have their own buckets.
        assert!(l.check_username("bob").is_ok());
        assert!(l.check_address("10.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_client_address_comes_from_the_trusted_header_only() {
        let l = limiter(1, Duration::from_secs(1));
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(l.client(peer, &h), peer.ip());
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.2.3"),
        );
        assert_eq!(l.client(peer, &h), "10.1.2.3".parse::<IpAddr>().unwrap());
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(l.client(peer, &h), peer.ip());
        let untrusting = LoginLimiter::new(LoginLimit::default(), None);
        h.insert("x-forwarded-for", HeaderValue::from_static("10.1.2.3"));
        assert_eq!(untrusting.client(peer, &h), peer.ip());
    }
}
