//! The flags the server under test starts with: every admission limit that would stop one
//! account from opening the stage's sessions and sockets, raised just above what the stage
//! needs. The per-address cap stays at its default: the bench spreads its sockets instead.

use std::time::Duration;

/// Room above the counted need, for the bench's own HTTP calls and a restart's stragglers.
const SLACK: usize = 1_000;

/// Flags for a server holding `sessions` sessions and `sockets` client connections, whose
/// live sessions end `no_viewers` after their last viewer leaves.
pub fn for_load(sessions: usize, sockets: usize, no_viewers: Duration) -> Vec<String> {
    let sessions = (sessions + SLACK).to_string();
    let sockets = (sockets + SLACK).to_string();
    let pairs: [(&str, &str); 10] = [
        ("--account-sessions", &sessions),
        ("--node-sessions", &sessions),
        ("--account-viewers", &sockets),
        ("--node-viewers", &sockets),
        ("--node-websockets", &sockets),
        ("--max-connections", &sockets),
        // Every live session's device redeems a ticket, all from this one machine.
        ("--ticket-redemptions-per-minute", "1000000"),
        ("--account-upload-bandwidth", "1TiB"),
        ("--account-egress-bandwidth", "1TiB"),
        (
            "--no-viewers-timeout",
            &humantime::format_duration(no_viewers).to_string(),
        ),
    ];
    pairs
        .iter()
        .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()])
        .collect()
}

/// Timeouts far beyond a stage, so no session ends of its own while it runs.
const NOBODY_ENDS: Duration = Duration::from_secs(24 * 3600 - 60);

/// Flags as [`for_load`] for sessions that must outlast the stage: no timeout of a session,
/// a device or a ticket runs out while it lasts.
pub fn lasting(sessions: usize, sockets: usize) -> Vec<String> {
    let mut flags = for_load(sessions, sockets, NOBODY_ENDS);
    let idle = humantime::format_duration(NOBODY_ENDS).to_string();
    flags.extend(["--device-idle-timeout".into(), idle.clone()]);
    flags.extend(["--ticket-ttl".into(), idle]);
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_limits_above_the_need() {
        let flags = for_load(10, 20, Duration::from_secs(15));
        let value = |flag: &str| {
            let at = flags.iter().position(|f| f == flag).unwrap();
            flags[at + 1].clone()
        };
        assert_eq!(value("--account-sessions"), "1010");
        assert_eq!(value("--max-connections"), "1020");
        assert_eq!(value("--no-viewers-timeout"), "15s");
    }
}
