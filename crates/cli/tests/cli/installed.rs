//! The program as an installer leaves it: the binary alone in an empty folder, started from
//! there with nothing configured, detects objects in an uploaded photo with the model built
//! into it.

use crate::support::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bus_jpg() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-assets/bus.jpg");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-test-assets", path.display()))
}

#[test]
fn the_binary_alone_in_an_empty_folder_detects_objects() {
    let folder = tempfile::tempdir().unwrap();
    let exe = folder.path().join("switchboard");
    std::fs::copy(BIN, &exe).unwrap();
    let port = free_port();
    let server = Command::new(&exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(folder.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Loading the model takes longer than a plain start.
    let server = ServerProcess::wait_for(server, port, PATIENCE * 2);
    let base = server.base.clone();
    let c = Client::new();
    let api = format!("{base}/api/v1");
    let user = sign_up_owner(&base);
    let camera: Value = c
        .post(format!("{api}/cameras"))
        .bearer_auth(&user)
        .json(&json!({"name": "hall"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let list: Value = c
        .get(format!("{api}/cameras"))
        .bearer_auth(&user)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["detecting"], true, "{list}");
    assert_eq!(
        list["detector"]["model"], "built-in yolov12n.onnx",
        "{list}"
    );
    let upload = c
        .post(format!(
            "{api}/cameras/{}/snapshots",
            camera["id"].as_str().unwrap()
        ))
        .bearer_auth(camera["token"].as_str().unwrap())
        .header("content-type", "image/jpeg")
        .body(bus_jpg())
        .send()
        .unwrap();
    assert!(upload.status().is_success(), "{}", upload.status());

    // Detected now or soon (a debug build on a busy machine may answer `pending` first).
    let deadline = Instant::now() + Duration::from_secs(120);
    let found = loop {
        let found: Value = c
            .get(format!("{api}/search"))
            .query(&[("q", "where is the bus")])
            .bearer_auth(&user)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if !found["results"].as_array().unwrap().is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(server);
    let results = found["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["label"] == "bus"),
        "no bus found: {found}"
    );
    // Nothing but the program and what it made itself (its data folder) is in the folder.
    let mut names: Vec<String> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "switchboard"]);
}

#[test]
fn the_long_version_names_the_built_in_model_and_its_licence() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert!(text.contains("YOLOv12n"), "{text}");
    assert!(text.contains("AGPL-3.0"), "{text}");
    let short = Command::new(BIN).arg("-V").output().unwrap();
    let short = String::from_utf8(short.stdout).unwrap();
    assert_eq!(short.lines().count(), 1, "{short}");
}
