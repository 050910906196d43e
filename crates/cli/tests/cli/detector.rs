//! ONNX Runtime found where users have it: a server started with nothing configured finds
//! the library of an `onnxruntime` package of the `python3` on `PATH`, detects with it, and
//! says so in `GET /api/v1/cameras`.

use crate::support::*;
use reqwest::blocking::Client;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
    let child = Command::new(BIN)
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
    // Loading the model takes longer than a plain start.
    let server = ServerProcess::wait_for(child, port, PATIENCE * 2);
    let base = server.base.clone();
    let c = Client::new();
    let token = sign_up_owner(&base);
    let list: Value = c
        .get(format!("{base}/api/v1/cameras"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    drop(server);
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
        "kernel ids",
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
