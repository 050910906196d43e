//! Kernels across nodes: a kernel running on one node is used through another (HTTP
//! routes, the channels WebSocket, the long poll), new kernels go to the least-loaded node,
//! and ownership still holds across nodes.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_server::config::KernelPlacement;
use switchboard_server::kernel_id::{KernelId, NodeTag};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Whether kernel `id` runs on the node named `node`, as its id says.
fn runs_on(id: &str, node: &str) -> bool {
    KernelId::parse(id).is_some_and(|id| id.home().is(node))
}

/// Kernel launches can be slow on a busy machine.
const KERNEL_PATIENCE: Duration = Duration::from_secs(120);

fn kernel_nodes(c: &mut switchboard_server::Config) {
    c.kernels.kernels_enabled = Some(true);
    c.kernels.max_kernels = 4;
    // Fresh statuses quickly, so each node soon knows the others.
    c.operations.monitor_interval = Duration::from_millis(200);
}

fn execute_request(msg_id: &str, session: &str, code: &str) -> Value {
    json!({
        "header": {"msg_id": msg_id, "username": "test", "session": session,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": "2026-01-01T00:00:00.000Z"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}
    })
}

fn kernels_url(node: &TestApp, rest: &str) -> String {
    format!("http://{}/api/kernels{rest}", node.addr)
}

async fn start_kernel_on(node: &TestApp, token: &str) -> String {
    let resp = node
        .http
        .post(kernels_url(node, ""))
        .bearer_auth(token)
        .json(&json!({"name": "python3"}))
        .timeout(KERNEL_PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn channels_through(
    node: &TestApp,
    token: &str,
    id: &str,
    v1: bool,
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let url = format!("ws://{}/api/kernels/{id}/channels?session_id=s1", node.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {token}").parse().unwrap());
    if v1 {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "v1.kernel.websocket.jupyter.org".parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await
}

#[tokio::test]
async fn a_kernel_on_one_node_is_used_through_another() {
    // Every node starts kernels where asked, so the kernel is certainly on n2.
    let Some(cluster) = spawn_cluster(2, |c| {
        kernel_nodes(c);
        c.cluster.kernel_placement = KernelPlacement::Local;
    })
    .await
    else {
        return;
    };
    let (n1, n2) = (&cluster[0], &cluster[1]);
    let token = n1.signup("ada").await;
    let id = start_kernel_on(n2, &token).await;
    assert!(runs_on(&id, "n2"), "{id}");

    let model: Value = n1
        .http
        .get(kernels_url(n1, &format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(model["id"], id.as_str(), "{model}");
    let list: Value = n1
        .http
        .get(kernels_url(n1, ""))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str()),
        "n1 lists n2's kernel: {list}"
    );

    // The channels socket through n1 runs code on n2's kernel.
    let (mut ws, _) = channels_through(n1, &token, &id, false).await.unwrap();
    ws.send(Message::Text(
        execute_request("m1", "s1", "1+1").to_string().into(),
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + KERNEL_PATIENCE;
    let mut result = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the kernel answers in time")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["parent_header"]["msg_id"] != "m1" {
            continue;
        }
        match msg["header"]["msg_type"].as_str() {
            Some("execute_result") => result = Some(msg["content"]["data"]["text/plain"].clone()),
            Some("status") if msg["content"]["execution_state"] == "idle" => break,
            _ => {}
        }
    }
    assert_eq!(result, Some(json!("2")));
    ws.close(None).await.unwrap();

    // The subprotocol the owner negotiates reaches the client.
    let (_v1, resp) = channels_through(n1, &token, &id, true).await.unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "v1.kernel.websocket.jupyter.org"
    );

    // The long poll through n1.
    let sent = n1
        .http
        .post(n1.url(&format!("/kernels/{id}/messages")))
        .bearer_auth(&token)
        .body(execute_request("p1", "poll-session", "3*3").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        sent.text().await
    );
    let (mut after, mut polled) = (0, None);
    'poll: while tokio::time::Instant::now() < deadline {
        let page: Value = n1
            .http
            .get(n1.url(&format!("/kernels/{id}/messages?after={after}&wait=5")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        after = page["next"].as_u64().unwrap();
        for msg in page["messages"].as_array().unwrap() {
            if msg["parent_header"]["msg_id"] != "p1" {
                continue;
            }
            match msg["header"]["msg_type"].as_str().unwrap() {
                "execute_result" => polled = Some(msg["content"]["data"]["text/plain"].clone()),
                "status" if msg["content"]["execution_state"] == "idle" => break 'poll,
                _ => {}
            }
        }
    }
    assert_eq!(polled, Some(json!("9")));

    // Another account cannot reach the kernel through either node.
    let stranger = n1.signup("mallory").await;
    let hidden = n1
        .http
        .get(kernels_url(n1, &format!("/{id}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.json::<Value>().await.unwrap()["error"],
        "kernel_not_found"
    );
    match channels_through(n1, &stranger, &id, false).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }
        other => panic!("a stranger's socket is refused: {:?}", other.map(|_| ())),
    }
    let stranger_list: Value = n1
        .http
        .get(kernels_url(n1, ""))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stranger_list, json!([]));
    let anonymous = n1
        .http
        .get(kernels_url(n1, &format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A request another node already forwarded is never forwarded again.
    let looped = n1
        .http
        .get(kernels_url(n1, &format!("/{id}")))
        .bearer_auth(&token)
        .header("x-switchboard-forwarded", "n2")
        .send()
        .await
        .unwrap();
    assert_eq!(looped.status(), StatusCode::NOT_FOUND);

    // A node that is not in the cluster, named by a UUID id or one of the earlier form
    // (`<node>.<uuid>`, still routed during an upgrade): 503 with a clear error.
    let unknown = NodeTag::of("n9").new_kernel_id();
    let earlier = format!("n9.{}", uuid::Uuid::new_v4());
    for unknown in [unknown, earlier] {
        let resp = n1
            .http
            .get(kernels_url(n1, &format!("/{unknown}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{unknown}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"],
            "kernel_node_unavailable"
        );
    }

    let interrupted = n1
        .http
        .post(kernels_url(n1, &format!("/{id}/interrupt")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(interrupted.status(), StatusCode::NO_CONTENT);
    let deleted = n1
        .http
        .delete(kernels_url(n1, &format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = n2
        .http
        .get(kernels_url(n2, &format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "{:?}",
        gone.text().await
    );
}

/// Records a status for `node`'s server dated an hour ahead, so it stays the newest one the
/// monitors read whatever the node samples meanwhile.
async fn pretend_load(app: &TestApp, node: &str, cpu_percent: f64) {
    let service = app
        .store
        .services()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.node == node && s.running)
        .unwrap();
    let status = switchboard_core::ServiceStatus {
        service_id: service.id,
        at: chrono::Utc::now() + chrono::Duration::hours(1),
        load: 0.0,
        cpu_percent,
        memory_percent: 1.0,
        cpu_seconds: 0.0,
        wall_seconds: 1.0,
        virtual_bytes: 0,
        resident_bytes: 0,
        sessions: 0,
        viewers: 0,
        devices: 0,
        kernels: 0,
    };
    app.store.record_status(&status, 720).await.unwrap();
}

#[tokio::test]
async fn a_new_kernel_starts_on_the_least_loaded_node() {
    let Some(cluster) = spawn_cluster(2, kernel_nodes).await else {
        return;
    };
    let (n1, n2) = (&cluster[0], &cluster[1]);
    pretend_load(n1, "n1", 400.0).await;
    pretend_load(n1, "n2", 0.0).await;
    let token = n1.signup("grace").await;
    // n1 reads the statuses again every 200 ms; until it has, kernels may still start on it.
    let deadline = tokio::time::Instant::now() + KERNEL_PATIENCE;
    let id = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "n1 never placed a kernel on n2"
        );
        let id = start_kernel_on(n1, &token).await;
        if runs_on(&id, "n2") {
            break id;
        }
        assert!(runs_on(&id, "n1"), "{id}");
        let deleted = n1
            .http
            .delete(kernels_url(n1, &format!("/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    };
    // It runs on n2 itself: n2 answers without forwarding.
    let here = n2
        .http
        .get(kernels_url(n2, &format!("/{id}")))
        .bearer_auth(&token)
        .header("x-switchboard-forwarded", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(here.status(), StatusCode::OK);

    // The one-shot execute is placed the same way, and answers through n1.
    let ran: Value = n1
        .http
        .post(n1.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "6*7"}))
        .timeout(KERNEL_PATIENCE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(ran["outputs"][0]["data"]["text/plain"], "42", "{ran}");
}

#[tokio::test]
async fn a_users_kernel_share_counts_their_kernels_on_every_node() {
    let Some(cluster) = spawn_cluster(2, |c| {
        kernel_nodes(c);
        c.cluster.kernel_placement = KernelPlacement::Local;
        c.kernels.kernels_per_user = 2;
    })
    .await
    else {
        return;
    };
    let (n1, n2) = (&cluster[0], &cluster[1]);
    let token = n1.signup("share").await;
    let on_n1 = start_kernel_on(n1, &token).await;
    let on_n2 = start_kernel_on(n2, &token).await;
    assert!(
        runs_on(&on_n1, "n1") && runs_on(&on_n2, "n2"),
        "{on_n1} {on_n2}"
    );
    // Once n1 sees n2 (its status row), it counts the kernel there.
    eventually("n1 to list the kernels of both nodes", PATIENCE, || async {
        let list: Vec<Value> = n1
            .http
            .get(kernels_url(n1, ""))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        holds(list.len() == 2, format!("{list:?}"))
    })
    .await;

    // A third kernel, on either node and by either route, is past the share.
    let resp = n1
        .http
        .post(kernels_url(n1, ""))
        .bearer_auth(&token)
        .json(&json!({"name": "python3"}))
        .send()
        .await
        .unwrap();
    crate::expect::expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_kernels").await;
    let resp = n2
        .http
        .post(n2.url("/cells"))
        .bearer_auth(&token)
        .json(&json!({"code": "1"}))
        .send()
        .await
        .unwrap();
    crate::expect::expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_kernels").await;

    // With one shut down on n2, n1 starts one again.
    let resp = n2
        .http
        .delete(kernels_url(n2, &format!("/{on_n2}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let again = start_kernel_on(n1, &token).await;
    assert!(runs_on(&again, "n1"), "{again}");
}
