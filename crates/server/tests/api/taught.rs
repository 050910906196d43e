//! Taught objects: a box drawn on a real photograph (the "eléctrica EMT" sign on the side of
//! the bus in bus.jpg) and named is looked for in every new snapshot; a picture made by
//! pasting that crop onto zidane.jpg is found, with the box where it was pasted, and
//! zidane.jpg alone is not. Search answers "where are my keys" from those matches, beside
//! COCO results; renaming, deleting, looking through the kept history, and matching with the
//! detector off.

use crate::cameras::{
    bus_jpg, get_jpeg, search, upload, with_detector, without_detector, zidane_jpg,
};
use crate::helpers::{TestApp, eventually, holds, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_server::Config;

/// The sign on the bus's side in bus.jpg, normalized: what is taught.
pub(crate) const SIGN: [f64; 4] = [0.70, 0.355, 0.25, 0.11];
/// Where the sign is pasted onto zidane.jpg, in its pixels.
const PASTED_AT: (u32, u32) = (60, 40);

/// zidane.jpg with the sign from bus.jpg pasted at [`PASTED_AT`], as a JPEG, and the box
/// where it now is (normalized).
pub(crate) fn zidane_with_the_sign() -> (Vec<u8>, [f64; 4]) {
    let bus = image::load_from_memory(&bus_jpg()).unwrap().to_rgb8();
    let mut scene = image::load_from_memory(&zidane_jpg()).unwrap().to_rgb8();
    let (bw, bh) = (f64::from(bus.width()), f64::from(bus.height()));
    let [x, y, w, h] = SIGN;
    let crop = image::imageops::crop_imm(
        &bus,
        (x * bw) as u32,
        (y * bh) as u32,
        (w * bw) as u32,
        (h * bh) as u32,
    )
    .to_image();
    image::imageops::replace(
        &mut scene,
        &crop,
        i64::from(PASTED_AT.0),
        i64::from(PASTED_AT.1),
    );
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&scene)
        .unwrap();
    let (sw, sh) = (f64::from(scene.width()), f64::from(scene.height()));
    let pasted = [
        f64::from(PASTED_AT.0) / sw,
        f64::from(PASTED_AT.1) / sh,
        f64::from(crop.width()) / sw,
        f64::from(crop.height()) / sh,
    ];
    (jpeg, pasted)
}

/// Intersection over union of a JSON box and an `[x, y, w, h]` one.
pub(crate) fn iou(found: &Value, expected: [f64; 4]) -> f64 {
    let f = |k: &str| found[k].as_f64().unwrap();
    let a = [f("x"), f("y"), f("x") + f("w"), f("y") + f("h")];
    let b = [
        expected[0],
        expected[1],
        expected[0] + expected[2],
        expected[1] + expected[3],
    ];
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + expected[2] * expected[3] - inter)
}

/// Every picture here is kept (zidane.jpg with and without the sign look alike to the
/// near-duplicate rule).
fn keep_all(c: &mut Config) {
    c.cameras.snapshot_dedup_distance = 0.0;
}

fn sign_box() -> Value {
    let [x, y, w, h] = SIGN;
    json!({ "x": x, "y": y, "w": w, "h": h })
}

