//! Frames from device to viewers: the three device paths and the three viewer paths.

use crate::helpers::*;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn posted_frames_reach_mjpeg_websocket_and_still_viewers() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut watchers = vec![];
    for _ in 0..5 {
        let mut ws = app
            .ws(&format!("/sessions/{suid}/watch"), &token)
            .await
            .unwrap();
        let hello = next_event(&mut ws, "hello").await;
        assert_eq!(hello["state"], "live");
        watchers.push(ws);
    }
    let mjpeg = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(mjpeg.status(), StatusCode::OK);
    assert!(
        mjpeg.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/x-mixed-replace")
    );
    let reader = tokio::spawn(read_mjpeg(mjpeg, 1));

    let frame = jpeg(7);
    let resp = app.post_frame(&suid, &device, 7, frame.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let accepted: Value = resp.json().await.unwrap();
    assert_eq!(accepted["seq"], 7);
    assert_eq!(accepted["width"], 64);

    for ws in &mut watchers {
        assert_eq!(next_frame(ws).await, frame);
    }
    assert_eq!(reader.await.unwrap()[0], frame);
    let still = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(still.headers()["content-type"], "image/jpeg");
    assert_eq!(still.bytes().await.unwrap(), frame);
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], 5);
    assert_eq!(view["frames"], 1);
}

#[tokio::test]
async fn the_device_websocket_streams_frames() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    for n in 1..=3 {
        send_frame(&mut dev, jpeg(n)).await;
        assert_eq!(next_frame(&mut viewer).await, jpeg(n));
    }
    // A bad frame is refused without closing the socket.
    send_frame(&mut dev, Bytes::from_static(b"not a jpeg")).await;
    let err = next_json(&mut dev).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"], "unsupported_media_type");
    send_frame(&mut dev, jpeg(4)).await;
    assert_eq!(next_frame(&mut viewer).await, jpeg(4));
}

#[tokio::test]
async fn a_long_mjpeg_post_streams_frames() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;

    // Exactly ffmpeg's mpjpeg framing, sent as a streaming body.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    let body = reqwest::Body::wrap_stream(rx);
    let post = tokio::spawn(
        app.http
            .post(app.url(&format!("/sessions/{suid}/stream")))
            .bearer_auth(&device)
            .header("content-type", "multipart/x-mixed-replace;boundary=ffmpeg")
            .body(body)
            .send(),
    );
    for n in 1..=5u64 {
        let frame = jpeg(n);
        let head = format!(
            "--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: {}\r\n\r\n",
            frame.len()
        );
        tx.unbounded_send(Ok(Bytes::from(head))).unwrap();
        tx.unbounded_send(Ok(frame.clone())).unwrap();
        tx.unbounded_send(Ok(Bytes::from_static(b"\r\n"))).unwrap();
        assert_eq!(
            next_frame(&mut viewer).await,
            frame,
            "frame {n} relayed while the POST is still open"
        );
    }
    drop(tx);
    let summary: Value = post.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(summary["frames"], 5);
}

#[tokio::test]
async fn a_viewer_that_stops_reading_does_not_hold_up_the_others() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    // This viewer never reads its response body.
    let stalled = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    // Large frames fill the stalled connection's socket buffers quickly.
    let big = Bytes::from(switchboard_media::synth::pad_to(
        jpeg(0).to_vec(),
        512 * 1024,
    ));
    for seq in 1..=40u64 {
        assert_eq!(
            app.post_frame(&suid, &device, seq, big.clone())
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(next_frame(&mut viewer).await.len(), big.len());
    }
    drop(stalled);
}

#[tokio::test]
async fn many_mjpeg_viewers_all_receive_frames() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut readers = vec![];
    for _ in 0..20 {
        let resp = app
            .http
            .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            // Read until frame 3 arrives; a reader may skip frames but must see the newest.
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let boundary = switchboard_media::mjpeg::boundary_from_content_type(&ct).unwrap();
            let mut parser = switchboard_media::mjpeg::MultipartParser::new(boundary, 1 << 20);
            let mut body = resp.bytes_stream();
            loop {
                parser.push(body.next().await.unwrap().unwrap());
                while let Some(part) = parser.next_part().unwrap() {
                    if part.body == jpeg(3) {
                        return;
                    }
                }
            }
        }));
    }
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], 20);
    for seq in 1..=3 {
        app.post_frame(&suid, &device, seq, jpeg(seq)).await;
    }
    for r in readers {
        tokio::time::timeout(PATIENCE, r).await.unwrap().unwrap();
    }
}
