//! `/metrics`: nobody can grow it with made-up labels, and nobody without the metrics token
//! (or an operator's) reads it, with its live session ids.

use crate::expect::expect_error;
use crate::helpers::*;
use rand::Rng;
use reqwest::{Method, StatusCode};

use std::collections::BTreeSet;

const METRICS_TOKEN: &str = "prometheus-scrapes-with-this-0123456789";

async fn scrape(app: &TestApp) -> String {
    let resp = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

/// `len` random capital letters: a method name or path segment nobody sent before.
fn made_up(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
        .collect()
}

/// Requests with made-up 4 KiB methods and random paths, with and without a token; returns
/// every made-up string sent.
async fn send_made_up_requests(app: &TestApp, token: &str, rounds: usize) -> Vec<String> {
    let mut sent = vec![];
    for _ in 0..rounds {
        let method = made_up(4096);
        let segment = made_up(40).to_ascii_lowercase();
        for (how, path) in [
            (method.as_str(), "/api/v1/sessions".to_owned()),
            ("GET", format!("/api/v1/{segment}")),
            ("GET", format!("/{segment}")),
            ("GET", format!("/api/v1/sessions/{segment}")),
        ] {
            for signed_in in [false, true] {
                let mut req = app.http.request(
                    Method::from_bytes(how.as_bytes()).unwrap(),
                    format!("http://{}{path}", app.addr),
                );
                if signed_in {
                    req = req.bearer_auth(token);
                }
                let status = req.send().await.unwrap().status();
                assert!(status.is_client_error(), "{how:.8} {path}: {status}");
            }
        }
        sent.push(method);
        sent.push(segment);
    }
    sent
}

/// The series (name and labels, no value) whose labels include `label`.
fn series_with(text: &str, label: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_series() {
    let app = spawn_app_with(|c| c.operations.metrics_token = Some(METRICS_TOKEN.into())).await;
    let token = app.signup("clinician").await;
    // One of each kind first, so the series of the closed sets exist.
    send_made_up_requests(&app, &token, 1).await;
    let before = scrape(&app).await;
    let sent = send_made_up_requests(&app, &token, 100).await;
    let after = scrape(&app).await;

    for s in &sent {
        assert!(
            !after.contains(s.as_str()),
            "a made-up string became a label: {s:.32}…"
        );
    }
    assert_eq!(
        series_with(&before, "method=\"other\""),
        series_with(&after, "method=\"other\""),
        "made-up methods share one label"
    );
    // Unmatched paths share one route label: a series per method and status, no more.
    let unmatched: BTreeSet<String> = series_with(&after, "route=\"unmatched\"")
        .into_iter()
        .filter(|s| s.starts_with("switchboard_http_requests_total{"))
        .collect();
    assert!(unmatched.len() <= 4, "{unmatched:#?}");
    // Raw labels would have added about 100 × 4 KiB × (a counter and a histogram's buckets);
    // other tests of this process may add a few series meanwhile.
    assert!(
        after.len() < before.len() + 256 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn by_default_only_an_operator_reads_metrics() {
    let app = spawn_app().await;
    let url = format!("http://{}/metrics", app.addr);
    let admin = app.signup("clinician").await;
    let (suid, _) = app.live_session(&admin).await;

    let anonymous = app.http.get(&url).send().await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // An account admin is not the installation's operator.
    let admin_scrape = app.http.get(&url).bearer_auth(&admin).send().await.unwrap();
    expect_error(admin_scrape, StatusCode::FORBIDDEN, "forbidden").await;
    // No token is configured, so no made-up one passes.
    let guessed = app
        .http
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    expect_error(guessed, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let operator = app.operator_token(&admin).await;
    let resp = app
        .http
        .get(&url)
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("switchboard_sessions"), "{text:.300}");
    assert!(text.contains(&suid), "the live session's gauge is there");
}

#[tokio::test]
async fn the_metrics_token_reads_metrics_and_nothing_else_does() {
    let app = spawn_app_with(|c| c.operations.metrics_token = Some(METRICS_TOKEN.into())).await;
    let url = format!("http://{}/metrics", app.addr);
    let user = app.signup("clinician").await;

    expect_error(
        app.http.get(&url).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let almost = &METRICS_TOKEN[..METRICS_TOKEN.len() - 1];
    expect_error(
        app.http.get(&url).bearer_auth(almost).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Only in the Authorization header: a token in a URL ends up in logs.
    expect_error(
        app.http
            .get(format!("{url}?token={METRICS_TOKEN}"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.http.get(&url).bearer_auth(&user).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(
        scrape(&app)
            .await
            .contains("switchboard_http_requests_total")
    );
    // The metrics token is no user token: it opens nothing else.
    expect_error(
        app.http
            .get(app.url("/sessions"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn the_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics-token");
    std::fs::write(&file, format!("{METRICS_TOKEN}\n")).unwrap();
    let app = spawn_app_with(|c| c.operations.metrics_token_file = Some(file.clone())).await;
    assert!(scrape(&app).await.contains("switchboard_"));
    expect_error(
        app.http
            .get(format!("http://{}/metrics", app.addr))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_separate_listener_serves_metrics_and_the_main_one_does_not() {
    let app =
        spawn_app_with(|c| c.operations.metrics_listen = Some("127.0.0.1:0".parse().unwrap()))
            .await;
    let apart = app.metrics_addr.expect("the metrics listener's address");
    let admin = app.signup("clinician").await;
    let operator = app.operator_token(&admin).await;

    let resp = app
        .http
        .get(format!("http://{apart}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(resp.text().await.unwrap().contains("switchboard_"));
    // The metrics listener serves nothing else.
    for path in ["/api/v1/sessions", "/healthz", "/"] {
        let resp = app
            .http
            .get(format!("http://{apart}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    // The main listener has no /metrics now, not even for an operator.
    let resp = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_separate_listener_with_a_token_asks_for_it() {
    let app = spawn_app_with(|c| {
        c.operations.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.operations.metrics_token = Some(METRICS_TOKEN.into());
    })
    .await;
    let url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    expect_error(
        app.http.get(&url).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let resp = app
        .http
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn weak_or_doubled_metrics_tokens_are_configuration_errors() {
    use switchboard_server::Config;
    let mut short = Config::default();
    short.operations.metrics_token = Some("hunter2".into());
    assert!(short.validate().is_err());
    let mut both = Config::default();
    both.operations.metrics_token = Some(METRICS_TOKEN.into());
    both.operations.metrics_token_file = Some("/etc/switchboard/metrics-token".into());
    assert!(both.validate().is_err());
    let mut with_token = Config::default();
    with_token.operations.metrics_token = Some(METRICS_TOKEN.into());
    let printed = with_token.to_masked_toml();
    assert!(!printed.contains(METRICS_TOKEN), "{printed}");
}
