//! Cameras: detection of stored snapshots, with a bounded pool and a resume task.
//!
//! An upload is stored first (as `pending`) and detected second, so a busy, missing or
//! crashed detector never loses a snapshot: [`Cameras::run_resume`] detects whatever is still
//! pending, at start, when an upload found the queue full, and every minute.
//!
//! The account's taught objects are looked for wherever a snapshot is detected, on the same
//! detector thread right after its detection (one `Scene` per picture, every template found
//! in it), and kept with the snapshot when detection keeps it. Matching needs no model: with
//! the detector off, an upload's picture is matched on a decoding slot instead.

use bytes::Bytes;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::Timestamp;
use switchboard_store::{Discard, PendingSnapshot, SnapshotState, Store, StoredDetection};
use switchboard_vision::{
    Analysis, BBox, Detection, Detector, DetectorOptions, DetectorPool, Signature, VisionError,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Config;
use crate::decode_slots::{DecodeSlotError, DecodeSlots};
use crate::taught::{Found, TaughtMatcher};
use crate::vault::{Object, Vault};
use switchboard_core::AccountId;
use switchboard_store::StoredBlob;

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
    /// Detected, then dropped: it looks like the camera's previous snapshot (given), with
    /// the same labels.
    Duplicate(Vec<StoredDetection>, Uuid),
    /// Detected, then dropped: its camera keeps only snapshots with a person.
    Discarded(Vec<StoredDetection>),
    /// Still running (it will be stored when done), or no detector is loaded.
    Pending,
    /// The queue is full; the resume task will detect it later.
    Busy,
    /// The image cannot be decoded; the snapshot is marked failed.
    Failed(String),
}

/// A stored snapshot as detection needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRef {
    pub id: Uuid,
    pub account_id: AccountId,
    /// The data key version its picture is sealed with (its signature goes with it).
    pub key_version: Option<u32>,
    pub camera_id: Uuid,
    pub taken_at: Timestamp,
    /// Its camera keeps only snapshots with a person.
    pub only_person: bool,
}

/// The node's detector and what it is working on.
pub struct Cameras {
    pool: Option<Arc<DetectorPool>>,
    /// Why `pool` is `None`, for people (the cameras page, `GET /api/v1/cameras`).
    off_because: Option<String>,
    /// ONNX Runtime's library and how it was found, when it is the backend.
    library: Option<String>,
    /// The model's file, or the built-in model's name, when it detects.
    model: Option<String>,
    labels: Vec<String>,
    store: Arc<dyn Store>,
    /// Seals signatures, opens pictures and signatures read back.
    vault: Arc<Vault>,
    wait: Duration,
    /// Snapshots closer than this to the previous one (and with its labels) are dropped.
    dedup_distance: f64,
    /// Snapshots being detected right now, so the resume task does not start them twice.
    in_flight: Mutex<HashSet<Uuid>>,
    wake: Notify,
    /// Pictures decoded at once outside the detector's threads (`max_concurrent_decodes`).
    decodes: DecodeSlots,
    /// How long a thumbnail waits for a decoding slot.
    decode_wait: Duration,
    /// The largest picture decoded (`max_image_pixels`).
    max_pixels: u64,
    /// Looks for the account's taught objects in each detected snapshot.
    taught: Arc<TaughtMatcher>,
}

/// Why [`Cameras::thumbnail`] made none.
#[derive(Debug)]
pub enum ThumbnailError {
    /// Every decoding slot stayed taken for `decode_wait`.
    Busy,
    /// The picture cannot be decoded, or declares more than `max_image_pixels` (stored
    /// before that bound, or under a larger one).
    Undecodable(String),
    /// The decoding task failed.
    Failed(String),
}

