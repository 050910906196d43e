//! Decompression bombs and pictures from the future: a small file whose JPEG header declares
//! a huge picture costs whoever decodes it memory by pixels, not by bytes. Snapshots and
//! frames declaring too many pixels are refused at upload, stored ones are never decoded past
//! the bound, thumbnails are decoded a few at a time, and a snapshot cannot date itself into
//! the future to escape age retention.

use crate::expect::expect_error;
use crate::helpers::{TestApp, jpeg, next_json, send_frame, spawn_app_with};
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_core::AccountId;
use switchboard_server::Config;
use switchboard_store::NewSnapshot;
use uuid::Uuid;

/// Stores snapshots without running a detector (nothing here is about detection).
fn without_detector(c: &mut Config) {
    c.cameras.detector_model = Some(PathBuf::from("/nonexistent/model.onnx"));
}

/// A structurally valid JPEG (it passes the server's marker check) whose frame header
/// declares `width`×`height` with `components` colour components (4: CMYK) and whose scan is
/// a few bytes: a picture nobody should try to decode.
fn declaring(width: u16, height: u16, components: u8) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    let sof_len = 8 + 3 * u16::from(components);
    out.extend_from_slice(&[0xFF, 0xC0]);
    out.extend_from_slice(&sof_len.to_be_bytes());
    out.push(8);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.push(components);
    for id in 1..=components {
        out.extend_from_slice(&[id, 0x11, 0]);
    }
    let sos_len = 6 + 2 * u16::from(components);
    out.extend_from_slice(&[0xFF, 0xDA]);
    out.extend_from_slice(&sos_len.to_be_bytes());
    out.push(components);
    for id in 1..=components {
        out.extend_from_slice(&[id, 0]);
    }
    out.extend_from_slice(&[0, 63, 0]);
    out.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A real JPEG (a test card) whose frame header is rewritten to declare `width`×`height`.
fn real_jpeg_declaring(width: u16, height: u16) -> Bytes {
    let mut data = jpeg(1).to_vec();
    let sof = data
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    data[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    data[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    Bytes::from(data)
}

async fn upload(
    app: &TestApp,
    camera: &str,
    token: &str,
    query: &str,
    jpeg: Vec<u8>,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/cameras/{camera}/snapshots{query}")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg)
        .send()
        .await
        .unwrap()
}

async fn account_of(app: &TestApp, token: &str) -> AccountId {
    app.me(token).await["account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Stores a snapshot through the store, as an older release (or a larger bound) did.
async fn store_snapshot(app: &TestApp, account: AccountId, camera: &str, jpeg: Vec<u8>) -> Uuid {
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    app.store
        .insert_snapshot(&NewSnapshot {
            id,
            camera_id: camera.parse().unwrap(),
            account_id: account,
            taken_at: now,
            received_at: now,
            size: jpeg.len() as u64,
            jpeg,
            key_version: None,
        })
        .await
        .unwrap();
    id
}

async fn thumbnail(app: &TestApp, token: &str, id: Uuid) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/snapshots/{id}/thumb.jpg")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_huge_cmyk_snapshot_is_refused_at_upload_and_never_decoded_for_thumbnails() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("bomb.maker").await;
    let (camera, camera_token) = app.create_camera(&user, "porch").await;
    let bomb = declaring(10_000, 10_000, 4);
    assert!(bomb.len() < 100, "a bomb is small: {} bytes", bomb.len());

    let resp = upload(&app, &camera, &camera_token, "", bomb.clone()).await;
    let body = expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "image_too_large").await;
    assert!(
        body["message"].as_str().unwrap().contains("10000x10000"),
        "{body}"
    );
    assert!(
        app.store.pending_snapshots(10).await.unwrap().is_empty(),
        "nothing of the refused upload is stored"
    );

    // One that got in anyway (stored before the bound): four thumbnails at once are all
    // refused by its declared size, before any decoding.
    let account = account_of(&app, &user).await;
    let id = store_snapshot(&app, account, &camera, bomb).await;
    let answers = futures::future::join_all((0..4).map(|_| thumbnail(&app, &user, id))).await;
    for resp in answers {
        let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "undecodable_image").await;
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("pixels allowed"),
            "refused by its size: {message}"
        );
    }
}

