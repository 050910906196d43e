//! Cross-site use of the session cookie: a page of another origin opening a WebSocket or
//! sending a write (a text/plain POST, which needs no CORS preflight) as the signed-in user.
//! Each is refused with 403 `forbidden_origin`; the same request from the server's own
//! origin, or with the token in `Authorization`/`?token=`, works.

use crate::expect::expect_error;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const EVIL: &str = "https://evil.example";

/// A WebSocket handshake with these headers: the socket, or the refusal's status and body.
async fn handshake(url: &str, headers: &[(&str, &str)]) -> Result<Ws, (StatusCode, Value)> {
    let mut req = url.into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let attempt = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(req))
        .await
        .expect("the handshake is answered in time");
    match attempt {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(e) => panic!("handshake with {url} failed: {e}"),
    }
}

#[track_caller]
fn refused(result: Result<Ws, (StatusCode, Value)>, what: &str) {
    match result {
        Ok(_) => panic!("{what}: the socket was opened"),
        Err((status, body)) => {
            assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
            assert_eq!(body["error"], "forbidden_origin", "{what}: {body}");
        }
    }
}

#[track_caller]
fn opened(result: Result<Ws, (StatusCode, Value)>, what: &str) -> Ws {
    result.unwrap_or_else(|(status, body)| panic!("{what}: refused with {status} {body}"))
}

fn ours(app: &TestApp) -> String {
    app.config.network.public_url.clone().unwrap()
}

/// Every way of opening the socket at `url` with `token`: a foreign, a missing and a `null`
/// origin with the cookie, a foreign origin with the token elsewhere are refused; our origin
/// with the cookie, and the token without an origin (a client outside a browser) are served.
/// Returns the socket opened with the cookie from our origin.
async fn socket_follows_the_origin_rule(app: &TestApp, url: &str, token: &str) -> Ws {
    let cookie = format!("theme=dark; sb_token={token}");
    let bearer = format!("Bearer {token}");
    let sep = if url.contains('?') { '&' } else { '?' };
    let with_query = format!("{url}{sep}token={token}");
    let own = ours(app);
    let what = |how: &str| format!("{url} {how}");

    refused(
        handshake(url, &[("cookie", &cookie), ("origin", EVIL)]).await,
        &what("with the cookie from a foreign origin"),
    );
    refused(
        handshake(url, &[("cookie", &cookie)]).await,
        &what("with the cookie and no origin"),
    );
    refused(
        handshake(url, &[("cookie", &cookie), ("origin", "null")]).await,
        &what("with the cookie from an opaque origin"),
    );
    refused(
        handshake(url, &[("authorization", &bearer), ("origin", EVIL)]).await,
        &what("with Authorization from a foreign origin"),
    );
    refused(
        handshake(&with_query, &[("origin", EVIL)]).await,
        &what("with ?token= from a foreign origin"),
    );
    let mut ws = opened(
        handshake(url, &[("authorization", &bearer)]).await,
        &what("with Authorization and no origin"),
    );
    ws.close(None).await.ok();
    let mut ws = opened(
        handshake(&with_query, &[]).await,
        &what("with ?token= and no origin"),
    );
    ws.close(None).await.ok();
    opened(
        handshake(url, &[("cookie", &cookie), ("origin", &own)]).await,
        &what("with the cookie from our origin"),
    )
}

#[tokio::test]
async fn session_sockets_open_only_from_our_origin_or_with_a_token() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let mut events = socket_follows_the_origin_rule(&app, &app.ws_url("/events"), &token).await;
    let (suid, device) = app.live_session(&token).await;
    // The socket opened from our origin carries the account's events.
    next_event(&mut events, "session").await;

    let mut watch = socket_follows_the_origin_rule(
        &app,
        &app.ws_url(&format!("/sessions/{suid}/watch")),
        &token,
    )
    .await;
    next_event(&mut watch, "hello").await;
    // The socket opened from our origin carries live frames.
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    assert_eq!(next_frame(&mut watch).await, jpeg(1));

    let device_url = app.ws_url(&format!("/sessions/{suid}/device"));
    socket_follows_the_origin_rule(&app, &device_url, &device).await;
}

#[tokio::test]
async fn configured_origins_are_ours_too() {
    let app =
        spawn_app_with(|c| c.network.allowed_origins = vec!["https://ui.example.org".into()]).await;
    let token = app.signup("clinician").await;
    let cookie = format!("sb_token={token}");
    let url = app.ws_url("/events");
    opened(
        handshake(
            &url,
            &[("cookie", &cookie), ("origin", "https://ui.example.org")],
        )
        .await,
        "an allowed origin",
    );
    refused(
        handshake(
            &url,
            &[
                ("cookie", &cookie),
                ("origin", "https://ui.example.org.evil.example"),
            ],
        )
        .await,
        "a look-alike of an allowed origin",
    );
}

