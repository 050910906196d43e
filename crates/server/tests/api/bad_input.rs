//! Requests the server must refuse, each with its status and `{"error", "message"}` body, and
//! a live session that keeps streaming while bad requests hit it.

use crate::expect::{expect_error, expect_error_with_extra, message};
use crate::helpers::*;
use bytes::Bytes;
use bytesize::ByteSize;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A frame-size limit small enough that a padded test card exceeds it.
const FRAME_LIMIT: ByteSize = ByteSize::kib(8);

/// A valid JPEG larger than [`FRAME_LIMIT`].
fn oversized_jpeg() -> Bytes {
    let big = switchboard_media::synth::pad_to(jpeg(1).to_vec(), 9 * 1024);
    assert!(big.len() as u64 > FRAME_LIMIT.as_u64());
    switchboard_media::jpeg::inspect(&big).expect("the padded frame is still a valid JPEG");
    Bytes::from(big)
}

/// `jpeg(1)` cut short in the middle of its image data.
fn truncated_jpeg() -> Bytes {
    let whole = jpeg(1);
    whole.slice(..whole.len() - 40)
}

/// Posts `body` to `/frames` with the given token and Content-Type.
async fn post_frame_as(
    app: &TestApp,
    suid: &str,
    token: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/sessions/{suid}/frames")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Posts a JSON text (sent as it is, so it may be broken) with Content-Type JSON.
async fn post_json_text(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    text: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(text);
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    req.send().await.unwrap()
}

/// A body that arrives in `chunks` pieces of `chunk` bytes without a Content-Length, from a
/// channel that stays open: the server must answer without waiting for the end of it.
fn open_streaming_body(
    data: Bytes,
    chunk: usize,
) -> (
    reqwest::Body,
    futures::channel::mpsc::UnboundedSender<Result<Bytes, std::io::Error>>,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    let mut at = 0;
    while at < data.len() {
        let end = (at + chunk).min(data.len());
        tx.unbounded_send(Ok(data.slice(at..end))).unwrap();
        at = end;
    }
    (reqwest::Body::wrap_stream(rx), tx)
}

/// Posts frame `seq` and asserts the viewer receives exactly it.
async fn assert_streaming(
    app: &TestApp,
    viewer: &mut Ws,
    suid: &str,
    device: &str,
    seq: u64,
    after: &str,
) {
    let resp = app.post_frame(suid, device, seq, jpeg(seq)).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a good frame after {after} is accepted"
    );
    assert_eq!(
        next_frame(viewer).await,
        jpeg(seq),
        "the viewer receives frame {seq} after {after}"
    );
}

