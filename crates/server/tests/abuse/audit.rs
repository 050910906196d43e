//! The audit trail against an outsider: a self-made account reads nothing of another's trail
//! however it filters or pages, cannot read it at all without being an admin, cannot flood
//! it with failed sign-ins beyond the sign-in throttle, and cannot break it with bad or
//! endless input.

use crate::expect::expect_error;
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn page(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .get(app.url(&format!("/audit?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn another_accounts_trail_stays_hidden_whatever_the_filter_or_cursor() {
    let app = spawn_app().await;
    let victim = app.signup("victim").await;
    let (suid, _) = app.live_session(&victim).await;
    let victim_me = app.me(&victim).await;
    let victim_account = victim_me["account_id"].as_str().unwrap().to_owned();
    let victim_user = victim_me["id"].as_str().unwrap().to_owned();
    let outsider = app.signup("outsider").await;

    for query in [
        format!("target={suid}"),
        format!("actor={victim_user}"),
        "action=session.created".to_owned(),
    ] {
        let (status, body) = page(&app, &outsider, &query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        for r in body["records"].as_array().unwrap() {
            assert_ne!(r["account"], victim_account.as_str(), "{query} leaked {r}");
            assert_ne!(r["target"]["id"], suid.as_str(), "{query} leaked {r}");
        }
    }
    // Naming the victim's account is refused outright.
    for query in [
        format!("account={victim_account}"),
        format!("account={victim_account}&action=session.created"),
    ] {
        let (status, body) = page(&app, &outsider, &query).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{query}: {body}");
        assert_eq!(body["error"], "account_not_found", "{body}");
    }
    // A cursor is only a position: following one made from the victim's records still
    // shows the outsider's own.
    let (_, theirs) = page(&app, &victim, "limit=1").await;
    let cursor = theirs["next"].as_str().unwrap().to_owned();
    let (status, body) = page(&app, &outsider, &format!("cursor={cursor}&limit=500")).await;
    assert_eq!(status, StatusCode::OK);
    for r in body["records"].as_array().unwrap() {
        assert_ne!(r["account"], victim_account.as_str(), "{r}");
    }
    // Without a sign-in, nothing at all.
    let anonymous = app.http.get(app.url("/audit")).send().await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_flood_of_failed_sign_ins_is_bounded_on_the_trail_too() {
    let app = spawn_app().await;
    let admin = app.signup("target").await;
    for _ in 0..40 {
        let attempt = app
            .http
            .post(app.url("/auth/login"))
            .json(&json!({"username": "target", "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        assert!(attempt.status().is_client_error(), "{}", attempt.status());
    }
    // The throttle refuses before any work, so most attempts leave no record: the trail
    // holds at most the per-username allowance, not one record per guess.
    let allowance = app.config.auth.sign_in_failures_per_username as usize;
    let mut denied = 0;
    for _ in 0..50 {
        let (_, body) = page(&app, &admin, "action=auth.sign_in&limit=500").await;
        denied = body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "denied")
            .count();
        if denied > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(denied >= 1, "failed sign-ins are recorded");
    assert!(
        denied <= allowance + 1,
        "{denied} records for {allowance} allowed failures"
    );
    // The real user still signs in.
    let ok = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"username": "target", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        ok.status() == StatusCode::OK || ok.status() == StatusCode::TOO_MANY_REQUESTS,
        "{}",
        ok.status()
    );
}

#[tokio::test]
async fn huge_endless_and_concurrent_queries_are_answered_not_crashed() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let long = "x".repeat(6000);
    let (status, _) = page(&app, &admin, &format!("actor={long}")).await;
    assert_eq!(status, StatusCode::OK);
    for query in [
        "limit=18446744073709551616".to_owned(),
        format!("cursor={long}"),
        format!("action={long}"),
        "from=9999-12-31T23:59:59Z&to=0001-01-01T00:00:00Z".to_owned(),
    ] {
        let (status, body) = page(&app, &admin, &query).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{query}: {status} {body}"
        );
        assert!(body["error"].is_string(), "{body}");
    }
    let answers = futures::future::join_all((0..50).map(|_| {
        app.http
            .get(app.url("/audit?limit=500"))
            .bearer_auth(&admin)
            .send()
    }))
    .await;
    for resp in answers {
        let status = resp.unwrap().status();
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
    }
}
