//! Cameras: detection of stored snapshots, with a bounded pool and a resume task.
//!
//! An upload is stored first (as `pending`) and detected second, so a busy, missing or
//! crashed detector never loses a snapshot: [`Cameras::run_resume`] detects whatever is still
//! pending, at start, when an upload found the queue full, and every minute.

use bytes::Bytes;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_store::{PendingSnapshot, SnapshotState, Store, StoredDetection};
use switchboard_vision::{BBox, Detection, Detector, DetectorOptions, DetectorPool, VisionError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Config;

/// How many pending snapshots the resume task loads at a time.
const RESUME_BATCH: u32 = 8;
/// How often the resume task looks for pending snapshots without being asked.
const RESUME_EVERY: Duration = Duration::from_secs(60);
/// How often old snapshots are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What became of an upload's detection within `detect_wait`.
#[derive(Debug)]
pub enum DetectOutcome {
    /// Detected and stored.
    Done(Vec<StoredDetection>),
    /// Still running (it will be stored when done), or no detector is loaded.
    Pending,
    /// The queue is full; the resume task will detect it later.
    Busy,
    /// The image cannot be decoded; the snapshot is marked failed.
    Failed(String),
}

/// The node's detector and what it is working on.
pub struct Cameras {
    pool: Option<Arc<DetectorPool>>,
    labels: Vec<String>,
    store: Arc<dyn Store>,
    wait: Duration,
    /// Snapshots being detected right now, so the resume task does not start them twice.
    in_flight: Mutex<HashSet<Uuid>>,
    wake: Notify,
}

impl std::fmt::Debug for Cameras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cameras")
            .field("pool", &self.pool)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Cameras {
    /// Loads the detector named by the configuration. A missing or unloadable model is logged
    /// and leaves detection off: snapshots are still stored, as pending.
    pub async fn start(config: &Config, store: Arc<dyn Store>) -> Cameras {
        let options = DetectorOptions {
            onnxruntime_library: config.onnxruntime_library.clone(),
            ..DetectorOptions::default()
        };
        let workers = config
            .detector_workers
            .unwrap_or_else(switchboard_vision::available_cores);
        // Each ONNX Runtime inference would otherwise use every core on top of the workers.
        let options = DetectorOptions {
            onnxruntime_threads: Some(
                (switchboard_vision::available_cores() / workers.max(1)).max(1),
            ),
            ..options
        };
        let queue = config.detector_queue;
        let pool = match config.detector_model_path() {
            None => {
                tracing::warn!(
                    model = %config.detector_model.display(),
                    "detector model not found: camera snapshots are stored but not detected \
                     (set detector_model, see models/README.md)"
                );
                None
            }
            Some(path) => {
                let loaded = tokio::task::spawn_blocking(move || {
                    let detector = Detector::load_with(&path, &options)?;
                    DetectorPool::new(detector, workers, queue)
                })
                .await;
                match loaded {
                    Ok(Ok(pool)) => {
                        tracing::info!(backend = ?pool.backend(), workers, queue, "detector loaded");
                        Some(Arc::new(pool))
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot load the detector: snapshots are stored but not detected");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "detector loading panicked");
                        None
                    }
                }
            }
        };
        let labels = pool
            .as_ref()
            .map(|p| p.detector().info().labels.clone())
            .unwrap_or_else(switchboard_vision::labels::coco80);
        Cameras {
            pool,
            labels,
            store,
            wait: config.detect_wait,
            in_flight: Mutex::new(HashSet::new()),
            wake: Notify::new(),
        }
    }

    /// Whether a detector is loaded.
    pub fn detecting(&self) -> bool {
        self.pool.is_some()
    }

    /// The classes the detector knows.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Detects a stored snapshot, waiting at most `detect_wait` for the answer. A detection
    /// still running then goes on and stores its result.
    pub async fn detect_upload(self: &Arc<Self>, id: Uuid, jpeg: Bytes) -> DetectOutcome {
        let Some(pool) = self.pool.clone() else {
            return DetectOutcome::Pending;
        };
        if !self.claim(id) {
            return DetectOutcome::Pending;
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = pool.try_detect(jpeg).await;
            let outcome = this.record(id, result).await;
            this.release(id);
            outcome
        });
        match tokio::time::timeout(self.wait, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "detection task failed");
                DetectOutcome::Pending
            }
            Err(_) => DetectOutcome::Pending,
        }
    }

    /// Stores a detection's result and says what it was.
    async fn record(&self, id: Uuid, result: Result<Vec<Detection>, VisionError>) -> DetectOutcome {
        let (state, found, outcome) = match result {
            Ok(found) => {
                let stored: Vec<StoredDetection> = found.iter().map(to_stored).collect();
                (
                    SnapshotState::Done,
                    stored.clone(),
                    DetectOutcome::Done(stored),
                )
            }
            Err(VisionError::Busy) => {
                self.wake.notify_one();
                return DetectOutcome::Busy;
            }
            Err(VisionError::Decode(why)) => (
                SnapshotState::Failed,
                Vec::new(),
                DetectOutcome::Failed(why),
            ),
            Err(e) => {
                // Inference trouble or a pool shutting down: leave it pending for a retry.
                tracing::warn!(error = %e, snapshot = %id, "detection failed; left pending");
                return DetectOutcome::Pending;
            }
        };
        if let Err(e) = self.store.finish_snapshot(id, state, &found).await {
            tracing::warn!(error = %e, snapshot = %id, "cannot store detections; left pending");
            return DetectOutcome::Pending;
        }
        crate::metrics::detections(found.len());
        outcome
    }

    fn claim(&self, id: Uuid) -> bool {
        self.in_flight
            .lock()
            .map(|mut set| set.insert(id))
            .unwrap_or(false)
    }

    fn release(&self, id: Uuid) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(&id);
        }
    }

    /// Detects every pending snapshot it can (waiting for room in the queue). Returns how
    /// many it finished. Tests call it directly.
    pub async fn resume_pending(&self) -> u64 {
        let Some(pool) = self.pool.clone() else {
            return 0;
        };
        let mut finished = 0;
        loop {
            let batch: Vec<PendingSnapshot> = match self.store.pending_snapshots(RESUME_BATCH).await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read pending snapshots");
                    return finished;
                }
            };
            let mut progressed = false;
            for snap in batch {
                if !self.claim(snap.id) {
                    continue;
                }
                let result = pool.detect(Bytes::from(snap.jpeg)).await;
                let outcome = self.record(snap.id, result).await;
                self.release(snap.id);
                match outcome {
                    DetectOutcome::Done(_) | DetectOutcome::Failed(_) => {
                        finished += 1;
                        progressed = true;
                    }
                    DetectOutcome::Pending | DetectOutcome::Busy => {}
                }
            }
            if !progressed {
                return finished;
            }
        }
    }

    /// The resume task: pending snapshots at start, when woken, and every minute.
    pub async fn run_resume(self: Arc<Self>, shutdown: CancellationToken) {
        if self.pool.is_none() {
            return;
        }
        loop {
            let done = self.resume_pending().await;
            if done > 0 {
                tracing::info!(done, "detected pending snapshots");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(RESUME_EVERY) => {}
            }
        }
    }

    /// The retention task: every hour, deletes snapshots older than `retention` and the
    /// oldest beyond `max_bytes` of images in all.
    pub async fn run_retention(
        self: Arc<Self>,
        retention: Duration,
        max_bytes: u64,
        shutdown: CancellationToken,
    ) {
        loop {
            let before = chrono::Duration::from_std(retention)
                .ok()
                .and_then(|keep| crate::live::now().checked_sub_signed(keep))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            match self.store.prune_snapshots(before, Some(max_bytes)).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "deleted old snapshots"),
                Err(e) => tracing::warn!(error = %e, "cannot delete old snapshots"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETENTION_EVERY) => {}
            }
        }
    }

    /// The class id of a label (for its colour on thumbnails).
    pub fn class_id(&self, label: &str) -> u16 {
        self.labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| u16::try_from(i).ok())
            .unwrap_or(0)
    }

    /// A stored detection as the vision crate draws it.
    pub fn to_detection(&self, d: &StoredDetection) -> Detection {
        Detection {
            label: d.label.clone(),
            class_id: self.class_id(&d.label),
            confidence: d.confidence as f32,
            bbox: BBox {
                x: d.x as f32,
                y: d.y as f32,
                w: d.w as f32,
                h: d.h as f32,
            },
        }
    }
}

fn to_stored(d: &Detection) -> StoredDetection {
    StoredDetection {
        label: d.label.clone(),
        confidence: f64::from(d.confidence),
        x: f64::from(d.bbox.x),
        y: f64::from(d.bbox.y),
        w: f64::from(d.bbox.w),
        h: f64::from(d.bbox.h),
    }
}
