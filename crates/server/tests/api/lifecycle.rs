//! Sessions from ticket to device: creation, long polls, registration outcomes, access.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_session_has_a_typeable_ticket_and_a_device_url() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    assert_eq!(s["state"], "waiting");
    let ticket = s["ticket"].as_str().unwrap();
    assert_eq!(ticket.len(), 9, "ABCD-EFGH: {ticket}");
    assert!(
        s["device_url"]
            .as_str()
            .unwrap()
            .ends_with(&ticket.replace('-', ""))
    );
    assert_eq!(s["deadline"]["reason"], "ticket_expired");

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
    assert_eq!(list["sessions"][0]["suid"], s["suid"]);
}

#[tokio::test]
async fn a_long_poll_answers_when_the_device_arrives() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let suid = s["suid"].as_str().unwrap().to_owned();
    let poll = {
        let url = app.url(&format!("/sessions/{suid}?state=waiting&wait=30"));
        let req = app.http.get(url).bearer_auth(&token).send();
        tokio::spawn(req)
    };
    // The ticket is accepted however a person types it.
    let typed = s["ticket"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let resp = app
        .register_device_raw(
            &typed,
            json!({"model": "iPhone 17", "os": "iOS 26", "app_version": "1.0", "camera": "back"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let reg: Value = resp.json().await.unwrap();
    assert_eq!(reg["suid"], s["suid"]);
    let view: Value = poll.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(view["state"], "live");
    assert_eq!(view["device"]["model"], "iPhone 17");
    assert_eq!(
        view["device"]["camera"], "back",
        "extra device fields are kept"
    );
    assert_eq!(
        view["ticket"],
        Value::Null,
        "a used ticket is no longer shown"
    );
}

#[tokio::test]
async fn tickets_are_single_use_and_unknown_ones_are_404() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let ticket = s["ticket"].as_str().unwrap();
    assert_eq!(
        app.register_device_raw(ticket, json!({})).await.status(),
        StatusCode::CREATED
    );
    let again = app.register_device_raw(ticket, json!({})).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "ticket_used");
    let unknown = app.register_device_raw("2345-6789", json!({})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"],
        "unknown_ticket"
    );
}

#[tokio::test]
async fn an_old_app_is_told_to_upgrade() {
    let app = spawn_app_with(|c| c.devices.min_device_app_version = Some("2.0".into())).await;
    let token = app.signup("clinician").await;
    let s = app.create_session(&token).await;
    let ticket = s["ticket"].as_str().unwrap();
    for device in [json!({"app_version": "1.9.9"}), json!({})] {
        let resp = app.register_device_raw(ticket, device).await;
        assert_eq!(resp.status(), StatusCode::UPGRADE_REQUIRED);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "app_upgrade_required");
        assert!(body["message"].as_str().unwrap().contains("2.0"));
    }
    // Refusal does not burn the ticket.
    let ok = app
        .register_device_raw(ticket, json!({"app_version": "2.0.1"}))
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn other_accounts_get_404_on_every_route_of_a_session() {
    let app = spawn_app().await;
    let owner = app.signup("owner").await;
    let stranger = app.signup("stranger").await;
    let (suid, _device) = app.live_session(&owner).await;
    for (method, path) in [
        ("GET", format!("/sessions/{suid}")),
        ("DELETE", format!("/sessions/{suid}")),
        ("GET", format!("/sessions/{suid}/video.mjpeg")),
        ("GET", format!("/sessions/{suid}/frame.jpg")),
        ("POST", format!("/sessions/{suid}/controls")),
    ] {
        let req = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&stranger);
        let req = if method == "POST" {
            req.json(&json!({"action": "torch"}))
        } else {
            req
        };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"],
            "session_not_found"
        );
    }
    let ws = app.ws(&format!("/sessions/{suid}/watch"), &stranger).await;
    assert!(ws.is_err(), "the watch socket refuses other accounts");
    // The owner's session is untouched.
    assert_eq!(app.session(&owner, &suid, None).await["state"], "live");
}

#[tokio::test]
async fn any_user_of_the_account_can_watch_and_end() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let invite: Value = app
        .http
        .post(app.url("/account/invites"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = app
        .http
        .post(app.url("/auth/register"))
        .json(&json!({"username": "colleague", "password": "cobalt meadow riddle frost", "invite": invite["invite"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let colleague = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (suid, device) = app.live_session(&admin).await;
    assert_eq!(
        app.post_frame(&suid, &device, 1, jpeg(1)).await.status(),
        StatusCode::OK
    );
    let frame = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&colleague)
        .send()
        .await
        .unwrap();
    assert_eq!(frame.status(), StatusCode::OK);
    assert_eq!(frame.headers()["x-frame-seq"], "1");
    let ended: Value = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&colleague)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["end_reason"], "ended_by_user");
}

/// An end written straight into the store while the node runs (what `switchboard admin end`
/// does) is noticed within a few stats intervals: the node's one sweep of the open sessions
/// finds the session missing, and its actor adopts the stored end and stops serving it.
#[tokio::test]
async fn an_end_written_to_the_store_by_someone_else_is_adopted() {
    let app =
        spawn_app_with(|c| c.sessions.stats_interval = std::time::Duration::from_millis(200)).await;
    let token = app.signup("ended.elsewhere").await;
    let created = app.create_session(&token).await;
    let suid = created["suid"].as_str().unwrap().to_owned();
    let mut stored = app.store.session(suid.parse().unwrap()).await.unwrap();
    stored
        .end(switchboard_core::EndReason::EndedByUser, chrono::Utc::now())
        .unwrap();
    app.store.end_session(&stored).await.unwrap();
    let id = suid.parse().unwrap();
    assert!(app.app.sessions.get(id).is_some(), "the node serves it");
    eventually("the node to adopt the end", PATIENCE, || async {
        holds(app.app.sessions.get(id).is_none(), "still served")
    })
    .await;
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["state"], "ended", "{view}");
}
