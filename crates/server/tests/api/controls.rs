//! Controls from viewers to the device: over the device WebSocket, by long poll, and as
//! events every viewer sees.

use crate::expect::{expect_error, message};
use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Sends a control as a viewer; returns the stored control.
async fn send_control(app: &TestApp, token: &str, suid: &str, action: &str, args: Value) -> Value {
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(token)
        .json(&json!({"action": action, "args": args}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "control {action} accepted"
    );
    let control: Value = resp.json().await.unwrap();
    assert_eq!(control["action"], action);
    assert!(control["id"].is_i64(), "{control}");
    control
}

/// The next control a device socket receives.
async fn next_control(dev: &mut Ws) -> Value {
    let c = next_json(dev).await;
    assert_eq!(c["type"], "control", "a control event: {c}");
    c
}

/// The next JSON text message, or `None` if none arrives within `limit`.
async fn next_json_within(ws: &mut Ws, limit: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        match msg {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(c))) => panic!("socket closed: {c:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// Long polls for controls after `after` as the device, waiting up to `wait` seconds;
/// returns the raw answer.
async fn poll(app: &TestApp, device: &str, suid: &str, after: i64, wait: u64) -> reqwest::Response {
    app.http
        .get(app.url(&format!(
            "/sessions/{suid}/controls?after={after}&wait={wait}"
        )))
        .bearer_auth(device)
        .timeout(Duration::from_secs(wait) + PATIENCE)
        .send()
        .await
        .unwrap()
}

/// The controls of a successful poll answer.
async fn polled(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["controls"].as_array().unwrap().clone()
}

#[tokio::test]
async fn fifty_controls_reach_the_device_socket_in_order() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    // A first control through proves the socket is past its catch-up from the store.
    let first = send_control(&app, &token, &suid, "hello", json!({})).await;
    assert_eq!(next_control(&mut dev).await["id"], first["id"]);

    let mut sent = vec![];
    for n in 0..50 {
        sent.push(send_control(&app, &token, &suid, "zoom", json!({"level": n})).await);
    }
    let mut last_id = 0;
    for (n, control) in sent.iter().enumerate() {
        let got = next_control(&mut dev).await;
        assert_eq!(got["id"], control["id"], "control {n} arrives in order");
        assert_eq!(got["action"], "zoom");
        assert_eq!(got["args"], json!({"level": n}));
        assert!(got["sent_at"].is_string(), "{got}");
        let id = got["id"].as_i64().unwrap();
        assert!(id > last_id, "ids increase: {id} after {last_id}");
        last_id = id;
    }
}

// Several worker threads, as in production, so concurrent requests really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controls_sent_at_once_by_several_viewers_all_reach_the_device() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    let first = send_control(&app, &token, &suid, "hello", json!({})).await;
    assert_eq!(next_control(&mut dev).await["id"], first["id"]);

    // Several rounds, since how the sends interleave differs from one to the next.
    for round in 0..5 {
        let sends = (0..50).map(|n| send_control(&app, &token, &suid, "torch", json!({"n": n})));
        let mut ids: Vec<i64> = futures::future::join_all(sends)
            .await
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        let mut received = vec![];
        while received.len() < ids.len() {
            match next_json_within(&mut dev, PATIENCE).await {
                Some(c) => received.push(c["id"].as_i64().unwrap()),
                None => {
                    let missing: Vec<&i64> = ids.iter().filter(|i| !received.contains(i)).collect();
                    let stored: Vec<i64> = polled(poll(&app, &device, &suid, 0, 0).await)
                        .await
                        .iter()
                        .map(|c| c["id"].as_i64().unwrap())
                        .collect();
                    let stored_missing = missing.iter().all(|i| stored.contains(i));
                    panic!(
                        "round {round}: controls {missing:?} never reached the connected device \
                         (it received {received:?}); stored and served by the long poll: \
                         {stored_missing}"
                    );
                }
            }
        }
        assert_eq!(
            received, ids,
            "round {round}: every control arrives once, in id order, however the sends interleave"
        );
    }
}

#[tokio::test]
async fn controls_sent_before_the_device_connects_arrive_when_it_does() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let sent = [
        send_control(&app, &token, &suid, "torch", json!({"on": true})).await,
        send_control(&app, &token, &suid, "switch_camera", json!(null)).await,
        send_control(&app, &token, &suid, "zoom", json!({"level": 2})).await,
    ];
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    for control in &sent {
        let got = next_control(&mut dev).await;
        assert_eq!(got["id"], control["id"]);
        assert_eq!(got["action"], control["action"]);
        assert_eq!(got["args"], control["args"]);
    }
    // Then live ones, with nothing in between.
    let live = send_control(&app, &token, &suid, "torch", json!({"on": false})).await;
    assert_eq!(next_control(&mut dev).await["id"], live["id"]);
}

