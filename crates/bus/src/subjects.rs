//! Subject names, in one place so every node spells them alike.
//!
//! `sb.<suid>.frames|controls|events` carry one session's traffic; `sb.account.<id>.events`
//! tells dashboards that one of the account's sessions changed; `sb.auth.revoked` carries
//! revoked token ids.

use std::fmt::Display;

/// JPEG frames of a session.
pub fn frames(suid: impl Display) -> String {
    format!("sb.{suid}.frames")
}

/// Controls for a session's device.
pub fn controls(suid: impl Display) -> String {
    format!("sb.{suid}.controls")
}

/// State, viewer and statistics events of a session.
pub fn events(suid: impl Display) -> String {
    format!("sb.{suid}.events")
}

/// Changes to any session of an account, for live dashboards.
pub fn account_events(account: impl Display) -> String {
    format!("sb.account.{account}.events")
}

/// Revoked token ids, so every node refuses them at once.
pub const REVOKED_TOKENS: &str = "sb.auth.revoked";
