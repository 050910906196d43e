//! Cameras, snapshots and search on the wire (PROTOCOL.md §16).

use super::ErrorCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::Suid;
use uuid::Uuid;

/// `POST /api/v1/cameras`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCameraRequest {
    /// 1 to 100 characters, not only spaces.
    #[schema(max_length = 100, pattern = r"\S")]
    pub name: String,
    /// Keep only snapshots in which a person is detected.
    #[serde(default)]
    pub only_person: bool,
}

/// `PATCH /api/v1/cameras/{id}`: what to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCameraRequest {
    /// 1 to 100 characters, not only spaces.
    #[schema(max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    pub only_person: Option<bool>,
}

/// A camera as its account sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Snapshots uploaded in all.
    pub uploads: u64,
    /// Upload rate: snapshots stored in the last hour.
    pub uploads_per_hour: u64,
    /// Snapshots dropped as near-duplicates of the one before.
    pub deduplicated: u64,
    /// Snapshots dropped for showing no person (with `only_person`).
    pub discarded: u64,
    pub only_person: bool,
    pub last_snapshot_id: Option<Uuid>,
    pub last_snapshot_at: Option<DateTime<Utc>>,
    pub last_snapshot_url: Option<String>,
    /// The video session the camera is asked to stream into, while one is open.
    pub live_suid: Option<Suid>,
}

/// `POST /api/v1/cameras` answer: the camera, its token (shown only here) and where to upload.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedCamera {
    #[serde(flatten)]
    pub camera: CameraView,
    pub token: String,
    pub upload_url: String,
}

/// `GET /api/v1/cameras` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraList {
    pub cameras: Vec<CameraView>,
    /// Whether this node has a detector loaded.
    pub detecting: bool,
    /// The detector as this node has it: its backend, or why detection is off.
    pub detector: DetectorView,
}

/// The detector of the answering node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetectorView {
    /// The model detecting: `built-in yolov12n.onnx` (the one inside the program) or the
    /// model file's path, while detection is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `onnxruntime` or `tract` while detection is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// ONNX Runtime's library and how it was found (`configured`, `ORT_DYLIB_PATH`,
    /// `library directory`, `python3 package`, `loader`), while it detects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Why detection is off (no model file where it was looked for, or the model failed to
    /// load), with what to do; absent while it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_because: Option<String>,
}

/// `DELETE /api/v1/cameras/{id}/token` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraToken {
    pub id: Uuid,
    pub token: String,
}

/// A detection's box, normalized to the picture (0–1, top-left origin).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BoxView {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// One object found in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DetectionView {
    pub label: String,
    pub confidence: f64,
    #[serde(rename = "box")]
    pub bbox: BoxView,
}

/// What an upload's camera is asked to do besides uploading: join a video session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LiveRequest {
    /// Redeem it at `POST /api/v1/devices/register`, like any device.
    pub ticket: String,
    pub suid: Suid,
}

/// Where an uploaded snapshot is in detection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Detected and kept.
    Done,
    /// Stored; detection is still running or waits for a detector.
    Pending,
    /// Stored, but the image cannot be decoded.
    Failed,
    /// Detected and dropped: it looks like the camera's previous snapshot.
    Duplicate,
    /// Detected and dropped: no person in it, and the camera keeps only those.
    Discarded,
}

/// `POST /api/v1/cameras/{id}/snapshots` answer (also inside a 503's `snapshot`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadView {
    pub id: Uuid,
    pub camera_id: Uuid,
    pub taken_at: DateTime<Utc>,
    pub state: UploadState,
    /// Absent while pending; empty when nothing was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detections: Option<Vec<DetectionView>>,
    /// The kept snapshot a dropped duplicate looked like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
    /// Null once dropped.
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    /// A user asked to see this camera live: join this session.
    pub live: Option<LiveRequest>,
}

/// `POST /api/v1/cameras/{id}/snapshots` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// When the picture was taken (RFC 3339; default: when received). More than
    /// `snapshot_clock_skew` ahead of the server's clock, the time received is kept instead.
    pub taken_at: Option<DateTime<Utc>>,
}

