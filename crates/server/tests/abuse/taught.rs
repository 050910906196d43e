//! Taught objects across the trust boundaries: no sign-in, another account's snapshots and
//! taught objects, boxes off the picture, names and bodies of any size, the wrong media
//! type, a picture that declares too many pixels, and many teachings at once against the
//! per-account count.

use crate::expect::{expect_error, expect_error_with_extra};
use crate::helpers::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use switchboard_core::AccountId;
use switchboard_server::Config;
use switchboard_store::NewSnapshot;
use uuid::Uuid;

/// Snapshots are stored, not detected: nothing here is about detection, and matching needs
/// no model.
fn without_detector(c: &mut Config) {
    c.cameras.detector_model = Some(PathBuf::from("/nonexistent/model.onnx"));
}

/// A real picture with plenty to describe: a 640×480 test card.
fn card() -> Vec<u8> {
    switchboard_media::synth::TestCard::new(640, 480, 85).render(7)
}

fn big_box() -> Value {
    json!({ "x": 0.1, "y": 0.1, "w": 0.6, "h": 0.6 })
}

/// A signed-up user with a camera that uploaded one picture: (user token, snapshot id).
async fn owner_with_snapshot(app: &TestApp, name: &str) -> (String, String) {
    let user = app.signup(name).await;
    let (camera, token) = app.create_camera(&user, "hall").await;
    let resp = app
        .http
        .post(app.url(&format!("/cameras/{camera}/snapshots")))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(card())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    let body: Value = resp.json().await.unwrap();
    (user, body["id"].as_str().unwrap().to_owned())
}

