//! The gatekeeper: each account's limits (429 `limit_reached`, counted across nodes), this
//! node's own (503 `busy`), bandwidth shaped rather than refused, and the limits as users,
//! admins and operators see and change them.

use crate::expect::expect_error_with_extra;
use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Opens a session; returns the raw answer.
async fn open_session(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/sessions"))
        .bearer_auth(token)
        .json(&json!({"kind": "video"}))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 `limit_reached` for `limit` with its value and maximum; returns the body.
async fn expect_limit(resp: reqwest::Response, limit: &str, value: u64, max: u64) -> Value {
    let retry_after = resp.headers().get("retry-after").cloned();
    let body = expect_error_with_extra(resp, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
    assert_eq!(body["limit"], limit, "{body}");
    assert_eq!(body["value"], value, "{body}");
    assert_eq!(body["max"], max, "{body}");
    if [
        "sessions",
        "viewers",
        "viewers_per_session",
        "kernels",
        "uploads_per_hour",
    ]
    .contains(&limit)
    {
        assert!(
            retry_after.is_some(),
            "waiting helps for {limit}: Retry-After"
        );
    }
    body
}

/// The caller's account's limits, by name.
async fn own_limits(app: &TestApp, token: &str) -> Value {
    let resp = app
        .http
        .get(app.url("/account/limits"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn limit<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["limit"] == name)
        .unwrap_or_else(|| panic!("no {name} in {view}"))
}

#[tokio::test]
async fn an_account_at_its_session_limit_hears_limit_reached_until_one_ends() {
    let app = spawn_app_with(|c| c.admission.account_sessions = 2).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let first = app.create_session(&alice).await;
    app.create_session(&alice).await;
    let body = expect_limit(open_session(&app, &alice).await, "sessions", 2, 2).await;
    assert!(
        body["message"].as_str().unwrap().contains("sessions"),
        "{body}"
    );
    // Another account is not held back by this one.
    app.create_session(&bob).await;
    let view = own_limits(&app, &alice).await;
    assert_eq!(limit(&view, "sessions")["value"], 2);
    assert_eq!(limit(&view, "sessions")["max"], 2);
    assert_eq!(limit(&view, "sessions")["overridden"], false);
    assert_eq!(view["enforced"], true);
    // Ending a session frees its place.
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{}", first["suid"].as_str().unwrap())))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(
        open_session(&app, &alice).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn many_creations_at_once_never_pass_the_limit() {
    let app = spawn_app_with(|c| c.admission.account_sessions = 3).await;
    let token = app.signup("crowd").await;
    let answers = futures::future::join_all((0..12).map(|_| open_session(&app, &token))).await;
    let created = answers
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, refused), (3, 9));
}

#[tokio::test]
async fn viewers_past_the_session_and_account_limits_are_refused() {
    let app = spawn_app_with(|c| {
        c.admission.account_viewers_per_session = 1;
        c.admission.account_viewers = 2;
    })
    .await;
    let token = app.signup("watcher").await;
    let (suid, _device) = app.live_session(&token).await;
    let (other, _device2) = app.live_session(&token).await;
    let (third, _device3) = app.live_session(&token).await;
    let watching = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_limit(resp, "viewers_per_session", 1, 1).await;
    let second = app
        .http
        .get(app.url(&format!("/sessions/{other}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{third}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_limit(resp, "viewers", 2, 2).await;
    let view = own_limits(&app, &token).await;
    assert_eq!(limit(&view, "viewers")["value"], 2);
    assert_eq!(limit(&view, "viewers_per_session")["value"], 1);
    // A viewer who leaves gives the place back.
    drop(watching);
    eventually("the place is given back", PATIENCE, || async {
        let resp = app
            .http
            .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        holds(status == StatusCode::OK, status)
    })
    .await;
}

#[tokio::test]
async fn operators_set_an_accounts_limits_and_admins_only_read_their_own() {
    let app = spawn_app().await;
    let admin = app.signup("clinic.admin").await;
    let member = app.join_account(&admin, "clinic.member").await;
    let stranger = app.signup("stranger").await;
    let operator = app.operator_token(&stranger).await;
    let account = app.me(&admin).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let limits_url = app.url(&format!("/admin/accounts/{account}/limits"));
    let put = |token: &str, body: Value| {
        app.http
            .put(&limits_url)
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    // The operator lowers sessions to 1 below what the account uses: nothing running is cut.
    app.create_session(&admin).await;
    app.create_session(&admin).await;
    let resp = put(&operator, json!({"limits": {"sessions": 1, "cameras": 7}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let view: Value = resp.json().await.unwrap();
    assert_eq!(limit(&view, "sessions")["max"], 1);
    assert_eq!(limit(&view, "sessions")["value"], 2);
    assert_eq!(limit(&view, "sessions")["overridden"], true);
    assert_eq!(limit(&view, "cameras")["max"], 7);
    assert_eq!(limit(&view, "users")["overridden"], false);
    let sessions: Value = app
        .http
        .get(app.url("/sessions?states=waiting"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["sessions"].as_array().map_or(0, Vec::len),
        2,
        "{sessions}"
    );
    expect_limit(open_session(&app, &admin).await, "sessions", 2, 1).await;
    // Members and the account's admin read; only operators change.
    let own = own_limits(&app, &member).await;
    assert_eq!(limit(&own, "sessions")["max"], 1);
    let resp = app
        .http
        .get(&limits_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = put(&admin, json!({"limits": {"sessions": 100}}))
        .await
        .unwrap();
    expect_error_with_extra(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .http
        .get(&limits_url)
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    expect_error_with_extra(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // An admin of another account learns nothing of this one.
    for resp in [
        app.http
            .get(&limits_url)
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap(),
        put(&stranger, json!({"limits": {}})).await.unwrap(),
    ] {
        expect_error_with_extra(resp, StatusCode::NOT_FOUND, "account_not_found").await;
    }
    // Bad limits are named.
    let resp = put(&operator, json!({"limits": {"sessionz": 1}}))
        .await
        .unwrap();
    let body =
        expect_error_with_extra(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(body["message"].as_str().unwrap().contains("sessionz"));
    let resp = put(
        &operator,
        json!({"limits": {"egress_bytes_per_second": 10}}),
    )
    .await
    .unwrap();
    expect_error_with_extra(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let resp = put(&operator, json!({"limits": {"sessions": -1}}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Cleared: the defaults again.
    let resp = put(&operator, json!({"limits": {}})).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        open_session(&app, &admin).await.status(),
        StatusCode::CREATED
    );
    // The operator lists the accounts; an admin sees their own only.
    let list: Value = app
        .http
        .get(app.url("/admin/accounts"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["accounts"].as_array().unwrap().len() >= 2, "{list}");
    let list: Value = app
        .http
        .get(app.url("/admin/accounts"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["accounts"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn cameras_and_hourly_uploads_are_limited() {
    let app = spawn_app_with(|c| {
        c.admission.account_cameras = 1;
        c.admission.account_uploads_per_hour = 1;
    })
    .await;
    let token = app.signup("camera.owner").await;
    let (_id, camera_token) = app.create_camera(&token, "Hall").await;
    let resp = app
        .http
        .post(app.url("/cameras"))
        .bearer_auth(&token)
        .json(&json!({"name": "Kitchen"}))
        .send()
        .await
        .unwrap();
    expect_limit(resp, "cameras", 1, 1).await;
    let upload = || {
        app.http
            .post(app.url(&format!("/cameras/{_id}/snapshots")))
            .bearer_auth(&camera_token)
            .header("content-type", "image/jpeg")
            .body(jpeg(1))
            .send()
    };
    let first = upload().await.unwrap();
    assert!(first.status().is_success(), "{}", first.status());
    let body = expect_limit(upload().await.unwrap(), "uploads_per_hour", 1, 1).await;
    assert!(body["message"].as_str().unwrap().contains("uploads"));
}

#[tokio::test]
async fn a_node_at_its_own_limits_sheds_load_with_503() {
    let app = spawn_app_with(|c| {
        c.admission.node_websockets = 1;
        c.admission.node_sessions = 1;
    })
    .await;
    let token = app.signup("shed").await;
    app.create_session(&token).await;
    let resp = open_session(&app, &token).await;
    let retry = resp.headers().get("retry-after").cloned();
    let body = expect_error_with_extra(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    assert_eq!(body["limit"], "node_sessions");
    assert_eq!(retry.unwrap(), "1");
    let _held = app.ws("/events", &token).await.unwrap();
    match app.ws("/events", &token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["limit"], "node_websockets");
        }
        other => panic!("a second WebSocket is refused, got {other:?}"),
    }
    // Counted in /metrics by limit and scope.
    let operator = app.operator_token(&token).await;
    let metrics = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |limit: &str, scope: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("switchboard_admission_refused_total{")
                    && l.contains(&format!("limit=\"{limit}\""))
                    && l.contains(&format!("scope=\"{scope}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
    };
    assert!(line("node_sessions", "node").unwrap() >= 1.0, "{metrics}");
    assert!(line("node_websockets", "node").unwrap() >= 1.0);
    assert!(line("sessions", "account").is_some(), "registered at zero");
}

/// Frames of about `size` bytes (a JPEG padded with a comment segment).
fn big_jpeg(n: u64, size: usize) -> bytes::Bytes {
    let small = jpeg(n);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&small[..2]);
    let pad = size.saturating_sub(small.len()).min(65_000);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&u16::try_from(pad + 2).unwrap().to_be_bytes());
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(&small[2..]);
    out.into()
}

#[tokio::test]
async fn viewers_over_the_accounts_egress_get_frames_less_often() {
    let app = spawn_app_with(|c| {
        c.admission.account_egress_bandwidth = bytesize::ByteSize::kib(20);
        c.devices.max_device_fps = 100;
    })
    .await;
    let shaped = app.signup("shaped").await;
    let (suid, device) = app.live_session(&shaped).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &shaped)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    let frame = big_jpeg(1, 10_000);
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(2) {
        app.post_frame(&suid, &device, sent, frame.clone()).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // 20 KiB/s of 10 kB frames: about two a second, with a second's burst at the start.
    let mut got = 0;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_millis(300), viewer.next()).await
    {
        if msg.is_binary() {
            got += 1;
        }
    }
    assert!(sent >= 20, "the device sent {sent}");
    assert!(got >= 2, "a shaped viewer still gets frames: {got}");
    assert!(got <= 9, "{got} of {sent} frames passed a 20 KiB/s limit");
}

#[tokio::test]
async fn uploads_over_the_accounts_bandwidth_are_slowed_not_refused() {
    let app = spawn_app_with(|c| {
        c.admission.account_upload_bandwidth = bytesize::ByteSize::kib(10);
        c.devices.max_device_fps = 100;
    })
    .await;
    let token = app.signup("uploader").await;
    let (suid, device) = app.live_session(&token).await;
    let frame = big_jpeg(2, 10 * 1024);
    let started = Instant::now();
    for seq in 0..4 {
        let resp = app.post_frame(&suid, &device, seq, frame.clone()).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // 40 KiB at 10 KiB/s, with a second's worth at the start: at least two seconds.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_nodes_racing_for_the_last_session_have_one_winner() {
    let Some(cluster) = spawn_cluster(2, |c| c.admission.account_sessions = 1).await else {
        return;
    };
    let token = cluster[0].signup("racer").await;
    for round in 0..4 {
        let (a, b) = tokio::join!(
            open_session(&cluster[0], &token),
            open_session(&cluster[1], &token)
        );
        let statuses = [a.status(), b.status()];
        assert!(
            statuses.contains(&StatusCode::CREATED)
                && statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "round {round}: {statuses:?}"
        );
        let (node, winner) = if a.status() == StatusCode::CREATED {
            (&cluster[0], a)
        } else {
            (&cluster[1], b)
        };
        let winner: Value = winner.json().await.unwrap();
        let resp = node
            .http
            .delete(node.url(&format!("/sessions/{}", winner["suid"].as_str().unwrap())))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
    // The count every node reads is the same.
    let view = own_limits(&cluster[1], &token).await;
    assert_eq!(limit(&view, "sessions")["value"], 0);
}

/// Starts a kernel for `token`; returns the raw answer.
async fn start_kernel(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3"}))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn kernels_are_limited_by_count_and_by_cpu_seconds_of_the_day() {
    let app = spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.kernel_pool = String::new();
        c.admission.account_kernels = 1;
        c.admission.account_kernel_cpu_seconds_per_day = 2;
    })
    .await;
    let token = app.signup("computer").await;
    let first = start_kernel(&app, &token).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let id = first.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_limit(start_kernel(&app, &token).await, "kernels", 1, 1).await;
    // The kernel burns CPU; the meter adds it to the account's day.
    let run = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "import time\nt = time.time()\nwhile time.time() < t + 4: pass"}))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    // /execute needs a second kernel: refused by the count while the first runs.
    let body = expect_error_with_extra(run, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
    assert_eq!(body["limit"], "kernels");
    let resp = app
        .http
        .delete(format!("http://{}/api/kernels/{id}", app.addr))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let run = eventually("the kernel's place is given back", PATIENCE, || async {
        let resp = app
            .http
            .post(app.url("/execute"))
            .bearer_auth(&token)
            .json(&json!({"code": "import time\nt = time.time()\nwhile time.time() < t + 7: pass"}))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status == StatusCode::OK)
            .then_some(resp)
            .ok_or_else(|| status.to_string())
    })
    .await;
    drop(run);
    let used = eventually_every(
        "the kernel's CPU seconds are counted",
        Duration::from_secs(10),
        Duration::from_secs(1),
        || async {
            let view = own_limits(&app, &token).await;
            let used = limit(&view, "kernel_cpu_seconds_per_day")["value"]
                .as_u64()
                .unwrap();
            (used >= 2)
                .then_some(used)
                .ok_or_else(|| format!("{used} s"))
        },
    )
    .await;
    assert!(used <= 60, "{used} CPU seconds for a 7 s loop");
    // The day's CPU seconds are used up: new kernels wait for tomorrow.
    let refused = start_kernel(&app, &token).await;
    assert!(refused.headers().get("retry-after").is_some());
    let body =
        expect_error_with_extra(refused, StatusCode::TOO_MANY_REQUESTS, "limit_reached").await;
    assert_eq!(body["limit"], "kernel_cpu_seconds_per_day");
    assert_eq!(body["max"], 2);
    assert!(body["value"].as_u64().unwrap() >= used, "{body}");
    assert!(body["message"].as_str().unwrap().contains("CPU"));
}

#[tokio::test]
async fn an_invite_past_the_accounts_user_limit_is_refused_and_stays_usable() {
    let app = spawn_app_with(|c| c.admission.account_users = 2).await;
    let admin = app.signup("small.clinic").await;
    app.join_account(&admin, "second.user").await;
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
    let join = || {
        app.http
            .post(app.url("/auth/register"))
            .json(&json!({"username": "third.user", "password": PASSWORD,
                          "invite": invite["invite"]}))
            .send()
    };
    expect_limit(join().await.unwrap(), "users", 2, 2).await;
    let view = own_limits(&app, &admin).await;
    assert_eq!(limit(&view, "users")["value"], 2);
    // The refusal did not use the invite up: with room again, it works.
    let operator = app.operator_token(&admin).await;
    let account = app.me(&admin).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .http
        .put(app.url(&format!("/admin/accounts/{account}/limits")))
        .bearer_auth(&operator)
        .json(&json!({"limits": {"users": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(join().await.unwrap().status(), StatusCode::CREATED);
}
