//! The live state of a load run, which every device and viewer task updates and which the
//! progress bar and the benchmark's CPU sampler watch.

use super::stats::ErrorTally;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Where a run is. Ordered: each phase follows the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Rendering frames, signing up, creating sessions, registering devices.
    Preparing,
    /// Viewers are connecting.
    Connecting,
    /// Devices stream; nothing is measured yet, so connection set-up does not count.
    WarmingUp,
    /// Devices stream and viewers' frames count towards rates and latencies.
    Measuring,
    /// Devices stopped and sessions are being ended; viewer streams closing now is expected.
    Draining,
    /// Everything stopped.
    Done,
}

/// The measurement window, fixed when the devices start.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    /// Whether `at` falls in the window.
    pub fn contains(&self, at: Instant) -> bool {
        at >= self.start && at < self.end
    }

    /// The window's length.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }
}

/// Counters and state shared by every task of a run. Updated with relaxed atomics: the
/// figures are for display and exactness comes from each task's own report.
#[derive(Debug)]
pub struct Progress {
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub devices_ready: AtomicU64,
    pub viewers_ready: AtomicU64,
    pub errors: ErrorTally,
    phase: watch::Sender<Phase>,
    window: OnceLock<Window>,
    bar: OnceLock<ProgressBar>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            frames_sent: AtomicU64::new(0),
            frames_received: AtomicU64::new(0),
            devices_ready: AtomicU64::new(0),
            viewers_ready: AtomicU64::new(0),
            errors: ErrorTally::default(),
            phase: watch::Sender::new(Phase::Preparing),
            window: OnceLock::new(),
            bar: OnceLock::new(),
        }
    }
}

impl Progress {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Wakes on every phase change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(super) fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Marks the run as over, whether it completed or failed, so watchers (the progress bar,
    /// the benchmark's sampler) stop.
    pub fn finish(&self) {
        self.phase.send_replace(Phase::Done);
    }

    /// The measurement window, once the devices have started.
    pub fn window(&self) -> Option<Window> {
        self.window.get().copied()
    }

    pub(super) fn set_window(&self, window: Window) {
        // Set once per run; a second call would be a bug in the engine, and the first wins.
        let _ = self.window.set(window);
    }

    /// Whether frames arriving at `at` count towards the measurement.
    pub fn measuring_at(&self, at: Instant) -> bool {
        self.window.get().is_some_and(|w| w.contains(at))
    }

    /// Prints a line for the person running the tool, above the progress bar if one shows.
    pub fn note(&self, line: impl AsRef<str>) {
        match self.bar.get() {
            Some(bar) if !bar.is_hidden() => bar.println(line.as_ref()),
            _ => eprintln!("{}", line.as_ref()),
        }
    }

    pub(super) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal), redrawn five times a
/// second from the shared counters until the run is done.
#[derive(Debug)]
pub struct ProgressDisplay {
    task: tokio::task::JoinHandle<()>,
}

impl ProgressDisplay {
    /// Starts drawing. `streaming` is how long the devices will stream (warm-up included),
    /// the length of the bar; `setup_total` is how many devices and viewers are set up.
    pub fn start(progress: Arc<Progress>, streaming: Duration, setup_total: (u64, u64)) -> Self {
        let bar = ProgressBar::new(u64::try_from(streaming.as_millis()).unwrap_or(u64::MAX));
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let _ = progress.bar.set(bar.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let phase = progress.phase();
                let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
                let errors = progress.errors.total();
                let message = match phase {
                    Phase::Preparing => format!(
                        "preparing: {}/{} devices registered",
                        load(&progress.devices_ready),
                        setup_total.0
                    ),
                    Phase::Connecting => format!(
                        "connecting: {}/{} viewers",
                        load(&progress.viewers_ready),
                        setup_total.1
                    ),
                    _ => format!(
                        "{} · frames sent {} · received {} · errors {errors}",
                        match phase {
                            Phase::WarmingUp => "warming up",
                            Phase::Measuring => "measuring",
                            _ => "ending sessions",
                        },
                        load(&progress.frames_sent),
                        load(&progress.frames_received),
                    ),
                };
                if let Some(window) = progress.window() {
                    let started = window.start.checked_sub(streaming - window.duration());
                    if let Some(started) = started {
                        let ms = started.elapsed().as_millis();
                        bar.set_position(u64::try_from(ms).unwrap_or(u64::MAX));
                    }
                }
                bar.set_message(message);
                bar.tick();
                if phase == Phase::Done {
                    bar.finish_and_clear();
                    return;
                }
            }
        });
        ProgressDisplay { task }
    }

    /// Waits for the bar to be cleared (after the run reached [`Phase::Done`]).
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}