async fn teach(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/taught-objects"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn taught_id(app: &TestApp, token: &str, snapshot: &str, name: &str) -> String {
    let resp = teach(
        app,
        token,
        &json!({ "snapshot_id": snapshot, "box": big_box(), "name": name }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "teaching {name}");
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn taught_objects_need_a_signed_in_user() {
    let app = spawn_app_with(without_detector).await;
    let (owner, snapshot) = owner_with_snapshot(&app, "taught.owner").await;
    let id = taught_id(&app, &owner, &snapshot, "keys").await;
    let (_, camera_token) = app.create_camera(&owner, "door").await;
    let paths = [
        (reqwest::Method::POST, "/taught-objects".to_owned()),
        (reqwest::Method::GET, "/taught-objects".to_owned()),
        (reqwest::Method::GET, format!("/taught-objects/{id}")),
        (reqwest::Method::PATCH, format!("/taught-objects/{id}")),
        (reqwest::Method::DELETE, format!("/taught-objects/{id}")),
        (reqwest::Method::POST, format!("/taught-objects/{id}/scan")),
    ];
    for (method, path) in &paths {
        let body = json!({ "snapshot_id": snapshot, "box": big_box(), "name": "x keys" });
        // No token at all, then a camera's token (it uploads; it is no user).
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .bearer_auth(&camera_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Nothing changed.
    let resp = app
        .http
        .get(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["name"], "keys");
}

#[tokio::test]
async fn another_accounts_snapshots_and_taught_objects_are_not_found() {
    let app = spawn_app_with(without_detector).await;
    let (owner, snapshot) = owner_with_snapshot(&app, "taught.victim").await;
    let id = taught_id(&app, &owner, &snapshot, "my keys").await;
    let (intruder, own_snapshot) = owner_with_snapshot(&app, "taught.intruder").await;

    // Teaching from another account's snapshot (its picture would become a template).
    let resp = teach(
        &app,
        &intruder,
        &json!({ "snapshot_id": snapshot, "box": big_box(), "name": "stolen" }),
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "snapshot_not_found").await;
    let resp = teach(
        &app,
        &intruder,
        &json!({ "snapshot_id": Uuid::new_v4(), "box": big_box(), "name": "nothing" }),
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "snapshot_not_found").await;

    // Another account's taught object, and ids that are no ids.
    for target in [id.as_str(), "not-an-id", &Uuid::new_v4().to_string()] {
        let path = format!("/taught-objects/{target}");
        let requests = [
            app.http.get(app.url(&path)),
            app.http
                .patch(app.url(&path))
                .json(&json!({ "name": "mine now" })),
            app.http.delete(app.url(&path)),
            app.http.post(app.url(&format!("{path}/scan"))),
        ];
        for request in requests {
            let resp = request.bearer_auth(&intruder).send().await.unwrap();
            expect_error(resp, StatusCode::NOT_FOUND, "taught_object_not_found").await;
        }
    }

    // Its name means nothing in the intruder's account, and the list is the intruder's own.
    let answer: Value = app
        .http
        .get(app.url("/search"))
        .query(&[("q", "where are my keys")])
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["taught"], json!([]), "{answer}");
    assert_eq!(answer["unknown"], json!(["keys"]), "{answer}");
    let listed: Value = app
        .http
        .get(app.url("/taught-objects"))
        .bearer_auth(&intruder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["taught_objects"], json!([]));
    // The intruder may teach the same name in their own account.
    taught_id(&app, &intruder, &own_snapshot, "my keys").await;

    // The owner's object is intact.
    let resp = app
        .http
        .get(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["name"], "my keys");
}

#[tokio::test]
async fn boxes_off_the_picture_without_size_or_too_small_are_refused() {
    let app = spawn_app_with(without_detector).await;
    let (user, snapshot) = owner_with_snapshot(&app, "taught.boxes").await;
    let bad = [
        json!({ "x": 0.1, "y": 0.1, "w": 0.0, "h": 0.5 }),
        json!({ "x": 0.1, "y": 0.1, "w": 0.5, "h": -0.2 }),
        json!({ "x": -0.5, "y": 0.1, "w": 0.4, "h": 0.4 }),
        json!({ "x": 0.8, "y": 0.1, "w": 0.4, "h": 0.4 }),
        json!({ "x": 0.1, "y": 0.9, "w": 0.4, "h": 0.4 }),
        json!({ "x": 1e300, "y": 0.1, "w": 1e300, "h": 0.4 }),
        // On the picture, but a few pixels: nothing to describe.
        json!({ "x": 0.5, "y": 0.5, "w": 0.002, "h": 0.002 }),
    ];
    for b in bad {
        let resp = teach(
            &app,
            &user,
            &json!({ "snapshot_id": snapshot, "box": b, "name": "keys" }),
        )
        .await;
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_box").await;
    }
    // Not a box at all.
    for b in [
        json!("everything"),
        json!({ "x": "a", "y": 0, "w": 1, "h": 1 }),
        json!({ "x": 0.1 }),
    ] {
        let resp = teach(
            &app,
            &user,
            &json!({ "snapshot_id": snapshot, "box": b, "name": "keys" }),
        )
        .await;
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
    let listed: Value = app
        .http
        .get(app.url("/taught-objects"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["taught_objects"], json!([]), "nothing was taught");
}

#[tokio::test]
async fn names_and_bodies_are_bounded_and_only_json_is_taken() {
    let app = spawn_app_with(without_detector).await;
    let (user, snapshot) = owner_with_snapshot(&app, "taught.names").await;
    let long = "k".repeat(61);
    let huge = "k".repeat(20_000);
    for name in [
        "",
        "   ",
        long.as_str(),
        huge.as_str(),
        "my\u{0}keys",
        "my the",
    ] {
        let resp = teach(
            &app,
            &user,
            &json!({ "snapshot_id": snapshot, "box": big_box(), "name": name }),
        )
        .await;
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    }
    // Sixty characters are fine; renaming is held to the same rule.
    let id = taught_id(&app, &user, &snapshot, &"k".repeat(60)).await;
    let resp = app
        .http
        .patch(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&user)
        .json(&json!({ "name": huge }))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;

    // A body past max_json_bytes is refused before it is parsed.
    let endless = "k".repeat(200 * 1024);
    let resp = teach(
        &app,
        &user,
        &json!({ "snapshot_id": snapshot, "box": big_box(), "name": endless }),
    )
    .await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    // Not JSON, broken JSON, fields that do not belong.
    let resp = app
        .http
        .post(app.url("/taught-objects"))
        .bearer_auth(&user)
        .header("content-type", "text/plain")
        .body(json!({ "snapshot_id": snapshot, "box": big_box(), "name": "x" }).to_string())
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let resp = app
        .http
        .post(app.url("/taught-objects"))
        .bearer_auth(&user)
        .header("content-type", "application/json")
        .body("{\"snapshot_id\": ")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    let resp = teach(
        &app,
        &user,
        &json!({ "snapshot_id": snapshot, "box": big_box(), "name": "x keys", "template": "AAAA" }),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}

#[tokio::test]
async fn the_count_holds_when_many_teach_at_once() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        c.cameras.taught_objects_per_account = 3;
        // A decoding slot for every attempt: the count, not the node's bound, refuses them.
        c.cameras.max_concurrent_decodes = 12;
    })
    .await;
    let (user, snapshot) = owner_with_snapshot(&app, "taught.many").await;
    let attempts = (0..12).map(|i| {
        let body =
            json!({ "snapshot_id": snapshot, "box": big_box(), "name": format!("thing {i}") });
        let app = &app;
        let user = user.clone();
        async move { teach(app, &user, &body).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut created = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let body =
                    expect_error_with_extra(resp, StatusCode::TOO_MANY_REQUESTS, "limit_reached")
                        .await;
                assert_eq!(body["limit"], "taught_objects", "{body}");
                assert_eq!(body["max"], 3, "{body}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 3, "exactly the maximum is taught");
    let listed: Value = app
        .http
        .get(app.url("/taught-objects"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["taught_objects"].as_array().unwrap().len(),
        3,
        "{listed}"
    );
    // Once full, full; deleting one makes room for one.
    let one_more = json!({ "snapshot_id": snapshot, "box": big_box(), "name": "one more" });
    let resp = teach(&app, &user, &one_more).await;
    let body = expect_error_with_extra(resp, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
    assert_eq!(body["limit"], "taught_objects");
    let first = listed["taught_objects"][0]["id"].as_str().unwrap();
    let resp = app
        .http
        .delete(app.url(&format!("/taught-objects/{first}")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        teach(&app, &user, &one_more).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_picture_declaring_too_many_pixels_is_never_decoded_to_teach() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        c.cameras.max_image_pixels = 100_000;
    })
    .await;
    let user = app.signup("taught.bomb").await;
    let (camera, _) = app.create_camera(&user, "porch").await;
    let account: AccountId = app.me(&user).await["account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Stored under a larger bound (an older release): 640x480 is past today's.
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    let jpeg = card();
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
    let resp = teach(
        &app,
        &user,
        &json!({ "snapshot_id": id, "box": big_box(), "name": "keys" }),
    )
    .await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "undecodable_image").await;
    assert!(
        body["message"].as_str().unwrap().contains("640x480"),
        "{body}"
    );
}
