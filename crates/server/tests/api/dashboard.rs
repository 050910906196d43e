//! What the dashboard relies on: account events, the device QR code, viewer names.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_account_events_socket_reports_each_change_of_the_accounts_sessions() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let other = app.signup("elsewhere").await;
    let mut events = app.ws("/events", &token).await.unwrap();
    let mut foreign = app.ws("/events", &other).await.unwrap();
    let s = app.create_session(&token).await;
    let suid = s["suid"].as_str().unwrap();
    let created = next_event(&mut events, "session").await;
    assert_eq!(created["suid"], suid);
    assert_eq!(created["state"], "waiting");
    let resp = app
        .register_device_raw(s["ticket"].as_str().unwrap(), json!({"model": "Pixel"}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    loop {
        let ev = next_event(&mut events, "session").await;
        if ev["state"] == "live" {
            assert_eq!(ev["suid"], suid);
            break;
        }
    }
    let _viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    loop {
        let ev = next_event(&mut events, "session").await;
        if ev["viewers"] == 1 {
            break;
        }
    }
    // Another account hears nothing of it: its next event is its own session.
    app.create_session(&other).await;
    let own = next_event(&mut foreign, "session").await;
    assert_ne!(own["suid"], suid);
}

#[tokio::test]
async fn the_qr_code_carries_the_device_url_while_the_ticket_is_open() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let suid = s["suid"].as_str().unwrap();
    let qr = app
        .http
        .get(app.url(&format!("/sessions/{suid}/qr.svg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.unwrap().contains("<svg"));
    app.register_device_raw(s["ticket"].as_str().unwrap(), json!({}))
        .await;
    let used = app
        .http
        .get(app.url(&format!("/sessions/{suid}/qr.svg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::GONE);
}

#[tokio::test]
async fn viewers_see_who_else_is_watching() {
    let app = spawn_app().await;
    let token = app.signup("dr.house").await;
    let (suid, _device) = app.live_session(&token).await;
    let mut first = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut first, "hello").await;
    let _second = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    loop {
        let ev = next_event(&mut first, "viewers").await;
        if ev["count"] == 2 {
            assert_eq!(
                ev["names"],
                json!(["dr.house"]),
                "one person in two tabs is one name"
            );
            break;
        }
    }
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewer_names"], json!(["dr.house"]));
}
