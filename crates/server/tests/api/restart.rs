//! Restarting the server keeps live sessions, device tokens and revocations.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn a_live_session_survives_a_restart() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    for seq in 1..=3 {
        app.post_frame(&suid, &device, seq, jpeg(seq)).await;
    }
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;

    let app = app.restart().await;

    // The viewer was told to reconnect, and can.
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    assert_eq!(next_event(&mut viewer, "hello").await["state"], "live");
    // The device keeps posting with the token it holds.
    let started = std::time::Instant::now();
    assert_eq!(
        app.post_frame(&suid, &device, 4, jpeg(4)).await.status(),
        StatusCode::OK
    );
    assert_eq!(next_frame(&mut viewer).await, jpeg(4));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["state"], "live");
    assert_eq!(view["device"]["model"], "Pixel 9");
    assert!(
        view["frames"].as_u64().unwrap() >= 4,
        "totals carry over: {view}"
    );
}

#[tokio::test]
async fn logout_revokes_the_token_at_once_and_after_a_restart() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let me = app
        .http
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let out = app
        .http
        .post(app.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let me = app
        .http
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let app = app.restart().await;
    let me = app
        .http
        .get(app.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me.json::<Value>().await.unwrap()["error"], "unauthorized");
}

/// Every open session is back after a restart, whatever their number (they are read in one
/// query), and each ends with exactly one CDR.
#[tokio::test]
async fn three_hundred_open_sessions_are_all_back_after_a_restart() {
    const WAITING: usize = 300;
    let app = spawn_app_with(|c| c.admission.account_sessions = WAITING as u64 + 10).await;
    let token = app.signup("clinician").await;
    let mut suids: Vec<String> = futures::stream::iter(0..WAITING)
        .map(|_| async { app.create_session(&token).await })
        .buffer_unordered(16)
        .map(|view| view["suid"].as_str().unwrap().to_owned())
        .collect()
        .await;
    let (live, device) = app.live_session(&token).await;
    app.post_frame(&live, &device, 1, jpeg(1)).await;
    suids.push(live.clone());

    let app = app.restart().await;

    for suid in &suids {
        let view = app.session(&token, suid, None).await;
        assert!(
            view["state"] == "waiting" || view["state"] == "live",
            "{suid} is not back: {view}"
        );
    }
    assert_eq!(
        app.post_frame(&live, &device, 2, jpeg(2)).await.status(),
        StatusCode::OK,
        "the device token works again"
    );
    for suid in &suids {
        let resp = app
            .http
            .delete(app.url(&format!("/sessions/{suid}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "ending {suid}");
    }
    eventually("one CDR per session", Duration::from_secs(10), || async {
        let cdrs = app.cdr_lines();
        for suid in &suids {
            let records = cdrs.iter().filter(|c| c["suid"] == suid.as_str()).count();
            holds(records == 1, format!("{suid} has {records} CDRs"))?;
        }
        Ok(())
    })
    .await;
}
