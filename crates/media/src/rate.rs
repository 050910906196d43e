//! Frame and byte rates over a sliding window.
//!
//! [`RateMeter`] counts frames and bytes in fixed-width time buckets (by default 1 s buckets
//! over the last 5 s) and reports rates over the window. Every method takes the current time
//! as an explicit `now`, so tests drive it with made-up instants instead of sleeping, and
//! callers that already read the clock for a frame reuse that reading.

use std::time::{Duration, Instant};

/// Counts within one bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    frames: u64,
    bytes: u64,
}

/// Frames per second and bytes per second over a sliding window of time buckets.
///
/// Recording is O(1): it adds to the bucket for `now`, first clearing the buckets the clock
/// has moved past (at most the bucket count, a small constant). The window at time `now` is
/// the bucket holding `now` plus the `bucket_count - 1` before it; a rate is the sum over the
/// window divided by the time the window covers, measured from the first record if that is
/// more recent, and never less than one bucket width (so two frames 10 ms apart read as
/// 2 fps at start-up, not 200).
///
/// Times earlier than the latest record are counted in their bucket if it is still in the
/// window, and dropped otherwise; `Instant` is monotonic, so this only matters for callers
/// that pass instants taken on different threads.
#[derive(Debug, Clone)]
pub struct RateMeter {
    bucket_width: Duration,
    buckets: Vec<Bucket>,
    /// The time of the first record; bucket `i` covers
    /// `[origin + i * width, origin + (i + 1) * width)`.
    origin: Option<Instant>,
    /// The index of the newest bucket recorded into.
    newest: u64,
    total_frames: u64,
    total_bytes: u64,
}

impl RateMeter {
    /// A meter with `bucket_count` buckets of `bucket_width` each (the window is their
    /// product). A zero count is taken as 1 and a zero width as 1 ms.
    pub fn new(bucket_width: Duration, bucket_count: usize) -> Self {
        RateMeter {
            bucket_width: bucket_width.max(Duration::from_millis(1)),
            buckets: vec![Bucket::default(); bucket_count.max(1)],
            origin: None,
            newest: 0,
            total_frames: 0,
            total_bytes: 0,
        }
    }

    /// The length of the window the rates are computed over.
    pub fn window(&self) -> Duration {
        self.bucket_width * self.bucket_len()
    }

    /// Records one frame of `bytes` bytes at time `now`.
    pub fn record(&mut self, now: Instant, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.total_frames += 1;
        self.total_bytes = self.total_bytes.saturating_add(bytes);
        let origin = *self.origin.get_or_insert(now);
        let index = self.index(origin, now);
        if index > self.newest {
            // Clear the buckets between the newest and this one; they saw nothing.
            let stale = (index - self.newest).min(self.buckets.len() as u64);
            for i in 0..stale {
                let slot = self.slot(index - i);
                self.buckets[slot] = Bucket::default();
            }
            self.newest = index;
        } else if self.newest - index >= self.buckets.len() as u64 {
            return;
        }
        let slot = self.slot(index);
        let bucket = &mut self.buckets[slot];
        bucket.frames += 1;
        bucket.bytes = bucket.bytes.saturating_add(bytes);
    }

    /// Frames per second over the window ending at `now` (0 before the first record).
    pub fn fps(&self, now: Instant) -> f64 {
        self.rate(now, |b| b.frames)
    }

    /// Bytes per second over the window ending at `now` (0 before the first record).
    pub fn bytes_per_sec(&self, now: Instant) -> f64 {
        self.rate(now, |b| b.bytes)
    }