/// Uploads `jpeg` and answers the stored snapshot's id.
async fn uploaded(app: &TestApp, camera: &str, token: &str, jpeg: Vec<u8>) -> String {
    let resp = upload(app, camera, token, jpeg).await;
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn teach(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/taught-objects"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn taught(app: &TestApp, token: &str, snapshot: &str, name: &str) -> Value {
    let resp = teach(
        app,
        token,
        json!({ "snapshot_id": snapshot, "box": sign_box(), "name": name }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.unwrap()
}

/// The results of a search that come from taught objects.
fn taught_results(found: &Value) -> Vec<Value> {
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["taught_object_id"].is_string())
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_taught_object_is_found_in_new_snapshots_and_by_search() {
    let app = spawn_app_with(|c| {
        with_detector(c);
        keep_all(c);
    })
    .await;
    let user = app.signup("teacher").await;
    let (camera, token) = app.create_camera(&user, "hall").await;
    let source = uploaded(&app, &camera, &token, bus_jpg()).await;

    // Before teaching, "keys" is nothing anyone can find.
    let before = search(&app, &user, "where are my keys").await;
    assert_eq!(before["unknown"], json!(["keys"]));

    let keys = taught(&app, &user, &source, "My keys").await;
    assert_eq!(keys["name"], "My keys");
    assert_eq!(keys["snapshot_id"], source.as_str());
    assert_eq!(keys["matches"], 0);
    assert_eq!(keys["latest_match"], Value::Null);
    assert!((keys["box"]["x"].as_f64().unwrap() - SIGN[0]).abs() < 1e-6);

    // The sign pasted onto another photograph: found where it was pasted, by the time the
    // upload is answered (matching runs right after detection).
    let (with_sign, pasted) = zidane_with_the_sign();
    let resp = upload(&app, &camera, &token, with_sign).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let found_in: Value = resp.json().await.unwrap();
    let found_id = found_in["id"].as_str().unwrap().to_owned();
    // The photograph alone: not found.
    let plain_id = uploaded(&app, &camera, &token, zidane_jpg()).await;

    let answer = search(&app, &user, "where are my keys").await;
    assert_eq!(answer["taught"], json!(["My keys"]), "{answer}");
    assert_eq!(answer["unknown"], json!([]), "a taught name is not unknown");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only the picture with the sign: {answer}");
    let hit = &results[0];
    assert_eq!(hit["snapshot_id"], found_id.as_str());
    assert_eq!(hit["taught_object_id"], keys["id"]);
    assert_eq!(hit["label"], "My keys");
    assert_eq!(hit["camera"]["name"], "hall");
    let score = hit["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{hit}");
    assert_eq!(hit["confidence"], hit["score"]);
    let overlap = iou(&hit["box"], pasted);
    assert!(overlap >= 0.5, "found at {} (IoU {overlap:.2})", hit["box"]);
    assert_ne!(hit["snapshot_id"], plain_id.as_str());
    // Its thumbnail shows the box; the snapshot lists it.
    get_jpeg(&app, &user, hit["thumb_url"].as_str().unwrap()).await;
    let snap = get(&app, &user, &format!("/snapshots/{found_id}")).await;
    assert_eq!(snap["taught"][0]["name"], "My keys", "{snap}");
    let plain = get(&app, &user, &format!("/snapshots/{plain_id}")).await;
    assert_eq!(plain["taught"], json!([]));

    // Other ways to ask, and a question naming a COCO thing too.
    for question in ["keys", "my key", "Where did I leave the KEYS?"] {
        let answer = search(&app, &user, question).await;
        assert_eq!(taught_results(&answer).len(), 1, "{question}: {answer}");
    }
    let both = search(&app, &user, "my keys and people").await;
    assert_eq!(both["labels"], json!(["person"]));
    assert_eq!(taught_results(&both).len(), 1, "{both}");
    assert!(
        both["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["label"] == "person"),
        "{both}"
    );

    // The list shows where it was last seen.
    let listed = get(&app, &user, "/taught-objects").await;
    assert_eq!(listed["max"], 20);
    let object = &listed["taught_objects"][0];
    assert_eq!(object["matches"], 1);
    assert_eq!(object["latest_match"]["snapshot_id"], found_id.as_str());
    assert!(iou(&object["latest_match"]["box"], pasted) >= 0.5);
}

#[tokio::test]
async fn taught_objects_are_renamed_and_deleted_and_each_change_is_audited() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        keep_all(c);
    })
    .await;
    let user = app.signup("renamer").await;
    let (camera, token) = app.create_camera(&user, "desk").await;
    let source = uploaded(&app, &camera, &token, bus_jpg()).await;
    let keys = taught(&app, &user, &source, "my keys").await;
    let id = keys["id"].as_str().unwrap();
    let wallet = taught(&app, &user, &source, "wallet").await;

    // A name is one per account, whatever its case and spacing.
    let resp = teach(
        &app,
        &user,
        json!({ "snapshot_id": source, "box": sign_box(), "name": "  MY   Keys " }),
    )
    .await;
    crate::expect::expect_error(resp, StatusCode::CONFLICT, "taught_name_taken").await;

    let resp = app
        .http
        .patch(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&user)
        .json(&json!({ "name": "house keys" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let renamed: Value = resp.json().await.unwrap();
    assert_eq!(renamed["name"], "house keys");
    let resp = app
        .http
        .patch(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&user)
        .json(&json!({ "name": "Wallet" }))
        .send()
        .await
        .unwrap();
    crate::expect::expect_error(resp, StatusCode::CONFLICT, "taught_name_taken").await;
    let answer = search(&app, &user, "where are my house keys").await;
    assert_eq!(answer["taught"], json!(["house keys"]));

    // The voice grammar's phrases follow the names.
    let phrases = app
        .app
        .taught
        .phrases(keys_account(&app, &user).await)
        .await;
    assert_eq!(phrases.unwrap(), ["house keys", "wallet"]);

    let resp = app
        .http
        .delete(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .http
        .get(app.url(&format!("/taught-objects/{id}")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    crate::expect::expect_error(resp, StatusCode::NOT_FOUND, "taught_object_not_found").await;
    let answer = search(&app, &user, "house keys").await;
    assert_eq!(answer["taught"], json!([]));
    assert_eq!(answer["unknown"], json!(["house", "keys"]));
    let listed = get(&app, &user, "/taught-objects").await;
    assert_eq!(listed["taught_objects"].as_array().unwrap().len(), 1);
    assert_eq!(listed["taught_objects"][0]["id"], wallet["id"]);

    // Each change is on the audit trail, with what it was done to.
    for action in ["taught.created", "taught.renamed", "taught.deleted"] {
        let trail = eventually(action, Duration::from_secs(10), || async {
            let page = get(&app, &user, &format!("/audit?action={action}&target={id}")).await;
            let records = page["records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                Err(format!("no {action} yet"))
            } else {
                Ok(records)
            }
        })
        .await;
        assert_eq!(trail[0]["target"]["id"], id, "{trail:?}");
    }
}

/// The account id of a token's user.
async fn keys_account(app: &TestApp, token: &str) -> switchboard_core::AccountId {
    app.me(token).await["account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn taught_objects_are_found_with_the_detector_off() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        keep_all(c);
    })
    .await;
    let user = app.signup("no-model").await;
    let (camera, token) = app.create_camera(&user, "porch").await;
    let source = uploaded(&app, &camera, &token, bus_jpg()).await;
    taught(&app, &user, &source, "the sign").await;

    let (with_sign, pasted) = zidane_with_the_sign();
    let resp = upload(&app, &camera, &token, with_sign).await;
    // Stored, not detected (no model), but matched all the same.
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let found_id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    uploaded(&app, &camera, &token, zidane_jpg()).await;
    let answer = eventually("the sign found", Duration::from_secs(30), || async {
        let answer = search(&app, &user, "where is the sign").await;
        holds(!taught_results(&answer).is_empty(), &answer)?;
        Ok(answer)
    })
    .await;
    let hits = taught_results(&answer);
    assert_eq!(hits.len(), 1, "{answer}");
    assert_eq!(hits[0]["snapshot_id"], found_id.as_str());
    assert!(iou(&hits[0]["box"], pasted) >= 0.5, "{}", hits[0]);
}

#[tokio::test]
async fn a_look_through_the_history_finds_what_came_before_teaching() {
    let app = spawn_app_with(|c| {
        without_detector(c);
        keep_all(c);
    })
    .await;
    let user = app.signup("historian").await;
    let (camera, token) = app.create_camera(&user, "yard").await;
    // Uploaded before anything is taught: nobody looks for the sign in it yet.
    let (with_sign, pasted) = zidane_with_the_sign();
    let older = uploaded(&app, &camera, &token, with_sign).await;
    uploaded(&app, &camera, &token, zidane_jpg()).await;
    let source = uploaded(&app, &camera, &token, bus_jpg()).await;
    let sign = taught(&app, &user, &source, "bus sign").await;
    let id = sign["id"].as_str().unwrap();
    assert!(taught_results(&search(&app, &user, "bus sign").await).is_empty());

    let resp = app
        .http
        .post(app.url(&format!("/taught-objects/{id}/scan")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let started: Value = resp.json().await.unwrap();
    assert_eq!(started["scan"]["total"], 3, "{started}");

    let done = eventually("the look to finish", Duration::from_secs(60), || async {
        let object = get(&app, &user, &format!("/taught-objects/{id}")).await;
        holds(object["scan"]["state"] == "done", &object["scan"])?;
        Ok(object)
    })
    .await;
    assert_eq!(done["scan"]["scanned"], 3, "{done}");
    // The sign is on the source picture too, and in the older one.
    assert_eq!(done["scan"]["found"], 2, "{done}");

    let answer = search(&app, &user, "where is the bus sign").await;
    let hits = taught_results(&answer);
    let older_hit = hits
        .iter()
        .find(|h| h["snapshot_id"] == older.as_str())
        .unwrap_or_else(|| panic!("the older picture is found: {answer}"));
    assert!(iou(&older_hit["box"], pasted) >= 0.5, "{older_hit}");
    // The look is on the audit trail.
    eventually(
        "taught.scanned recorded",
        Duration::from_secs(10),
        || async {
            let page = get(
                &app,
                &user,
                &format!("/audit?action=taught.scanned&target={id}"),
            )
            .await;
            holds(!page["records"].as_array().unwrap().is_empty(), &page)
        },
    )
    .await;
}

#[tokio::test]
async fn templates_are_sealed_at_rest_and_move_with_a_key_rotation() {
    use switchboard_server::vault::master_key::MasterKey;
    use switchboard_server::vault::rotation;

    let app = spawn_app_with(|c| {
        without_detector(c);
        keep_all(c);
    })
    .await;
    let user = app.signup("sealer").await;
    let (camera, token) = app.create_camera(&user, "gate").await;
    let source = uploaded(&app, &camera, &token, bus_jpg()).await;
    let sign = taught(&app, &user, &source, "the sign").await;
    let id: uuid::Uuid = sign["id"].as_str().unwrap().parse().unwrap();
    let account = keys_account(&app, &user).await;
    let stored = app.store.taught_templates(account, Some(id)).await.unwrap();
    assert_eq!(stored[0].template.key_version, Some(1), "sealed, not plain");

    let master = MasterKey::read(&app.dir.path().join("master-key")).unwrap();
    let version = rotation::rotate_account_key(app.store.clone(), master, account)
        .await
        .unwrap();
    assert_eq!(version, 2);
    app.app.resealer.pass(chrono::Utc::now()).await.unwrap();
    // Once every node has stopped sealing with it, the old key goes: nothing uses it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let done = app.app.resealer.pass(later).await.unwrap();
    assert_eq!(done.retired, 1, "{done:?}");
    let stored = app.store.taught_templates(account, Some(id)).await.unwrap();
    assert_eq!(stored[0].template.key_version, Some(2));

    // The template still opens: a look through the history finds the sign on its picture.
    let resp = app
        .http
        .post(app.url(&format!("/taught-objects/{id}/scan")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let done = eventually("the look to finish", Duration::from_secs(60), || async {
        let object = get(&app, &user, &format!("/taught-objects/{id}")).await;
        holds(object["scan"]["state"] == "done", &object["scan"])?;
        Ok(object)
    })
    .await;
    assert_eq!(done["scan"]["found"], 1, "{done}");
}
