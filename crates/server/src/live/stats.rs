//! Per-session counters written on the frame path: atomics and a small rate meter, so
//! recording a frame never waits for the session actor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use switchboard_core::{PathTraffic, SessionStats, Traffic};
use switchboard_media::rate::RateMeter;
use switchboard_sfu::PeerCounters;
use uuid::Uuid;

/// Frames and bytes received, the newest frame's time and sequence number, the rate, and
/// the traffic on each media path.
#[derive(Debug)]
pub struct LiveStats {
    frames: AtomicU64,
    bytes: AtomicU64,
    /// JPEG bytes sent to this node's viewers.
    jpeg_bytes_out: AtomicU64,
    webrtc: Mutex<WebRtcTally>,
    /// Unix milliseconds of the newest frame; 0 before the first.
    last_frame_ms: AtomicI64,
    last_seq: AtomicU64,
    rate: Mutex<RateMeter>,
    /// Prometheus counters, looked up once here rather than on every frame.
    frames_in: metrics::Counter,
    bytes_in: metrics::Counter,
}

/// The WebRTC path's totals: of the peers gone (and what the store carried over), and the
/// peers still connected, read through the forwarding unit's counters so a CDR written while
/// they are connected counts every byte so far.
#[derive(Debug, Default)]
struct WebRtcTally {
    done: PathTraffic,
    live: HashMap<Uuid, Arc<PeerCounters>>,
}

fn traffic_of(c: &PeerCounters) -> PathTraffic {
    PathTraffic {
        frames_in: PeerCounters::get(&c.frames_in),
        bytes_in: PeerCounters::get(&c.bytes_in),
        bytes_out: PeerCounters::get(&c.bytes_out),
    }
}

impl LiveStats {
    /// Counters carried over from the stored session (after a restart), or zero for a new one.
    pub fn new(stored: &SessionStats) -> Self {
        LiveStats {
            frames: AtomicU64::new(stored.frames),
            bytes: AtomicU64::new(stored.bytes),
            jpeg_bytes_out: AtomicU64::new(stored.jpeg_bytes_out),
            webrtc: Mutex::new(WebRtcTally {
                done: stored.webrtc,
                live: HashMap::new(),
            }),
            last_frame_ms: AtomicI64::new(
                stored
                    .last_frame_at
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(0),
            ),
            last_seq: AtomicU64::new(0),
            rate: Mutex::new(RateMeter::default()),
            frames_in: metrics::counter!("switchboard_frames_in_total", "path" => "jpeg"),
            bytes_in: metrics::counter!("switchboard_frame_bytes_in_total", "path" => "jpeg"),
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, WebRtcTally> {
        // Plain sums; a poisoned one is still usable.
        self.webrtc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts JPEG bytes sent to a viewer.
    pub fn sent_jpeg(&self, bytes: usize) {
        self.jpeg_bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn jpeg_bytes_out(&self) -> u64 {
        self.jpeg_bytes_out.load(Ordering::Relaxed)
    }

    /// Counts a WebRTC peer's traffic from now until [`LiveStats::webrtc_peer_gone`].
    pub fn webrtc_peer(&self, resource: Uuid, counters: Arc<PeerCounters>) {
        self.tally().live.insert(resource, counters);
    }

    /// Keeps a gone peer's final counts.
    pub fn webrtc_peer_gone(&self, resource: Uuid) {
        let mut tally = self.tally();
        if let Some(counters) = tally.live.remove(&resource) {
            tally.done = tally.done + traffic_of(&counters);
        }
    }

    /// The traffic on each media path so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            jpeg: PathTraffic {
                frames_in: self.frames(),
                bytes_in: self.bytes(),
                bytes_out: self.jpeg_bytes_out(),
            },
            webrtc: self.webrtc(),
        }
    }

    /// The WebRTC path's traffic so far.
    pub fn webrtc(&self) -> PathTraffic {
        let tally = self.tally();
        tally
            .live
            .values()
            .fold(tally.done, |sum, c| sum + traffic_of(c))
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
