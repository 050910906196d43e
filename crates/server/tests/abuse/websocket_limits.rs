//! What a socket client may send is bounded to what its protocol needs: an oversized message
//! is refused as it arrives (1009) rather than buffered, and a device cannot make the server
//! relay more than its configured rate of status messages and frames.

use crate::helpers::{
    PATIENCE, TestApp, Ws, jpeg, next_event, next_frame, send_frame, spawn_app, spawn_app_with,
};
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

const MIB: usize = 1024 * 1024;

/// Sends one text message of 60 MiB in 64 KiB fragments (never finished, so only a limit on
/// the fragments so far can stop it) while reading what the server says; returns the close
/// code it sent, `None` if it reset the connection without one.
async fn send_60_mib_fragmented(ws: Ws) -> Option<u16> {
    let (mut tx, mut rx) = ws.split();
    let reader = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(PATIENCE, rx.next()).await {
                Err(_) => panic!("the server neither closed nor refused the message"),
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(None | Some(Err(_))) => return None,
            }
        }
    });
    let chunk = vec![b'a'; 64 * 1024];
    for i in 0..(60 * MIB / chunk.len()) {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.clone(), opcode, false);
        if tx.send(Message::Frame(frame)).await.is_err() || reader.is_finished() {
            break;
        }
    }
    reader.await.unwrap()
}

async fn healthy(app: &TestApp, token: &str) {
    let resp = app
        .http
        .get(app.url("/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the server keeps working");
}

#[tokio::test]
async fn a_60_mib_message_to_the_watch_socket_is_refused() {
    let app = spawn_app().await;
    let token = app.signup("grey").await;
    let (suid, device) = app.live_session(&token).await;
    let mut ws = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut ws, "hello").await;
    let started = Instant::now();
    let code = send_60_mib_fragmented(ws).await;
    assert_eq!(code, Some(1009), "closed as too big");
    assert!(started.elapsed() < PATIENCE);

    // Another viewer still watches.
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    assert_eq!(
        app.post_frame(&suid, &device, 1, jpeg(1)).await.status(),
        200
    );
    next_frame(&mut viewer).await;
    healthy(&app, &token).await;
}

#[tokio::test]
async fn a_60_mib_message_to_the_events_socket_is_refused() {
    let app = spawn_app().await;
    let token = app.signup("bailey").await;
    let ws = app.ws("/events", &token).await.unwrap();
    let code = send_60_mib_fragmented(ws).await;
    assert_eq!(code, Some(1009), "closed as too big");
    healthy(&app, &token).await;
}

#[tokio::test]
async fn a_big_text_message_from_a_device_is_refused() {
    let app = spawn_app().await;
    let token = app.signup("karev").await;
    let (suid, device) = app.live_session(&token).await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    let big = format!("{{\"battery\":\"{}\"}}", "9".repeat(64 * 1024));
    dev.send(Message::Text(big.into())).await.unwrap();
    let closed = loop {
        match tokio::time::timeout(PATIENCE, dev.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => break None,
        }
    };
    assert_eq!(closed, Some(1009));
    healthy(&app, &token).await;
}

#[tokio::test]
async fn a_device_cannot_make_the_server_relay_5000_status_messages() {
    const RATE: u32 = 50;
    let app = spawn_app_with(|c| c.devices.device_messages_per_second = RATE).await;
    let token = app.signup("yang").await;
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

    let started = Instant::now();
    let mut sent = 0;
    for n in 0..5000 {
        let status = format!("{{\"battery\":{n}}}");
        if dev.send(Message::Text(status.into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let closed = loop {
        match tokio::time::timeout(PATIENCE, dev.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => {
                break frame.map(|f| (u16::from(f.code), f.reason.to_string()));
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => break None,
        }
    };
    let elapsed = started.elapsed();
    assert_eq!(
        closed,
        Some((1008, "too many messages".to_owned())),
        "after {sent} messages"
    );

    // Count what reached the viewer: a second's burst plus the rate over the time it took.
    let mut relayed = 0u32;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_millis(500), viewer.next()).await
    {
        if let Message::Text(text) = msg
            && serde_json::from_str::<serde_json::Value>(&text).unwrap()["type"] == "device"
        {
            relayed += 1;
        }
    }
    let bound = RATE + (f64::from(RATE) * elapsed.as_secs_f64()).ceil() as u32;
    assert!(relayed >= 1, "status messages within the rate are relayed");
    assert!(
        relayed <= bound,
        "{relayed} relayed, at most {bound} allowed"
    );

    // The session and the server keep working for a device that reconnects.
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    send_frame(&mut dev, jpeg(7)).await;
    assert_eq!(next_frame(&mut viewer).await, jpeg(7));
    healthy(&app, &token).await;
}

#[tokio::test]
async fn frames_over_the_devices_rate_are_dropped() {
    const FPS: u32 = 10;
    let app = spawn_app_with(|c| c.devices.max_device_fps = FPS).await;
    let token = app.signup("hunt").await;
    let (suid, device) = app.live_session(&token).await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    let started = Instant::now();
    for n in 1..=300 {
        send_frame(&mut dev, jpeg(n)).await;
    }
    // A single-frame POST past the rate is told so.
    let resp = app.post_frame(&suid, &device, 1000, jpeg(1000)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Frames counted by the session: at most a second's burst plus the rate since.
    let view = app.session(&token, &suid, None).await;
    let elapsed = started.elapsed();
    let frames = view["frames"].as_u64().unwrap();
    let bound = u64::from(FPS) + (f64::from(FPS) * elapsed.as_secs_f64()).ceil() as u64;
    assert!(
        frames >= 1 && frames <= bound,
        "{frames} relayed, at most {bound} allowed"
    );
}
