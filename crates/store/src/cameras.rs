//! Cameras, their snapshots and the objects detected in them: what object search reads.

use crate::error::Result;
use crate::types::StoredBlob;
use async_trait::async_trait;
use switchboard_core::{AccountId, Timestamp};
use uuid::Uuid;

/// A registered camera, with a summary of its newest snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub id: Uuid,
    pub account_id: AccountId,
    pub name: String,
    pub created_at: Timestamp,
    /// When it last uploaded a snapshot.
    pub last_seen_at: Option<Timestamp>,
    /// How many snapshots it has uploaded in all (deleted ones included).
    pub uploads: u64,
    /// Its newest stored snapshot, if any is left.
    pub last_snapshot_id: Option<Uuid>,
    pub last_snapshot_at: Option<Timestamp>,
    /// Snapshots stored in the last hour (its upload rate).
    pub snapshots_last_hour: u64,
    /// Snapshots dropped as near-duplicates of the one before.
    pub deduplicated: u64,
    /// Snapshots dropped by the keep-only-with-a-person rule.
    pub discarded: u64,
    /// The video session the camera is asked to stream into, if any.
    pub live_suid: Option<Uuid>,
    /// Keep only snapshots in which a person was detected.
    pub only_person: bool,
}

/// What an upload needs to know about its camera, in one read.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraAccess {
    pub account_id: AccountId,
    pub token_hash: String,
    pub only_person: bool,
    /// The video session the camera is asked to stream into, if any.
    pub live_suid: Option<Uuid>,
}

/// Where a snapshot is in detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    /// Stored, not detected yet (the detector was busy, missing, or the node stopped).
    Pending,
    /// Detected; its detections are stored.
    Done,
    /// Detection failed for good (e.g. an undecodable image).
    Failed,
}

impl SnapshotState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Pending => "pending",
            SnapshotState::Done => "done",
            SnapshotState::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<SnapshotState> {
        match text {
            "pending" => Some(SnapshotState::Pending),
            "done" => Some(SnapshotState::Done),
            "failed" => Some(SnapshotState::Failed),
            _ => None,
        }
    }
}

/// A snapshot as uploaded, stored before detection runs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSnapshot {
    pub id: Uuid,
    pub camera_id: Uuid,
    pub account_id: AccountId,
    pub taken_at: Timestamp,
    pub received_at: Timestamp,
    /// The picture as stored: sealed, or plain when `key_version` is `None`.
    pub jpeg: Vec<u8>,
    /// The size of the picture itself (what storage limits and views count).
    pub size: u64,
    /// The account's data key version that sealed `jpeg`; `None`: stored plain.
    pub key_version: Option<u32>,
}

/// A stored snapshot still waiting for detection, with its image.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSnapshot {
    pub id: Uuid,
    pub camera_id: Uuid,
    pub account_id: AccountId,
    pub taken_at: Timestamp,
    /// The picture as stored (see [`NewSnapshot::jpeg`]).
    pub jpeg: Vec<u8>,
    /// The data key version of its blobs; `None`: stored plain.
    pub key_version: Option<u32>,
    /// Its camera keeps only snapshots with a person.
    pub only_person: bool,
}

/// One detected object; the box is normalized to the image (0..1, top-left origin).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDetection {
    pub label: String,
    pub confidence: f64,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A stored snapshot's facts, without its image.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub id: Uuid,
    pub camera_id: Uuid,
    pub camera_name: String,
    pub taken_at: Timestamp,
    pub received_at: Timestamp,
    pub state: SnapshotState,
    /// Size of the JPEG.
    pub bytes: u64,
}

/// The snapshot a camera took just before another, as near-duplicate checks need it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousSnapshot {
    pub id: Uuid,
    /// Its picture's signature as stored (sealed like its picture), if it was detected by
    /// a version that stores one.
    pub signature: Option<Vec<u8>>,
    /// The data key version of its blobs; `None`: stored plain.
    pub key_version: Option<u32>,
    /// Its detected labels, each once, sorted.
    pub labels: Vec<String>,
}

/// Why a detected snapshot is dropped rather than kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// It looks like the camera's previous snapshot and shows the same things.
    Duplicate,
    /// The camera keeps only snapshots with a person, and none was found.
    NoPerson,
}

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSearch {
    pub account_id: AccountId,
    /// COCO labels; any of them matches. Empty matches nothing.
    pub labels: Vec<String>,
    pub camera_id: Option<Uuid>,
    /// Inclusive lower bound on `taken_at`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `taken_at`.
    pub until: Option<Timestamp>,
    pub limit: u32,
}

