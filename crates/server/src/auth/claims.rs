//! What a token says and whom it speaks for.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use switchboard_core::Timestamp;

/// Whom a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    User,
    Device,
    /// Proof of a password, good only for giving the second factor within minutes
    /// (`POST /api/v1/auth/second-factor`); no route takes it as a credential.
    SecondFactor,
}

/// What a token says. `sub` is the user or device id; device tokens also name their session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub kind: TokenKind,
    /// The account the caller belongs to.
    pub acc: String,
    /// Unique token id, so one token can be revoked.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suid: Option<String>,
}

impl Claims {
    /// When the token expires.
    pub fn expires_at(&self) -> Timestamp {
        chrono::DateTime::from_timestamp(self.exp, 0).unwrap_or_else(Utc::now)
    }
}
