//! `switchboard bench scale` with tiny counts: every stage run to the end against servers of
//! their own and print every figure with its verdict (the figures themselves are not judged).

use crate::support::BIN;
use std::process::Command;

#[test]
fn bench_scale_prints_every_figure_and_verdict() {
    let output = Command::new(BIN)
        .args(["bench", "scale", "--stages", "sessions,restart,connections"])
        .args([
            "--sessions",
            "6",
            "--timer-sessions",
            "3",
            "--connections",
            "9",
        ])
        .args([
            "--restart-devices",
            "2",
            "--timer-seconds",
            "2",
            "--idle-seconds",
            "1",
        ])
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench scale failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let stages = json["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(names, ["sessions", "restart", "connections"]);
    let figures: Vec<&str> = stages
        .iter()
        .flat_map(|s| s["figures"].as_array().unwrap())
        .filter_map(|f| f["name"].as_str())
        .collect();
    for figure in [
        "per waiting session",
        "per live session (frame aside)",
        "server CPU, idle",
        "timer lateness max",
        "all back after SIGTERM",
        "all back after SIGKILL",
        "CDRs written once (files)",
        "CDRs written once (database)",
        "RSS per connection",
        "event to every listener p99",
        "new connection accepted p99",
    ] {
        assert!(figures.contains(&figure), "no {figure:?} in:\n{stdout}");
    }
    assert!(json["open_files"]["hard"].as_u64().unwrap() > 0);
}