    /// Frames recorded since the meter was made, window or not.
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    /// Bytes recorded since the meter was made, window or not.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn rate(&self, now: Instant, count: impl Fn(&Bucket) -> u64) -> f64 {
        let Some(origin) = self.origin else {
            return 0.0;
        };
        let current = self.index(origin, now).max(self.newest);
        let oldest = current.saturating_sub(self.buckets.len() as u64 - 1);
        // Buckets after `newest` were never written to, and the ring still holds every
        // bucket from `oldest` (which is after `newest - len`) to `newest`.
        let total: u64 = (oldest..=self.newest)
            .map(|i| count(&self.buckets[self.slot(i)]))
            .sum();
        let window_offset = self.bucket_width.as_nanos() * u128::from(oldest);
        let window_offset = Duration::from_nanos(u64::try_from(window_offset).unwrap_or(u64::MAX));
        let covered = now
            .saturating_duration_since(origin)
            .saturating_sub(window_offset)
            .max(self.bucket_width);
        total as f64 / covered.as_secs_f64()
    }

    fn bucket_len(&self) -> u32 {
        u32::try_from(self.buckets.len()).unwrap_or(u32::MAX)
    }

    /// The absolute index of the bucket holding `now`.
    fn index(&self, origin: Instant, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        u64::try_from(elapsed / self.bucket_width.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Where bucket `index` lives in the ring.
    fn slot(&self, index: u64) -> usize {
        // The remainder is below the ring's length, which is a usize.
        (index % self.buckets.len() as u64) as usize
    }
}

impl Default for RateMeter {
    /// 1 s buckets over the last 5 s.
    fn default() -> Self {
        RateMeter::new(Duration::from_secs(1), 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn empty_meter_reads_zero() {
        let meter = RateMeter::default();
        let now = Instant::now();
        assert_eq!(meter.fps(now), 0.0);
        assert_eq!(meter.bytes_per_sec(now), 0.0);
        assert_eq!(meter.window(), Duration::from_secs(5));
    }

    #[test]
    fn steady_stream_reads_its_rate() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        // 30 fps of 10 kB frames for 10 s, checking the rates every 50 ms after the first
        // window has filled: the partial current bucket makes them wobble by at most a frame
        // over the window.
        let mut next_frame = 0u64;
        for check in (5_000..=10_000).step_by(50) {
            while next_frame * 1000 / 30 <= check {
                meter.record(t0 + ms(next_frame * 1000 / 30), 10_000);
                next_frame += 1;
            }
            let now = t0 + ms(check);
            assert!(
                (meter.fps(now) - 30.0).abs() < 0.3,
                "{check}: {}",
                meter.fps(now)
            );
            assert!((meter.bytes_per_sec(now) - 300_000.0).abs() < 3_000.0);
        }
        // At exactly 10 s the window is [6 s, 10 s]: frames 180..=300 over 4 s.
        assert!(close(meter.fps(t0 + ms(10_000)), 121.0 / 4.0));
        assert_eq!(meter.total_frames(), 301);
        assert_eq!(meter.total_bytes(), 3_010_000);
    }

    #[test]
    fn partial_current_bucket_counts_its_elapsed_time() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        for i in 0..75u64 {
            // 10 fps for 7.5 s.
            meter.record(t0 + ms(i * 100), 1);
        }
        // At 7.5 s the window is buckets 3..=7: [3 s, 7.5 s], 4.5 s, 45 frames.
        let now = t0 + ms(7_500);
        assert!(close(meter.fps(now), 10.0), "{}", meter.fps(now));
    }

    #[test]
    fn start_up_uses_elapsed_time_but_at_least_one_bucket() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        meter.record(t0, 100);
        meter.record(t0 + ms(10), 100);
        // Two frames within the first bucket: divided by one bucket, not by 10 ms.
        assert!(close(meter.fps(t0 + ms(10)), 2.0));
        // 2.5 s after start, with 25 frames: 10 fps over the 2.5 s seen so far.
        for i in 2..25u64 {
            meter.record(t0 + ms(i * 100), 100);
        }
        assert!(close(meter.fps(t0 + ms(2_500)), 10.0));
        assert!(close(meter.bytes_per_sec(t0 + ms(2_500)), 1_000.0));
    }

    #[test]
    fn silence_drains_the_window() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        for i in 0..50u64 {
            meter.record(t0 + ms(i * 100), 1);
        }
        // Frames at 0..4.9 s. At 7 s the window is [3 s, 7 s]: 20 frames over 4 s.
        assert!(close(meter.fps(t0 + ms(7_000)), 5.0));
        // At 10 s the window is [6 s, 10 s]: nothing.
        assert_eq!(meter.fps(t0 + ms(10_000)), 0.0);
        // A new frame after a long gap starts afresh.
        meter.record(t0 + ms(60_000), 1);
        assert!(close(meter.fps(t0 + ms(60_500)), 1.0 / 4.5));
    }

    #[test]
    fn configurable_buckets() {
        let t0 = Instant::now();
        let mut meter = RateMeter::new(ms(100), 10);
        assert_eq!(meter.window(), Duration::from_secs(1));
        for i in 0..100u64 {
            meter.record(t0 + ms(i * 20), 500);
        }
        // 50 fps; at 2 s the window is [1.1 s, 2 s].
        assert!(close(meter.fps(t0 + ms(2_000)), 50.0));
        assert!(close(meter.bytes_per_sec(t0 + ms(2_000)), 25_000.0));
        // Degenerate parameters are clamped, not panics.
        let mut tiny = RateMeter::new(Duration::ZERO, 0);
        tiny.record(t0, 1);
        assert_eq!(tiny.window(), ms(1));
        assert!(close(tiny.fps(t0), 1000.0));
    }

    #[test]
    fn late_records_within_the_window_count() {
        let t0 = Instant::now();
        let mut meter = RateMeter::default();
        meter.record(t0, 1);
        meter.record(t0 + ms(3_000), 1);
        meter.record(t0 + ms(1_000), 1); // late but within the window
        assert!(close(meter.fps(t0 + ms(4_000)), 3.0 / 4.0));
        meter.record(t0 + ms(9_000), 1);
        meter.record(t0 + ms(2_000), 1); // too late: its bucket was reused
        assert!(close(meter.fps(t0 + ms(9_000)), 1.0 / 4.0));
        assert_eq!(meter.total_frames(), 5);
    }
}
