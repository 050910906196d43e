//! Why an audited action was refused: its record could not be made durable.

use crate::protocol::ErrorCode;
use crate::services::failure::ServiceError;

/// The audit trail cannot take records now (the database is unreachable or the queue is
/// full), and the node fails closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("the audit trail cannot be written now, so this action is refused; try again shortly")]
    Unavailable,
}

impl ServiceError for AuditError {
    fn code(&self) -> ErrorCode {
        ErrorCode::AuditUnavailable
    }

    fn retry_after(&self) -> Option<u64> {
        Some(5)
    }
}
