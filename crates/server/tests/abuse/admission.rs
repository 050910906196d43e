//! The gatekeeper against an outsider: a self-made account cannot take more than its limits
//! however it tries (many at once, through the limits routes, reconnecting viewers), cannot
//! read or change another account's limits, and cannot starve another account.

use crate::expect::expect_error_with_extra;
use crate::helpers::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn account_id(app: &TestApp, token: &str) -> String {
    app.me(token).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_flood_of_sessions_from_one_account_stops_at_its_limit_and_spares_others() {
    let app = spawn_app_with(|c| c.admission.account_sessions = 5).await;
    let greedy = app.signup("greedy").await;
    let neighbour = app.signup("neighbour").await;
    let answers = futures::future::join_all((0..40).map(|_| {
        app.http
            .post(app.url("/sessions"))
            .bearer_auth(&greedy)
            .json(&json!({"kind": "video"}))
            .send()
    }))
    .await;
    let created = answers
        .iter()
        .filter(|r| r.as_ref().unwrap().status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 5);
    for resp in answers.into_iter().map(Result::unwrap) {
        if resp.status() != StatusCode::CREATED {
            let body =
                expect_error_with_extra(resp, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
            assert_eq!(body["limit"], "sessions");
            assert_eq!(body["max"], 5);
        }
    }
    // The neighbour's account is untouched.
    app.create_session(&neighbour).await;
}

#[tokio::test]
async fn reconnecting_viewers_cannot_hold_more_places_than_the_limit() {
    let app = spawn_app_with(|c| {
        c.admission.account_viewers_per_session = 2;
    })
    .await;
    let token = app.signup("reconnector").await;
    let (suid, _device) = app.live_session(&token).await;
    // Open and drop sockets many times: each drop gives its place back, so the account never
    // ends up locked out, and never holds more than two at once.
    for _ in 0..10 {
        let a = app.ws(&format!("/sessions/{suid}/watch"), &token).await;
        drop(a);
    }
    let mut held = Vec::new();
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while held.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "places came back");
        match app.ws(&format!("/sessions/{suid}/watch"), &token).await {
            Ok(ws) => held.push(ws),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    let third = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body = expect_error_with_extra(third, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
    assert_eq!(body["limit"], "viewers_per_session");
}

#[tokio::test]
async fn an_outsider_cannot_read_or_raise_limits() {
    let app = spawn_app_with(|_| {}).await;
    let victim = app.signup("victim.admin").await;
    let outsider = app.signup("outsider").await;
    let victim_account = account_id(&app, &victim).await;
    let own_account = account_id(&app, &outsider).await;
    let url = |id: &str| app.url(&format!("/admin/accounts/{id}/limits"));
    // Another account: 404, the same as an account that does not exist.
    for id in [
        victim_account.as_str(),
        "not-an-id",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let resp = app
            .http
            .get(url(id))
            .bearer_auth(&outsider)
            .send()
            .await
            .unwrap();
        expect_error_with_extra(resp, StatusCode::NOT_FOUND, "account_not_found").await;
    }
    // Raising one's own limits is for operators.
    let resp = app
        .http
        .put(url(&own_account))
        .bearer_auth(&outsider)
        .json(&json!({"limits": {"sessions": 1_000_000}}))
        .send()
        .await
        .unwrap();
    expect_error_with_extra(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // The accounts list shows only one's own.
    let list: Value = app
        .http
        .get(app.url("/admin/accounts"))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own_account.as_str()]);
    // Without a token: 401.
    let resp = app
        .http
        .get(app.url("/account/limits"))
        .send()
        .await
        .unwrap();
    expect_error_with_extra(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_huge_or_hostile_limits_body_is_refused_whole() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.signup("limits.owner").await;
    let operator = app.operator_token(&admin).await;
    let account = account_id(&app, &admin).await;
    let url = app.url(&format!("/admin/accounts/{account}/limits"));
    // Past the JSON body limit.
    let many: serde_json::Map<String, Value> = (0..20_000)
        .map(|i| (format!("limit_{i}"), json!(1)))
        .collect();
    let resp = app
        .http
        .put(&url)
        .bearer_auth(&operator)
        .json(&json!({ "limits": many }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Values that are not whole numbers, or out of range, and unknown fields.
    for body in [
        json!({"limits": {"sessions": 1.5}}),
        json!({"limits": {"sessions": "5"}}),
        json!({"limits": {"sessions": 18_446_744_073_709_551_616_f64}}),
        json!({"limits": {"sessions": 1}, "extra": true}),
        json!([1, 2]),
    ] {
        let resp = app
            .http
            .put(&url)
            .bearer_auth(&operator)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error_with_extra(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
    // Nothing was changed by any of them.
    let view: Value = app
        .http
        .get(&url)
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        view["limits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["overridden"] == false),
        "{view}"
    );
}
