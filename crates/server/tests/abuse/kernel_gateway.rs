//! The gateway parts of the kernel API from outside: kernel ids that are not ours, another
//! account's kernel by its UUID, `env` too large or poisoned, kernelspec resources asked for
//! by a path, no credentials, and many resource requests at once.

use crate::expect::expect_error;
use crate::helpers::{TestApp, spawn_app_with};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_server::kernel_id::NodeTag;

const PATIENCE: Duration = Duration::from_secs(120);

async fn kernel_app() -> TestApp {
    spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.max_kernels = 4;
        c.kernels.kernel_account_share = 1.0;
    })
    .await
}

fn api(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.addr)
}

#[tokio::test]
async fn ids_that_are_not_kernel_ids_and_other_accounts_kernels_are_not_found() {
    let app = kernel_app().await;
    let owner = app.signup("gw.owner").await;
    let stranger = app.signup("gw.stranger").await;
    let resp = app
        .http
        .post(api(&app, "/api/kernels"))
        .header("authorization", format!("token {owner}"))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The owner's own id in capitals is the same kernel; for the stranger it does not exist,
    // however it is spelt.
    let upper = id.to_uppercase();
    let resp = app
        .http
        .get(api(&app, &format!("/api/kernels/{upper}")))
        .header("authorization", format!("token {owner}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for path in [
        format!("/api/kernels/{id}"),
        format!("/api/kernels/{upper}"),
        format!("/api/kernels/{id}/interrupt"),
        format!("/api/kernels/{id}/restart"),
    ] {
        let req = if path.ends_with("interrupt") || path.ends_with("restart") {
            app.http.post(api(&app, &path))
        } else {
            app.http.get(api(&app, &path))
        };
        let resp = req
            .header("authorization", format!("token {stranger}"))
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "kernel_not_found").await;
    }

    // Shapes that are no kernel id of any node: 404 with the JSON error, without a lookup.
    for bad in [
        "not-a-kernel".to_owned(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
        format!("{{{}}}", NodeTag::of("x").new_kernel_id()),
        "%2e%2e%2fetc%2fpasswd".to_owned(),
        "a".repeat(4096),
    ] {
        let resp = app
            .http
            .get(api(&app, &format!("/api/kernels/{bad}")))
            .header("authorization", format!("token {owner}"))
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "kernel_not_found").await;
    }
    // A well-formed id of this node that was never handed out.
    let resp = app
        .http
        .delete(api(
            &app,
            &format!(
                "/api/kernels/{}",
                NodeTag::of(&app.config.node_name()).new_kernel_id()
            ),
        ))
        .header("authorization", format!("token {owner}"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "kernel_not_found").await;
}

#[tokio::test]
async fn env_too_large_or_poisoned_is_refused_before_anything_starts() {
    let app = kernel_app().await;
    let token = app.signup("gw.env").await;
    let start = |body: Value| {
        app.http
            .post(api(&app, "/api/kernels"))
            .header("authorization", format!("token {token}"))
            .json(&body)
            .send()
    };
    let many: serde_json::Map<String, Value> = (0..65)
        .map(|i| (format!("KERNEL_{i}"), json!("x")))
        .collect();
    let refused = [
        json!({"env": many}),
        json!({"env": {"KERNEL_USERNAME": "x".repeat(4097)}}),
        json!({"env": {"KERNEL_USERNAME": "ana\u{0}root"}}),
    ];
    for body in refused {
        let resp = start(body).await.unwrap();
        let err = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(err["message"].as_str().unwrap().contains("env"), "{err}");
    }
    // Not a map of strings: the body is malformed.
    let resp = start(json!({"env": {"KERNEL_USERNAME": 7}})).await.unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    let resp = start(json!({"env": ["KERNEL_USERNAME"]})).await.unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    // Nothing was started by any of them.
    let listed: Vec<Value> = app
        .http
        .get(api(&app, "/api/kernels"))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn kernelspec_resources_are_only_what_the_listing_names_and_only_for_callers() {
    let app = kernel_app().await;
    let token = app.signup("gw.files").await;
    let get = |path: String, auth: bool| {
        let req = app.http.get(api(&app, &path));
        if auth {
            req.header("authorization", format!("token {token}"))
        } else {
            req
        }
        .send()
    };
    let resp = get("/kernelspecs/python3/logo-64x64.png".into(), false)
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for path in [
        "/kernelspecs/python3/kernel.json",
        "/kernelspecs/python3/..%2Fkernel.json",
        "/kernelspecs/python3/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/kernelspecs/python3/.logo-64x64.png",
        "/kernelspecs/python3/logo-64x64.png%00.svg",
    ] {
        let resp = get(path.into(), true).await.unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "file_not_found").await;
    }
    let resp = get("/kernelspecs/..%2F..%2Fetc/passwd".into(), true)
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "kernelspec_not_found").await;

    // Many at once: each answered whole, none refused for another's sake.
    let answers =
        join_all((0..64).map(|_| get("/kernelspecs/python3/logo-64x64.png".into(), true))).await;
    for resp in answers {
        let resp = resp.unwrap();
        assert!(
            resp.status() == StatusCode::OK || resp.status() == StatusCode::TOO_MANY_REQUESTS,
            "{}",
            resp.status()
        );
        if resp.status() == StatusCode::OK {
            assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG"));
        }
    }
}
