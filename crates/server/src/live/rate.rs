//! A token bucket: how much a device may make the server relay (frames, status messages).

use std::time::Instant;

/// Allows `per_second` events a second on average, and a burst of one second's worth.
#[derive(Debug, Default)]
pub struct RateBucket {
    tokens: f64,
    /// When tokens were last counted; `None` before the first event (the bucket starts full).
    last: Option<Instant>,
}

impl RateBucket {
    /// Takes one token at `now`; `false` when the bucket is empty (the event is over the
    /// rate). The rate is passed on each call so a setting applies without rebuilding the
    /// bucket; 0 means unlimited.
    pub fn take(&mut self, per_second: u32, now: Instant) -> bool {
        if per_second == 0 {
            return true;
        }
        let capacity = f64::from(per_second);
        let tokens = match self.last {
            None => capacity,
            Some(last) => {
                let refill = now.saturating_duration_since(last).as_secs_f64() * capacity;
                (self.tokens + refill).min(capacity)
            }
        };
        self.last = Some(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            true
        } else {
            self.tokens = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let mut bucket = RateBucket::default();
        let start = Instant::now();
        let burst = (0..100).filter(|_| bucket.take(10, start)).count();
        assert_eq!(burst, 10);
        assert!(!bucket.take(10, start + Duration::from_millis(50)));
        assert!(bucket.take(10, start + Duration::from_millis(160)));
        // A long pause refills no more than one second's worth.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| bucket.take(10, later)).count(), 10);
    }

    #[test]
    fn zero_is_unlimited() {
        let mut bucket = RateBucket::default();
        let now = Instant::now();
        assert!((0..10_000).all(|_| bucket.take(0, now)));
    }
}
