//! Encryption at rest under attack: a stored blob altered, cut short or swapped onto another
//! record is never served (500 `data_integrity`, logged and counted); nobody but an account's
//! admin (with the password) or an operator deletes an account; a deletion stops the
//! account's live streams at once.

use crate::expect::expect_error;
use crate::helpers::{PASSWORD, TestApp, jpeg, send_frame, spawn_app_with};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use switchboard_core::AccountId;
use switchboard_server::Config;
use switchboard_store::{SnapshotBlobs, Stale};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

fn without_detector(c: &mut Config) {
    c.cameras.detector_model = Some(PathBuf::from("/nonexistent/model.onnx"));
}

async fn account_of(app: &TestApp, token: &str) -> AccountId {
    app.me(token).await["account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Uploads `n` snapshots to a new camera of `user`'s account; returns their ids.
async fn snapshots(app: &TestApp, user: &str, n: u64) -> Vec<Uuid> {
    let (camera, token) = app.create_camera(user, "target").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let resp = app
            .http
            .post(app.url(&format!("/cameras/{camera}/snapshots")))
            .bearer_auth(&token)
            .header("content-type", "image/jpeg")
            .body(jpeg(i + 1))
            .send()
            .await
            .unwrap();
        // 202: stored, detection pending (no detector here).
        assert!(resp.status().is_success(), "upload: {}", resp.status());
        let body: Value = resp.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().parse().unwrap());
    }
    ids
}

/// The stored blobs of a snapshot, as the database holds them.
async fn stored(app: &TestApp, account: AccountId, id: Uuid) -> SnapshotBlobs {
    app.store
        .stale_snapshots(
            Stale::Below {
                account,
                version: u32::MAX,
            },
            "",
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap()
}

/// Rewrites a snapshot's stored picture behind the server's back.
async fn tamper(app: &TestApp, account: AccountId, id: Uuid, jpeg: Vec<u8>) {
    let old = stored(app, account, id).await;
    let new = SnapshotBlobs {
        jpeg,
        ..old.clone()
    };
    assert!(app.store.reseal_snapshot(&old, &new).await.unwrap());
}

async fn integrity_errors(app: &TestApp, admin: &str) -> u64 {
    let operator = app.operator_token(admin).await;
    let text = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(operator)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("switchboard_integrity_errors_total{object=\"snapshot\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn image(app: &TestApp, user: &str, path: String) -> reqwest::Response {
    app.http
        .get(app.url(&path))
        .bearer_auth(user)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_altered_cut_or_swapped_picture_is_never_served() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("integrity.owner").await;
    let account = account_of(&app, &user).await;
    let ids = snapshots(&app, &user, 4).await;

    // One bit flipped in the ciphertext.
    let mut altered = stored(&app, account, ids[0]).await.jpeg;
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    tamper(&app, account, ids[0], altered).await;
    // Cut short, and cut to nothing but its header.
    let whole = stored(&app, account, ids[1]).await.jpeg;
    tamper(&app, account, ids[1], whole[..whole.len() - 10].to_vec()).await;
    // Two pictures swapped: each is intact, but bound to the other's record.
    let (a, b) = (
        stored(&app, account, ids[2]).await.jpeg,
        stored(&app, account, ids[3]).await.jpeg,
    );
    tamper(&app, account, ids[2], b).await;
    tamper(&app, account, ids[3], a).await;

    for id in &ids {
        for path in [
            format!("/snapshots/{id}.jpg"),
            format!("/snapshots/{id}/thumb.jpg"),
        ] {
            let resp = image(&app, &user, path).await;
            let body =
                expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "data_integrity").await;
            // The answer says what happened, nothing of how.
            assert!(!body.to_string().contains("Forged"), "{body}");
        }
    }
    // Four pictures, each read twice: every failure is counted.
    assert!(integrity_errors(&app, &user).await >= 8);

    let cut = stored(&app, account, ids[1]).await.jpeg;
    tamper(&app, account, ids[1], cut[..5].to_vec()).await;
    let resp = image(&app, &user, format!("/snapshots/{}.jpg", ids[1])).await;
    expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "data_integrity").await;
}

#[tokio::test]
async fn only_the_accounts_admin_with_the_password_or_an_operator_deletes_it() {
    let app = spawn_app_with(without_detector).await;
    let admin = app.signup("victim.admin").await;
    let member = app.join_account(&admin, "victim.member").await;
    let other = app.signup("other.admin").await;
    let victim = account_of(&app, &admin).await;
    let delete_own = |token: &str, password: &str| {
        app.http
            .delete(app.url("/account"))
            .bearer_auth(token)
            .json(&json!({ "password": password }))
            .send()
    };

    // A wrong password: refused, counted, and nothing happens.
    let resp = delete_own(&admin, "not the password at all").await.unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "wrong_password").await;
    // A member, even with their own password.
    let resp = delete_own(&member, PASSWORD).await.unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Another account's admin, by id through the operators' route.
    let resp = app
        .http
        .delete(app.url(&format!("/admin/accounts/{victim}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Without a body or a token.
    let resp = app
        .http
        .delete(app.url("/account"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = app.http.delete(app.url("/account")).send().await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(app.store.account(victim).await.is_ok(), "still there");

    // An operator (of the other account): an unknown or malformed id is 404, the victim goes.
    let operator = app.operator_token(&other).await;
    for id in [Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let resp = app
            .http
            .delete(app.url(&format!("/admin/accounts/{id}")))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "account_not_found").await;
    }
    let resp = app
        .http
        .delete(app.url(&format!("/admin/accounts/{victim}")))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(app.store.account(victim).await.is_err());
    for token in [&admin, &member] {
        let resp = app
            .http
            .get(app.url("/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn deleting_an_account_stops_its_device_mid_stream() {
    let app = spawn_app_with(without_detector).await;
    let admin = app.signup("streaming.admin").await;
    let (suid, device) = app.live_session(&admin).await;
    let mut ws = app
        .ws(&format!("/sessions/{suid}/device"), &device)
        .await
        .unwrap();
    send_frame(&mut ws, jpeg(1)).await;

    let resp = app
        .http
        .delete(app.url("/account"))
        .bearer_auth(&admin)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // The device's socket ends within moments…
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the device socket stayed open");
    // …and the session takes no more frames, by any route.
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/frames")))
        .bearer_auth(&device)
        .header("content-type", "image/jpeg")
        .body(jpeg(2))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "a frame after the deletion: {}",
        resp.status()
    );
    assert!(app.store.session(suid.parse().unwrap()).await.is_err());
}