#[tokio::test]
async fn a_reconnecting_device_gets_only_newer_controls() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    let mut last = 0;
    for n in 0..3 {
        let c = send_control(&app, &token, &suid, "zoom", json!({"level": n})).await;
        let got = next_control(&mut dev).await;
        assert_eq!(got["id"], c["id"]);
        last = got["id"].as_i64().unwrap();
    }
    drop(dev);
    // Sent while the device is away.
    let missed = [
        send_control(&app, &token, &suid, "torch", json!({"on": true})).await,
        send_control(&app, &token, &suid, "torch", json!({"on": false})).await,
    ];
    let mut dev = app
        .ws(&format!("/sessions/{suid}/device?after={last}"), &device)
        .await
        .unwrap();
    for c in &missed {
        let got = next_control(&mut dev).await;
        assert_eq!(
            got["id"], c["id"],
            "the missed controls, and only those: {got}"
        );
        assert_eq!(got["args"], c["args"]);
    }
    let marker = send_control(&app, &token, &suid, "marker", json!({})).await;
    assert_eq!(
        next_control(&mut dev).await["id"],
        marker["id"],
        "nothing older is delivered again"
    );
}

#[tokio::test]
async fn the_long_poll_answers_at_once_when_controls_are_waiting() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let first = send_control(&app, &token, &suid, "torch", json!({"on": true})).await;
    let second = send_control(&app, &token, &suid, "zoom", json!({"level": 3})).await;

    let started = Instant::now();
    let controls = polled(poll(&app, &device, &suid, 0, 5).await).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waiting controls are answered at once, not after the wait ({:?})",
        started.elapsed()
    );
    assert_eq!(controls.len(), 2, "{controls:?}");
    assert_eq!(controls[0]["id"], first["id"]);
    assert_eq!(controls[1]["id"], second["id"]);
    assert_eq!(controls[1]["args"], json!({"level": 3}));

    let after_first = first["id"].as_i64().unwrap();
    let controls = polled(poll(&app, &device, &suid, after_first, 5).await).await;
    assert_eq!(controls.len(), 1, "only controls after {after_first}");
    assert_eq!(controls[0]["id"], second["id"]);
}

#[tokio::test]
async fn the_long_poll_waits_for_the_next_control() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let old = send_control(&app, &token, &suid, "torch", json!({"on": true})).await;
    let after = old["id"].as_i64().unwrap();

    let waiting = tokio::spawn({
        let (http, url, device) = (
            app.http.clone(),
            app.url(&format!("/sessions/{suid}/controls?after={after}&wait=5")),
            device.clone(),
        );
        async move {
            http.get(url)
                .bearer_auth(device)
                .timeout(Duration::from_secs(5) + PATIENCE)
                .send()
                .await
                .unwrap()
        }
    });
    let new = send_control(&app, &token, &suid, "zoom", json!({"level": 4})).await;
    let resp = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the poll answers")
        .unwrap();
    let controls = polled(resp).await;
    assert_eq!(controls.len(), 1, "{controls:?}");
    assert_eq!(controls[0]["id"], new["id"]);
    assert_eq!(controls[0]["args"], json!({"level": 4}));

    // With nothing new, the poll answers empty when its wait is over.
    let latest = new["id"].as_i64().unwrap();
    let controls = polled(poll(&app, &device, &suid, latest, 1).await).await;
    assert!(controls.is_empty(), "{controls:?}");
}

#[tokio::test]
async fn a_watching_viewer_sees_each_control() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    let me: Value = app
        .http
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = send_control(&app, &token, &suid, "torch", json!({"on": true})).await;
    let ev = next_event(&mut viewer, "control").await;
    assert_eq!(ev["control"]["id"], sent["id"], "{ev}");
    assert_eq!(ev["control"]["action"], "torch");
    assert_eq!(ev["control"]["args"], json!({"on": true}));
    assert_eq!(ev["control"]["sent_by"], me["id"]);
    assert_eq!(ev["control"]["suid"], suid.as_str());
}

#[tokio::test]
async fn an_invalid_action_is_422() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let too_long = "a".repeat(65);
    for action in ["", "Drop Table", "torch!", "TORCH", too_long.as_str()] {
        let resp = app
            .http
            .post(app.url(&format!("/sessions/{suid}/controls")))
            .bearer_auth(&token)
            .json(&json!({"action": action}))
            .send()
            .await
            .unwrap();
        let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message(&body).contains("action"), "{action:?}: {body}");
    }
    let huge_args = json!({"blob": "x".repeat(20 * 1024)});
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .json(&json!({"action": "torch", "args": huge_args}))
        .send()
        .await
        .unwrap();
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(message(&body).contains("args"), "{body}");
    // Nothing refused was stored for the device.
    let controls = polled(poll(&app, &device, &suid, 0, 0).await).await;
    assert!(controls.is_empty(), "{controls:?}");
}

#[tokio::test]
async fn controls_to_an_ended_session_are_410() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let ended = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .json(&json!({"action": "torch"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::GONE, "session_ended").await;
    let resp = poll(&app, &device, &suid, 0, 0).await;
    expect_error(resp, StatusCode::GONE, "session_ended").await;
}

#[tokio::test]
async fn a_long_polling_device_learns_the_session_ended() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let waiting = tokio::spawn({
        let (http, url, device) = (
            app.http.clone(),
            app.url(&format!("/sessions/{suid}/controls?after=0&wait=30")),
            device.clone(),
        );
        async move {
            http.get(url)
                .bearer_auth(device)
                .timeout(Duration::from_secs(30) + PATIENCE)
                .send()
                .await
                .unwrap()
        }
    });
    let ended = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    // Well before the poll's own 30 s are over.
    let resp = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the waiting poll answers when the session ends")
        .unwrap();
    expect_error(resp, StatusCode::GONE, "session_ended").await;
}
