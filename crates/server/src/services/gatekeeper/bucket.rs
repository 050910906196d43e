//! Token buckets for the bandwidth limits: O(1) per frame, no store access. A bucket fills at
//! `rate` bytes per second up to one second's worth, and a frame takes its size from it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// One account's share of a bandwidth limit on this node.
#[derive(Debug)]
pub struct Bucket {
    /// Bytes per second; changed when the account's limit or the number of nodes changes.
    rate: AtomicU64,
    state: Mutex<Level>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Bytes available; negative after a frame bigger than what was there (a debt).
    bytes: f64,
    at: Instant,
    /// Bytes taken in the current one-second window and the one before, for the usage shown.
    window_start: Instant,
    this_window: u64,
    last_window: u64,
}

impl Level {
    fn count(&mut self, bytes: usize, now: Instant) {
        self.roll(now);
        self.this_window = self.this_window.saturating_add(bytes as u64);
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.last_window = if elapsed < Duration::from_secs(2) {
                self.this_window
            } else {
                0
            };
            self.this_window = 0;
            self.window_start = now;
        }
    }
}

impl Bucket {
    pub fn new(rate: u64) -> Self {
        Bucket {
            rate: AtomicU64::new(rate),
            state: Mutex::new(Level {
                bytes: rate as f64,
                at: Instant::now(),
                window_start: Instant::now(),
                this_window: 0,
                last_window: 0,
            }),
        }
    }

    /// Bytes per second now.
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    fn refill(&self, level: &mut Level, now: Instant) -> f64 {
        let rate = self.rate() as f64;
        let elapsed = now.duration_since(level.at).as_secs_f64();
        level.bytes = (level.bytes + elapsed * rate).min(rate);
        level.at = now;
        rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Level> {
        // A level is two plain numbers: a poisoned one is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes per second taken lately (the last whole second, or this one if more).
    pub fn used_per_second(&self) -> u64 {
        let mut level = self.lock();
        level.roll(Instant::now());
        level.last_window.max(level.this_window)
    }

    /// Takes `bytes` if the bucket has them (a viewer's frame); `false` means skip this one.
    /// A frame bigger than a whole second's budget goes through when the bucket is full, so a
    /// low limit slows a viewer down but never starves them.
    pub fn try_take(&self, bytes: usize) -> bool {
        let now = Instant::now();
        let mut level = self.lock();
        let rate = self.refill(&mut level, now);
        let bytes = bytes as f64;
        if level.bytes >= bytes || level.bytes >= rate {
            level.bytes -= bytes;
            level.count(bytes as usize, now);
            true
        } else {
            false
        }
    }

    /// Takes `bytes` whatever the level, and says how long the taker should wait before the
    /// next (an upload is slowed, never refused).
    pub fn take(&self, bytes: usize) -> Duration {
        let now = Instant::now();
        let mut level = self.lock();
        let rate = self.refill(&mut level, now);
        level.bytes -= bytes as f64;
        level.count(bytes, now);
        if level.bytes >= 0.0 || rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((-level.bytes / rate).min(MAX_PACE.as_secs_f64()))
    }
}

/// The longest an upload waits for one frame: a device socket also carries controls, which
/// must not wait long behind a big frame.
const MAX_PACE: Duration = Duration::from_secs(2);

/// Slows an upload of `bytes` to what `bucket` allows (nothing when not shaped).
pub async fn pace(bucket: Option<&Bucket>, bytes: usize) {
    if let Some(bucket) = bucket {
        let wait = bucket.take(bytes);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_passes_its_rate_and_refills() {
        let bucket = Bucket::new(1000);
        assert!(bucket.try_take(600));
        assert!(!bucket.try_take(600), "400 left");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(bucket.try_take(600));
        // Over a whole second's worth: only when full.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(bucket.try_take(5000));
        assert!(!bucket.try_take(1));
        assert_eq!(bucket.used_per_second(), 5000);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(bucket.used_per_second(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn uploads_are_slowed_by_their_debt() {
        let bucket = Bucket::new(1000);
        assert_eq!(bucket.take(1000), Duration::ZERO);
        assert_eq!(bucket.take(500), Duration::from_millis(500));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(bucket.take(0), Duration::ZERO);
        bucket.set_rate(10);
        assert_eq!(bucket.take(1_000_000), MAX_PACE, "capped");
    }
}
