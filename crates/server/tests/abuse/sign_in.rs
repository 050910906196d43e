//! Guessing passwords at scale: a storm of wrong sign-ins from many addresses must neither
//! stall the node nor starve its other users, and rotating addresses against one username
//! must not buy a guesser more tries.

use crate::expect::expect_error;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A sign-in from `client` (the address the trusted proxy forwards), and how long it took.
async fn sign_in(
    app: &TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    (resp, started.elapsed())
}

/// Clients come through a proxy on loopback; `X-Forwarded-For` names them.
fn behind_a_proxy(c: &mut switchboard_server::Config) {
    c.network.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

#[tokio::test]
async fn a_storm_of_wrong_sign_ins_neither_stalls_nor_starves_others() {
    let app = spawn_app_with(|c| {
        behind_a_proxy(c);
        c.auth.password_hash_workers = Some(1);
        c.auth.password_hash_queue_wait = Duration::from_millis(500);
    })
    .await;
    let bystander = app.signup("bystander").await;
    app.signup("victim").await;
    let answered = AtomicUsize::new(0);
    let storm = futures::future::join_all((0..400).map(|n| {
        let (app, answered) = (&app, &answered);
        async move {
            let client = format!("203.0.113.{}", n % 250);
            // Mostly made-up names (each still costs a hash), every fourth the real victim.
            let username = if n % 4 == 0 {
                "victim".to_owned()
            } else {
                format!("guess{n}")
            };
            let (resp, took) = sign_in(app, &client, &username, "wrong password!").await;
            let status = resp.status();
            let retry_after = resp.headers().contains_key("retry-after");
            let body: Value = resp.json().await.unwrap();
            answered.fetch_add(1, Ordering::SeqCst);
            (status, retry_after, body, took)
        }
    }));
    // An unrelated signed-in user keeps asking while the storm lasts.
    let bystander_requests = async {
        let mut latencies = vec![];
        while answered.load(Ordering::SeqCst) < 400 {
            let started = Instant::now();
            let resp = app
                .http
                .get(app.url("/me"))
                .bearer_auth(&bystander)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "the bystander was refused");
            latencies.push((started.elapsed(), answered.load(Ordering::SeqCst)));
        }
        latencies
    };
    let (answers, bystander) = tokio::join!(storm, bystander_requests);

    let mut busy = 0;
    for (status, retry_after, body, took) in &answers {
        match *status {
            StatusCode::UNAUTHORIZED => assert_eq!(body["error"], "unauthorized"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["error"], "rate_limited");
                assert!(retry_after);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["error"], "busy", "{body}");
                assert!(retry_after);
                busy += 1;
            }
            other => panic!("a wrong sign-in answered {other}: {body}"),
        }
        assert!(
            *took < Duration::from_secs(4),
            "a sign-in waited {took:?} for its answer"
        );
    }
    assert!(busy > 0, "400 sign-ins at once never met the hashing bound");
    let during: Vec<_> = bystander.iter().filter(|(_, done)| *done < 400).collect();
    assert!(
        !during.is_empty(),
        "the bystander was never served during the storm"
    );
    for (took, _) in &bystander {
        assert!(
            *took < Duration::from_secs(2),
            "the bystander waited {took:?} during the storm"
        );
    }
}

#[tokio::test]
async fn rotating_addresses_against_one_username_meets_its_throttle() {
    let app = spawn_app_with(|c| {
        behind_a_proxy(c);
        c.auth.sign_in_failures_per_username = 5;
        c.auth.sign_in_failure_window = Duration::from_secs(5);
    })
    .await;
    app.signup("target").await;
    // Each guess from an address of its own: the per-address limit never sees two.
    for n in 0..5 {
        let (resp, _) = sign_in(&app, &format!("198.51.100.{n}"), "Target", "guess {n}!").await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let (resp, _) = sign_in(&app, "198.51.100.50", "target", "yet another guess").await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // While the name is throttled even the right password waits (a success would tell the
    // guesser it had found it); other names are unaffected.
    let (resp, _) = sign_in(
        &app,
        "198.51.100.51",
        "target",
        "quiet lantern orbit mosaic",
    )
    .await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    app.signup("neighbour").await;
    let (resp, _) = sign_in(
        &app,
        "198.51.100.52",
        "neighbour",
        "quiet lantern orbit mosaic",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // The throttle drains (one try per second here): the real user gets in soon after the
    // guessing stops, and a success clears the count.
    let every = Duration::from_millis(200);
    eventually_every("the real user to get in", PATIENCE, every, || async {
        let (resp, _) = sign_in(
            &app,
            "198.51.100.53",
            "target",
            "quiet lantern orbit mosaic",
        )
        .await;
        if resp.status() == StatusCode::OK {
            return Ok(());
        }
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        Err("still throttled".to_owned())
    })
    .await;
    for n in 0..4 {
        let (resp, _) = sign_in(
            &app,
            &format!("198.51.100.{}", 60 + n),
            "target",
            "wrong!!!",
        )
        .await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
