//! Failed sign-ins per username, from any address, so a guesser gains nothing by rotating
//! addresses: checked before any password is hashed, so refusals are cheap.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Usernames tracked at most; past it, names not yet tracked are not counted until others
/// drain (each drains within one window), so a flood of made-up names cannot grow memory.
const MAX_TRACKED_USERNAMES: usize = 100_000;

/// Failed sign-ins per username: a leaky bucket per name that holds `capacity` failures and
/// drains one every `window / capacity`. A name is refused while its bucket is full, so a
/// guesser gets at most `capacity` tries per window however many addresses it uses, and the
/// real user is never locked out for longer than one drain step after the guessing stops.
/// Unknown names are counted like known ones, so a refusal tells nothing about which exist.
pub(crate) struct SignInFailures {
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
    pub(crate) fn new(failures: u32, window: Duration) -> Self {
        let failures = failures.max(1);
        SignInFailures {
            capacity: f64::from(failures),
            drain_every: (window / failures).max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when one more attempt fits, else how long until it does.
    pub(crate) fn allowed(&self, username: &str) -> Result<(), Duration> {
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

    /// Counts a failed sign-in (wrong password or unknown user) against `username`.
    pub(crate) fn failed(&self, username: &str) {
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

    /// A successful sign-in starts the username's count afresh.
    pub(crate) fn forget(&self, username: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.remove(&username_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::SignInFailures;
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
}
