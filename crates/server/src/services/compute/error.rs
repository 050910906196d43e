//! Why a compute operation (kernels, cells, runs, files) failed.

use crate::protocol::ErrorCode;
use crate::services::failure::ServiceError;
use switchboard_kernel::KernelError;
use switchboard_store::StoreError;

/// A client's text as a message or a log line may quote it: control characters escaped, at
/// most 64 characters.
pub fn printable(text: &str) -> String {
    text.chars().take(64).flat_map(char::escape_debug).collect()
}

/// Whose share of kernels is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelShare {
    /// The user's (`kernels_per_user`).
    User,
    /// The account's (`kernels_per_account`, or its share of the node's `max_kernels`).
    Account,
}

impl KernelShare {
    fn who_runs(self) -> &'static str {
        match self {
            KernelShare::User => "you already run",
            KernelShare::Account => "your account already runs",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            KernelShare::User => "user",
            KernelShare::Account => "account",
        }
    }
}

/// A failure of the compute service.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// Kernels are off on this node, for this reason.
    #[error("{0}")]
    KernelsUnavailable(String),
    /// Unknown, stopped, malformed, or another account's: one answer, so nobody learns
    /// which ids exist.
    #[error("no such kernel")]
    KernelNotFound,
    #[error(transparent)]
    NoSuchKernelspec(KernelError),
    /// The kernel died or was shut down while the request ran.
    #[error(transparent)]
    KernelDead(KernelError),
    #[error(
        "{} {limit} kernels, the most one {} may; shut one down first",
        .share.who_runs(),
        .share.noun()
    )]
    TooManyKernels { share: KernelShare, limit: usize },
    /// The node runs its `max_kernels`.
    #[error(transparent)]
    KernelCapacity(KernelError),
    #[error(transparent)]
    KernelTimeout(KernelError),
    /// In a cluster, the node a kernel id names is not running or cannot be reached.
    #[error("this kernel runs on node {node}, which cannot be reached: {why}")]
    KernelNodeUnavailable { node: String, why: String },
    #[error("code is {size} bytes; the most a cell may hold is {limit} bytes")]
    CodeTooLarge { size: usize, limit: usize },
    #[error("code must not be empty")]
    EmptyCode,
    /// A kernel start request's `env` that cannot be taken (too many variables, a value too
    /// long or with a NUL).
    #[error("{0}")]
    InvalidEnv(String),
    /// A kernelspec has no resource (logo, `kernel.js`, `kernel.css`) of that name.
    #[error("kernelspec {spec} has no resource {file}")]
    ResourceNotFound { spec: String, file: String },
    #[error("timeout must be above 0 and at most 600 seconds")]
    InvalidTimeout,
    /// Unknown or malformed id or permalink.
    #[error("no such cell")]
    CellNotFound,
    #[error("the cell has no such file")]
    FileNotFound,
    /// A message for a kernel that is not a valid Jupyter message.
    #[error(transparent)]
    InvalidMessage(KernelError),
    #[error("the body is not UTF-8")]
    NotUtf8,
    /// The right that opened a long poll ended while it waited.
    #[error("the token was revoked or has expired, or its user was deleted")]
    RightEnded,
    /// Any other failure of a kernel (launch, sandbox, ZeroMQ, I/O).
    #[error(transparent)]
    Kernel(KernelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored cell file did not open (`data_integrity`), or its key could not be had.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// Refused by the gatekeeper.
    #[error(transparent)]
    Admission(#[from] crate::services::gatekeeper::AdmissionError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
}

impl From<KernelError> for ComputeError {
    fn from(e: KernelError) -> Self {
        match e {
            KernelError::Capacity { .. } => ComputeError::KernelCapacity(e),
            KernelError::NoSuchSpec { .. } => ComputeError::NoSuchKernelspec(e),
            KernelError::Timeout { .. } => ComputeError::KernelTimeout(e),
            KernelError::Died(_) | KernelError::Stopped(_) => ComputeError::KernelDead(e),
            KernelError::InvalidMessage(_) => ComputeError::InvalidMessage(e),
            other => ComputeError::Kernel(other),
        }
    }
}

impl ServiceError for ComputeError {
    fn code(&self) -> ErrorCode {
        match self {
            ComputeError::KernelsUnavailable(_) => ErrorCode::KernelsUnavailable,
            ComputeError::KernelNotFound => ErrorCode::KernelNotFound,
            ComputeError::NoSuchKernelspec(_) => ErrorCode::KernelspecNotFound,
            ComputeError::KernelDead(_) => ErrorCode::KernelDead,
            ComputeError::TooManyKernels { .. } => ErrorCode::TooManyKernels,
            ComputeError::KernelCapacity(_) => ErrorCode::KernelCapacity,
            ComputeError::KernelTimeout(_) => ErrorCode::KernelTimeout,
            ComputeError::KernelNodeUnavailable { .. } => ErrorCode::KernelNodeUnavailable,
            ComputeError::CodeTooLarge { .. } => ErrorCode::CodeTooLarge,
            ComputeError::EmptyCode
            | ComputeError::InvalidTimeout
            | ComputeError::InvalidEnv(_) => ErrorCode::InvalidField,
            ComputeError::ResourceNotFound { .. } => ErrorCode::FileNotFound,
            ComputeError::CellNotFound => ErrorCode::CellNotFound,
            ComputeError::FileNotFound => ErrorCode::FileNotFound,
            ComputeError::InvalidMessage(_) => ErrorCode::InvalidMessage,
            ComputeError::NotUtf8 => ErrorCode::MalformedJson,
            ComputeError::RightEnded => ErrorCode::Unauthorized,
            ComputeError::Kernel(_) => ErrorCode::Internal,
            ComputeError::Store(e) => e.code(),
            ComputeError::Vault(e) => e.code(),
            ComputeError::Admission(e) => e.code(),
            ComputeError::Audit(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            ComputeError::Store(e) => e.message(),
            ComputeError::Vault(e) => e.message(),
            ComputeError::Admission(e) => e.message(),
            ComputeError::Audit(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            // Kernels stay off until the node's configuration or host changes.
            ComputeError::KernelsUnavailable(_) => Some(60),
            ComputeError::KernelCapacity(_) | ComputeError::KernelNodeUnavailable { .. } => Some(5),
            ComputeError::Store(e) => e.retry_after(),
            ComputeError::Admission(e) => e.retry_after(),
            ComputeError::Audit(e) => e.retry_after(),
            _ => None,
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            ComputeError::Admission(e) => e.extra(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_kernels_says_whose_share_is_used_up() {
        let user = ComputeError::TooManyKernels {
            share: KernelShare::User,
            limit: 4,
        };
        assert_eq!(
            user.message(),
            "you already run 4 kernels, the most one user may; shut one down first"
        );
        let account = ComputeError::TooManyKernels {
            share: KernelShare::Account,
            limit: 16,
        };
        assert_eq!(
            account.message(),
            "your account already runs 16 kernels, the most one account may; shut one down first"
        );
        assert_eq!(account.code(), ErrorCode::TooManyKernels);
        assert_eq!(account.retry_after(), None);
    }

    #[test]
    fn kernel_errors_keep_their_codes_and_messages() {
        let capacity = ComputeError::from(KernelError::Capacity { max: 16 });
        assert_eq!(capacity.code(), ErrorCode::KernelCapacity);
        assert_eq!(capacity.retry_after(), Some(5));
        assert_eq!(
            capacity.message(),
            KernelError::Capacity { max: 16 }.to_string()
        );
        let invalid = ComputeError::from(KernelError::InvalidMessage("no header".into()));
        assert_eq!(invalid.code(), ErrorCode::InvalidMessage);
        let other = ComputeError::from(KernelError::Zmq("gone".into()));
        assert_eq!(other.code(), ErrorCode::Internal);
    }
}
