//! Why a taught object operation failed.

use super::failure::ServiceError;
use crate::protocol::ErrorCode;
use switchboard_store::StoreError;

/// A failure of the taught objects service.
#[derive(Debug, thiserror::Error)]
pub enum TaughtError {
    /// Malformed, unknown, deleted, or another account's: one answer.
    #[error("no such taught object")]
    TaughtObjectNotFound,
    /// The snapshot to teach from is malformed, unknown, deleted, or another account's.
    #[error("no such snapshot")]
    SnapshotNotFound,
    #[error("{0}")]
    InvalidName(String),
    #[error("another taught object is called that already")]
    NameTaken,
    /// Outside the picture, of zero size, or too small to describe.
    #[error("{0}")]
    InvalidBox(String),
    /// The snapshot's picture cannot be decoded.
    #[error("the snapshot cannot be decoded: {0}")]
    Undecodable(String),
    /// The account has `max` taught objects.
    #[error("this account has reached its limit of {max} taught objects")]
    TooMany { max: u32 },
    #[error("a look through the history already runs for this account; try again when it is done")]
    ScanRunning,
    /// Every decoding slot stayed taken for `decode_wait`.
    #[error("the server is busy decoding pictures; try again shortly")]
    Busy,
    #[error("teaching failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored picture or template did not open (`data_integrity`), or its key could not
    /// be had.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
}

impl ServiceError for TaughtError {
    fn code(&self) -> ErrorCode {
        match self {
            TaughtError::TaughtObjectNotFound => ErrorCode::TaughtObjectNotFound,
            TaughtError::SnapshotNotFound => ErrorCode::SnapshotNotFound,
            TaughtError::InvalidName(_) => ErrorCode::InvalidName,
            TaughtError::NameTaken => ErrorCode::TaughtNameTaken,
            TaughtError::InvalidBox(_) => ErrorCode::InvalidBox,
            TaughtError::Undecodable(_) => ErrorCode::UndecodableImage,
            TaughtError::TooMany { .. } => ErrorCode::LimitReached,
            TaughtError::ScanRunning => ErrorCode::ScanRunning,
            TaughtError::Busy => ErrorCode::Busy,
            TaughtError::Failed(_) => ErrorCode::Internal,
            TaughtError::Store(e) => e.code(),
            TaughtError::Vault(e) => e.code(),
            TaughtError::Audit(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            TaughtError::Store(e) => e.message(),
            TaughtError::Vault(e) => e.message(),
            TaughtError::Audit(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            TaughtError::Busy => Some(1),
            TaughtError::Store(e) => e.retry_after(),
            TaughtError::Vault(e) => e.retry_after(),
            TaughtError::Audit(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Over the count: which limit, as every `limit_reached` says.
    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            TaughtError::TooMany { max } => Some(serde_json::json!({
                "limit": "taught_objects",
                "value": max,
                "max": max,
            })),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_count_says_which_limit() {
        let e = TaughtError::TooMany { max: 20 };
        assert_eq!(e.code(), ErrorCode::LimitReached);
        assert_eq!(e.code().status(), 429);
        let extra = e.extra().unwrap();
        assert_eq!(extra["limit"], "taught_objects");
        assert_eq!(extra["max"], 20);
        assert_eq!(TaughtError::Busy.retry_after(), Some(1));
        assert_eq!(TaughtError::InvalidBox("x".into()).code().status(), 422);
        assert!(TaughtError::NameTaken.extra().is_none());
    }
}