#[tokio::test]
async fn stored_pictures_are_decoded_only_within_the_pixel_bound() {
    // 64×48 test cards: 3,072 pixels. The bound sits between the two pictures.
    let app = spawn_app_with(|c| {
        without_detector(c);
        c.cameras.max_image_pixels = 4_000;
    })
    .await;
    let user = app.signup("pixel.counter").await;
    let (camera, _) = app.create_camera(&user, "porch").await;
    let account = account_of(&app, &user).await;

    let small = store_snapshot(&app, account, &camera, jpeg(1).to_vec()).await;
    let resp = thumbnail(&app, &user, small).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(&resp.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);

    let big = store_snapshot(
        &app,
        account,
        &camera,
        switchboard_media::synth::TestCard::new(100, 50, 70).render(1),
    )
    .await;
    let body = expect_error(
        thumbnail(&app, &user, big).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "undecodable_image",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("100x50"),
        "{body}"
    );
}

#[tokio::test]
async fn thumbnails_past_the_decoding_slots_answer_busy_instead_of_piling_up() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        c.cameras.max_concurrent_decodes = 1;
        c.cameras.decode_wait = Duration::from_millis(1);
    })
    .await;
    let user = app.signup("thumb.flood").await;
    let (camera, _) = app.create_camera(&user, "porch").await;
    let account = account_of(&app, &user).await;
    // A picture big enough that decoding it takes far longer than the 1 ms wait.
    let picture = switchboard_media::synth::TestCard::new(4000, 3000, 90).render(1);
    let id = store_snapshot(&app, account, &camera, picture).await;

    let answers = futures::future::join_all((0..12).map(|_| thumbnail(&app, &user, id))).await;
    let (mut made, mut busy) = (0, 0);
    for resp in answers {
        match resp.status() {
            StatusCode::OK => made += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(resp.headers()["retry-after"], "1");
                expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
                busy += 1;
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert!(made >= 1, "the first thumbnail is made");
    assert!(
        busy >= 1,
        "thumbnails past the one slot are refused ({made} made)"
    );
}

#[tokio::test]
async fn frames_declaring_huge_pictures_are_refused_on_every_path() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.signup("frame.bomber").await;
    let (suid, device) = app.live_session(&user).await;
    let bomb = real_jpeg_declaring(65_500, 65_500);

    // POST …/frames
    let resp = app.post_frame(&suid, &device, 1, bomb.clone()).await;
    let body = expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "image_too_large").await;
    assert!(
        body["message"].as_str().unwrap().contains("65500x65500"),
        "{body}"
    );

    // A part of the long MJPEG POST ends the request with the same error.
    let mut stream = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    stream.extend_from_slice(&bomb);
    stream.extend_from_slice(b"\r\n--frame--\r\n");
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/stream")))
        .bearer_auth(&device)
        .header("content-type", "multipart/x-mixed-replace; boundary=frame")
        .body(stream)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "image_too_large").await;

    // The device socket reports it and stays open.
    let mut ws = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    send_frame(&mut ws, bomb).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["error"], "image_too_large");

    // None of them reached the viewers; a normal frame still does.
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "no_frame_yet").await;
    send_frame(&mut ws, jpeg(2)).await;
    let resp = app.post_frame(&suid, &device, 3, jpeg(3)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_snapshot_dated_in_the_future_takes_its_arrival_time() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        c.cameras.snapshot_clock_skew = Duration::from_secs(300);
    })
    .await;
    let user = app.signup("time.traveller").await;
    let (camera, camera_token) = app.create_camera(&user, "porch").await;

    let before = chrono::Utc::now();
    let resp = upload(
        &app,
        &camera,
        &camera_token,
        "?taken_at=2099-01-01T00:00:00Z",
        jpeg(1).to_vec(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    let taken: chrono::DateTime<chrono::Utc> = body["taken_at"].as_str().unwrap().parse().unwrap();
    let after = chrono::Utc::now();
    assert!(
        taken >= before - chrono::Duration::seconds(1) && taken <= after,
        "a taken_at decades ahead became the arrival time, not {taken}"
    );
    // What is stored is what age retention sees.
    let stored: Value = app
        .http
        .get(app.url(&format!("/snapshots/{}", body["id"].as_str().unwrap())))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["taken_at"], body["taken_at"]);

    // Within the skew, the camera's own time is kept (its clock may run a little fast).
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let resp = upload(
        &app,
        &camera,
        &camera_token,
        &format!("?taken_at={soon}"),
        jpeg(2).to_vec(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    let kept: chrono::DateTime<chrono::Utc> = body["taken_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(kept, soon.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
}
