//! Cameras: uploads with camera tokens, detection, object search, rotation, isolation,
//! back-pressure and detection of stored snapshots after a restart.

use crate::helpers::{TestApp, eventually, holds, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use switchboard_server::Config;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test photos and ONNX Runtime; CI fetches them with scripts/fetch-test-assets.
fn assets() -> PathBuf {
    let dir = repo_root().join("target/test-assets");
    assert!(
        dir.join("bus.jpg").is_file() && dir.join("onnxruntime").is_dir(),
        "test assets missing in {}: run scripts/fetch-test-assets",
        dir.display()
    );
    dir
}

pub(crate) fn bus_jpg() -> Vec<u8> {
    std::fs::read(assets().join("bus.jpg")).unwrap()
}

pub(crate) fn zidane_jpg() -> Vec<u8> {
    std::fs::read(assets().join("zidane.jpg")).unwrap()
}

/// Loads the real detector on one worker.
pub(crate) fn with_detector(c: &mut Config) {
    c.cameras.detection = true;
    c.cameras.detector_model = Some(repo_root().join("models/yolov12n.onnx"));
    c.cameras.onnxruntime_library = Some(assets().join("onnxruntime"));
    c.cameras.detector_workers = Some(1);
    // Long enough for a machine busy with browsers and other servers; the uploads that test
    // a detection still running arrange that with a full queue, not with this wait.
    c.cameras.detect_wait = Duration::from_secs(30);
}

/// A model path that does not exist: snapshots are stored, not detected.
pub(crate) fn without_detector(c: &mut Config) {
    c.cameras.detection = true;
    c.cameras.detector_model = Some(PathBuf::from("/nonexistent/model.onnx"));
}

pub(crate) async fn upload(
    app: &TestApp,
    camera: &str,
    token: &str,
    jpeg: Vec<u8>,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/cameras/{camera}/snapshots")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg)
        // Beyond the detection's wait (the client's usual patience is shorter).
        .timeout(Duration::from_secs(45))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = app
        .http
        .get(app.url("/search"))
        .query(&[("q", query)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

pub(crate) async fn get_jpeg(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let resp = app
        .http
        .get(format!("http://{}{path}", app.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let bytes = resp.bytes().await.unwrap().to_vec();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "{path} is a JPEG");
    bytes
}

/// Waits until no snapshot is pending (the background task detects them).
async fn until_nothing_pending(app: &TestApp) {
    eventually("no snapshot pending", Duration::from_secs(60), || async {
        let pending = app.store.pending_snapshots(1).await.unwrap();
        holds(pending.is_empty(), format!("{} pending", pending.len()))
    })
    .await;
}

#[tokio::test]
async fn an_uploaded_photo_is_detected_and_found_by_search() {
    let app = spawn_app_with(with_detector).await;
    let user = app.signup("cam-owner").await;
    let (camera, token) = app.create_camera(&user, "driveway").await;

    let resp = upload(&app, &camera, &token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "done");
    let labels: Vec<&str> = body["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"bus"), "{labels:?}");
    assert!(labels.contains(&"person"), "{labels:?}");

    let found = search(&app, &user, "where is the bus").await;
    assert_eq!(found["labels"], json!(["bus"]));
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{found}");
    let hit = &results[0];
    assert_eq!(hit["label"], "bus");
    assert_eq!(hit["camera"]["name"], "driveway");
    assert_eq!(hit["snapshot_id"], body["id"]);
    let original = get_jpeg(&app, &user, hit["image_url"].as_str().unwrap()).await;
    assert_eq!(original, bus_jpg());
    get_jpeg(&app, &user, hit["thumb_url"].as_str().unwrap()).await;

    let people = search(&app, &user, "any people?").await;
    assert_eq!(people["results"][0]["label"], "person");

    let keys = search(&app, &user, "where did I leave my keys").await;
    assert_eq!(keys["results"], json!([]));
    assert_eq!(keys["unknown"], json!(["keys"]));
    assert!(
        keys["known_labels"]
            .as_array()
            .unwrap()
            .contains(&json!("cell phone"))
    );

    let listed: Value = app
        .http
        .get(app.url("/cameras"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["cameras"][0]["uploads"], 1);
    assert_eq!(listed["cameras"][0]["last_snapshot_id"], body["id"]);
}

#[tokio::test]
async fn tokens_rotate_accounts_are_isolated_and_only_jpegs_are_taken() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("cam-a").await;
    let other = app.signup("cam-b").await;
    let (camera, old_token) = app.create_camera(&user, "hall").await;

    // Without a detector the snapshot is stored and stays pending.
    let resp = upload(&app, &camera, &old_token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let pending: Value = resp.json().await.unwrap();
    assert_eq!(pending["state"], "pending");
    let image_url = pending["image_url"].as_str().unwrap().to_owned();

    let resp = upload(&app, &camera, &old_token, b"not a jpeg".to_vec()).await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let resp = app
        .http
        .delete(app.url(&format!("/cameras/{camera}/token")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let new_token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = upload(&app, &camera, &old_token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = upload(&app, &camera, &new_token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    // Another account sees none of it.
    let resp = app
        .http
        .get(format!("http://{}{image_url}", app.addr))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .http
        .delete(app.url(&format!("/cameras/{camera}/token")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let theirs: Value = app
        .http
        .get(app.url("/cameras"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["cameras"], json!([]));
    get_jpeg(&app, &user, &image_url).await;
}

#[tokio::test]
async fn a_full_queue_answers_503_and_the_snapshots_are_detected_later() {
    let app = spawn_app_with(|c| {
        with_detector(c);
        c.cameras.detector_queue = 1;
        // Six copies of one photo: keep them all here.
        c.cameras.snapshot_dedup_distance = 0.0;
    })
    .await;
    let user = app.signup("busy-cams").await;
    let (camera, token) = app.create_camera(&user, "lobby").await;

    let uploads = (0..6).map(|_| upload(&app, &camera, &token, bus_jpg()));
    let answers = futures::future::join_all(uploads).await;
    let mut busy = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(resp.headers()["retry-after"], "2");
                // Refused, but kept: the body names the stored snapshot, pending.
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"], "detector_busy", "{body}");
                assert_eq!(body["state"], "pending", "{body}");
                assert!(body["snapshot"]["id"].is_string(), "{body}");
                busy += 1;
            }
            StatusCode::CREATED | StatusCode::ACCEPTED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "one worker and a queue of one cannot take six at once"
    );

    until_nothing_pending(&app).await;
    let found = search(&app, &user, "bus").await;
    assert_eq!(found["results"].as_array().unwrap().len(), 6, "{found}");
}

#[tokio::test]
async fn snapshots_stored_before_detection_are_detected_after_a_restart() {
    let mut app = spawn_app_with(without_detector).await;
    let user = app.signup("restart-cams").await;
    let (camera, token) = app.create_camera(&user, "porch").await;
    let resp = upload(&app, &camera, &token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(
        search(&app, &user, "bus").await["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    with_detector(&mut app.config);
    let app = app.restart().await;
    until_nothing_pending(&app).await;
    let found = search(&app, &user, "bus").await;
    assert_eq!(found["results"].as_array().unwrap().len(), 1, "{found}");
}

#[tokio::test]
async fn cameras_need_a_signed_in_user() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.url("/cameras"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

async fn camera_json(app: &TestApp, token: &str, camera: &str) -> Value {
    let listed: Value = app
        .http
        .get(app.url("/cameras"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == camera)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_near_copy_of_the_previous_snapshot_is_dropped_and_counted() {
    let app = spawn_app_with(with_detector).await;
    let user = app.signup("dedup-owner").await;
    let (camera, token) = app.create_camera(&user, "garage").await;

    let first: Value = upload(&app, &camera, &token, bus_jpg())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["state"], "done");
    // The same picture with other bytes (a comment segment): a near copy, same labels.
    let copy = switchboard_media::jpeg::with_comment(&bus_jpg(), b"another upload");
    let resp = upload(&app, &camera, &token, copy).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let dropped: Value = resp.json().await.unwrap();
    assert_eq!(dropped["state"], "duplicate", "{dropped}");
    assert_eq!(dropped["duplicate_of"], first["id"]);
    assert_eq!(dropped["image_url"], Value::Null);
    let resp = app
        .http
        .get(app.url(&format!("/snapshots/{}", dropped["id"].as_str().unwrap())))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Another scene is kept, and so is the bus again after it.
    let other = upload(&app, &camera, &token, zidane_jpg()).await;
    assert_eq!(other.status(), StatusCode::CREATED);
    let again = upload(&app, &camera, &token, bus_jpg()).await;
    assert_eq!(again.status(), StatusCode::CREATED);

    let cam = camera_json(&app, &user, &camera).await;
    assert_eq!(
        (cam["uploads"].as_u64(), cam["deduplicated"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(cam["uploads_per_hour"], 3);

    // The JSON form of a snapshot lists every detection, most confident first.
    let detail: Value = app
        .http
        .get(app.url(&format!("/snapshots/{}", first["id"].as_str().unwrap())))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["camera"]["name"], "garage");
    assert_eq!(detail["state"], "done");
    assert_eq!(detail["detections"], first["detections"]);
    let confidences: Vec<f64> = detail["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["confidence"].as_f64().unwrap())
        .collect();
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "{confidences:?}"
    );

    // Results just shown are spared by retention; the rest of what is past it goes.
    let found = search(&app, &user, "person").await;
    assert_eq!(found["results"].as_array().unwrap().len(), 3, "{found}");
    let found = search(&app, &user, "bus").await;
    assert_eq!(found["results"].as_array().unwrap().len(), 2, "{found}");
    let now = chrono::Utc::now();
    let pruned = app
        .store
        .prune_snapshots(now + chrono::Duration::days(1), None, now)
        .await
        .unwrap();
    assert_eq!(pruned, 0, "every snapshot was just a search result");
    let later = now + chrono::Duration::hours(1);
    let pruned = app
        .store
        .prune_snapshots(later + chrono::Duration::days(1), None, later)
        .await
        .unwrap();
    assert_eq!(pruned, 3, "pins last search_pin (10 minutes)");
}

#[tokio::test]
async fn a_camera_that_keeps_only_people_drops_the_rest() {
    let app = spawn_app_with(with_detector).await;
    let user = app.signup("people-only").await;
    let resp = app
        .http
        .post(app.url("/cameras"))
        .bearer_auth(&user)
        .json(&json!({ "name": "door", "only_person": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["only_person"], true);
    let camera = created["id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();

    let empty_scene = switchboard_media::synth::TestCard::new(640, 480, 85).render(1);
    let resp = upload(&app, &camera, &token, empty_scene.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["state"], "discarded");
    let resp = upload(&app, &camera, &token, zidane_jpg()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    let resp = app
        .http
        .patch(app.url(&format!("/cameras/{camera}")))
        .bearer_auth(&user)
        .json(&json!({ "only_person": false, "name": "front door" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(
        (changed["only_person"].as_bool(), changed["name"].as_str()),
        (Some(false), Some("front door"))
    );
    let resp = upload(&app, &camera, &token, empty_scene).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    let cam = camera_json(&app, &user, &camera).await;
    assert_eq!(
        (cam["uploads"].as_u64(), cam["discarded"].as_u64()),
        (Some(3), Some(1))
    );
    for (body, code) in [
        (json!({ "name": "" }), "invalid_name"),
        (json!({ "colour": "red" }), "invalid_field"),
    ] {
        let resp = app
            .http
            .patch(app.url(&format!("/cameras/{camera}")))
            .bearer_auth(&user)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], code);
    }
}

#[tokio::test]
async fn a_camera_goes_live_as_a_device_when_asked() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("live-cam").await;
    let other = app.signup("live-cam-other").await;
    let (camera, token) = app.create_camera(&user, "nursery").await;

    // Nobody asked yet: uploads carry no ticket.
    let body: Value = upload(&app, &camera, &token, bus_jpg())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["live"], Value::Null);

    let go_live = |who: String| {
        let app = &app;
        let camera = camera.clone();
        async move {
            app.http
                .post(app.url(&format!("/cameras/{camera}/live")))
                .bearer_auth(who)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(go_live(other.clone()).await.status(), StatusCode::NOT_FOUND);
    let resp = go_live(user.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(
        (session["state"].as_str(), session["label"].as_str()),
        (Some("waiting"), Some("nursery"))
    );
    let suid = session["suid"].as_str().unwrap().to_owned();
    // Asking twice opens no second session.
    let resp = go_live(user.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["suid"], suid);
    assert_eq!(camera_json(&app, &user, &camera).await["live_suid"], suid);

    // The next upload hands the camera the ticket; it redeems it like any device.
    let body: Value = upload(&app, &camera, &token, bus_jpg())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["live"]["suid"], suid);
    let resp = app
        .register_device_raw(
            body["live"]["ticket"].as_str().unwrap(),
            json!({"model": "switchboard camera", "camera_id": camera}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let device: Value = resp.json().await.unwrap();
    let resp = app
        .post_frame(
            &suid,
            device["device_token"].as_str().unwrap(),
            1,
            crate::helpers::jpeg(1),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.session(&user, &suid, None).await["state"], "live");
    let body: Value = upload(&app, &camera, &token, bus_jpg())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["live"], Value::Null, "already streaming");

    // Once the session ends the camera is no longer asked, and a new request opens a new one.
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = upload(&app, &camera, &token, bus_jpg())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["live"], Value::Null);
    assert_eq!(
        camera_json(&app, &user, &camera).await["live_suid"],
        Value::Null
    );
    let resp = go_live(user.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_ne!(resp.json::<Value>().await.unwrap()["suid"], suid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_list_says_which_backend_detects_or_why_detection_is_off() {
    async fn detector(app: &TestApp) -> Value {
        let token = app.signup("owner").await;
        let list: Value = app
            .http
            .get(app.url("/cameras"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list
    }
    let missing = spawn_app_with(without_detector).await;
    let list = detector(&missing).await;
    assert_eq!(list["detecting"], false, "{list}");
    let why = list["detector"]["off_because"].as_str().unwrap();
    assert!(why.contains("/nonexistent/model.onnx"), "{why}");
    assert!(list["detector"]["backend"].is_null(), "{list}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.onnx");
    std::fs::write(&broken, b"not a model at all").unwrap();
    let unloadable = spawn_app_with(|c| {
        c.cameras.detection = true;
        c.cameras.detector_model = Some(broken.clone());
    })
    .await;
    let list = detector(&unloadable).await;
    assert_eq!(list["detecting"], false, "{list}");
    let why = list["detector"]["off_because"].as_str().unwrap();
    assert!(why.contains("could not be loaded"), "{why}");

    let loaded = spawn_app_with(with_detector).await;
    let list = detector(&loaded).await;
    assert_eq!(list["detecting"], true, "{list}");
    assert!(
        ["onnxruntime", "tract"].contains(&list["detector"]["backend"].as_str().unwrap()),
        "{list}"
    );
    assert!(list["detector"]["off_because"].is_null(), "{list}");
    let model = repo_root().join("models/yolov12n.onnx");
    assert_eq!(
        list["detector"]["model"],
        model.display().to_string(),
        "{list}"
    );

    // Nothing named: the model built into the program, wherever the server runs.
    let built_in = spawn_app_with(|c| {
        with_detector(c);
        c.cameras.detector_model = None;
    })
    .await;
    let list = detector(&built_in).await;
    assert_eq!(list["detecting"], true, "{list}");
    assert_eq!(
        list["detector"]["model"], "built-in yolov12n.onnx",
        "{list}"
    );

    let off = spawn_app_with(|c| c.cameras.detection = false).await;
    let list = detector(&off).await;
    assert_eq!(list["detecting"], false, "{list}");
    let why = list["detector"]["off_because"].as_str().unwrap();
    assert!(why.contains("turned off"), "{why}");
}
