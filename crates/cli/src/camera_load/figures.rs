//! What a camera load run counts while it runs, and the figures it reports.

use crate::load::stats::{ErrorTally, LatencyHistogram};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters every camera, poller and searcher task updates.
#[derive(Default)]
pub struct Tally {
    /// Upload requests sent (retries included).
    pub sent: AtomicU64,
    /// Uploads the server stored (201, 200, 202, and 503 `detector_busy`, which keeps the
    /// snapshot as pending).
    pub accepted: AtomicU64,
    /// 201 and 200: detected within the server's `detect_wait`.
    pub detected_at_once: AtomicU64,
    /// 202: stored, detection still running.
    pub pending: AtomicU64,
    /// 503 `detector_busy`: stored, the queue was full.
    pub busy: AtomicU64,
    /// 503 or 429 without the snapshot stored: retried after `Retry-After`.
    pub refused: AtomicU64,
    /// Stored snapshots whose detection is not seen yet.
    pub outstanding: AtomicU64,
    /// Stored snapshots never seen detected before the run gave up.
    pub never_detected: AtomicU64,
    /// Detected within the deadline.
    pub on_time: AtomicU64,
    /// Searches answered.
    pub searches: AtomicU64,
    /// Searches refused for load (429, 503), waited out.
    pub searches_refused: AtomicU64,
    /// From upload to detection seen, microseconds.
    pub detection_wait: Mutex<LatencyHistogram>,
    /// Search round trips, microseconds.
    pub search_latency: Mutex<LatencyHistogram>,
    /// The backlog sampled every second.
    pub backlog: Mutex<Vec<u64>>,
    pub errors: ErrorTally,
}

impl Tally {
    /// Counts one stored snapshot seen detected `wait` after its upload started.
    pub fn detected(&self, wait: Duration, deadline: Duration) {
        if wait <= deadline {
            self.on_time.fetch_add(1, Ordering::Relaxed);
        }
        record(&self.detection_wait, wait);
    }

    /// Counts one answered search.
    pub fn searched(&self, took: Duration) {
        self.searches.fetch_add(1, Ordering::Relaxed);
        record(&self.search_latency, took);
    }
}

fn record(histogram: &Mutex<LatencyHistogram>, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    histogram
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .record(micros);
}

