//! Attacks on account security: another account's users and sign-ins, a sign-in ended while
//! its connections are open (on this node and another), huge input, guessing codes and
//! recovery codes past the per-user limit, many attempts with one code at once, and wrong
//! camera tokens past the per-address limit.

use crate::expect::expect_error;
use crate::helpers::{PASSWORD, PATIENCE, TestApp, spawn_app, spawn_app_with, spawn_cluster};
use crate::revocation::{all_end, keep_streaming, login, open_all, watch};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use totp_rs::{Builder, Secret};

fn totp_code(secret: &str, at: u64) -> String {
    Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap()
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// Enrols a second factor: (secret, recovery codes).
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let enrolment: Value = post(app, "/me/second-factor", Some(token), json!(null))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let resp = post(
        app,
        "/me/second-factor/confirm",
        Some(token),
        json!({"code": totp_code(&secret, unix_now())}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The challenge a password sign-in answers for a user with a second factor.
async fn challenge(app: &TestApp, username: &str) -> String {
    let resp = post(
        app,
        "/auth/login",
        None,
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["challenge"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The id of the sign-in `token` is.
async fn sign_in_id(app: &TestApp, token: &str) -> String {
    let list: Value = app
        .http
        .get(app.url("/me/sign-ins"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["sign_ins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_sign_in_its_user_ends_closes_its_connections_at_once() {
    let app = spawn_app().await;
    let token = app.signup("yang").await;
    let (suid, device) = app.live_session(&token).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let open = open_all(&app, &suid, &token).await;
    let other = login(&app, "yang").await;
    let mut kept = watch(&app, &suid, &other).await;
    let id = sign_in_id(&app, &token).await;

    let resp = app
        .http
        .delete(app.url(&format!("/me/sign-ins/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The watch socket closes with 4401, the events socket too, MJPEG ends, the poll is 401.
    all_end(open, Instant::now()).await;
    crate::helpers::next_frame(&mut kept).await;
}

#[tokio::test]
async fn a_password_change_closes_the_other_sign_ins_connections_at_once() {
    let app = spawn_app().await;
    let token = app.signup("altman").await;
    let (suid, device) = app.live_session(&token).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let open = open_all(&app, &suid, &token).await;
    let other = login(&app, "altman").await;
    let resp = post(
        &app,
        "/me/password",
        Some(&other),
        json!({"current_password": PASSWORD, "new_password": "velvet harbor compass tundra"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    all_end(open, Instant::now()).await;
}

#[tokio::test]
async fn ending_a_sign_in_on_one_node_ends_its_connections_on_the_other() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let (a, b) = (&cluster[0], &cluster[1]);
    let token = a.signup("robbins").await;
    let (suid, device) = a.live_session(&token).await;
    let _frames = keep_streaming(a, &suid, &device);
    let open = tokio::time::timeout(PATIENCE, open_all(b, &suid, &token))
        .await
        .expect("the other node serves the session");
    let other = login(a, "robbins").await;
    let resp = a
        .http
        .delete(a.url("/me/sign-ins"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    all_end(open, Instant::now()).await;
    // Refused by both nodes, and the stored revocation outlives a restart of either.
    for node in [a, b] {
        let resp = node
            .http
            .get(node.url("/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn another_accounts_users_and_sign_ins_are_out_of_reach() {
    let app = spawn_app().await;
    let victim_admin = app.signup("victim.admin").await;
    let victim = app.join_account(&victim_admin, "victim.member").await;
    let victim_id = app.me(&victim).await["id"].as_str().unwrap().to_owned();
    let victim_sign_in = sign_in_id(&app, &victim).await;
    let attacker = app.signup("attacker").await;

    // Their password cannot be reset, whatever the id looks like.
    for id in [
        victim_id.as_str(),
        "%00",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let resp = post(
            &app,
            &format!("/account/users/{id}/password"),
            Some(&attacker),
            json!({"password": "amber falcon ledger prism"}),
        )
        .await;
        assert!(
            matches!(resp.status(), StatusCode::NOT_FOUND),
            "{id}: {}",
            resp.status()
        );
    }
    // Their sign-in cannot be ended, and the account's rule cannot be set from outside.
    let resp = app
        .http
        .delete(app.url(&format!("/me/sign-ins/{victim_sign_in}")))
        .bearer_auth(&attacker)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "sign_in_not_found").await;
    let resp = app
        .http
        .put(app.url("/account/security"))
        .bearer_auth(&attacker)
        .json(&json!({"require_second_factor": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // That was the attacker's own account: the victim's is untouched.
    let resp = app
        .http
        .get(app.url("/sessions"))
        .bearer_auth(&victim)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    login(&app, "victim.member").await;
    // A challenge made for one user does not sign in another.
    let (secret, _) = enrol(&app, &victim).await;
    let resp = post(
        &app,
        "/auth/second-factor",
        None,
        json!({"challenge": attacker, "code": totp_code(&secret, unix_now() + 30)}),
    )
    .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn huge_passwords_codes_and_bodies_are_refused_cheaply() {
    let app = spawn_app().await;
    let token = app.signup("huge").await;
    // Past the JSON limit: refused before anything is read.
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "x".repeat(100_000)}),
    )
    .await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    // Within it, but past the longest password: no strength estimate, no hash.
    let started = Instant::now();
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "correct horse ".repeat(4000)}),
    )
    .await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert!(
        body["message"].as_str().unwrap().contains("at most"),
        "{body}"
    );
    // A long password within the bound is judged on its start, quickly.
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "ab".repeat(500)}),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Huge codes are wrong codes.
    enrol(&app, &token).await;
    let challenge = challenge(&app, "huge").await;
    for body in [
        json!({"challenge": challenge, "code": "1".repeat(30_000)}),
        json!({"challenge": challenge, "recovery_code": "a".repeat(30_000)}),
    ] {
        let resp = post(&app, "/auth/second-factor", None, body).await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    let resp = post(
        &app,
        "/auth/second-factor",
        None,
        json!({"challenge": "e".repeat(40_000), "code": "123456"}),
    )
    .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = post(
        &app,
        "/me/username",
        Some(&token),
        json!({"username": "u".repeat(20_000)}),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_username").await;
}

#[tokio::test]
async fn guessing_codes_stops_at_the_per_user_limit_from_any_address() {
    let app = spawn_app_with(|c| {
        c.auth.sign_in_failures_per_username = 3;
        c.auth.sign_in_failure_window = Duration::from_secs(60);
    })
    .await;
    let token = app.signup("guessed").await;
    let (secret, codes) = enrol(&app, &token).await;
    let challenge = challenge(&app, "guessed").await;
    let right = totp_code(&secret, unix_now() + 30);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    for _ in 0..2 {
        let resp = post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": wrong}),
        )
        .await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    // Recovery codes count against the same limit.
    let resp = post(
        &app,
        "/auth/second-factor",
        None,
        json!({"challenge": challenge, "recovery_code": "aaaaa-bbbbb"}),
    )
    .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // Full: refused before any check, the right code and a right recovery code too.
    for body in [
        json!({"challenge": challenge, "code": right}),
        json!({"challenge": challenge, "recovery_code": codes[0]}),
    ] {
        let resp = post(&app, "/auth/second-factor", None, body).await;
        assert!(resp.headers().contains_key("retry-after"));
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    // The same count guards the current password and disabling.
    let resp = post(
        &app,
        "/me/second-factor/disable",
        Some(&token),
        json!({"password": PASSWORD, "recovery_code": codes[0]}),
    )
    .await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "velvet harbor compass tundra"}),
    )
    .await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The recovery code refused while throttled was not used up.
    assert_eq!(
        app.store
            .second_factor(
                app.me(&token).await["id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            )
            .await
            .unwrap()
            .recovery_codes_left,
        10
    );
}

#[tokio::test]
async fn guessing_current_passwords_with_a_stolen_sign_in_stops_at_the_limit() {
    let app = spawn_app_with(|c| c.auth.sign_in_failures_per_username = 3).await;
    let token = app.signup("stolen").await;
    for _ in 0..3 {
        let resp = post(
            &app,
            "/me/password",
            Some(&token),
            json!({"current_password": "a guess of mine here", "new_password": "velvet harbor compass tundra"}),
        )
        .await;
        expect_error(resp, StatusCode::FORBIDDEN, "wrong_password").await;
    }
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "velvet harbor compass tundra"}),
    )
    .await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn one_code_sent_many_times_at_once_signs_in_once() {
    let app = spawn_app().await;
    let token = app.signup("racer").await;
    let (secret, codes) = enrol(&app, &token).await;
    let code = totp_code(&secret, unix_now() + 30);
    let mut challenges = vec![];
    for _ in 0..8 {
        challenges.push(challenge(&app, "racer").await);
    }
    let attempts = challenges.iter().map(|c| {
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": c, "code": code}),
        )
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED)
    );
    // The same for a recovery code.
    let mut challenges = vec![];
    for _ in 0..8 {
        challenges.push(challenge(&app, "racer").await);
    }
    let attempts = challenges.iter().map(|c| {
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": c, "recovery_code": codes[3]}),
        )
    });
    let ok = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn wrong_camera_tokens_stop_at_the_per_address_limit() {
    let app = spawn_app_with(|c| c.auth.auth_attempts_per_minute = 3).await;
    let token = app.signup("camera.owner").await;
    let (camera, camera_token) = app.create_camera(&token, "Door").await;
    let upload = |bearer: String| {
        app.http
            .post(app.url(&format!("/cameras/{camera}/snapshots")))
            .bearer_auth(bearer)
            .header("content-type", "image/jpeg")
            .body(crate::helpers::jpeg(1))
            .send()
    };
    for _ in 0..3 {
        let resp = upload("sbc_guess".into()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = upload(camera_token.clone()).await.unwrap();
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
