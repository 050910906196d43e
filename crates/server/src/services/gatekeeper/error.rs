//! Why the gatekeeper refused an admission.

use super::node::NodeBusy;
use crate::protocol::ErrorCode;
use crate::services::failure::ServiceError;
use switchboard_core::limits::{Limit, LimitReached};
use switchboard_store::StoreError;

/// A refused admission: the account is at a limit (429), this node is at one of its own
/// (503), or the counts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error(transparent)]
    Account(#[from] LimitReached),
    #[error(transparent)]
    Node(#[from] NodeBusy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdmissionError {
    /// Seconds after which waiting may help, for an account's limit: counts that drop by
    /// themselves (uploads per hour, CPU per day) say when; places others hold (sessions,
    /// viewers, kernels) may free up any moment; what is stored (cameras, users, bytes) stays
    /// until someone deletes it, so no wait is promised.
    fn account_wait(limit: Limit) -> Option<u64> {
        match limit {
            Limit::Sessions | Limit::ViewersPerSession | Limit::Viewers | Limit::Kernels => Some(5),
            Limit::UploadsPerHour => Some(60),
            Limit::KernelCpuSecondsPerDay => {
                let now = chrono::Utc::now();
                let midnight = (now.date_naive() + chrono::Days::new(1))
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc());
                midnight.map(|m| (m - now).num_seconds().max(1).unsigned_abs())
            }
            _ => None,
        }
    }
}

impl ServiceError for AdmissionError {
    fn code(&self) -> ErrorCode {
        match self {
            AdmissionError::Account(_) => ErrorCode::LimitReached,
            AdmissionError::Node(_) => ErrorCode::Busy,
            AdmissionError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            AdmissionError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AdmissionError::Account(reached) => Self::account_wait(reached.limit),
            AdmissionError::Node(_) => Some(1),
            AdmissionError::Store(e) => e.retry_after(),
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            AdmissionError::Account(r) => Some(serde_json::json!({
                "limit": r.limit,
                "value": r.value,
                "max": r.max,
            })),
            AdmissionError::Node(busy) => Some(serde_json::json!({ "limit": busy.limit })),
            AdmissionError::Store(_) => None,
        }
    }
}
