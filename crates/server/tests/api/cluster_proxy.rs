//! Three nodes behind a real HAProxy (Debian's), round robin with no stickiness, configured
//! like contrib/cluster/haproxy.cfg: a whole call works with each request on another node,
//! which `X-Switchboard-Node` shows.

use crate::haproxy::{HAPROXY, Haproxy};
use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A client that goes through the proxy and notes which node answered each request.
struct Client {
    http: reqwest::Client,
    base: String,
    ws_base: String,
    answered_by: Vec<String>,
}

impl Client {
    fn note(&mut self, headers: &reqwest::header::HeaderMap) {
        let node = headers
            .get("x-switchboard-node")
            .expect("every response names its node")
            .to_str()
            .unwrap()
            .to_owned();
        self.answered_by.push(node);
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let resp = req.send().await.unwrap();
        self.note(resp.headers());
        resp
    }

    async fn json(&mut self, req: reqwest::RequestBuilder, want: StatusCode) -> Value {
        let resp = self.send(req).await;
        assert_eq!(resp.status(), want);
        resp.json().await.unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn ws(&mut self, path: &str, token: &str) -> Ws {
        let mut req = format!("{}/api/v1{path}", self.ws_base)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        let node = resp.headers()["x-switchboard-node"]
            .to_str()
            .unwrap()
            .to_owned();
        self.answered_by.push(node);
        ws
    }

    /// Posts the device's frame `want` (each post to the next node) until `seen` says it
    /// arrived.
    async fn post_until<F, Fut>(
        &mut self,
        suid: &str,
        device: &str,
        want: &bytes::Bytes,
        mut seen: F,
    ) where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seq = 0;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the frame never arrived through the proxy"
            );
            seq += 1;
            let req = self
                .http
                .post(self.url(&format!("/sessions/{suid}/frames?seq={seq}")))
                .bearer_auth(device)
                .header("content-type", "image/jpeg")
                .body(want.clone());
            let resp = self.send(req).await;
            assert_eq!(resp.status(), StatusCode::OK);
            if seen().await {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_works_through_haproxy_with_every_request_on_another_node() {
    if !std::path::Path::new(HAPROXY).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs HAProxy for this test (scripts/test installs it)"
        );
        eprintln!("SKIPPED: needs HAProxy (apt-get install haproxy)");
        return;
    }
    let Some(cluster) = spawn_cluster(3, |_| {}).await else {
        return;
    };
    let proxy = Haproxy::start(&cluster.nodes).await;
    let mut c = Client {
        http: reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{}", proxy.port),
        ws_base: format!("ws://127.0.0.1:{}", proxy.port),
        answered_by: vec![],
    };

    let req = c.http.post(c.url("/auth/register")).json(&json!({
        "username": "proxy.owner",
        "password": "quiet lantern orbit mosaic",
        "account_name": "Proxy clinic",
    }));
    let token = c.json(req, StatusCode::CREATED).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = c
        .http
        .post(c.url("/sessions"))
        .bearer_auth(&token)
        .json(&json!({"kind": "video", "label": "Through the proxy"}));
    let session = c.json(req, StatusCode::CREATED).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    let req = c.http.post(c.url("/devices/register")).json(&json!({
        "ticket": session["ticket"],
        "device": {"model": "Pixel 9", "os": "Android 16", "app_version": "3.1.0"},
    }));
    let device = c.json(req, StatusCode::CREATED).await["device_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // An MJPEG viewer gets the device's frames, whichever nodes the two sit on.
    let req = c
        .http
        .get(c.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(120));
    let resp = c.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mjpeg = std::sync::Arc::new(tokio::sync::Mutex::new((resp.bytes_stream(), Vec::new())));
    let frame = jpeg(21);
    c.post_until(&suid, &device, &frame, || {
        let (mjpeg, frame) = (mjpeg.clone(), frame.clone());
        async move {
            let mut guard = mjpeg.lock().await;
            let (body, buf) = &mut *guard;
            if let Ok(Some(chunk)) =
                tokio::time::timeout(Duration::from_millis(200), body.next()).await
            {
                buf.extend_from_slice(&chunk.unwrap());
            }
            buf.windows(frame.len()).any(|w| w == frame.as_ref())
        }
    })
    .await;

    // So does a WebSocket viewer through the proxy.
    let watch = std::sync::Arc::new(tokio::sync::Mutex::new(
        c.ws(&format!("/sessions/{suid}/watch"), &token).await,
    ));
    let frame = jpeg(22);
    c.post_until(&suid, &device, &frame, || {
        let (watch, frame) = (watch.clone(), frame.clone());
        async move {
            let mut ws = watch.lock().await;
            loop {
                match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                    Ok(Some(Ok(Message::Binary(b)))) if b == frame => return true,
                    Ok(Some(Ok(_))) => continue,
                    Ok(other) => panic!("watch socket closed: {other:?}"),
                    Err(_) => return false,
                }
            }
        }
    })
    .await;

    // A control sent through the proxy reaches the device's socket, wherever each landed.
    let mut socket = c.ws(&format!("/sessions/{suid}/device"), &device).await;
    let req = c
        .http
        .post(c.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .json(&json!({"action": "torch", "args": {"on": true}}));
    c.json(req, StatusCode::CREATED).await;
    let control = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "control" {
                    break v;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no control reached the device: {other:?}"),
        }
    };
    assert_eq!(control["action"], "torch");

    // Every node counts both viewers; reading the session lands on each in turn.
    // (Each read records which node answered, so the client is borrowed mutably: polled by hand.)
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let req = c
            .http
            .get(c.url(&format!("/sessions/{suid}")))
            .bearer_auth(&token);
        let s = c.json(req, StatusCode::OK).await;
        if s["viewers"] == 2 && s["state"] == "live" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "viewers: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let req = c
        .http
        .delete(c.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token);
    let ended = c.json(req, StatusCode::OK).await;
    assert_eq!(ended["state"], "ended", "{ended}");

    // Round robin, no stickiness: every node served, and no two requests in a row went to
    // the same one.
    let mut nodes = c.answered_by.clone();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes, ["n1", "n2", "n3"], "{:?}", c.answered_by);
    for pair in c.answered_by.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "consecutive requests: {:?}",
            c.answered_by
        );
    }
}
