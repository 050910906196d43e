//! Why a camera operation failed.

use super::failure::ServiceError;
use super::session_error::SessionError;
use crate::protocol::ErrorCode;
use crate::protocol::cameras::{SnapshotKept, UploadState, UploadView};
use switchboard_store::StoreError;

/// Seconds a camera waits before uploading again when the detector's queue is full.
const DETECTOR_BUSY_RETRY: u64 = 2;

/// A failure of the camera service (cameras, uploads, search, snapshots).
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// Malformed, unknown, or another account's: one answer.
    #[error("no such camera")]
    CameraNotFound,
    /// Malformed, unknown, deleted, dropped, or another account's: one answer.
    #[error("no such snapshot")]
    SnapshotNotFound,
    #[error("a camera name has 1 to 100 characters")]
    InvalidName,
    #[error("send the camera token as Authorization: Bearer")]
    NoToken,
    #[error("the camera token is wrong or was replaced")]
    WrongToken,
    #[error("a snapshot may be at most {limit} bytes")]
    SnapshotTooLarge { limit: u64 },
    #[error("not a valid JPEG: {0}")]
    NotJpeg(String),
    #[error("the picture is {width}x{height}, more than the {max_pixels} pixels allowed")]
    ImageTooLarge {
        width: u16,
        height: u16,
        max_pixels: u64,
    },
    #[error("ask with ?q=words or ?label=name")]
    MissingQuery,
    /// The detector's queue is full: the snapshot is stored, pending, and detected later.
    #[error("the detector is busy; the snapshot is stored and will be detected later")]
    DetectorBusy { snapshot: Box<UploadView> },
    /// The snapshot is stored, marked failed: its markers look like a JPEG but it does not
    /// decode.
    #[error("the snapshot is stored but cannot be decoded: {why}")]
    Undecodable {
        why: String,
        snapshot: Box<UploadView>,
    },
    /// Every thumbnail decoding slot stayed taken for `decode_wait`.
    #[error("the server is busy making thumbnails; try again shortly")]
    ThumbnailBusy,
    /// A stored picture that cannot be decoded (or declares more than `max_image_pixels`).
    #[error("{0}")]
    ThumbnailUndecodable(String),
    #[error("thumbnail: {0}")]
    ThumbnailFailed(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored picture did not open (`data_integrity`), or its key could not be had.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// Refused by the gatekeeper.
    #[error(transparent)]
    Admission(#[from] crate::services::gatekeeper::AdmissionError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
}

impl ServiceError for CameraError {
    fn code(&self) -> ErrorCode {
        match self {
            CameraError::CameraNotFound => ErrorCode::CameraNotFound,
            CameraError::SnapshotNotFound => ErrorCode::SnapshotNotFound,
            CameraError::InvalidName => ErrorCode::InvalidName,
            CameraError::NoToken | CameraError::WrongToken => ErrorCode::Unauthorized,
            CameraError::SnapshotTooLarge { .. } => ErrorCode::SnapshotTooLarge,
            CameraError::NotJpeg(_) => ErrorCode::UnsupportedMediaType,
            CameraError::ImageTooLarge { .. } => ErrorCode::ImageTooLarge,
            CameraError::MissingQuery => ErrorCode::MissingQuery,
            CameraError::DetectorBusy { .. } => ErrorCode::DetectorBusy,
            CameraError::Undecodable { .. } | CameraError::ThumbnailUndecodable(_) => {
                ErrorCode::UndecodableImage
            }
            CameraError::ThumbnailBusy => ErrorCode::Busy,
            CameraError::ThumbnailFailed(_) => ErrorCode::Internal,
            CameraError::Session(e) => e.code(),
            CameraError::Store(e) => e.code(),
            CameraError::Vault(e) => e.code(),
            CameraError::Admission(e) => e.code(),
            CameraError::Audit(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            CameraError::Session(e) => e.message(),
            CameraError::Store(e) => e.message(),
            CameraError::Vault(e) => e.message(),
            CameraError::Admission(e) => e.message(),
            CameraError::Audit(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            CameraError::DetectorBusy { .. } => Some(DETECTOR_BUSY_RETRY),
            CameraError::ThumbnailBusy => Some(1),
            CameraError::Session(e) => e.retry_after(),
            CameraError::Store(e) => e.retry_after(),
            CameraError::Vault(e) => e.retry_after(),
            CameraError::Admission(e) => e.retry_after(),
            CameraError::Audit(e) => e.retry_after(),
            _ => None,
        }
    }

    /// A refused upload still stored its snapshot: the body says which, and in what state.
    fn extra(&self) -> Option<serde_json::Value> {
        let (snapshot, state) = match self {
            CameraError::DetectorBusy { snapshot } => (snapshot, UploadState::Pending),
            CameraError::Undecodable { snapshot, .. } => (snapshot, UploadState::Failed),
            CameraError::Session(e) => return e.extra(),
            CameraError::Admission(e) => return e.extra(),
            _ => return None,
        };
        let kept = SnapshotKept {
            snapshot: (**snapshot).clone(),
            state,
        };
        match serde_json::to_value(kept) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::error!(error = %e, "cannot write a kept snapshot's fields");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn kept_view(state: UploadState) -> Box<UploadView> {
        let id = Uuid::new_v4();
        Box::new(UploadView {
            id,
            camera_id: Uuid::new_v4(),
            taken_at: chrono::Utc::now(),
            state,
            detections: None,
            duplicate_of: None,
            image_url: Some(format!("/api/v1/snapshots/{id}.jpg")),
            thumb_url: Some(format!("/api/v1/snapshots/{id}/thumb.jpg")),
            live: None,
        })
    }

    #[test]
    fn refused_uploads_say_which_snapshot_was_kept_and_its_state() {
        let busy = CameraError::DetectorBusy {
            snapshot: kept_view(UploadState::Pending),
        };
        assert_eq!(busy.code(), ErrorCode::DetectorBusy);
        assert_eq!(busy.retry_after(), Some(2));
        let extra = busy.extra().unwrap();
        assert_eq!(extra["state"], "pending");
        assert_eq!(extra["snapshot"]["state"], "pending");
        assert!(extra["snapshot"]["id"].is_string(), "{extra}");

        let failed = CameraError::Undecodable {
            why: "bad huffman table".into(),
            snapshot: kept_view(UploadState::Failed),
        };
        assert_eq!(failed.code(), ErrorCode::UndecodableImage);
        assert_eq!(failed.retry_after(), None);
        assert_eq!(failed.extra().unwrap()["state"], "failed");
        assert!(failed.message().ends_with("bad huffman table"));

        assert_eq!(CameraError::ThumbnailBusy.retry_after(), Some(1));
        assert!(CameraError::CameraNotFound.extra().is_none());
    }
}
