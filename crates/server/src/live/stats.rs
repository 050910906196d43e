//! Per-session counters written on the frame path: atomics and a small rate meter, so
//! recording a frame never waits for the session actor.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;
use switchboard_media::rate::RateMeter;

/// Frames and bytes received, the newest frame's time and sequence number, and the rate.
#[derive(Debug)]
pub struct LiveStats {
    frames: AtomicU64,
    bytes: AtomicU64,
    /// Unix milliseconds of the newest frame; 0 before the first.
    last_frame_ms: AtomicI64,
    last_seq: AtomicU64,
    rate: Mutex<RateMeter>,
    /// Prometheus counters, looked up once here rather than on every frame.
    frames_in: metrics::Counter,
    bytes_in: metrics::Counter,
}

impl LiveStats {
    /// Counters carried over from the stored session (after a restart) or zero.
    pub fn new(frames: u64, bytes: u64, last_frame_ms: Option<i64>) -> Self {
        LiveStats {
            frames: AtomicU64::new(frames),
            bytes: AtomicU64::new(bytes),
            last_frame_ms: AtomicI64::new(last_frame_ms.unwrap_or(0)),
            last_seq: AtomicU64::new(0),
            rate: Mutex::new(RateMeter::default()),
            frames_in: metrics::counter!("switchboard_frames_in_total", "path" => "jpeg"),
            bytes_in: metrics::counter!("switchboard_frame_bytes_in_total", "path" => "jpeg"),
        }
    }

    fn meter(&self) -> std::sync::MutexGuard<'_, RateMeter> {
        // The meter is plain arithmetic; a poisoned one is still usable.
        self.rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a frame. Returns the sequence number to use: the device's, or the next one.
    pub fn record(&self, seq: Option<u64>, bytes: usize, now_ms: i64) -> u64 {
        let n = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_frame_ms.fetch_max(now_ms, Ordering::Relaxed);
        let seq = seq.unwrap_or(n);
        self.last_seq.store(seq, Ordering::Relaxed);
        self.meter().record(Instant::now(), bytes);
        self.frames_in.increment(1);
        self.bytes_in.increment(bytes as u64);
        seq
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The newest frame's sequence number, if a frame arrived since start.
    pub fn last_seq(&self) -> Option<u64> {
        match self.last_seq.load(Ordering::Relaxed) {
            0 if self.frames() == 0 => None,
            s => Some(s),
        }
    }

    /// Unix milliseconds of the newest frame.
    pub fn last_frame_ms(&self) -> Option<i64> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }

    /// Frames per second over the meter's window.
    pub fn fps(&self) -> f64 {
        self.meter().fps(Instant::now())
    }
}
