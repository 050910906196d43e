//! Holding a node's connections without using them: slowloris heads, idle kept-alive
//! connections, request bodies that crawl, and more connections than the caps allow. Each is
//! cut off or refused at once; real clients (long MJPEG responses, WebSockets, streamed
//! uploads at a real rate) keep working under the same tight settings.

use crate::helpers::*;
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Connects to `server` from the loopback address `from` (127.0.0.x), so one test can be
/// several clients.
async fn connect_from(from: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// A complete request for `/healthz`, asking to keep the connection open.
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: switchboard\r\n\r\n";

/// Sends `/healthz` on `stream` and reads the answer's head and body (`ok`).
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream.write_all(HEALTHZ).await.unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// What a connection from `from` hears first: the start of the server's answer to
/// `/healthz`, or of the answer it wrote without reading (a refusal).
async fn first_answer_from(from: &str, server: SocketAddr) -> String {
    let mut stream = connect_from(from, server).await;
    // The refusal may come before the request is written; the write may then fail.
    let _ = stream.write_all(HEALTHZ).await;
    let mut got = vec![];
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer in time");
        match read {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    // Include the body when it follows at once.
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
    {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Asserts `answer` is the raw refusal: 503, `busy`, `Retry-After`.
fn assert_refused(answer: &str) {
    assert!(
        answer.starts_with("HTTP/1.1 503 "),
        "not a refusal: {answer:?}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer:?}"
    );
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["error"], "busy", "{answer:?}");
}

#[tokio::test]
async fn slowloris_heads_are_closed_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(2);
    let app = spawn_app_with(|c| {
        c.network.header_read_timeout = header_timeout;
        c.network.idle_connection_timeout = Duration::from_secs(60);
        c.network.max_connections_per_address = 1000;
    })
    .await;
    let started = Instant::now();
    let mut attackers = vec![];
    for n in 0..300 {
        let addr = app.addr;
        attackers.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut read, mut write) = stream.into_split();
            // A header line every 300 ms: each read makes progress, only the head's total
            // time is bounded.
            let trickle = async move {
                if write.write_all(b"GET /healthz HTTP/1.1\r\n").await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let line = format!("x-slow-{n}: still coming\r\n");
                    if write.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
            };
            let closed = async move {
                let mut buf = [0u8; 1024];
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = closed => {}
                () = trickle => {}
            }
            Instant::now()
        }));
    }
    // While they trickle, a real client is served.
    let mut client = TcpStream::connect(app.addr).await.unwrap();
    assert!(healthz_on(&mut client).await.starts_with("HTTP/1.1 200"));
    for attacker in attackers {
        let closed_at = tokio::time::timeout(PATIENCE, attacker)
            .await
            .expect("every slow head is closed in time")
            .unwrap();
        let after = closed_at.duration_since(started);
        assert!(
            after >= header_timeout - Duration::from_millis(200),
            "closed before the header timeout ({after:?})"
        );
        assert!(
            after <= header_timeout + Duration::from_secs(4),
            "closed long after the header timeout ({after:?})"
        );
    }
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed() {
    let idle_timeout = Duration::from_secs(1);
    let header_timeout = Duration::from_secs(2);
    let app = spawn_app_with(|c| {
        c.network.header_read_timeout = header_timeout;
        c.network.idle_connection_timeout = idle_timeout;
    })
    .await;
    // Kept-alive connections that asked once and then say nothing.
    let mut idle = vec![];
    for _ in 0..50 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
        idle.push((stream, Instant::now()));
    }
    // Connections that never send a byte get the header timeout.
    let mut silent = vec![];
    for _ in 0..50 {
        silent.push((TcpStream::connect(app.addr).await.unwrap(), Instant::now()));
    }
    for (mut stream, answered) in idle {
        let leftover = tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
            .await
            .expect("an idle connection is closed in time");
        assert!(leftover.is_empty());
        let after = answered.elapsed();
        assert!(
            after >= idle_timeout - Duration::from_millis(100),
            "{after:?}"
        );
    }
    for (mut stream, opened) in silent {
        tokio::time::timeout(PATIENCE, read_until_closed(&mut stream))
            .await
            .expect("a silent connection is closed in time");
        let after = opened.elapsed();
        assert!(
            after >= header_timeout - Duration::from_millis(100),
            "{after:?}"
        );
    }
}