/// What an upload refused after storing its snapshot adds to the error body: `503
/// detector_busy` (`state` `pending`: detected later) and `422 undecodable_image` (`state`
/// `failed`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotKept {
    pub snapshot: UploadView,
    pub state: UploadState,
}

/// The body of an upload's refusal, as the HTTP edge writes it: the error, and when the
/// snapshot was stored anyway (`detector_busy`, `undecodable_image`), that snapshot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotRefused {
    pub error: ErrorCode,
    pub message: String,
    /// The snapshot that was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<UploadView>,
    /// `pending` (detected later) or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UploadState>,
}

/// `GET /api/v1/snapshots/{id}` answer (the JSON form).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotView {
    pub id: Uuid,
    pub camera: CameraRef,
    pub taken_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// `pending`, `done` or `failed`.
    pub state: String,
    pub bytes: u64,
    pub image_url: String,
    pub thumb_url: String,
    /// Most confident first.
    pub detections: Vec<DetectionView>,
    /// The account's taught objects found in it, best first.
    pub taught: Vec<TaughtFoundView>,
}

/// A taught object found in a snapshot, as the snapshot's facts list it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TaughtFoundView {
    pub taught_object_id: Uuid,
    pub name: String,
    /// Similarity to what was taught, 0–1.
    pub score: f64,
    #[serde(rename = "box")]
    pub bbox: BoxView,
}

/// A camera named in a result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraRef {
    pub id: Uuid,
    pub name: String,
}

/// One search result: a snapshot showing a thing asked for, with its most confident box.
/// For a taught object, `label` is its name, `confidence` its score, and `taught_object_id`
/// and `score` are set.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchHitView {
    pub snapshot_id: Uuid,
    pub camera: CameraRef,
    pub taken_at: DateTime<Utc>,
    pub label: String,
    pub confidence: f64,
    #[serde(rename = "box")]
    pub bbox: BoxView,
    pub image_url: String,
    pub thumb_url: String,
    /// The taught object found, for a result from a taught object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taught_object_id: Option<Uuid>,
    /// How alike the found object is to what was taught (0–1), for a taught object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// `GET /api/v1/search` query: `q` or `label` (or both), and optional bounds.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A question in words, e.g. `where is my phone`.
    pub q: Option<String>,
    /// An object label, e.g. `cup`.
    pub label: Option<String>,
    /// Only this camera's snapshots.
    pub camera: Option<Uuid>,
    /// Taken at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Taken before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// At most this many results (1 to 100; default 20).
    pub limit: Option<u32>,
}

/// `GET /api/v1/search` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchView {
    /// The labels the question was understood as.
    pub labels: Vec<String>,
    /// The account's taught objects the question named, by name.
    pub taught: Vec<String>,
    /// Words that name nothing the detector can find and nothing taught.
    pub unknown: Vec<String>,
    /// Everything the detector can find.
    pub known_labels: Vec<String>,
    pub results: Vec<SearchHitView>,
}

/// `GET /api/v1/search/voice` answer: whether this node takes voice questions.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoiceView {
    /// Whether `POST /api/v1/search/voice` can answer here.
    pub available: bool,
    /// PocketSphinx's library and how it was found, while available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// The speech model's folder and how it was found, while available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why voice questions are off, with what to install; absent while available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_because: Option<String>,
    /// The longest question taken, in seconds (`voice_max_duration`).
    pub max_seconds: f64,
    /// The largest recording taken, in bytes (`voice_max_bytes`).
    pub max_bytes: u64,
}

/// `POST /api/v1/search/voice` query: the bounds of `GET /api/v1/search`, without the
/// question (it is the body).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VoiceSearchQuery {
    /// Only this camera's snapshots.
    pub camera: Option<Uuid>,
    /// Taken at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Taken before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// At most this many results (1 to 100; default 20).
    pub limit: Option<u32>,
}

/// `POST /api/v1/search/voice` answer: what was heard, and the search it asked for.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoiceSearchView {
    /// The words recognized, lower case; empty when nothing was heard.
    pub transcript: String,
    /// Set when nothing was heard (silence, or no phrase matched): what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The answer `GET /api/v1/search?q=<transcript>` gives (empty when nothing was heard).
    #[serde(flatten)]
    pub search: SearchView,
}
