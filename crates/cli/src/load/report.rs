//! What a load run measured, and the figures the summaries print from it.

use super::device::DeviceReport;
use super::plan::LoadPlan;
use super::progress::Window;
use super::stats::{ErrorKind, LatencyHistogram, Spread};
use super::viewer::{ViewerReport, ViewerRole};
use std::collections::BTreeMap;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub plan: LoadPlan,
    pub window: Window,
    pub devices: Vec<DeviceReport>,
    pub viewers: Vec<ViewerReport>,
    pub errors: BTreeMap<String, ErrorKind>,
}

impl LoadReport {
    /// The measurement window in seconds.
    pub fn window_secs(&self) -> f64 {
        self.window.duration().as_secs_f64().max(f64::EPSILON)
    }

    /// Frames and bytes the devices sent, over the whole run.
    pub fn sent(&self) -> (u64, u64) {
        self.devices
            .iter()
            .fold((0, 0), |(f, b), d| (f + d.frames_sent, b + d.bytes_sent))
    }

    /// Frames and bytes the viewers received, over the whole run.
    pub fn received(&self) -> (u64, u64) {
        self.viewers
            .iter()
            .fold((0, 0), |(f, b), v| (f + v.frames, b + v.bytes))
    }

    /// Frames per second each device sent in the window.
    pub fn source_fps(&self) -> Option<Spread> {
        let secs = self.window_secs();
        Spread::of(self.devices.iter().map(|d| d.window_frames as f64 / secs))
    }

    fn viewers_in(&self, roles: &[ViewerRole]) -> impl Iterator<Item = &ViewerReport> {
        self.viewers.iter().filter(move |v| roles.contains(&v.role))
    }

    /// Frames per second each viewer of `roles` received in the window.
    pub fn viewer_fps(&self, roles: &[ViewerRole]) -> Option<Spread> {
        let secs = self.window_secs();
        Spread::of(
            self.viewers_in(roles)
                .map(|v| v.window_frames as f64 / secs),
        )
    }

    /// Device-to-viewer latencies of the frames viewers of `roles` received in the window.
    pub fn latency(&self, roles: &[ViewerRole]) -> LatencyHistogram {
        let mut all = LatencyHistogram::default();
        for v in self.viewers_in(roles) {
            all.merge(&v.latency);
        }
        all
    }

    /// Megabytes (10^6 bytes) per second delivered to viewers of `roles` in the window.
    pub fn delivered_mb_per_sec(&self, roles: &[ViewerRole]) -> f64 {
        let bytes: u64 = self.viewers_in(roles).map(|v| v.window_bytes).sum();
        bytes as f64 / 1e6 / self.window_secs()
    }

    /// How many errors happened, of all kinds.
    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|k| k.count).sum()
    }

    /// One line per kind of error: `3 × viewer_connect (first: connection refused)`.
    pub fn error_lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|(kind, k)| {
                let mut first = k.first.clone();
                if first.chars().count() > 160 {
                    first = first.chars().take(160).collect::<String>() + "…";
                }
                format!("{} × {kind} (first: {first})", k.count)
            })
            .collect()
    }
}

/// Microseconds as milliseconds with one decimal, or "-" without a value.
pub fn ms(micros: Option<u64>) -> String {
    micros.map_or_else(|| "-".to_owned(), |us| format!("{:.1}", us as f64 / 1000.0))
}

/// A byte count with a binary unit, for people.
pub fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}
