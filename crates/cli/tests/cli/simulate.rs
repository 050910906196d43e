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

fn test_asset(name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-assets")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-test-assets",
        path.display()
    );
    path
}

#[test]
fn simulate_cameras_uploads_photos_while_users_search_and_reports_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let library = test_asset("onnxruntime");
    let server = ServerProcess::start_with(
        dir.path(),
        free_port(),
        &[
            "--detection".as_ref(),
            "true".as_ref(),
            "--onnxruntime-library".as_ref(),
            library.as_os_str(),
        ],
    );
    let output = Command::new(BIN)
        .args(["simulate", "cameras", "--server", &server.base])
        .args([
            "--cameras",
            "3",
            "--cameras-per-account",
            "2",
            "--every",
            "1s",
            "--searchers",
            "2",
            "--seconds",
            "3",
            "--deadline",
            "60s",
            "--json",
        ])
        .arg("--image")
        .arg(test_asset("bus.jpg"))
        .arg("--image")
        .arg(test_asset("zidane.jpg"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "simulate cameras failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let figures: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(figures["accounts"], 2, "{figures}");
    let stored = figures["uploads_accepted"].as_u64().unwrap();
    assert!(stored >= 3, "{figures}");
    // Every stored photo was seen detected, and the users' searches were answered.
    assert_eq!(
        figures["detected_on_time"].as_u64(),
        Some(stored),
        "{figures}"
    );
    assert_eq!(figures["detection_wait_ms"]["count"].as_u64(), Some(stored));
    assert!(figures["searches"].as_u64().unwrap() > 0, "{figures}");
    assert_eq!(figures["errors"], 0, "{figures}");
    assert_eq!(figures["sustained"], true, "{figures}");
}

#[test]
fn simulate_cameras_refuses_a_server_that_does_not_detect_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // Test servers start with detection off.
    let server = ServerProcess::start(dir.path(), free_port());
    let photo = test_asset("bus.jpg");
    let output = Command::new(BIN)
        .args([
            "simulate",
            "cameras",
            "--server",
            &server.base,
            "--seconds",
            "2",
        ])
        .arg("--image")
        .arg(&photo)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not detect objects"), "{stderr}");
    assert!(stderr.contains("turned off"), "{stderr}");

    // Not a JPEG: refused before anything is sent.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a photo").unwrap();
    let output = Command::new(BIN)
        .args(["simulate", "cameras", "--server", &server.base])
        .arg("--image")
        .arg(&text)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a JPEG"), "{stderr}");
}
