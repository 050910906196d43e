//! A connection lives only as long as the right that opened it: signing out, deleting the
//! user (oneself or by an admin) and the token's expiry end every open stream, socket and
//! long poll within a second, on every node.

use crate::helpers::{
    PATIENCE, TestApp, Ws, jpeg, next_event, next_frame, spawn_app, spawn_app_with, spawn_cluster,
};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_server::auth::{TokenKind, TokenService};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How soon a connection must end once its right has.
const PROMPTLY: Duration = Duration::from_secs(1);

/// Posts a frame every 30 ms until dropped, so an open viewer has something to receive.
pub(crate) struct Streaming(tokio::task::JoinHandle<()>);

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn keep_streaming(app: &TestApp, suid: &str, device: &str) -> Streaming {
    let (http, url, device) = (
        app.http.clone(),
        app.url(&format!("/sessions/{suid}/frames")),
        device.to_owned(),
    );
    Streaming(tokio::spawn(async move {
        for n in 1.. {
            let _ = http
                .post(&url)
                .bearer_auth(&device)
                .header("content-type", "image/jpeg")
                .body(jpeg(n))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }))
}

/// Reads until the server closes the socket, at most until `deadline`: its close code and
/// reason. Frames that were on their way before the close are read past.
async fn close_before(ws: &mut Ws, deadline: Instant, what: &str) -> (u16, String) {
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{what} still open past the deadline"));
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                panic!("{what} closed without a close frame")
            }
            Some(Ok(_)) => continue,
        }
    }
}

async fn assert_unauthorized_close(ws: &mut Ws, deadline: Instant, what: &str) {
    let (code, reason) = close_before(ws, deadline, what).await;
    assert_eq!((code, reason.as_str()), (4401, "unauthorized"), "{what}");
    // Nothing follows the close: the stream of frames has stopped.
    let after = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    assert!(
        !matches!(after, Ok(Some(Ok(Message::Binary(_))))),
        "{what}: a frame arrived after the close"
    );
}

/// Reads an MJPEG body until it ends, at most until `deadline`; returns the bytes read.
async fn mjpeg_ends_before(resp: reqwest::Response, deadline: Instant, what: &str) -> usize {
    let mut body = resp.bytes_stream();
    let mut read = 0;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => panic!("{what}: the MJPEG body still streams past the deadline"),
            Ok(Some(Ok(chunk))) => read += chunk.len(),
            Ok(None | Some(Err(_))) => return read,
        }
    }
}

