//! Every way a session ends, each with millisecond timers, and exactly one CDR per end.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The CDR lines of one session.
fn cdrs_of(app: &TestApp, suid: &str) -> Vec<Value> {
    app.cdr_lines()
        .into_iter()
        .filter(|c| c["suid"] == suid)
        .collect()
}

#[tokio::test]
async fn an_unused_ticket_expires_as_an_incomplete_attempt() {
    let app = spawn_app_with(|c| c.sessions.ticket_ttl = ms(300)).await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let suid = s["suid"].as_str().unwrap();
    let v = app.until_ended(&token, suid).await;
    assert_eq!(v["end_reason"], "ticket_expired");
    let cdrs = cdrs_of(&app, suid);
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0]["incomplete"], true);
    assert_eq!(cdrs[0]["end_reason"], "ticket_expired");
    let late = app
        .register_device_raw(s["ticket"].as_str().unwrap(), serde_json::json!({}))
        .await;
    assert_eq!(late.status(), StatusCode::GONE);
    assert_eq!(
        late.json::<Value>().await.unwrap()["error"],
        "ticket_expired"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime() {
    let app = spawn_app_with(|c| c.sessions.max_lifetime = ms(600)).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut watcher = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    let v = app.until_ended(&token, &suid).await;
    assert_eq!(v["end_reason"], "max_lifetime");
    let ended = next_event(&mut watcher, "state").await;
    assert_eq!(ended["state"], "ended");
    assert_eq!(cdrs_of(&app, &suid).len(), 1);
}

#[tokio::test]
async fn a_session_ends_when_the_device_goes_quiet() {
    let app = spawn_app_with(|c| c.sessions.device_idle_timeout = ms(400)).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let _watcher = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    for seq in 1..=3 {
        assert_eq!(
            app.post_frame(&suid, &device, seq, jpeg(seq))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let v = app.until_ended(&token, &suid).await;
    assert_eq!(v["end_reason"], "device_idle");
    let cdrs = cdrs_of(&app, &suid);
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0]["frames"], 3);
    assert_eq!(cdrs[0]["peak_viewers"], 1);
    // The device learns it is over.
    let late = app.post_frame(&suid, &device, 4, jpeg(4)).await;
    assert_eq!(late.status(), StatusCode::GONE);
}

#[tokio::test]
async fn no_viewers_ends_a_session_unless_a_viewer_returns_in_time() {
    let app = spawn_app_with(|c| c.sessions.no_viewers_timeout = ms(700)).await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    let first = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    drop(first);
    // A viewer comes back before the timeout: the countdown stops.
    let mut second = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut second, "hello").await;
    // Waiting longer than the timeout (the long poll gives up after 1 s) leaves it live.
    let v = app.session(&token, &suid, Some(("live", 1))).await;
    assert_eq!(
        v["state"], "live",
        "a returning viewer cancels the no-viewers timeout"
    );
    assert_eq!(v["viewers"], 1);
    drop(second);
    let v = app.until_ended(&token, &suid).await;
    assert_eq!(v["end_reason"], "no_viewers");
    let cdrs = cdrs_of(&app, &suid);
    assert_eq!(cdrs.len(), 1);
    assert!(cdrs[0]["viewer_seconds"].as_f64().unwrap() > 0.5);
}

#[tokio::test]
async fn ending_by_user_writes_one_cdr_however_often_it_is_asked() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    let mut ends = vec![];
    for _ in 0..5 {
        ends.push(
            app.http
                .delete(app.url(&format!("/sessions/{suid}")))
                .bearer_auth(&token)
                .send(),
        );
    }
    for resp in futures::future::join_all(ends).await {
        let v: Value = resp.unwrap().json().await.unwrap();
        assert_eq!(v["state"], "ended");
        assert_eq!(v["end_reason"], "ended_by_user");
    }
    let cdrs = cdrs_of(&app, &suid);
    assert_eq!(cdrs.len(), 1);
    for field in [
        "suid",
        "account_id",
        "created_by",
        "device",
        "created_at",
        "live_at",
        "ended_at",
        "end_reason",
        "duration_seconds",
        "frames",
        "bytes",
        "peak_viewers",
        "viewer_seconds",
    ] {
        assert!(!cdrs[0][field].is_null(), "CDR has {field}");
    }
    assert_eq!(cdrs[0]["device"]["model"], "Pixel 9");
}
