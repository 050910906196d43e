//! Why an account operation failed.

use super::failure::ServiceError;
use super::security::SecurityError;
use crate::auth::PasswordError;
use crate::protocol::ErrorCode;
use switchboard_store::StoreError;

/// A failure of the accounts service (sign-up, sign-in, users, invites).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    InvalidUsername(String),
    /// Too short, too long or too easy to guess; the text says why.
    #[error("{0}")]
    WeakPassword(String),
    #[error("account_name must be 1 to 100 characters")]
    InvalidAccountName,
    #[error("give either account_name (a new account) or invite (join one), not both")]
    AccountOrInvite,
    #[error("this username is already taken")]
    UsernameTaken,
    #[error("this invite is unknown, used or expired")]
    InvalidInvite,
    /// An unknown user and a wrong password are one answer, so nobody learns which names
    /// exist.
    #[error("wrong username or password")]
    WrongPassword,
    /// The username's failed sign-ins are over the limit, from whatever address.
    #[error("too many failed sign-ins for this username; wait and try again")]
    TooManyFailures { retry_after: u64 },
    /// Only an account admin may do this (`what`: "invite users", "delete users").
    #[error("only an account admin can {0}")]
    NotAdmin(&'static str),
    #[error(
        "you are the account's last admin and other users remain: \
         delete them first, or have an operator make another admin"
    )]
    LastAdmin,
    /// Malformed, unknown, or of another account: one answer.
    #[error("no such user in this account")]
    UserNotFound,
    #[error("id: to delete yourself use DELETE /api/v1/me")]
    DeleteSelf,
    /// Malformed, unknown, or beyond the caller's reach: one answer.
    #[error("no such account")]
    AccountNotFound,
    #[error("only an operator can delete other accounts")]
    NotOperator,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Issuing or ending a sign-in failed.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// Refused by the gatekeeper (the account's `users` limit).
    #[error(transparent)]
    Admission(#[from] crate::services::gatekeeper::AdmissionError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
}

impl ServiceError for AccountError {
    fn code(&self) -> ErrorCode {
        match self {
            AccountError::InvalidUsername(_) => ErrorCode::InvalidUsername,
            AccountError::WeakPassword(_) => ErrorCode::WeakPassword,
            AccountError::InvalidAccountName => ErrorCode::InvalidAccountName,
            AccountError::AccountOrInvite | AccountError::DeleteSelf => ErrorCode::InvalidField,
            AccountError::UsernameTaken => ErrorCode::UsernameTaken,
            AccountError::InvalidInvite => ErrorCode::InvalidInvite,
            AccountError::WrongPassword => ErrorCode::Unauthorized,
            AccountError::TooManyFailures { .. } => ErrorCode::RateLimited,
            AccountError::NotAdmin(_) | AccountError::NotOperator => ErrorCode::Forbidden,
            AccountError::AccountNotFound => ErrorCode::AccountNotFound,
            AccountError::LastAdmin => ErrorCode::LastAdmin,
            AccountError::UserNotFound => ErrorCode::UserNotFound,
            AccountError::Password(e) => e.code(),
            AccountError::Store(e) => e.code(),
            AccountError::Admission(e) => e.code(),
            AccountError::Audit(e) => e.code(),
            AccountError::Security(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            AccountError::Password(e) => e.message(),
            AccountError::Store(e) => e.message(),
            AccountError::Admission(e) => e.message(),
            AccountError::Audit(e) => e.message(),
            AccountError::Security(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AccountError::TooManyFailures { retry_after } => Some(*retry_after),
            AccountError::Password(e) => e.retry_after(),
            AccountError::Store(e) => e.retry_after(),
            AccountError::Admission(e) => e.retry_after(),
            AccountError::Audit(e) => e.retry_after(),
            AccountError::Security(e) => e.retry_after(),
            _ => None,
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            AccountError::Admission(e) => e.extra(),
            _ => None,
        }
    }
}