#[tokio::test]
async fn a_live_session_keeps_streaming_through_bad_requests() {
    let app = spawn_app_with(|c| c.devices.max_frame_bytes = FRAME_LIMIT).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let (_other_suid, other_device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    let mut seq = 1;
    assert_streaming(&app, &mut viewer, &suid, &device, seq, "the start").await;

    // A good frame follows each bad request, and the viewer sees it.
    for case in 0..10 {
        let (what, resp, status, code) = match case {
            0 => (
                "a text frame",
                post_frame_as(&app, &suid, &device, "image/jpeg", "hello").await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            1 => (
                "a truncated frame",
                post_frame_as(&app, &suid, &device, "image/jpeg", truncated_jpeg()).await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            2 => (
                "an oversized frame",
                post_frame_as(&app, &suid, &device, "image/jpeg", oversized_jpeg()).await,
                StatusCode::PAYLOAD_TOO_LARGE,
                "frame_too_large",
            ),
            3 => (
                "a frame of the wrong Content-Type",
                post_frame_as(&app, &suid, &device, "text/plain", jpeg(99)).await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            4 => (
                "a frame with a user's token",
                post_frame_as(&app, &suid, &token, "image/jpeg", jpeg(99)).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            5 => (
                "a frame with another session's device token",
                post_frame_as(&app, &suid, &other_device, "image/jpeg", jpeg(99)).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            6 => (
                "a frame with a garbage token",
                post_frame_as(&app, &suid, "garbage", "image/jpeg", jpeg(99)).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            7 => (
                "an invalid control",
                app.http
                    .post(app.url(&format!("/sessions/{suid}/controls")))
                    .bearer_auth(&token)
                    .json(&json!({"action": "Drop Table"}))
                    .send()
                    .await
                    .unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            8 => (
                "a malformed control",
                post_json_text(
                    &app,
                    &format!("/sessions/{suid}/controls"),
                    Some(&token),
                    "{\"action\":",
                )
                .await,
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            _ => (
                "a bad wait",
                app.http
                    .get(app.url(&format!("/sessions/{suid}?wait=abc")))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::BAD_REQUEST,
                "invalid_query",
            ),
        };
        expect_error(resp, status, code).await;
        seq += 1;
        assert_streaming(&app, &mut viewer, &suid, &device, seq, what).await;
    }
    // A bad frame on the device socket is refused there; the socket and the session go on.
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    send_frame(&mut dev, truncated_jpeg()).await;
    let err = next_json(&mut dev).await;
    assert_eq!(err["error"], "unsupported_media_type", "{err}");
    send_frame(&mut dev, jpeg(1000)).await;
    assert_eq!(next_frame(&mut viewer).await, jpeg(1000));
    seq += 1;
    assert_streaming(&app, &mut viewer, &suid, &device, seq, "the device socket").await;

    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["state"], "live", "{view}");
    assert_eq!(view["viewers"], 1, "{view}");
    assert_eq!(
        view["frames"],
        seq + 1,
        "only the good frames count: {view}"
    );
}

#[tokio::test]
async fn a_missing_token_is_401() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    let me = app.http.get(app.url("/me")).send().await.unwrap();
    let body = expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(message(&body).contains("token"), "{body}");
    let session = app
        .http
        .get(app.url(&format!("/sessions/{suid}")))
        .send()
        .await
        .unwrap();
    expect_error(session, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let frame = app
        .http
        .post(app.url(&format!("/sessions/{suid}/frames")))
        .header("content-type", "image/jpeg")
        .body(jpeg(1))
        .send()
        .await
        .unwrap();
    expect_error(frame, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_garbage_token_is_401() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    for garbage in [
        "garbage",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        &format!("{token}x"),
    ] {
        let me = app
            .http
            .get(app.url("/me"))
            .bearer_auth(garbage)
            .send()
            .await
            .unwrap();
        expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let frame = post_frame_as(&app, &suid, garbage, "image/jpeg", jpeg(1)).await;
        expect_error(frame, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_device_token_on_a_user_route_is_401() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    for path in [
        "/me".to_owned(),
        "/sessions".to_owned(),
        format!("/sessions/{suid}"),
    ] {
        let resp = app
            .http
            .get(app.url(&path))
            .bearer_auth(&device)
            .send()
            .await
            .unwrap();
        let body = expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(
            message(&body).contains("user"),
            "GET {path} says a user's token is needed: {body}"
        );
    }
    let control = app
        .http
        .post(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&device)
        .json(&json!({"action": "torch"}))
        .send()
        .await
        .unwrap();
    expect_error(control, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_user_token_on_a_device_route_is_401() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    let frame = post_frame_as(&app, &suid, &token, "image/jpeg", jpeg(1)).await;
    let body = expect_error(frame, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        message(&body).contains("device"),
        "says a device token is needed: {body}"
    );
    let poll = app
        .http
        .get(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(poll, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.session(&token, &suid, None).await["frames"], 0);
}

#[tokio::test]
async fn a_device_token_of_another_session_is_403() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid_a, device_a) = app.live_session(&token).await;
    let (suid_b, _device_b) = app.live_session(&token).await;
    let frame = post_frame_as(&app, &suid_b, &device_a, "image/jpeg", jpeg(1)).await;
    expect_error(frame, StatusCode::FORBIDDEN, "forbidden").await;
    let stream = app
        .http
        .post(app.url(&format!("/sessions/{suid_b}/stream")))
        .bearer_auth(&device_a)
        .header("content-type", "multipart/x-mixed-replace; boundary=b")
        .body("--b--\r\n")
        .send()
        .await
        .unwrap();
    expect_error(stream, StatusCode::FORBIDDEN, "forbidden").await;
    let poll = app
        .http
        .get(app.url(&format!("/sessions/{suid_b}/controls")))
        .bearer_auth(&device_a)
        .send()
        .await
        .unwrap();
    expect_error(poll, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.session(&token, &suid_b, None).await["frames"], 0);
    // Its own session still takes it.
    assert_eq!(
        app.post_frame(&suid_a, &device_a, 1, jpeg(1))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_text_frame_is_415() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let resp = post_frame_as(&app, &suid, &device, "image/jpeg", "this is not a jpeg").await;
    let body = expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(message(&body).contains("JPEG"), "{body}");
}

#[tokio::test]
async fn a_png_frame_is_415() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let png: &'static [u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x40\0\0\0\x30\x08\x02\0\0\0";
    let resp = post_frame_as(&app, &suid, &device, "image/jpeg", png).await;
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_truncated_jpeg_is_415() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let whole = jpeg(1);
    // Cut in the image data, and cut inside the headers.
    for cut in [truncated_jpeg(), whole.slice(..100)] {
        let resp = post_frame_as(&app, &suid, &device, "image/jpeg", cut).await;
        expect_error(
            resp,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert_eq!(app.session(&token, &suid, None).await["frames"], 0);
}

#[tokio::test]
async fn a_frame_of_the_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    for ct in ["application/octet-stream", "image/png", "text/plain"] {
        let resp = post_frame_as(&app, &suid, &device, ct, jpeg(1)).await;
        let body = expect_error(
            resp,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert!(message(&body).contains("image/jpeg"), "{ct}: {body}");
    }
    // No Content-Type at all.
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/frames")))
        .bearer_auth(&device)
        .body(jpeg(1))
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_frame_over_the_limit_is_413_with_a_content_length() {
    let app = spawn_app_with(|c| c.devices.max_frame_bytes = FRAME_LIMIT).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let resp = post_frame_as(&app, &suid, &device, "image/jpeg", oversized_jpeg()).await;
    let body = expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "frame_too_large").await;
    assert!(
        message(&body).contains(&FRAME_LIMIT.as_u64().to_string()),
        "the message gives the limit: {body}"
    );
    assert_eq!(app.session(&token, &suid, None).await["frames"], 0);
}

#[tokio::test]
async fn a_frame_over_the_limit_is_413_as_a_streaming_body() {
    let app = spawn_app_with(|c| c.devices.max_frame_bytes = FRAME_LIMIT).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    // The sender keeps the body open: the answer must come once the limit is passed.
    let (body, tx) = open_streaming_body(oversized_jpeg(), 1024);
    let resp = tokio::time::timeout(
        PATIENCE,
        post_frame_as(&app, &suid, &device, "image/jpeg", body),
    )
    .await
    .expect("the server answers once the body passes the limit, without waiting for its end");
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "frame_too_large").await;
    drop(tx);
    assert_eq!(app.session(&token, &suid, None).await["frames"], 0);
    // The device can go on with frames of a proper size.
    assert_eq!(
        app.post_frame(&suid, &device, 1, jpeg(1)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_mjpeg_part_over_the_limit_is_413() {
    let app = spawn_app_with(|c| c.devices.max_frame_bytes = FRAME_LIMIT).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let big = oversized_jpeg();
    let part = |frame: &Bytes, with_length: bool| {
        let mut head = String::from("--frame\r\nContent-Type: image/jpeg\r\n");
        if with_length {
            head.push_str(&format!("Content-Length: {}\r\n", frame.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(frame);
        out.extend_from_slice(b"\r\n");
        out
    };
    for with_length in [true, false] {
        let mut body = part(&jpeg(1), with_length);
        body.extend(part(&big, with_length));
        body.extend_from_slice(b"--frame--\r\n");
        let resp = app
            .http
            .post(app.url(&format!("/sessions/{suid}/stream")))
            .bearer_auth(&device)
            .header("content-type", "multipart/x-mixed-replace; boundary=frame")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "frame_too_large").await;
    }
    assert_eq!(
        app.session(&token, &suid, None).await["frames"],
        2,
        "the good part before each oversized one was taken"
    );
}

#[tokio::test]
async fn an_mjpeg_stream_without_a_boundary_is_415() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut body = b"--ffmpeg\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    body.extend_from_slice(&jpeg(1));
    body.extend_from_slice(b"\r\n--ffmpeg--\r\n");
    let body = Bytes::from(body);
    for ct in ["multipart/x-mixed-replace", "image/jpeg"] {
        let resp = app
            .http
            .post(app.url(&format!("/sessions/{suid}/stream")))
            .bearer_auth(&device)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let err = expect_error(
            resp,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert!(message(&err).contains("boundary"), "{ct}: {err}");
    }
    assert_eq!(app.session(&token, &suid, None).await["frames"], 0);
}

#[tokio::test]
async fn frames_to_an_ended_session_are_410() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    assert_eq!(
        app.post_frame(&suid, &device, 1, jpeg(1)).await.status(),
        StatusCode::OK
    );
    let ended = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    let late = app.post_frame(&suid, &device, 2, jpeg(2)).await;
    expect_error(late, StatusCode::GONE, "session_ended").await;
    let stream = app
        .http
        .post(app.url(&format!("/sessions/{suid}/stream")))
        .bearer_auth(&device)
        .header("content-type", "multipart/x-mixed-replace; boundary=b")
        .body("--b--\r\n")
        .send()
        .await
        .unwrap();
    expect_error(stream, StatusCode::GONE, "session_ended").await;
    assert!(
        app.ws(&format!("/sessions/{suid}/device"), &device)
            .await
            .is_err(),
        "the device socket refuses an ended session"
    );
    assert_eq!(app.session(&token, &suid, None).await["frames"], 1);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    for text in [
        "{\"ticket\": \"ABCD-",
        "not json",
        "{\"ticket\": \"ABCD-EFGH\",}",
    ] {
        let resp = post_json_text(&app, "/devices/register", None, text).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
    let resp = post_json_text(&app, "/sessions", Some(&token), "{kind: video}").await;
    expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn json_missing_a_field_is_422_naming_it() {
    let app = spawn_app().await;
    let resp = post_json_text(&app, "/devices/register", None, r#"{"device": {}}"#).await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(
        message(&body).contains("ticket"),
        "the message names the missing field: {body}"
    );
}

#[tokio::test]
async fn json_with_a_field_of_the_wrong_type_is_422_naming_it() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let resp = post_json_text(&app, "/devices/register", None, r#"{"ticket": 1234}"#).await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(
        message(&body).contains("ticket"),
        "the message names the field of the wrong type: {body}"
    );
    let resp = post_json_text(&app, "/sessions", Some(&token), r#"{"label": ["a"]}"#).await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(
        message(&body).contains("label"),
        "the message names the field of the wrong type: {body}"
    );
}

#[tokio::test]
async fn json_with_an_unknown_field_is_422() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let resp = post_json_text(
        &app,
        "/devices/register",
        None,
        json!({"ticket": s["ticket"], "devise": {}}).to_string(),
    )
    .await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(
        message(&body).contains("devise"),
        "the message names the unknown field: {body}"
    );
    // The refused request did not use the ticket.
    let suid = s["suid"].as_str().unwrap();
    assert_eq!(app.session(&token, suid, None).await["state"], "waiting");
}

#[tokio::test]
async fn a_json_body_over_the_limit_is_413() {
    let app = spawn_app_with(|c| c.network.max_json_bytes = ByteSize::kib(4)).await;
    let token = app.signup("clinician").await;
    let big = json!({"kind": "video", "label": "x".repeat(5 * 1024)}).to_string();
    let resp = post_json_text(&app, "/sessions", Some(&token), big.clone()).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    // Without a Content-Length, too.
    let (body, tx) = open_streaming_body(Bytes::from(big), 512);
    let resp = tokio::time::timeout(
        PATIENCE,
        post_json_text(&app, "/sessions", Some(&token), body),
    )
    .await
    .expect("the server answers once the body passes the limit");
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    drop(tx);
    let list: Value = app
        .http
        .get(app.url("/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"], json!([]), "no session was created");
}

#[tokio::test]
async fn other_protocol_versions_are_426_naming_v1() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    for (method, path) in [
        ("GET", "/api/v2/sessions"),
        ("POST", "/api/v2/sessions"),
        ("GET", "/api/v0/anything"),
        ("GET", "/api/v0/anything/deeper/still"),
    ] {
        let resp = app
            .http
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", app.addr),
            )
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body = expect_error_with_extra(
            resp,
            StatusCode::UPGRADE_REQUIRED,
            "unsupported_protocol_version",
        )
        .await;
        assert_eq!(body["supported"], json!(["v1"]), "{method} {path}: {body}");
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    }
}

#[tokio::test]
async fn an_unknown_v1_route_is_404_json() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    for path in ["/nope", "/sessions/x/nope/deeper"] {
        let resp = app
            .http
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
}

/// The `Retry-After` seconds of a 429, checked to be sensible.
fn retry_after(resp: &reqwest::Response) -> u64 {
    let secs: u64 = resp
        .headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    secs
}

#[tokio::test]
async fn ticket_redemption_is_rate_limited() {
    let app = spawn_app_with(|c| c.devices.ticket_redemptions_per_minute = 3).await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    for guess in ["2345-6789", "3456-789A", "4567-89AB"] {
        let resp = app.register_device_raw(guess, json!({})).await;
        expect_error(resp, StatusCode::NOT_FOUND, "unknown_ticket").await;
    }
    // Even the right ticket is refused now, and is not used up by the refusal.
    let resp = app
        .register_device_raw(s["ticket"].as_str().unwrap(), json!({}))
        .await;
    retry_after(&resp);
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let suid = s["suid"].as_str().unwrap();
    assert_eq!(app.session(&token, suid, None).await["state"], "waiting");
}

#[tokio::test]
async fn sign_in_is_rate_limited() {
    let app = spawn_app_with(|c| c.auth.auth_attempts_per_minute = 3).await;
    // Sign-up is the first attempt.
    app.signup("clinician").await;
    let login = |password: &'static str| {
        app.http
            .post(app.url("/auth/login"))
            .json(&json!({"username": "clinician", "password": password}))
            .send()
    };
    for _ in 0..2 {
        let resp = login("wrong password!").await.unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let resp = login("quiet lantern orbit mosaic").await.unwrap();
    retry_after(&resp);
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let resp = app
        .http
        .post(app.url("/auth/register"))
        .json(&json!({"username": "another", "password": "quiet lantern orbit mosaic", "account_name": "x"}))
        .send()
        .await
        .unwrap();
    retry_after(&resp);
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn a_wait_that_is_not_a_number_is_400() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{suid}?wait=abc")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert!(
        message(&body).contains("wait"),
        "the message names the parameter: {body}"
    );
}

/// Found by the API fuzzer: serde reads a struct from a JSON array of its fields in order, so
/// `PATCH /cameras/{id}` with `[null, null]` answered 200. Every body of the API is an object.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let app = spawn_app().await;
    let token = app.signup("arrays").await;
    for (path, body) in [
        ("/sessions", r#"["video", "a label"]"#),
        ("/sessions", r#""video""#),
        ("/sessions", "42"),
        ("/auth/login", r#"["arrays", "quiet lantern orbit mosaic"]"#),
    ] {
        let resp = post_json_text(&app, path, Some(&token), body).await;
        let err = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert_eq!(
            message(&err),
            "the body must be a JSON object",
            "{path} {body}"
        );
    }
    let (camera, _) = app.create_camera(&token, "porch").await;
    let resp = app
        .http
        .patch(app.url(&format!("/cameras/{camera}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("[null, null]")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    // Malformed JSON is still named as such, whatever it starts with.
    let resp = post_json_text(&app, "/sessions", Some(&token), "[1,").await;
    expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    // An object still works.
    let resp = post_json_text(&app, "/sessions", Some(&token), r#"{"label": "ok"}"#).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}
