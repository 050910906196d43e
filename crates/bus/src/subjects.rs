//! Subject names, in one place so every node spells them alike.
//!
//! `sb.<suid>.frames|controls|events` carry one session's traffic, and
//! `sb.<suid>.ingest|status|presence|commands` link the node that owns it with the others; `sb.account.<id>.events`
//! tells dashboards that one of the account's sessions changed; `sb.auth.revoked` carries
//! revoked token ids; `sb.probe.<node>` carries a node's probes of its own subscriptions.

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

/// Frames a device sent to a node that does not own its session, for the owner.
pub fn ingest(suid: impl Display) -> String {
    format!("sb.{suid}.ingest")
}

/// The owner's view of a session (state, viewers, figures), for the other nodes.
pub fn status(suid: impl Display) -> String {
    format!("sb.{suid}.status")
}

/// Every session's status, for nodes that show sessions they do not own.
pub const ALL_STATUS: &str = "sb.*.status";

/// Who watches a session on a node that does not own it, for the owner.
pub fn presence(suid: impl Display) -> String {
    format!("sb.{suid}.presence")
}

/// Requests to a session's owner from other nodes (device registered, end).
pub fn commands(suid: impl Display) -> String {
    format!("sb.{suid}.commands")
}

/// Changes to any session of an account, for live dashboards.
pub fn account_events(account: impl Display) -> String {
    format!("sb.account.{account}.events")
}

/// Revoked token ids, so every node refuses them at once.
pub const REVOKED_TOKENS: &str = "sb.auth.revoked";

/// A node's bus probes, which it publishes and expects back to prove its subscriptions work.
/// Characters NATS gives a meaning in subjects (`.`, `*`, `>`, whitespace) become `_`.
pub fn probe(node: &str) -> String {
    let token: String = node
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect();
    format!("sb.probe.{token}")
}
