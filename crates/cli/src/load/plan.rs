//! What a load run is asked to do: how many sessions, devices and viewers, how they send and
//! watch, and for how long.

use clap::ValueEnum;
use reqwest::Url;
use std::time::Duration;

/// How simulated devices send frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// The device WebSocket: one binary message per frame.
    Ws,
    /// One `POST …/frames?seq=N` per frame.
    Http,
    /// One long `POST …/stream` with a multipart/x-mixed-replace body.
    Mjpeg,
}

/// How simulated viewers watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewerKind {
    /// `GET …/video.mjpeg`, read from a raw socket.
    Mjpeg,
    /// The `…/watch` WebSocket.
    Ws,
}

/// The name a flag value has on the command line (`ws`, `mjpeg`), for summaries.
pub fn flag_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server's base URL.
    pub server: Url,
    pub sessions: usize,
    /// Frames per second each device sends.
    pub fps: f64,
    /// Size of each frame in bytes (before its stamp).
    pub frame_bytes: usize,
    /// Viewers per session.
    pub viewers: usize,
    /// Viewers per session that read one frame per second through a small socket buffer.
    pub slow_viewers: usize,
    pub transport: Transport,
    pub viewer_kind: ViewerKind,
    /// Streaming before the measurement starts.
    pub warmup: Duration,
    /// The measurement window.
    pub measure: Duration,
}

impl LoadPlan {
    /// How many viewers the run attaches in all.
    pub fn total_viewers(&self) -> usize {
        self.sessions * (self.viewers + self.slow_viewers)
    }

    /// How long the devices stream.
    pub fn streaming(&self) -> Duration {
        self.warmup + self.measure
    }
}

/// A warning if this process may run out of file descriptors: every viewer and device holds
/// a socket, and a default soft limit of 1024 is easily passed by a big run.
pub fn open_files_warning(plan: &LoadPlan) -> Option<String> {
    let needed = plan.total_viewers() + 2 * plan.sessions + 64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    (soft < needed).then(|| {
        format!(
            "this run needs about {needed} open files but the limit is {soft}; \
             raise it first (ulimit -n {needed})"
        )
    })
}
