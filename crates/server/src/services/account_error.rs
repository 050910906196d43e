//! Why an account operation failed.

use super::failure::ServiceError;
use crate::auth::PasswordError;
use crate::protocol::ErrorCode;
use switchboard_core::account::MIN_PASSWORD_LEN;
use switchboard_store::StoreError;

/// A failure of the accounts service (sign-up, sign-in, users, invites).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    InvalidUsername(String),
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
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
    #[error("cannot sign a token: {0}")]
    Token(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for AccountError {
    fn code(&self) -> ErrorCode {
        match self {
            AccountError::InvalidUsername(_) => ErrorCode::InvalidUsername,
            AccountError::WeakPassword => ErrorCode::WeakPassword,
            AccountError::InvalidAccountName => ErrorCode::InvalidAccountName,
            AccountError::AccountOrInvite | AccountError::DeleteSelf => ErrorCode::InvalidField,
            AccountError::UsernameTaken => ErrorCode::UsernameTaken,
            AccountError::InvalidInvite => ErrorCode::InvalidInvite,
            AccountError::WrongPassword => ErrorCode::Unauthorized,
            AccountError::TooManyFailures { .. } => ErrorCode::RateLimited,
            AccountError::NotAdmin(_) => ErrorCode::Forbidden,
            AccountError::LastAdmin => ErrorCode::LastAdmin,
            AccountError::UserNotFound => ErrorCode::UserNotFound,
            AccountError::Token(_) => ErrorCode::Internal,
            AccountError::Password(e) => e.code(),
            AccountError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            AccountError::Password(e) => e.message(),
            AccountError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AccountError::TooManyFailures { retry_after } => Some(*retry_after),
            AccountError::Password(e) => e.retry_after(),
            AccountError::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}
