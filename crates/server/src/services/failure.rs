//! What every service error says about itself: the protocol's error code (which carries the
//! HTTP status), and when waiting helps, how long.

use crate::protocol::ErrorCode;
use switchboard_store::StoreError;

/// An error a service returns. The HTTP edge answers it as
/// `{"error": code(), "message": message()}` (plus `extra()`), with `Retry-After` when
/// `retry_after()` says so; an `internal` or `unavailable` one is logged with its details
/// (`to_string()`), which are never sent.
pub trait ServiceError: std::error::Error {
    /// The code clients branch on.
    fn code(&self) -> ErrorCode;

    /// The text for people; by default the error's own.
    fn message(&self) -> String {
        self.to_string()
    }

    /// Seconds after which trying again may succeed.
    fn retry_after(&self) -> Option<u64> {
        match self.code() {
            ErrorCode::Unavailable | ErrorCode::Busy => Some(1),
            _ => None,
        }
    }

    /// Fields added to the error body (e.g. `minimum_app_version`).
    fn extra(&self) -> Option<serde_json::Value> {
        None
    }
}

impl ServiceError for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
            StoreError::Other(_) => ErrorCode::Internal,
        }
    }

    fn message(&self) -> String {
        match self {
            StoreError::NotFound => "not found".into(),
            StoreError::Conflict(m) => m.clone(),
            StoreError::Unavailable(_) => "the database is unavailable; try again shortly".into(),
            StoreError::Other(m) => m.clone(),
        }
    }
}

impl ServiceError for crate::auth::PasswordError {
    fn code(&self) -> ErrorCode {
        match self {
            crate::auth::PasswordError::Busy(_) => ErrorCode::Busy,
            crate::auth::PasswordError::Failed(_) => ErrorCode::Internal,
        }
    }

    fn message(&self) -> String {
        match self {
            crate::auth::PasswordError::Busy(_) => {
                "the server is busy checking passwords; try again shortly".into()
            }
            crate::auth::PasswordError::Failed(m) => m.clone(),
        }
    }
}
