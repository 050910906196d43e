//! `switchboard bench webrtc` with a few viewers and short windows: both stages run through a
//! server and print their figures (the figures themselves are not judged here).

use crate::support::BIN;
use serde_json::Value;
use std::process::Command;

#[test]
fn bench_webrtc_measures_bandwidth_and_fanout() {
    let output = Command::new(BIN)
        .args([
            "bench",
            "webrtc",
            "--viewers",
            "3",
            "--seconds",
            "2",
            "--warmup",
            "1",
        ])
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench webrtc failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let bandwidth = &report["bandwidth"];
    assert!(bandwidth["webrtc_fps"].as_f64().unwrap() > 5.0, "{report}");
    assert!(bandwidth["mjpeg_fps"].as_f64().unwrap() > 5.0, "{report}");
    assert!(bandwidth["ratio"].as_f64().unwrap() > 1.0, "{report}");
    let fanout = &report["fanout"];
    assert_eq!(fanout["connected"], 3, "{report}");
    assert!(fanout["frames_sent"].as_u64().unwrap() > 0, "{report}");
    assert!(fanout["forward_p99_ms"].as_f64().is_some(), "{report}");
}
