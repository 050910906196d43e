//! Taught objects on the wire (PROTOCOL.md §16, "Taught objects"): an object boxed on a
//! snapshot and named, where it was last found, and looks through the kept history.

use super::cameras::{BoxView, CameraRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/v1/taught-objects`: teach the object inside `box` of a snapshot as `name`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeachRequest {
    /// A snapshot of the caller's account.
    pub snapshot_id: Uuid,
    /// The object, normalized to the picture as shown (0–1, top-left origin).
    #[serde(rename = "box")]
    pub bbox: BoxView,
    /// What to call it, e.g. `my keys`: 1 to `taught_name_chars` (60) characters with a
    /// word besides ones like "my" or "the"; unique in the account, ignoring case.
    #[schema(max_length = 60, pattern = r"\S")]
    pub name: String,
}

/// `PATCH /api/v1/taught-objects/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTaughtRequest {
    /// As in [`TeachRequest::name`].
    #[schema(max_length = 60, pattern = r"\S")]
    pub name: String,
}

/// Where a taught object was found: one snapshot, the best place in it, and how alike.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaughtMatchView {
    pub snapshot_id: Uuid,
    pub camera: CameraRef,
    pub taken_at: DateTime<Utc>,
    /// Similarity to what was taught, 0–1.
    pub score: f64,
    #[serde(rename = "box")]
    pub bbox: BoxView,
    pub image_url: String,
    pub thumb_url: String,
}

/// How a look through the kept history went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Looking (or waiting for a decoding slot).
    Running,
    /// Looked at every snapshot it was to read.
    Done,
    /// Stopped reporting progress (its node stopped): it may be asked for again.
    Interrupted,
}

/// The newest look through the kept history for a taught object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ScanView {
    pub state: ScanState,
    /// Snapshots it reads in all (the account's newest, at most `taught_scan_snapshots`).
    pub total: u64,
    /// Snapshots looked at so far.
    pub scanned: u64,
    /// Snapshots the object was found in so far.
    pub found: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A taught object as its account sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaughtObjectView {
    pub id: Uuid,
    pub name: String,
    /// The snapshot it was taught on; null once retention deleted it (the object stays).
    pub snapshot_id: Option<Uuid>,
    /// Where on that snapshot.
    #[serde(rename = "box")]
    pub bbox: BoxView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Kept snapshots it was found in.
    pub matches: u64,
    /// The newest of them.
    pub latest_match: Option<TaughtMatchView>,
    /// The newest look through the kept history, if one was asked for.
    pub scan: Option<ScanView>,
}

/// `GET /api/v1/taught-objects` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaughtObjectList {
    /// Oldest first.
    pub taught_objects: Vec<TaughtObjectView>,
    /// How many the account may have (`taught_objects_per_account`).
    pub max: u32,
    /// The similarity a match must reach (`taught_match_threshold`).
    pub threshold: f32,
    /// The longest name, in characters (`taught_name_chars`).
    pub max_name_chars: usize,
}