/// A search result: the most confident detection of one label in one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub snapshot_id: Uuid,
    pub camera_id: Uuid,
    pub camera_name: String,
    pub taken_at: Timestamp,
    pub detection: StoredDetection,
}

/// Camera storage, part of every [`crate::Store`].
///
/// Guarantees: every read that names an account only sees that account's rows (another
/// account's camera or snapshot is `NotFound`); `insert_snapshot` stores the image and counts
/// the upload in one transaction; `finish_snapshot` replaces the snapshot's detections and sets
/// its state in one transaction, so running it twice leaves one set.
#[async_trait]
pub trait CameraStore: Send + Sync {
    /// Registers a camera with the hash of its token. `Conflict` if the id exists.
    async fn create_camera(&self, camera: &Camera, token_hash: &str) -> Result<()>;

    /// An account's cameras, oldest first, each with its newest snapshot.
    async fn cameras(&self, account: AccountId) -> Result<Vec<Camera>>;

    /// One camera of an account.
    async fn camera(&self, account: AccountId, id: Uuid) -> Result<Camera>;

    /// What an upload needs: the camera's account, token hash and settings.
    async fn camera_access(&self, id: Uuid) -> Result<CameraAccess>;

    /// Renames a camera and/or changes its keep-only-with-a-person setting.
    async fn update_camera(
        &self,
        account: AccountId,
        id: Uuid,
        name: Option<&str>,
        only_person: Option<bool>,
    ) -> Result<()>;

    /// Replaces a camera's token hash; the old token stops working at once.
    async fn set_camera_token(&self, account: AccountId, id: Uuid, token_hash: &str) -> Result<()>;

    /// Stores a snapshot as pending and counts the upload on its camera.
    async fn insert_snapshot(&self, snapshot: &NewSnapshot) -> Result<()>;

    /// Pending snapshots of every account, oldest received first, at most `limit`.
    async fn pending_snapshots(&self, limit: u32) -> Result<Vec<PendingSnapshot>>;

    /// Stores a snapshot's detections (replacing any), its picture's signature, and sets its
    /// state. The signature is sealed with data key version `key_version` (`None`: plain) and
    /// kept only if the snapshot's blobs still are (re-encryption may have moved them on;
    /// then it is left out rather than stored under the wrong key).
    async fn finish_snapshot(
        &self,
        id: Uuid,
        state: SnapshotState,
        detections: &[StoredDetection],
        signature: Option<&[u8]>,
        key_version: Option<u32>,
    ) -> Result<()>;

    /// The newest detected snapshot of a camera taken no later than `taken_at`, other than
    /// `except`.
    async fn previous_snapshot(
        &self,
        camera_id: Uuid,
        taken_at: Timestamp,
        except: Uuid,
    ) -> Result<Option<PreviousSnapshot>>;

    /// Deletes a snapshot and counts why on its camera, in one transaction. `NotFound` if it
    /// is gone already (and then nothing is counted).
    async fn discard_snapshot(&self, id: Uuid, why: Discard) -> Result<()>;

    /// Keeps the snapshots from retention until `until` (they are being shown as results).
    async fn pin_snapshots(&self, ids: &[Uuid], until: Timestamp) -> Result<()>;

    /// Sets or clears the video session a camera is asked to stream into.
    async fn set_camera_live(&self, account: AccountId, id: Uuid, suid: Option<Uuid>)
    -> Result<()>;

    /// A snapshot's facts.
    async fn snapshot_info(&self, account: AccountId, id: Uuid) -> Result<SnapshotInfo>;

    /// A snapshot's state.
    async fn snapshot_state(&self, account: AccountId, id: Uuid) -> Result<SnapshotState>;

    /// Snapshots showing any of the labels, newest first; one hit per snapshot and label.
    async fn search_snapshots(&self, search: &SnapshotSearch) -> Result<Vec<SearchHit>>;

    /// A snapshot's JPEG as stored, with the data key version that sealed it.
    async fn snapshot_jpeg(&self, account: AccountId, id: Uuid) -> Result<StoredBlob>;

    /// A snapshot's detections, most confident first.
    async fn snapshot_detections(
        &self,
        account: AccountId,
        id: Uuid,
    ) -> Result<Vec<StoredDetection>>;

    /// Deletes snapshots taken before `before`, then the oldest ones beyond `max_bytes` of
    /// images in all (when given), sparing those pinned past `now`. Returns how many went.
    async fn prune_snapshots(
        &self,
        before: Timestamp,
        max_bytes: Option<u64>,
        now: Timestamp,
    ) -> Result<u64>;
}
