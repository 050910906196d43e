//! Several nodes over one PostgreSQL database and NATS: what one node does, the others know.

use crate::helpers::{Cluster, free_port, spawn_app_with, spawn_cluster};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard_server::{Config, Server, ServerError};

/// How soon every node must refuse a token revoked on another one.
const REVOCATION_DEADLINE: Duration = Duration::from_secs(1);

async fn me(node: &crate::helpers::TestApp, token: &str) -> (StatusCode, Value) {
    let resp = node
        .http
        .get(node.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn login(node: &crate::helpers::TestApp, username: &str) -> reqwest::Response {
    node.http
        .post(node.url("/auth/login"))
        .json(&json!({"username": username, "password": "quiet lantern orbit mosaic"}))
        .send()
        .await
        .unwrap()
}

async fn login_token(node: &crate::helpers::TestApp, username: &str) -> String {
    let resp = login(node, username).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn three_nodes() -> Option<Cluster> {
    spawn_cluster(3, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_is_refused_by_every_node_within_a_second() {
    let Some(cluster) = three_nodes().await else {
        return;
    };
    let token = cluster[0].signup("cluster.revoke").await;
    let other_token = login_token(&cluster[1], "cluster.revoke").await;
    // Every node accepts the token first: they share the signing secret.
    for node in &cluster.nodes {
        assert_eq!(me(node, &token).await.0, StatusCode::OK, "{}", node.addr);
    }

    let resp = cluster[0]
        .http
        .post(cluster[0].url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The requirement: within 1 s of the logout's answer, no node accepts the token. Each
    // node is polled until it refuses it, against that one deadline.
    let answered = Instant::now();
    for node in &cluster.nodes[1..] {
        let what = format!("node {} to refuse the token after the logout", node.addr);
        let left = REVOCATION_DEADLINE.saturating_sub(answered.elapsed());
        let body = crate::helpers::eventually(&what, left, || async {
            let (status, body) = me(node, &token).await;
            if status == StatusCode::UNAUTHORIZED {
                return Ok(body);
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            Err(format!("{status} after {:?}", answered.elapsed()))
        })
        .await;
        assert_eq!(body["message"], "the token has been revoked", "{body}");
    }
    assert!(answered.elapsed() < REVOCATION_DEADLINE);
    // Only that token was revoked: the user's other sign-in still works everywhere.
    for node in &cluster.nodes {
        assert_eq!(me(node, &other_token).await.0, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signed_up_on_one_node_signs_in_on_another() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    assert_eq!(
        login(&cluster[1], "cluster.signup").await.status(),
        StatusCode::UNAUTHORIZED
    );
    cluster[0].signup("cluster.signup").await;
    let token = login_token(&cluster[1], "cluster.signup").await;
    let (status, user) = me(&cluster[0], &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["username"], "cluster.signup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_on_one_node_is_listed_by_the_others() {
    let Some(cluster) = three_nodes().await else {
        return;
    };
    let token = cluster[0].signup("cluster.sessions").await;
    let created = cluster[0].create_session(&token).await;
    let suid = created["suid"].as_str().unwrap();
    for node in &cluster.nodes[1..] {
        let resp = node
            .http
            .get(node.url("/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let list: Value = resp.json().await.unwrap();
        let suids: Vec<&str> = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["suid"].as_str())
            .collect();
        assert_eq!(suids, vec![suid], "listed by {}", node.addr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_is_refused_by_every_node() {
    let Some(cluster) = three_nodes().await else {
        return;
    };
    let token = cluster[0].signup("cluster.delete").await;
    let other_token = login_token(&cluster[1], "cluster.delete").await;
    for node in &cluster.nodes {
        assert_eq!(me(node, &other_token).await.0, StatusCode::OK);
    }
    let resp = cluster[0]
        .http
        .delete(cluster[0].url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Each node looks the user up per request, so no announcement is needed: at once.
    for node in &cluster.nodes {
        let (status, body) = me(node, &other_token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", node.addr);
        assert_eq!(body["message"], "this user no longer exists", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_nodes_are_ready_and_a_node_without_the_shared_secret_refuses_tokens() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    for node in &cluster.nodes {
        let resp = node
            .http
            .get(format!("http://{}/readyz", node.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let token = cluster[0].signup("cluster.secret").await;
    // Same database and bus but its own secret (the default): the token is not its.
    let (url, nats) = (
        cluster.database_url().to_owned(),
        cluster[0].config.cluster.nats_url.clone(),
    );
    let stranger = spawn_app_with(|c| {
        c.cluster.node_name = Some("stranger".into());
        c.operations.database_url = Some(url);
        c.cluster.nats_url = nats;
    })
    .await;
    assert_eq!(me(&cluster[1], &token).await.0, StatusCode::OK);
    let (status, body) = me(&stranger, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "the token is invalid or expired", "{body}");
}

#[tokio::test]
async fn an_unreachable_nats_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.operations.data_dir = dir.path().to_owned();
    config.kernels.kernels_enabled = Some(false);
    config.kernels.kernel_pool = String::new();
    config.cameras.detection = false;
    // Nothing listens on port 1.
    config.cluster.nats_url = Some("nats://sb:hunter2@127.0.0.1:1".into());
    match Server::start(config).await {
        Err(e @ ServerError::Nats { .. }) => {
            let text = e.to_string();
            assert!(text.contains("nats://sb:****@127.0.0.1:1"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("started without its NATS"),
    }
}

#[tokio::test]
async fn a_missing_shared_secret_file_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.operations.data_dir = dir.path().to_owned();
    config.kernels.kernels_enabled = Some(false);
    config.kernels.kernel_pool = String::new();
    config.cameras.detection = false;
    config.auth.token_secret_file = Some(dir.path().join("no-such-secret"));
    match Server::start(config).await {
        Err(e @ ServerError::TokenSecret(_)) => {
            assert!(e.to_string().contains("no-such-secret"), "{e}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("started without its secret"),
    }
    // A lone node never makes the shared file itself: nodes that each did would disagree.
    assert!(!dir.path().join("no-such-secret").exists());
}

#[tokio::test]
async fn a_node_is_not_ready_while_its_nats_is_gone() {
    use crate::cluster_failures::{NatsProcess, skip};
    if !std::path::Path::new(NatsProcess::BINARY).exists() {
        return skip("nats-server (apt-get install nats-server)");
    }
    let port = free_port();
    let nats = NatsProcess::start(port).await;
    let app = spawn_app_with(|c| {
        c.cluster.nats_url = Some(format!("nats://127.0.0.1:{port}"));
    })
    .await;
    let readyz = || async {
        app.http
            .get(format!("http://{}/readyz", app.addr))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(readyz().await.status(), StatusCode::OK);

    // NATS goes away (killed, nothing listening): the node says it is not ready.
    nats.kill().await;
    let resp = crate::helpers::eventually(
        "the node to be unready without NATS",
        crate::helpers::PATIENCE,
        || async {
            let resp = readyz().await;
            match resp.status() {
                StatusCode::SERVICE_UNAVAILABLE => Ok(resp),
                status => Err(status.to_string()),
            }
        },
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");
    assert_eq!(
        body["message"],
        "the bus is disconnected; try again shortly"
    );

    // Back on the same port: the client reconnects by itself and the node is ready again
    // (NATS clients back off up to 4 s between attempts).
    let _nats = NatsProcess::start(port).await;
    crate::helpers::eventually(
        "the node to be ready again after NATS came back",
        Duration::from_secs(30),
        || async {
            let status = readyz().await.status();
            crate::helpers::holds(status == StatusCode::OK, status)
        },
    )
    .await;
}
