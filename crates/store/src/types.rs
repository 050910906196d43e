//! Records the store keeps that are not domain types of their own.

use switchboard_core::{AccountId, SessionState, Timestamp, UserId};

/// An invitation for a new user to join an account. Single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The secret the invitee presents; unique.
    pub code: String,
    /// The account the new user joins.
    pub account_id: AccountId,
    /// The admin who invited, kept for the audit trail (the invite outlives their deletion).
    pub created_by: UserId,
    /// When the invite was made.
    pub created_at: Timestamp,
    /// The first instant at which the invite no longer works.
    pub expires_at: Timestamp,
}

/// Which of an account's sessions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only sessions in one of these states; all states when empty.
    pub states: Vec<SessionState>,
    /// At most this many, newest first.
    pub limit: u32,
}

impl Default for SessionFilter {
    fn default() -> Self {
        SessionFilter {
            states: Vec::new(),
            limit: 100,
        }
    }
}

/// Bytes as the database holds them: sealed with an account's data key of version
/// `key_version`, or plain when it is `None` (stored by an earlier release, or with
/// encryption off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub bytes: Vec<u8>,
    pub key_version: Option<u32>,
}