/// A POST as a cross-site form or `fetch(…, {mode: "no-cors"})` sends it: text/plain.
async fn post_text(
    app: &TestApp,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app
        .http
        .post(url)
        .header("content-type", "text/plain")
        .body(body.to_owned());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn cookie_writes_from_other_origins_are_refused() {
    let app = spawn_app().await;
    let token = app.signup("admin").await;
    let cookie = format!("sb_token={token}");
    let own = ours(&app);
    let invites = app.url("/account/invites");
    let sessions = app.url("/sessions");
    let no_sessions_yet = || async {
        let list: Value = app
            .http
            .get(app.url("/sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["sessions"].as_array().map_or(0, Vec::len), 0, "{list}");
    };
    let label = json!({"kind": "video", "label": "forged"}).to_string();

    for (what, headers) in [
        (
            "a foreign origin",
            vec![("cookie", cookie.as_str()), ("origin", EVIL)],
        ),
        (
            "an opaque origin",
            vec![("cookie", cookie.as_str()), ("origin", "null")],
        ),
        ("no origin", vec![("cookie", cookie.as_str())]),
        (
            "a same-site page",
            vec![("cookie", cookie.as_str()), ("sec-fetch-site", "same-site")],
        ),
        (
            "a foreign referer",
            vec![
                ("cookie", cookie.as_str()),
                ("referer", "https://evil.example/page"),
            ],
        ),
    ] {
        let resp = post_text(&app, &invites, "", &headers).await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
        let resp = post_text(&app, &sessions, &label, &headers).await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
        // The application/json a page could send after a preflight is refused as well.
        let mut req = app.http.post(&sessions).body(label.clone());
        for (name, value) in &headers {
            req = req.header(*name, *value);
        }
        let resp = req
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
        no_sessions_yet().await;
        let _ = what;
    }

    // From our own pages the same writes work: by Origin, by Fetch Metadata, by Referer.
    let referer = format!("{own}/account");
    for headers in [
        vec![("cookie", cookie.as_str()), ("origin", own.as_str())],
        vec![
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        vec![("cookie", cookie.as_str()), ("referer", referer.as_str())],
    ] {
        let resp = post_text(&app, &invites, "", &headers).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{headers:?}");
    }
    let resp = app
        .http
        .post(&sessions)
        .header("cookie", &cookie)
        .header("origin", &own)
        .json(&json!({"kind": "video"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn token_writes_are_unaffected_and_sign_in_is_not_forged() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    // Authorization from anywhere: the caller holds the token, no browser sent it by itself.
    let resp = app
        .http
        .post(app.url("/sessions"))
        .bearer_auth(&token)
        .header("origin", EVIL)
        .json(&json!({"kind": "video"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = app
        .http
        .post(app.url(&format!("/account/invites?token={token}")))
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // A foreign page cannot sign the browser in to an account of its choosing.
    let credentials = json!({"username": "clinician", "password": "quiet lantern orbit mosaic"});
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .header("origin", EVIL)
        .json(&credentials)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
    // A client outside a browser (no origin, no cookie) signs in as before.
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn kernel_starts_runs_and_channels_follow_the_origin_rule() {
    let app = spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.max_kernels = 4;
    })
    .await;
    let token = app.signup("scientist").await;
    let cookie = format!("sb_token={token}");
    let own = ours(&app);
    let kernels = format!("http://{}/api/kernels", app.addr);
    let execute = app.url("/execute");
    let start = json!({"name": "python3"}).to_string();
    let run = json!({"code": "print(6*7)"}).to_string();

    for headers in [
        vec![("cookie", cookie.as_str()), ("origin", EVIL)],
        vec![("cookie", cookie.as_str())],
    ] {
        let resp = post_text(&app, &kernels, &start, &headers).await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
        let resp = post_text(&app, &execute, &run, &headers).await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
    }
    let listed: Value = app
        .http
        .get(&kernels)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "no kernel was started: {listed}"
    );

    // From our origin the same writes work: running code, and a text/plain start.
    let resp = app
        .http
        .post(&execute)
        .header("cookie", &cookie)
        .header("origin", &own)
        .json(&json!({"code": "print(6*7)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ran: Value = resp.json().await.unwrap();
    assert!(ran.to_string().contains("42"), "{ran}");
    let resp = post_text(
        &app,
        &kernels,
        &start,
        &[("cookie", &cookie), ("origin", &own)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let kernel: Value = resp.json().await.unwrap();
    let id = kernel["id"].as_str().unwrap();

    let channels = format!("ws://{}/api/kernels/{id}/channels", app.addr);
    socket_follows_the_origin_rule(&app, &channels, &token).await;
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_only_it_signs_in() {
    let app = spawn_app_with(|c| c.network.tls_self_signed = true).await;
    let base = format!("https://{}", app.addr);
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let resp = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": "nurse", "password": "amber falcon ledger prism", "account_name": "Ward 3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with(&format!("__Host-sb_token={token};")),
        "{cookie}"
    );
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"secure".to_owned()), "{cookie}");
    assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );

    let me = |cookie: String| {
        client
            .get(format!("{base}/api/v1/me"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        me(format!("__Host-sb_token={token}"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // A cookie without the prefix could have been planted by a sibling subdomain or a
    // plain-HTTP page: it is no credential here.
    expect_error(
        me(format!("sb_token={token}")).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Our https origin may write with the cookie; the same host over plain http may not.
    let host_cookie = format!("__Host-sb_token={token}");
    let invite = |origin: String| {
        client
            .post(format!("{base}/api/v1/account/invites"))
            .header("cookie", host_cookie.clone())
            .header("origin", origin)
            .send()
    };
    assert_eq!(
        invite(base.clone()).await.unwrap().status(),
        StatusCode::CREATED
    );
    expect_error(
        invite(format!("http://{}", app.addr)).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden_origin",
    )
    .await;

    // Signing out clears the cookie under both names.
    let out = client
        .post(format!("{base}/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-sb_token=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("sb_token=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}
