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

/// How many messages a subscriber of `subject` may fall behind before it loses the oldest,
/// given the bus's `default`. Every subscribed subject holds that many slots from the start
/// (a tokio broadcast channel preallocates them), so subjects that carry little get few: a
/// session's `controls` only wake its device, which then reads the controls from the store
/// (a lag is a wake-up too), and a session's `events` are a handful per minute.
pub fn capacity(subject: &str, default: usize) -> usize {
    let per_session = subject
        .strip_prefix("sb.")
        .and_then(|rest| rest.rsplit_once('.'));
    match per_session.map(|(_, kind)| kind) {
        Some("controls") => 4.min(default),
        Some("events") if !subject.starts_with("sb.account.") => 64.min(default),
        _ => default,
    }
    .max(1)
}

#[cfg(test)]
mod capacity_tests {
    use super::*;

    #[test]
    fn wake_up_and_event_subjects_hold_few_slots_the_rest_the_default() {
        let suid = "5f0c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44";
        assert_eq!(capacity(&controls(suid), 1024), 4);
        assert_eq!(capacity(&events(suid), 1024), 64);
        assert_eq!(capacity(&frames(suid), 1024), 1024);
        assert_eq!(capacity(&commands(suid), 1024), 1024);
        assert_eq!(capacity(&account_events(suid), 1024), 1024);
        assert_eq!(capacity(REVOKED_TOKENS, 1024), 1024);
        assert_eq!(
            capacity(&controls(suid), 2),
            2,
            "never more than the default"
        );
        assert_eq!(capacity(&events(suid), 0), 1);
    }
}
