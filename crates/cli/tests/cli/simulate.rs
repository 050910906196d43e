//! `switchboard simulate` against a real `switchboard serve`, both run from the built binary
//! as a person would run them.

use crate::support::*;
use std::process::Command;

#[test]
fn simulate_streams_to_viewers_and_reports_what_they_received() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), free_port());
    let output = Command::new(BIN)
        .args(["simulate", "--server", &server.base])
        .args([
            "--sessions",
            "2",
            "--viewers",
            "2",
            "--seconds",
            "3",
            "--fps",
            "10",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "simulate failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let received: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("frames received"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 'frames received' line in:\n{stdout}"));
    assert!(received > 0, "{stdout}");
    assert!(stdout.contains("errors               none"), "{stdout}");
}
