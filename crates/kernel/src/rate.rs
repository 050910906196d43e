//! Output rate limiting: two token buckets (messages and bytes per second, with a burst
//! allowance). While output is being dropped we count it, so the kernel actor can tell the
//! user once when dropping starts and how much was lost when it ends.

use std::time::Instant;

use crate::limits::OutputRate;

/// Token buckets for one kernel's output.
#[derive(Debug)]
pub(crate) struct OutputGovernor {
    rate: OutputRate,
    messages: f64,
    bytes: f64,
    last: Instant,
    dropping: Option<Dropped>,
}

/// What was dropped in the current episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Dropped {
    /// Messages dropped.
    pub messages: u64,
    /// Bytes dropped.
    pub bytes: u64,
}

/// The governor's decision about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it.
    Pass,
    /// Drop it; this is the first drop of an episode (tell the user).
    DropFirst,
    /// Drop it silently (already told).
    Drop,
}

impl OutputGovernor {
    pub(crate) fn new(rate: OutputRate, now: Instant) -> Self {
        let mut governor = OutputGovernor {
            rate,
            messages: 0.0,
            bytes: 0.0,
            last: now,
            dropping: None,
        };
        governor.messages = governor.message_capacity();
        governor.bytes = governor.byte_capacity();
        governor
    }

    fn message_capacity(&self) -> f64 {
        f64::from(self.rate.messages_per_second) * f64::from(self.rate.burst_seconds.max(1))
    }

    fn byte_capacity(&self) -> f64 {
        self.rate.bytes_per_second as f64 * f64::from(self.rate.burst_seconds.max(1))
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.messages = (self.messages + elapsed * f64::from(self.rate.messages_per_second))
            .min(self.message_capacity());
        self.bytes =
            (self.bytes + elapsed * self.rate.bytes_per_second as f64).min(self.byte_capacity());
    }

    /// Decides about a message of `size` bytes arriving at `now`.
    pub(crate) fn check(&mut self, size: usize, now: Instant) -> Verdict {
        self.refill(now);
        let size = size as f64;
        if self.messages >= 1.0 && self.bytes >= size.min(self.byte_capacity()) {
            self.messages -= 1.0;
            self.bytes -= size;
            return Verdict::Pass;
        }
        let first = self.dropping.is_none();
        let dropped = self.dropping.get_or_insert_with(Dropped::default);
        dropped.messages += 1;
        dropped.bytes += size as u64;
        if first {
            Verdict::DropFirst
        } else {
            Verdict::Drop
        }
    }

    /// Ends the current drop episode, if any, and says what it dropped. Called when output
    /// passes again and when the execution finishes.
    pub(crate) fn end_episode(&mut self) -> Option<Dropped> {
        self.dropping.take()
    }

    /// Whether output is being dropped right now.
    #[cfg(test)]
    pub(crate) fn is_dropping(&self) -> bool {
        self.dropping.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_drop_then_refill() {
        let start = Instant::now();
        let mut g = OutputGovernor::new(
            OutputRate {
                messages_per_second: 10,
                bytes_per_second: 1_000_000,
                burst_seconds: 1,
            },
            start,
        );
        for _ in 0..10 {
            assert_eq!(g.check(10, start), Verdict::Pass);
        }
        assert_eq!(g.check(10, start), Verdict::DropFirst);
        assert_eq!(g.check(10, start), Verdict::Drop);
        assert!(g.is_dropping());
        let later = start + Duration::from_millis(500);
        assert_eq!(g.check(10, later), Verdict::Pass);
        assert_eq!(
            g.end_episode(),
            Some(Dropped {
                messages: 2,
                bytes: 20
            })
        );
        assert_eq!(g.end_episode(), None);
    }

    #[test]
    fn byte_limit_applies() {
        let start = Instant::now();
        let mut g = OutputGovernor::new(
            OutputRate {
                messages_per_second: 1000,
                bytes_per_second: 100,
                burst_seconds: 1,
            },
            start,
        );
        assert_eq!(g.check(80, start), Verdict::Pass);
        assert_eq!(g.check(80, start), Verdict::DropFirst);
        // A message bigger than the whole burst passes once the bucket is full again.
        let later = start + Duration::from_secs(5);
        assert_eq!(g.check(500, later), Verdict::Pass);
    }
}
