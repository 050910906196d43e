//! Headers that keep a browser safe: `X-Content-Type-Options: nosniff` on every answer (so
//! an answer echoing input is never run as a script or page), and HSTS over HTTPS (so a
//! network attacker cannot downgrade a returning browser to plain HTTP).

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

fn insecure_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// Answers of every kind: JSON success and error, a page, an asset, plain text, no route.
async fn answers(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> Vec<(String, reqwest::Response)> {
    let mut out = vec![];
    for path in [
        "/api/v1/me",
        "/api/v1/sessions/not-a-session",
        "/api/v1/nothing-here",
        "/",
        "/assets/js/api.js",
        "/healthz",
        "/no-such-page",
    ] {
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        out.push((path.to_owned(), resp));
    }
    let unauthorized = client
        .get(format!("{base}/api/v1/sessions"))
        .send()
        .await
        .unwrap();
    out.push(("/api/v1/sessions without a token".to_owned(), unauthorized));
    out
}

#[tokio::test]
async fn plain_http_answers_are_nosniff_without_hsts() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let base = format!("http://{}", app.addr);
    for (what, resp) in answers(&app.http, &base, &token).await {
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{what}"
        );
        assert!(
            !resp.headers().contains_key("strict-transport-security"),
            "{what}: HSTS over plain HTTP"
        );
    }
}

#[tokio::test]
async fn https_answers_carry_hsts_and_nosniff() {
    let app = spawn_app_with(|c| c.network.tls_self_signed = true).await;
    let client = insecure_client();
    let base = format!("https://{}", app.addr);
    let token = {
        let resp = client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&serde_json::json!({"username": "nurse", "password": "amber falcon ledger prism", "account_name": "Ward 3"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        resp.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (what, resp) in answers(&client, &base, &token).await {
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{what}"
        );
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000",
            "{what}"
        );
    }
}

#[tokio::test]
async fn hsts_max_age_is_configurable_and_can_be_off() {
    let client = insecure_client();
    let short = spawn_app_with(|c| {
        c.network.tls_self_signed = true;
        c.network.hsts_max_age = Duration::from_secs(600);
    })
    .await;
    let resp = client
        .get(format!("https://{}/healthz", short.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["strict-transport-security"], "max-age=600");

    let off = spawn_app_with(|c| {
        c.network.tls_self_signed = true;
        c.network.hsts_max_age = Duration::ZERO;
    })
    .await;
    let resp = client
        .get(format!("https://{}/healthz", off.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!resp.headers().contains_key("strict-transport-security"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}
