//! Why an admin view failed.

use super::failure::ServiceError;
use super::session_error::SessionError;
use crate::protocol::ErrorCode;
use switchboard_store::StoreError;

/// A failure of the admin views.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A member asked for the admin views.
    #[error("the admin views are for account admins and operators")]
    NotAdmin,
    /// An account admin asked for what only operators see.
    #[error("only operators see the nodes")]
    NotOperator,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for AdminError {
    fn code(&self) -> ErrorCode {
        match self {
            AdminError::NotAdmin | AdminError::NotOperator => ErrorCode::Forbidden,
            AdminError::Session(e) => e.code(),
            AdminError::Audit(e) => e.code(),
            AdminError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            AdminError::Session(e) => e.message(),
            AdminError::Audit(e) => e.message(),
            AdminError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AdminError::Session(e) => e.retry_after(),
            AdminError::Audit(e) => e.retry_after(),
            AdminError::Store(e) => e.retry_after(),
            _ => None,
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            AdminError::Session(e) => e.extra(),
            _ => None,
        }
    }
}