/// A snapshot's `taken_at`: the camera's claim, unless it lies further in the future than
/// `skew` by this node's clock; then the time it was received (a picture from the future
/// has no trustworthy time, and would escape age retention).
pub fn taken_at(claimed: Option<Timestamp>, received_at: Timestamp, skew: Duration) -> Timestamp {
    let latest = chrono::Duration::from_std(skew)
        .ok()
        .and_then(|skew| received_at.checked_add_signed(skew))
        .unwrap_or(received_at);
    match claimed {
        Some(at) if at <= latest => at,
        _ => received_at,
    }
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
    /// and leaves detection off: snapshots are still stored, as pending, and still matched
    /// against taught objects.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        decodes: DecodeSlots,
        taught: Arc<TaughtMatcher>,
    ) -> Cameras {
        let options = DetectorOptions {
            onnxruntime_library: config.cameras.onnxruntime_library.clone(),
            max_pixels: config.cameras.max_image_pixels,
            ..DetectorOptions::default()
        };
        let workers = config
            .cameras
            .detector_workers
            .unwrap_or_else(switchboard_vision::available_cores);
        // Each ONNX Runtime inference would otherwise use every core on top of the workers.
        let options = DetectorOptions {
            onnxruntime_threads: Some(
                (switchboard_vision::available_cores() / workers.max(1)).max(1),
            ),
            ..options
        };
        let queue = config.cameras.detector_queue;
        let mut off_because = None;
        let model = match (config.cameras.detection, &config.cameras.detector_model) {
            (false, _) => {
                off_because = Some("detection is turned off (detection = false)".to_owned());
                None
            }
            (true, None) => Some(None),
            (true, Some(named)) => match config.detector_model_path() {
                Some(path) => Some(Some(path)),
                None => {
                    tracing::warn!(
                        model = %named.display(),
                        "detector model not found: camera snapshots are stored but not detected"
                    );
                    off_because = Some(format!(
                        "no detector model: {} was not found{}; set detector_model \
                         (--detector-model) to the model file, or leave it unset for the \
                         built-in model",
                        named.display(),
                        if named.is_absolute() {
                            ""
                        } else {
                            " in the working directory or next to the program"
                        }
                    ));
                    None
                }
            },
        };
        let pool = match model {
            None => None,
            // `Some(None)`: the model built into the program.
            Some(file) => {
                let loaded = tokio::task::spawn_blocking(move || {
                    let detector = match &file {
                        Some(path) => Detector::load_with(path, &options)?,
                        None => Detector::load_builtin(&options)?,
                    };
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
                        off_because = Some(format!("the detector model could not be loaded: {e}"));
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "detector loading panicked");
                        off_because = Some(format!("loading the detector model failed: {e}"));
                        None
                    }
                }
            }
        };
        let model = pool
            .as_ref()
            .map(|p| p.detector().info().path.display().to_string());
        let library = pool.as_ref().and_then(|p| {
            p.detector()
                .library()
                .map(|c| format!("{} (found by: {})", c.path.display(), c.found_by))
        });
        let labels = pool
            .as_ref()
            .map(|p| p.detector().info().labels.clone())
            .unwrap_or_else(switchboard_vision::labels::coco80);
        Cameras {
            pool,
            off_because,
            library,
            model,
            labels,
            store,
            vault,
            wait: config.cameras.detect_wait,
            dedup_distance: config.cameras.snapshot_dedup_distance,
            in_flight: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            decodes,
            decode_wait: config.cameras.decode_wait,
            max_pixels: config.cameras.max_image_pixels,
            taught,
        }
    }

    /// A copy of `jpeg` at most `width` pixels wide with `drawn` on it. Waits at most
    /// `decode_wait` for one of the `max_concurrent_decodes` slots, so requests past them
    /// are refused instead of piling decodes up in memory.
    pub async fn thumbnail(
        &self,
        jpeg: Vec<u8>,
        drawn: Vec<Detection>,
        width: u32,
    ) -> Result<Vec<u8>, ThumbnailError> {
        let max_pixels = self.max_pixels;
        self.decodes
            .run(Some(self.decode_wait), move || {
                switchboard_vision::annotate_limited(&jpeg, &drawn, width, max_pixels)
            })
            .await
            .map_err(|e| match e {
                DecodeSlotError::Busy => ThumbnailError::Busy,
                DecodeSlotError::Failed(why) => ThumbnailError::Failed(why),
            })?
            .map_err(|e| match e {
                VisionError::Decode(_) | VisionError::TooLarge { .. } => {
                    ThumbnailError::Undecodable(e.to_string())
                }
                other => ThumbnailError::Failed(other.to_string()),
            })
    }

    /// Whether a detector is loaded.
    pub fn detecting(&self) -> bool {
        self.pool.is_some()
    }

    /// The backend detecting (`onnxruntime` or `tract`), while detection is on.
    pub fn backend(&self) -> Option<&'static str> {
        self.pool.as_ref().map(|p| p.backend().name())
    }

    /// ONNX Runtime's library and how it was found, when it detects.
    pub fn library(&self) -> Option<&str> {
        self.library.as_deref()
    }

    /// The model detecting (its file, or the built-in model's name), while detection is on.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Why detection is off, while it is.
    pub fn off_because(&self) -> Option<&str> {
        self.off_because.as_deref()
    }

    /// The classes the detector knows.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Detects a stored snapshot, waiting at most `detect_wait` for the answer. A detection
    /// still running then goes on and stores its result.
    pub async fn detect_upload(self: &Arc<Self>, snap: SnapshotRef, jpeg: Bytes) -> DetectOutcome {
        let templates = self.taught.templates(snap.account_id).await;
        let Some(pool) = self.pool.clone() else {
            if let Some(templates) = templates {
                self.match_without_detector(snap, jpeg, templates).await;
            }
            return DetectOutcome::Pending;
        };
        if !self.claim(snap.id) {
            return DetectOutcome::Pending;
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let (result, found) = match templates {
                Some(templates) => {
                    let (then, found) = this.taught.after_detection(templates);
                    (pool.try_analyze_then(jpeg, then).await, Some(found))
                }
                None => (pool.try_analyze(jpeg).await, None),
            };
            let outcome = this.record(snap, result).await;
            this.keep_matches(snap, &outcome, found).await;
            this.release(snap.id);
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

    /// With the detector off, looks for the taught objects on a decoding slot, waiting at
    /// most `detect_wait` like a detection (the matching goes on and is kept after that).
    async fn match_without_detector(
        &self,
        snap: SnapshotRef,
        jpeg: Bytes,
        templates: Arc<crate::taught::TemplateSet>,
    ) {
        let taught = Arc::clone(&self.taught);
        let task = tokio::spawn(async move {
            let found = taught.find_now(templates, jpeg).await;
            taught.keep(snap.id, found).await;
        });
        if tokio::time::timeout(self.wait, task).await.is_err() {
            tracing::debug!(snapshot = %snap.id, "taught objects still being looked for");
        }
    }

    /// Keeps where the taught objects were found, if the snapshot was kept (a dropped one
    /// is gone, and a pending one is matched again when it is detected).
    async fn keep_matches(
        &self,
        snap: SnapshotRef,
        outcome: &DetectOutcome,
        found: Option<tokio::sync::oneshot::Receiver<Vec<Found>>>,
    ) {
        let (DetectOutcome::Done(_), Some(found)) = (outcome, found) else {
            return;
        };
        // The worker sends once it has looked; a dropped job never sends.
        if let Ok(found) = found.await {
            self.taught.keep(snap.id, found).await;
        }
    }

    /// Stores a detection's result (or drops the snapshot by the camera's rules) and says
    /// what it was.
    async fn record(
        &self,
        snap: SnapshotRef,
        result: Result<Analysis, VisionError>,
    ) -> DetectOutcome {
        let id = snap.id;
        let (state, found, signature, outcome) = match result {
            Ok(analysis) => {
                let stored: Vec<StoredDetection> =
                    analysis.detections.iter().map(to_stored).collect();
                if let Some((why, outcome)) =
                    self.discard_rule(&snap, &stored, &analysis.signature).await
                {
                    return match self.store.discard_snapshot(id, why).await {
                        Ok(()) => {
                            crate::metrics::snapshot_dropped(why);
                            outcome
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, snapshot = %id, "cannot drop a snapshot; left pending");
                            DetectOutcome::Pending
                        }
                    };
                }
                (
                    SnapshotState::Done,
                    stored.clone(),
                    Some(analysis.signature),
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
                None,
                DetectOutcome::Failed(why),
            ),
            // Stored before `max_image_pixels` was lowered: never decodable here, so failed
            // rather than pending (the resume task would retry it forever).
            Err(e @ VisionError::TooLarge { .. }) => (
                SnapshotState::Failed,
                Vec::new(),
                None,
                DetectOutcome::Failed(e.to_string()),
            ),
            Err(e) => {
                // Inference trouble or a pool shutting down: leave it pending for a retry.
                tracing::warn!(error = %e, snapshot = %id, "detection failed; left pending");
                return DetectOutcome::Pending;
            }
        };
        let signature = match signature {
            Some(signature) => match self
                .vault
                .seal_as(
                    snap.account_id,
                    Object::Signature(id),
                    signature.as_bytes(),
                    snap.key_version,
                )
                .await
            {
                Ok(sealed) => Some(sealed.bytes),
                Err(e) => {
                    // Stored without one: only near-duplicate checks against it are lost.
                    tracing::warn!(error = %e, snapshot = %id, "cannot seal the signature; stored without");
                    None
                }
            },
            None => None,
        };
        if let Err(e) = self
            .store
            .finish_snapshot(id, state, &found, signature.as_deref(), snap.key_version)
            .await
        {
            tracing::warn!(error = %e, snapshot = %id, "cannot store detections; left pending");
            return DetectOutcome::Pending;
        }
        crate::metrics::detections(found.len());
        outcome
    }

    /// Whether a detected snapshot is to be dropped, and why: no person on a camera that
    /// keeps only those, or a near-copy of the camera's previous snapshot with the same
    /// labels. A store error keeps the snapshot (keeping too much beats losing one).
    async fn discard_rule(
        &self,
        snap: &SnapshotRef,
        found: &[StoredDetection],
        signature: &Signature,
    ) -> Option<(Discard, DetectOutcome)> {
        if snap.only_person && !found.iter().any(|d| d.label == "person") {
            return Some((Discard::NoPerson, DetectOutcome::Discarded(found.to_vec())));
        }
        if self.dedup_distance <= 0.0 {
            return None;
        }
        let previous = match self
            .store
            .previous_snapshot(snap.camera_id, snap.taken_at, snap.id)
            .await
        {
            Ok(previous) => previous?,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the previous snapshot; keeping this one");
                return None;
            }
        };
        let stored = StoredBlob {
            bytes: previous.signature?,
            key_version: previous.key_version,
        };
        // A signature that does not open is counted and logged by the vault; this one is kept.
        let opened = self
            .vault
            .open(snap.account_id, Object::Signature(previous.id), &stored)
            .await
            .ok()?;
        let before = Signature::from_bytes(&opened)?;
        let mut labels: Vec<&str> = found.iter().map(|d| d.label.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        let same_labels = labels
            .iter()
            .copied()
            .eq(previous.labels.iter().map(String::as_str));
        (same_labels && signature.distance(&before) <= self.dedup_distance).then(|| {
            (
                Discard::Duplicate,
                DetectOutcome::Duplicate(found.to_vec(), previous.id),
            )
        })
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
                let at = SnapshotRef {
                    id: snap.id,
                    account_id: snap.account_id,
                    key_version: snap.key_version,
                    camera_id: snap.camera_id,
                    taken_at: snap.taken_at,
                    only_person: snap.only_person,
                };
                let stored = StoredBlob {
                    bytes: snap.jpeg,
                    key_version: snap.key_version,
                };
                let jpeg = match self
                    .vault
                    .open(snap.account_id, Object::Snapshot(snap.id), &stored)
                    .await
                {
                    Ok(jpeg) => jpeg,
                    Err(e) => {
                        // Never detectable: failed for good, so it is not retried forever.
                        self.release(snap.id);
                        let failed = self
                            .store
                            .finish_snapshot(
                                snap.id,
                                SnapshotState::Failed,
                                &[],
                                None,
                                snap.key_version,
                            )
                            .await;
                        if let Err(store) = failed {
                            tracing::warn!(error = %store, snapshot = %snap.id, "cannot mark a snapshot failed");
                        } else {
                            finished += 1;
                            progressed = true;
                        }
                        tracing::warn!(error = %e, snapshot = %snap.id, "a pending snapshot cannot be read; marked failed");
                        continue;
                    }
                };
                let jpeg = Bytes::from(jpeg.to_vec());
                let (result, found) = match self.taught.templates(snap.account_id).await {
                    Some(templates) => {
                        let (then, found) = self.taught.after_detection(templates);
                        (pool.analyze_then(jpeg, then).await, Some(found))
                    }
                    None => (pool.analyze(jpeg).await, None),
                };
                let outcome = self.record(at, result).await;
                self.keep_matches(at, &outcome, found).await;
                self.release(snap.id);
                match outcome {
                    DetectOutcome::Done(_)
                    | DetectOutcome::Failed(_)
                    | DetectOutcome::Duplicate(..)
                    | DetectOutcome::Discarded(_) => {
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
            match self
                .store
                .prune_snapshots(before, Some(max_bytes), crate::live::now())
                .await
            {
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

    /// A taught object found, as the vision crate draws it: its name and score, in a colour
    /// of its own (past the detector's classes).
    pub fn taught_detection(&self, hit: &switchboard_store::TaughtHit) -> Detection {
        Detection {
            label: hit.name.clone(),
            class_id: u16::try_from(self.labels.len()).unwrap_or(0),
            confidence: hit.score as f32,
            bbox: BBox {
                x: hit.bbox.x as f32,
                y: hit.bbox.y as f32,
                w: hit.bbox.w as f32,
                h: hit.bbox.h as f32,
            },
        }
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