#[tokio::test]
async fn long_responses_and_websockets_outlive_the_connection_timeouts() {
    let app = spawn_app_with(|c| {
        c.network.header_read_timeout = Duration::from_millis(500);
        c.network.idle_connection_timeout = Duration::from_millis(500);
        c.network.body_read_timeout = Duration::from_millis(500);
    })
    .await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut watcher = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut watcher, "hello").await;
    let mjpeg = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(mjpeg.status(), StatusCode::OK);
    let reader = tokio::spawn(read_mjpeg(mjpeg, 12));
    // A streamed upload at a real rate (10 frames a second) for three timeouts and more.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
    let post = tokio::spawn(
        app.http
            .post(app.url(&format!("/sessions/{suid}/stream")))
            .bearer_auth(&device)
            .header("content-type", "multipart/x-mixed-replace;boundary=ffmpeg")
            .body(reqwest::Body::wrap_stream(rx))
            .send(),
    );
    for n in 1..=20u64 {
        let frame = jpeg(n);
        let head = format!(
            "--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: {}\r\n\r\n",
            frame.len()
        );
        tx.unbounded_send(Ok(Bytes::from(head))).unwrap();
        tx.unbounded_send(Ok(frame.clone())).unwrap();
        tx.unbounded_send(Ok(Bytes::from_static(b"\r\n"))).unwrap();
        assert_eq!(
            next_frame(&mut watcher).await,
            frame,
            "frame {n} on the WebSocket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tx);
    let summary: Value = post.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(summary["frames"], 20);
    assert_eq!(
        tokio::time::timeout(PATIENCE, reader)
            .await
            .unwrap()
            .unwrap()
            .len(),
        12
    );
}

#[tokio::test]
async fn a_slow_or_stalled_body_is_refused() {
    let app = spawn_app_with(|c| {
        c.network.body_read_timeout = Duration::from_secs(1);
        c.network.min_body_bytes_per_second = bytesize::ByteSize::b(100);
    })
    .await;
    let body = r#"{"username":"someone","password":"amber falcon ledger prism"}"#;
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: switchboard\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    // One byte every 400 ms: never silent for a whole read timeout, far below the rate.
    let mut crawling = TcpStream::connect(app.addr).await.unwrap();
    crawling.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut read, mut write) = crawling.into_split();
    let body_bytes = body.as_bytes().to_vec();
    let trickle = tokio::spawn(async move {
        for b in body_bytes {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    let mut answer = vec![];
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, read.read(&mut buf))
            .await
            .expect("an answer, or a close, in time")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let after = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(answer.contains("\"body_timeout\""), "{answer:?}");
    // 54 bytes at 2.5 a second would take 22 s.
    assert!(
        after < Duration::from_secs(5),
        "refused only after {after:?}"
    );

    // A body that stops altogether is refused after one read timeout.
    let mut stalled = TcpStream::connect(app.addr).await.unwrap();
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body.as_bytes()[..10]).await.unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(PATIENCE, read_until_closed(&mut stalled))
        .await
        .expect("a stalled body is refused in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A body sent at once is served as always.
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn past_the_caps_new_connections_hear_busy_at_once() {
    let app = spawn_app_with(|c| {
        c.network.max_connections = 6;
        c.network.max_connections_per_address = 4;
        c.network.header_read_timeout = Duration::from_secs(30);
        c.network.idle_connection_timeout = Duration::from_secs(30);
    })
    .await;
    // Four kept-alive connections from one address fill its share.
    let mut first = vec![];
    for _ in 0..4 {
        let mut stream = connect_from("127.0.0.1", app.addr).await;
        assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
        first.push(stream);
    }
    let started = Instant::now();
    assert_refused(&first_answer_from("127.0.0.1", app.addr).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Another address may still connect, until the node's total is reached.
    let mut second = vec![];
    for _ in 0..2 {
        let mut stream = connect_from("127.0.0.2", app.addr).await;
        assert!(healthz_on(&mut stream).await.starts_with("HTTP/1.1 200"));
        second.push(stream);
    }
    assert_refused(&first_answer_from("127.0.0.3", app.addr).await);
    // Once a client disconnects, a newcomer is served.
    drop(second.pop());
    eventually("a freed place to be given out", PATIENCE, || async {
        let answer = first_answer_from("127.0.0.3", app.addr).await;
        if answer.starts_with("HTTP/1.1 200") {
            return Ok(());
        }
        assert_refused(&answer);
        Err(answer)
    })
    .await;
    // The first four still work.
    for stream in &mut first {
        assert!(healthz_on(stream).await.starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn websockets_count_toward_the_cap_per_address() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app_with(|c| c.network.max_connections_per_address = 3).await;
    let token = app.signup("clinician").await;
    // From an address of their own, so the test client's pooled connection is not counted.
    let mut sockets = vec![];
    for _ in 0..3 {
        let mut req = app.ws_url("/events").into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let stream = connect_from("127.0.0.2", app.addr).await;
        let (ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
        sockets.push(ws);
    }
    assert_refused(&first_answer_from("127.0.0.2", app.addr).await);
    drop(sockets.pop());
    eventually(
        "a closed WebSocket to give its place back",
        PATIENCE,
        || async {
            let answer = first_answer_from("127.0.0.2", app.addr).await;
            holds(answer.starts_with("HTTP/1.1 200"), answer)
        },
    )
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_cap_counts_each_forwarded_client() {
    let app = spawn_app_with(|c| {
        c.network.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.network.max_connections_per_address = 2;
    })
    .await;
    let token = app.signup("clinician").await;
    let (suid, _device) = app.live_session(&token).await;
    let watch = |client: &'static str| {
        app.http
            .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
            .bearer_auth(&token)
            .header("x-forwarded-for", client)
            .send()
    };
    // Two streams in flight for one client behind the proxy (the proxy's own address is
    // not capped: it carries everyone).
    let mut streams = vec![];
    for _ in 0..2 {
        let resp = watch("192.0.2.1").await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        streams.push(resp);
    }
    let resp = watch("192.0.2.1").await.unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    crate::expect::expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    let other = watch("192.0.2.2").await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // A finished stream gives its place back.
    drop(streams.pop());
    eventually(
        "a finished stream to give its place back",
        PATIENCE,
        || async {
            let status = watch("192.0.2.1").await.unwrap().status();
            holds(status == StatusCode::OK, status)
        },
    )
    .await;
}
