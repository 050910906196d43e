//! Rate limits for the endpoints that guessing attacks target: ticket redemption and
//! sign-in per client address, and failed sign-ins per username (from any address, so a
//! guesser gains nothing by rotating addresses).

use crate::config::Config;
use crate::error::ApiError;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) struct RateLimits {
    tickets: DefaultKeyedRateLimiter<IpAddr>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    sign_in_failures: SignInFailures,
}

fn limiter(per_minute: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::keyed(Quota::per_minute(n))
}

fn check(l: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr, what: &str) -> Result<(), ApiError> {
    l.check_key(&ip).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many_requests(
            format!("too many {what} attempts from this address; wait and try again"),
            wait.as_secs() + 1,
        )
    })?;
    // Forget addresses that have been quiet, so the map stays bounded.
    if l.len() > 100_000 {
        l.retain_recent();
    }
    Ok(())
}

impl RateLimits {
    pub(crate) fn new(config: &Config) -> Self {
        RateLimits {
            tickets: limiter(config.devices.ticket_redemptions_per_minute),
            auth: limiter(config.auth.auth_attempts_per_minute),
            sign_in_failures: SignInFailures::new(
                config.auth.sign_in_failures_per_username,
                config.auth.sign_in_failure_window,
            ),
        }
    }

    pub(crate) fn ticket(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.tickets, ip, "ticket")
    }

    pub(crate) fn auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.auth, ip, "sign-in")
    }

    /// Refuses a sign-in for `username` while its failures are over the limit (before any
    /// password is hashed, so refusals are cheap).
    pub(crate) fn sign_in_allowed(&self, username: &str) -> Result<(), ApiError> {
        self.sign_in_failures.allowed(username).map_err(|wait| {
            ApiError::too_many_requests(
                "too many failed sign-ins for this username; wait and try again",
                wait.as_secs() + 1,
            )
        })
    }

    /// Counts a failed sign-in (wrong password or unknown user) against `username`.
    pub(crate) fn sign_in_failed(&self, username: &str) {
        self.sign_in_failures.failed(username);
    }

    /// A successful sign-in starts the username's count afresh.
    pub(crate) fn sign_in_succeeded(&self, username: &str) {
        self.sign_in_failures.forget(username);
    }
}

/// Usernames tracked at most; past it, names not yet tracked are not counted until others
/// drain (each drains within one window), so a flood of made-up names cannot grow memory.
const MAX_TRACKED_USERNAMES: usize = 100_000;

/// Failed sign-ins per username: a leaky bucket per name that holds `capacity` failures and
/// drains one every `window / capacity`. A name is refused while its bucket is full, so a
/// guesser gets at most `capacity` tries per window however many addresses it uses, and the
/// real user is never locked out for longer than one drain step after the guessing stops.
/// Unknown names are counted like known ones, so a refusal tells nothing about which exist.
struct SignInFailures {
    capacity: f64,
    drain_every: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn level_at(&self, now: Instant, drain_every: Duration) -> f64 {
        let drained = now.duration_since(self.at).as_secs_f64() / drain_every.as_secs_f64();
        (self.level - drained).max(0.0)
    }
}

/// The longest valid username, in characters.
const LONGEST_USERNAME: usize = 64;

/// The key of a username: trimmed, cut to the longest valid username (a huge name costs no
/// more than a valid one), then the key names collide on (case and look-alike letters
/// folded), so every spelling of one name shares its bucket.
fn username_key(username: &str) -> String {
    let cut: String = username.trim().chars().take(LONGEST_USERNAME).collect();
    switchboard_core::account::username_key(&cut)
}

impl SignInFailures {
    fn new(failures: u32, window: Duration) -> Self {
        let failures = failures.max(1);
        SignInFailures {
            capacity: f64::from(failures),
            drain_every: (window / failures).max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when one more attempt fits, else how long until it does.
    fn allowed(&self, username: &str) -> Result<(), Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(bucket) = buckets.get(&username_key(username)) else {
            return Ok(());
        };
        let level = bucket.level_at(Instant::now(), self.drain_every);
        if level + 1.0 <= self.capacity {
            return Ok(());
        }
        Err(self.drain_every.mul_f64(level + 1.0 - self.capacity))
    }

    fn failed(&self, username: &str) {
        let now = Instant::now();
        let key = username_key(username);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED_USERNAMES {
            let drain_every = self.drain_every;
            buckets.retain(|_, b| b.level_at(now, drain_every) > 0.0);
            if buckets.len() >= MAX_TRACKED_USERNAMES {
                tracing::warn!("too many usernames with failed sign-ins to track another");
                return;
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            level: 0.0,
            at: now,
        });
        bucket.level = bucket.level_at(now, self.drain_every) + 1.0;
        bucket.at = now;
    }

    fn forget(&self, username: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.remove(&username_key(username));
    }
}

/// The client's address for rate limits and logs. Behind a reverse proxy every connection
/// comes from the proxy, so when the peer is one of `trusted` proxies the address is taken from
/// `X-Forwarded-For`: the rightmost entry that is not itself a trusted proxy (entries further
/// left were written by the client and cannot be trusted).
pub(crate) fn client_ip(trusted: &[IpAddr], peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted.contains(&peer.ip()) {
        return peer.ip();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer.ip())
}

#[cfg(test)]
mod tests {
    use super::{SignInFailures, client_ip};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn failures_per_username_are_bounded_and_drain() {
        let failures = SignInFailures::new(3, Duration::from_secs(30));
        for _ in 0..3 {
            failures.allowed("Alice").unwrap();
            failures.failed("Alice");
        }
        // Full: refused, with a wait of one drain step; another name is unaffected.
        let wait = failures.allowed(" alice ").unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        failures.allowed("bob").unwrap();
        tokio::time::advance(wait).await;
        failures.allowed("alice").unwrap();
        failures.failed("alice");
        assert!(failures.allowed("alice").is_err());
        // A success starts afresh.
        failures.forget("ALICE");
        failures.allowed("alice").unwrap();
    }
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let peer = "10.0.0.2:5555".parse().unwrap();
        let stranger = "198.51.100.7:5555".parse().unwrap();
        let h = headers(&["203.0.113.9, 192.0.2.1"]);
        assert_eq!(
            client_ip(&[proxy], peer, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // A client cannot pick its own address by sending the header directly.
        assert_eq!(client_ip(&[proxy], stranger, &h), stranger.ip());
        assert_eq!(client_ip(&[], peer, &h), peer.ip());
        // Chained trusted proxies are skipped; no header means the proxy itself.
        let h = headers(&["192.0.2.1", "10.0.0.2"]);
        assert_eq!(
            client_ip(&[proxy], peer, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&[proxy], peer, &HeaderMap::new()), proxy);
    }
}