/// Opens `video.mjpeg` and waits for its first frame's bytes.
async fn open_mjpeg(app: &TestApp, suid: &str, token: &str) -> reqwest::Response {
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

pub(crate) async fn watch(app: &TestApp, suid: &str, token: &str) -> Ws {
    let mut ws = app
        .ws(&format!("/sessions/{suid}/watch"), token)
        .await
        .unwrap();
    next_event(&mut ws, "hello").await;
    next_frame(&mut ws).await;
    ws
}

async fn events(app: &TestApp, token: &str) -> Ws {
    app.ws("/events", token).await.unwrap()
}

/// A session long poll that would wait 30 s: its status, once it answers.
fn long_poll(app: &TestApp, suid: &str, token: &str) -> tokio::task::JoinHandle<StatusCode> {
    let request = app
        .http
        .get(app.url(&format!("/sessions/{suid}?state=live&wait=30")))
        .bearer_auth(token)
        .send();
    tokio::spawn(async move { request.await.unwrap().status() })
}

async fn long_poll_ends_before(
    poll: tokio::task::JoinHandle<StatusCode>,
    deadline: Instant,
    what: &str,
) -> StatusCode {
    tokio::time::timeout_at(deadline, poll)
        .await
        .unwrap_or_else(|_| panic!("{what}: the long poll still waits past the deadline"))
        .unwrap()
}

async fn logout(app: &TestApp, token: &str) {
    let resp = app
        .http
        .post(app.url("/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

pub(crate) async fn login(app: &TestApp, username: &str) -> String {
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"username": username, "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every viewer connection a token can open: watch, account events, MJPEG and a long poll.
pub(crate) struct ViewerConnections {
    watch: Ws,
    events: Ws,
    mjpeg: reqwest::Response,
    poll: tokio::task::JoinHandle<StatusCode>,
}

pub(crate) async fn open_all(app: &TestApp, suid: &str, token: &str) -> ViewerConnections {
    ViewerConnections {
        watch: watch(app, suid, token).await,
        events: events(app, token).await,
        mjpeg: open_mjpeg(app, suid, token).await,
        poll: long_poll(app, suid, token),
    }
}

/// All of them end within a second of `since`.
pub(crate) async fn all_end(mut c: ViewerConnections, since: Instant) {
    let deadline = since + PROMPTLY;
    let ((), (), read, status) = tokio::join!(
        assert_unauthorized_close(&mut c.watch, deadline, "watch socket"),
        assert_unauthorized_close(&mut c.events, deadline, "events socket"),
        mjpeg_ends_before(c.mjpeg, deadline, "MJPEG"),
        long_poll_ends_before(c.poll, deadline, "session long poll"),
    );
    assert!(read > 0, "the MJPEG stream had sent frames before");
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the long poll answers 401"
    );
}

#[tokio::test]
async fn signing_out_ends_every_connection_of_the_token() {
    let app = spawn_app().await;
    let token = app.signup("grey").await;
    let (suid, device) = app.live_session(&token).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let open = open_all(&app, &suid, &token).await;
    // Another sign-in of the same user keeps its own connections.
    let other = login(&app, "grey").await;
    let mut kept = watch(&app, &suid, &other).await;

    logout(&app, &token).await;
    all_end(open, Instant::now()).await;
    next_frame(&mut kept).await;
    // The server still serves the signed-in token.
    assert_eq!(app.me(&other).await["username"], "grey");
}

#[tokio::test]
async fn an_admin_deleting_a_user_ends_that_users_connections() {
    let app = spawn_app().await;
    let admin = app.signup("bailey").await;
    let karev = app.join_account(&admin, "karev").await;
    let (suid, device) = app.live_session(&admin).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let open = open_all(&app, &suid, &karev).await;
    let mut admins = watch(&app, &suid, &admin).await;

    let id = app.me(&karev).await["id"].as_str().unwrap().to_owned();
    let resp = app
        .http
        .delete(app.url(&format!("/account/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    all_end(open, Instant::now()).await;
    next_frame(&mut admins).await;
}

#[tokio::test]
async fn deleting_oneself_ends_the_connections_of_every_sign_in() {
    let app = spawn_app().await;
    let admin = app.signup("webber").await;
    let yang = app.join_account(&admin, "yang").await;
    let (suid, device) = app.live_session(&admin).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let open = open_all(&app, &suid, &yang).await;

    // The deletion is made with another token of the same user.
    let second = login(&app, "yang").await;
    let resp = app
        .http
        .delete(app.url("/me"))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    all_end(open, Instant::now()).await;
}

/// A token of `kind` for `sub` that expires in two seconds, signed with the node's secret.
fn short_token(app: &TestApp, kind: TokenKind, sub: &str, acc: &str, suid: Option<&str>) -> String {
    let secret = switchboard_server::auth::load_or_create_secret(app.dir.path()).unwrap();
    TokenService::new(&secret)
        .issue(
            kind,
            sub.to_owned(),
            acc.to_owned(),
            suid.map(str::to_owned),
            Duration::from_secs(2),
        )
        .unwrap()
        .0
}

#[tokio::test]
async fn connections_end_when_their_token_expires() {
    let app = spawn_app().await;
    let token = app.signup("shepherd").await;
    let (suid, device) = app.live_session(&token).await;
    let _frames = keep_streaming(&app, &suid, &device);
    let who = app.me(&token).await;
    let (user, account) = (
        who["id"].as_str().unwrap(),
        who["account_id"].as_str().unwrap(),
    );
    let issued = Instant::now();
    let viewer = short_token(&app, TokenKind::User, user, account, None);
    let open = open_all(&app, &suid, &viewer).await;

    // The device's own connections, opened with a short device token of the same session.
    let device_token = short_token(
        &app,
        TokenKind::Device,
        &uuid::Uuid::new_v4().to_string(),
        account,
        Some(&suid),
    );
    let mut device_ws = app
        .ws(&format!("/sessions/{suid}/device"), &device_token)
        .await
        .unwrap();
    let controls = {
        let request = app
            .http
            .get(app.url(&format!("/sessions/{suid}/controls?wait=30")))
            .bearer_auth(&device_token)
            .send();
        tokio::spawn(async move { request.await.unwrap().status() })
    };
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    let stream = {
        let request = app
            .http
            .post(app.url(&format!("/sessions/{suid}/stream")))
            .bearer_auth(&device_token)
            .header("content-type", "multipart/x-mixed-replace;boundary=ffmpeg")
            .body(reqwest::Body::wrap_stream(rx))
            .send();
        tokio::spawn(async move { request.await.unwrap().status() })
    };
    let feeding = tokio::spawn(async move {
        for n in 1.. {
            let frame = jpeg(n);
            let head = format!(
                "--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: {}\r\n\r\n",
                frame.len()
            );
            for chunk in [Bytes::from(head), frame, Bytes::from_static(b"\r\n")] {
                if tx.unbounded_send(Ok(chunk)).is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // The token's `exp` is whole seconds: it ends between one and two seconds from issue.
    let expiry = issued + Duration::from_secs(2);
    let deadline = expiry + PROMPTLY;
    let (code, reason) = close_before(&mut device_ws, deadline, "device socket").await;
    assert_eq!((code, reason.as_str()), (4401, "unauthorized"));
    assert!(
        issued.elapsed() >= Duration::from_millis(900),
        "not before expiry"
    );
    all_end(open, expiry).await;
    let status = long_poll_ends_before(controls, deadline, "controls long poll").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = long_poll_ends_before(stream, deadline, "device MJPEG POST").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    feeding.abort();
}

#[tokio::test]
async fn signing_out_ends_kernel_channels_and_message_polls() {
    let app = spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.kernel_pool = String::new();
    })
    .await;
    let token = app.signup("robbins").await;
    let resp = app
        .http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3"}))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut req = format!("ws://{}/api/kernels/{id}/channels", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {token}").parse().unwrap());
    let mut channels = tokio_tungstenite::connect_async(req).await.unwrap().0;
    // Read what the replay buffer holds, so the poll below waits for new messages.
    let polled: Value = app
        .http
        .get(app.url(&format!("/kernels/{id}/messages")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = polled["next"].as_u64().unwrap();
    let poll = {
        let request = app
            .http
            .get(app.url(&format!("/kernels/{id}/messages?after={next}&wait=30")))
            .bearer_auth(&token)
            .send();
        tokio::spawn(async move { request.await.unwrap().status() })
    };
    // Give the poll time to reach the server and start waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;

    logout(&app, &token).await;
    let deadline = Instant::now() + PROMPTLY;
    let (code, reason) = close_before(&mut channels, deadline, "kernel channels").await;
    assert_eq!((code, reason.as_str()), (4401, "unauthorized"));
    let status = long_poll_ends_before(poll, deadline, "kernel messages long poll").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_on_one_node_ends_connections_on_the_other() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let (a, b) = (&cluster[0], &cluster[1]);
    let token = a.signup("hunt").await;
    let (suid, device) = a.live_session(&token).await;
    let _frames = keep_streaming(a, &suid, &device);
    // Watched through the other node, which follows the session.
    let open = tokio::time::timeout(PATIENCE, open_all(b, &suid, &token))
        .await
        .expect("the other node serves the session");

    logout(a, &token).await;
    all_end(open, Instant::now()).await;
}

#[tokio::test]
async fn deleting_a_user_on_one_node_ends_their_connections_on_the_other() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let (a, b) = (&cluster[0], &cluster[1]);
    let admin = a.signup("torres").await;
    let sloan = a.join_account(&admin, "sloan").await;
    let (suid, device) = a.live_session(&admin).await;
    let _frames = keep_streaming(a, &suid, &device);
    let open = tokio::time::timeout(PATIENCE, open_all(b, &suid, &sloan))
        .await
        .expect("the other node serves the session");

    let id = a.me(&sloan).await["id"].as_str().unwrap().to_owned();
    let resp = a
        .http
        .delete(a.url(&format!("/account/users/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    all_end(open, Instant::now()).await;
}
