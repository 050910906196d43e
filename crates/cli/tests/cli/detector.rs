//! ONNX Runtime found where users have it: a server started with nothing configured finds
//! the library of an `onnxruntime` package of the `python3` on `PATH`, detects with it, and
//! says so in `GET /api/v1/cameras`.

use crate::support::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn onnx_runtime_is_found_in_a_python_package_with_nothing_configured() {
    let wheel = repo_root().join("target/test-assets/onnxruntime");
    assert!(
        wheel.is_dir(),
        "test assets missing in {}: run scripts/fetch-test-assets",
        wheel.display()
    );
    // A package as pip installs it: <site>/onnxruntime/capi/libonnxruntime.so.*
    let site = tempfile::tempdir().unwrap();
    let capi = site.path().join("onnxruntime").join("capi");
    std::fs::create_dir_all(&capi).unwrap();
    for entry in std::fs::read_dir(&wheel).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), capi.join(entry.file_name())).unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--detector-model")
        .arg(repo_root().join("models/yolov12n.onnx"))
        .env("PYTHONPATH", site.path())
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("SWITCHBOARD_ONNXRUNTIME_LIBRARY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE * 2;
    while !reqwest::blocking::get(format!("{base}/healthz")).is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let c = Client::new();
    let token = c
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": "owner", "password": "quiet lantern orbit mosaic", "account_name": "Home"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list: Value = c
        .get(format!("{base}/api/v1/cameras"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(list["detector"]["backend"], "onnxruntime", "{list}");
    let library = list["detector"]["library"].as_str().unwrap();
    assert!(library.contains("python3 package"), "{library}");
    assert!(library.contains(&capi.display().to_string()), "{library}");
}

#[test]
fn doctor_names_every_part_and_the_command_that_adds_what_is_missing() {
    let data = tempfile::tempdir().unwrap();
    let json = cli_ok(
        data.path(),
        &[
            "doctor",
            "--json",
            "--detector-model",
            "/nonexistent/model.onnx",
        ],
    );
    let checks: Vec<Value> = serde_json::from_str(&json).unwrap();
    let parts: Vec<&str> = checks.iter().map(|c| c["part"].as_str().unwrap()).collect();
    for part in [
        "detector model",
        "ONNX Runtime",
        "ipykernel",
        "kernel namespaces",
        "Landlock",
        "seccomp",
        "cgroups",
        "ffmpeg",
        "TLS",
    ] {
        assert!(parts.contains(&part), "{part} missing from {parts:?}");
    }
    for c in &checks {
        assert!(c["found"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
        // Whatever is missing says how to add it.
        assert!(c["ok"] == true || c["fix"].is_string(), "{c}");
    }
    let model = checks
        .iter()
        .find(|c| c["part"] == "detector model")
        .unwrap();
    assert_eq!(model["ok"], false, "{model}");
    assert!(
        model["found"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/model.onnx")
    );
    assert!(model["fix"].as_str().unwrap().contains("--detector-model"));
    let model_path = repo_root().join("models/yolov12n.onnx");
    let found = cli_ok(
        data.path(),
        &["doctor", "--detector-model", model_path.to_str().unwrap()],
    );
    let line = found
        .lines()
        .find(|l| l.starts_with("detector model"))
        .unwrap();
    assert!(
        line.contains(" ok ") && line.contains("yolov12n.onnx"),
        "{found}"
    );
}
