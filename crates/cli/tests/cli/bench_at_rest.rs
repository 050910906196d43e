//! `switchboard bench at-rest` with a tiny count: it runs both servers to the end and prints
//! every figure on and off with their ratios (the figures themselves are not judged here).

use crate::support::BIN;
use serde_json::Value;
use std::process::Command;

#[test]
fn bench_at_rest_measures_both_sides_and_their_ratios() {
    let output = Command::new(BIN)
        .args(["bench", "at-rest", "--snapshots", "4", "--width", "320"])
        .args(["--height", "240", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench at-rest failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["snapshots"], 4);
    for side in ["off", "on"] {
        for kind in ["upload", "thumbnail"] {
            for figure in ["p50_ms", "p99_ms"] {
                let ms = report[side][kind][figure].as_f64().unwrap();
                assert!(ms > 0.0, "{side} {kind} {figure}: {ms}");
            }
        }
    }
    for ratio in ["upload p50", "upload p99", "thumbnail p50", "thumbnail p99"] {
        assert!(report["ratios"][ratio].as_f64().unwrap() > 0.0, "{ratio}");
    }
}
