//! Why an account-security operation failed.

use crate::auth::PasswordError;
use crate::protocol::ErrorCode;
use crate::services::failure::ServiceError;
use switchboard_store::StoreError;

/// A failure of the account-security service (passwords, usernames, second factors,
/// sign-ins).
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The current password given to confirm a change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too short, too long, or too easy to guess; the text says why.
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0}")]
    InvalidUsername(String),
    #[error("this username is already taken")]
    UsernameTaken,
    /// Malformed, unknown, or of another account: one answer.
    #[error("no such user in this account")]
    UserNotFound,
    /// Only an account admin may do this (`what`: "reset passwords", …).
    #[error("only an account admin can {0}")]
    NotAdmin(&'static str),
    /// A code or recovery code that is wrong, used already or expired: one answer, so a
    /// guesser learns nothing from it.
    #[error("the code is wrong, used already or expired")]
    InvalidCode,
    /// The second step of a sign-in came with a challenge that is invalid, expired or used.
    #[error("the sign-in challenge is invalid, expired or used; sign in again")]
    InvalidChallenge,
    /// The user's failed second-factor or password checks are over the limit.
    #[error("too many failed attempts for this user; wait and try again")]
    TooManyFailures { retry_after: u64 },
    #[error("give either code or recovery_code")]
    CodeOrRecoveryCode,
    #[error("a second factor is already enabled; disable it first")]
    AlreadyEnabled,
    #[error("no enrolment is waiting for a code: start one with POST /api/v1/me/second-factor")]
    NotEnrolling,
    #[error("no second factor is enabled")]
    NotEnabled,
    #[error("no such sign-in")]
    SignInNotFound,
    #[error("an admin reset your password: change it first (POST /api/v1/me/password)")]
    PasswordChangeRequired,
    #[error(
        "your account requires a second factor: enrol one first (POST /api/v1/me/second-factor)"
    )]
    SecondFactorEnrolmentRequired,
    #[error("id: to change your own password use POST /api/v1/me/password")]
    ResetSelf,
    #[error("cannot sign a token: {0}")]
    Token(String),
    #[error("cannot make the QR code: {0}")]
    Qr(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for SecurityError {
    fn code(&self) -> ErrorCode {
        match self {
            SecurityError::WrongPassword => ErrorCode::WrongPassword,
            SecurityError::WeakPassword(_) => ErrorCode::WeakPassword,
            SecurityError::InvalidUsername(_) => ErrorCode::InvalidUsername,
            SecurityError::UsernameTaken => ErrorCode::UsernameTaken,
            SecurityError::UserNotFound => ErrorCode::UserNotFound,
            SecurityError::NotAdmin(_) => ErrorCode::Forbidden,
            SecurityError::InvalidCode => ErrorCode::InvalidCode,
            SecurityError::InvalidChallenge => ErrorCode::Unauthorized,
            SecurityError::TooManyFailures { .. } => ErrorCode::RateLimited,
            SecurityError::CodeOrRecoveryCode | SecurityError::ResetSelf => ErrorCode::InvalidField,
            SecurityError::AlreadyEnabled
            | SecurityError::NotEnrolling
            | SecurityError::NotEnabled => ErrorCode::Conflict,
            SecurityError::SignInNotFound => ErrorCode::SignInNotFound,
            SecurityError::PasswordChangeRequired => ErrorCode::PasswordChangeRequired,
            SecurityError::SecondFactorEnrolmentRequired => {
                ErrorCode::SecondFactorEnrolmentRequired
            }
            SecurityError::Token(_) | SecurityError::Qr(_) => ErrorCode::Internal,
            SecurityError::Password(e) => e.code(),
            SecurityError::Audit(e) => e.code(),
            SecurityError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            SecurityError::Password(e) => e.message(),
            SecurityError::Audit(e) => e.message(),
            SecurityError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            SecurityError::TooManyFailures { retry_after } => Some(*retry_after),
            SecurityError::Password(e) => e.retry_after(),
            SecurityError::Audit(e) => e.retry_after(),
            SecurityError::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}
