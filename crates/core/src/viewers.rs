//! Viewer accounting for one session: how many watch now, the peak, viewer-seconds for billing,
//! and since when nobody has watched (for the `no_viewers` timeout).

use crate::Timestamp;

/// Counts viewers over time. Viewer-seconds are the integral of the viewer count over time, so
/// two viewers for a minute bill 120 viewer-seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewerLedger {
    current: u32,
    peak: u32,
    viewer_millis: i64,
    last_change: Timestamp,
    zero_since: Option<Timestamp>,
}

impl ViewerLedger {
    /// A ledger with nobody watching since `now`, carrying totals from before a restart.
    pub fn new(now: Timestamp, peak: u32, viewer_seconds: f64) -> Self {
        ViewerLedger {
            current: 0,
            peak,
            viewer_millis: (viewer_seconds * 1000.0) as i64,
            last_change: now,
            zero_since: Some(now),
        }
    }

    fn accrue(&mut self, now: Timestamp) {
        let elapsed = (now - self.last_change).num_milliseconds().max(0);
        self.viewer_millis += elapsed * i64::from(self.current);
        self.last_change = now;
    }

    /// A viewer joined.
    pub fn join(&mut self, now: Timestamp) {
        self.accrue(now);
        self.current += 1;
        self.peak = self.peak.max(self.current);
        self.zero_since = None;
    }

    /// A viewer left. Unmatched leaves are ignored rather than underflowing.
    pub fn leave(&mut self, now: Timestamp) {
        self.accrue(now);
        self.current = self.current.saturating_sub(1);
        if self.current == 0 {
            self.zero_since = Some(now);
        }
    }

    /// Restarts the "nobody watching" clock without changing the totals; used when a session
    /// goes live, so the timeout counts from the moment there was something to watch.
    pub fn reset_idle_clock(&mut self, now: Timestamp) {
        if self.current == 0 {
            self.zero_since = Some(now);
        }
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    pub fn peak(&self) -> u32 {
        self.peak
    }

    /// Since when nobody has watched, if nobody watches now.
    pub fn zero_since(&self) -> Option<Timestamp> {
        self.zero_since
    }

    /// Viewer-seconds up to `now`.
    pub fn viewer_seconds(&self, now: Timestamp) -> f64 {
        let elapsed = (now - self.last_change).num_milliseconds().max(0);
        (self.viewer_millis + elapsed * i64::from(self.current)) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn viewer_seconds_integrate_the_count() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut l = ViewerLedger::new(t0, 0, 0.0);
        l.join(t0);
        l.join(t0 + Duration::seconds(10));
        assert_eq!(l.peak(), 2);
        l.leave(t0 + Duration::seconds(20));
        l.leave(t0 + Duration::seconds(30));
        // 10 s × 1 + 10 s × 2 + 10 s × 1
        assert_eq!(l.viewer_seconds(t0 + Duration::seconds(100)), 40.0);
        assert_eq!(l.zero_since(), Some(t0 + Duration::seconds(30)));
        l.leave(t0 + Duration::seconds(40));
        assert_eq!(l.current(), 0);
    }

    #[test]
    fn a_returning_viewer_clears_the_idle_clock() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut l = ViewerLedger::new(t0, 3, 12.5);
        assert_eq!(l.zero_since(), Some(t0));
        l.join(t0 + Duration::seconds(1));
        assert_eq!(l.zero_since(), None);
        assert_eq!(l.peak(), 3);
        assert_eq!(l.viewer_seconds(t0 + Duration::seconds(3)), 14.5);
    }
}