/// A latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Millis {
    pub count: u64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Millis {
    fn of(histogram: &Mutex<LatencyHistogram>) -> Millis {
        let h = histogram
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
        Millis {
            count: h.count(),
            p50: ms(h.quantile(0.5)),
            p99: ms(h.quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// The figures of one run, as printed (`--json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub server: String,
    pub cameras: u32,
    pub accounts: u32,
    pub every_seconds: f64,
    pub searchers: u32,
    pub seconds: f64,
    /// Uploads per second the cameras were asked to make.
    pub offered_per_second: f64,
    pub uploads_sent: u64,
    pub uploads_accepted: u64,
    /// Uploads the server stored per second of the run.
    pub accepted_per_second: f64,
    pub detected_at_once: u64,
    pub answered_pending: u64,
    pub answered_busy_503: u64,
    /// 503 or 429 with nothing stored; each was retried after its `Retry-After`.
    pub refused_and_retried: u64,
    pub deadline_seconds: f64,
    /// Stored uploads seen detected within the deadline.
    pub detected_on_time: u64,
    pub never_detected: u64,
    /// Whether every stored upload was detected within the deadline.
    pub sustained: bool,
    /// From the start of an upload to its detection seen (a 202's detection is seen by
    /// polling its snapshot every 500 ms, so those waits are late by up to that).
    pub detection_wait_ms: Millis,
    /// Stored snapshots not yet seen detected, sampled every second.
    pub backlog_mean: f64,
    pub backlog_max: u64,
    pub searches: u64,
    pub searches_refused: u64,
    pub search_ms: Millis,
    pub errors: u64,
    pub error_lines: Vec<String>,
}

impl Figures {
    /// The figures of a finished run.
    pub fn of(tally: &Tally, plan: Plan) -> Figures {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let backlog = tally
            .backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let accepted = load(&tally.accepted);
        let on_time = load(&tally.on_time);
        let errors = tally.errors.snapshot();
        Figures {
            server: plan.server,
            cameras: plan.cameras,
            accounts: plan.accounts,
            every_seconds: plan.every.as_secs_f64(),
            searchers: plan.searchers,
            seconds: plan.seconds,
            offered_per_second: f64::from(plan.cameras) / plan.every.as_secs_f64(),
            uploads_sent: load(&tally.sent),
            uploads_accepted: accepted,
            accepted_per_second: accepted as f64 / plan.seconds,
            detected_at_once: load(&tally.detected_at_once),
            answered_pending: load(&tally.pending),
            answered_busy_503: load(&tally.busy),
            refused_and_retried: load(&tally.refused),
            deadline_seconds: plan.deadline.as_secs_f64(),
            detected_on_time: on_time,
            never_detected: load(&tally.never_detected),
            sustained: accepted > 0 && on_time == accepted && tally.errors.total() == 0,
            detection_wait_ms: Millis::of(&tally.detection_wait),
            backlog_mean: if backlog.is_empty() {
                0.0
            } else {
                backlog.iter().sum::<u64>() as f64 / backlog.len() as f64
            },
            backlog_max: backlog.iter().copied().max().unwrap_or(0),
            searches: load(&tally.searches),
            searches_refused: load(&tally.searches_refused),
            search_ms: Millis::of(&tally.search_latency),
            errors: tally.errors.total(),
            error_lines: errors
                .iter()
                .map(|(kind, e)| format!("{kind}: {} (e.g. {})", e.count, e.first))
                .collect(),
        }
    }

    /// Prints the figures as a table.
    pub fn print(&self) {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "Camera load: {} cameras in {} accounts, one photo each every {:.1} s ({:.1} offered/s), \
             {} searchers, {:.0} s, against {}",
            self.cameras,
            self.accounts,
            self.every_seconds,
            self.offered_per_second,
            self.searchers,
            self.seconds,
            self.server
        );
        println!(
            "  uploads              sent {} · stored {} ({:.2}/s)",
            self.uploads_sent, self.uploads_accepted, self.accepted_per_second
        );
        println!(
            "  answers              detected at once {} · pending {} · 503 busy {} · refused and retried {}",
            self.detected_at_once,
            self.answered_pending,
            self.answered_busy_503,
            self.refused_and_retried
        );
        println!(
            "  detection wait ms    p50 {} · p99 {} · max {} ({} seen)",
            ms(self.detection_wait_ms.p50),
            ms(self.detection_wait_ms.p99),
            ms(self.detection_wait_ms.max),
            self.detection_wait_ms.count
        );
        println!(
            "  within {:.0} s          {} of {} stored{}",
            self.deadline_seconds,
            self.detected_on_time,
            self.uploads_accepted,
            if self.never_detected > 0 {
                format!(" ({} never seen detected)", self.never_detected)
            } else {
                String::new()
            }
        );
        println!(
            "  detection backlog    mean {:.1} · max {}",
            self.backlog_mean, self.backlog_max
        );
        println!(
            "  search ms            p50 {} · p99 {} · max {} ({} searches, {} refused and retried)",
            ms(self.search_ms.p50),
            ms(self.search_ms.p99),
            ms(self.search_ms.max),
            self.searches,
            self.searches_refused
        );
        println!(
            "  sustained            {}",
            if self.sustained { "yes" } else { "no" }
        );
        if self.error_lines.is_empty() {
            println!("  errors               none");
        } else {
            println!("  errors               {}", self.errors);
            for line in &self.error_lines {
                println!("    {line}");
            }
        }
    }
}

/// What the run was asked to do, for the report.
#[derive(Debug, Clone)]
pub struct Plan {
    pub server: String,
    pub cameras: u32,
    pub accounts: u32,
    pub every: Duration,
    pub searchers: u32,
    pub seconds: f64,
    pub deadline: Duration,
}
