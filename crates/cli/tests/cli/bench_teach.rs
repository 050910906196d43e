//! `switchboard bench teach` with tiny counts: the matcher's table and timing over the test
//! photographs, and uploads through a server with and without taught objects, all measured
//! and printed (the figures themselves are not judged here).

use crate::support::BIN;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn bench_teach_measures_the_matcher_and_uploads_with_taught_objects() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let assets = repo.join("target/test-assets");
    assert!(
        assets.join("grace_hopper.jpg").is_file(),
        "test photographs missing in {}: run scripts/fetch-test-assets",
        assets.display()
    );
    let output = Command::new(BIN)
        .args(["bench", "teach", "--variations", "1", "--iterations", "1"])
        .args(["--uploads", "2", "--json", "--assets"])
        .arg(&assets)
        .arg("--model")
        .arg(repo.join("models/yolov12n.onnx"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench teach failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["matcher"]["positives"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(!report["matcher"]["table"].as_array().unwrap().is_empty());
    assert!(!report["matcher"]["timing"].as_array().unwrap().is_empty());
    assert_eq!(report["server"]["uploads"], 2);
    for side in ["untaught", "three_taught"] {
        let ms = report["server"][side]["p50_ms"].as_f64().unwrap();
        assert!(ms > 0.0, "{side}: {report}");
    }
}
