//! WebRTC signalling as an outsider would try it: the session cookie from another origin,
//! another account's sessions and resources, an offer that never ends, many offers at once,
//! and a publisher's token after its session is gone. Garbage on the UDP port itself is the
//! forwarding unit's test (`crates/sfu/tests/forwarding.rs`).

use crate::expect::expect_error;
use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use switchboard_sfu::Role;
use switchboard_sfu::client::{Client, SendPlan};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const EVIL: &str = "https://evil.example";

async fn offer(role: Role) -> String {
    Client::offer(role, LOOPBACK).await.unwrap().1
}

/// Posts `sdp` to `path` with `token` as a bearer token.
async fn post_offer(
    app: &TestApp,
    path: &str,
    token: &str,
    sdp: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await
        .unwrap()
}

/// A session whose device publishes over WebRTC: (suid, device token, the phone).
async fn publishing(
    app: &TestApp,
    token: &str,
) -> (String, String, switchboard_sfu::client::ClientHandle) {
    let (suid, device) = app.live_session(token).await;
    let (mut client, sdp) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    let resp = post_offer(app, &format!("/sessions/{suid}/whip"), &device, sdp).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    client.accept(&resp.text().await.unwrap()).unwrap();
    let phone = client.spawn(SendPlan::default());
    eventually("the session to publish", PATIENCE, || async {
        holds(
            app.app.live.webrtc_publishing(suid.parse().unwrap()),
            "not yet",
        )
    })
    .await;
    (suid, device, phone)
}

#[tokio::test]
async fn a_page_of_another_origin_cannot_play_with_the_session_cookie() {
    let app = spawn_app().await;
    let token = app.signup("rtc.origin").await;
    let (suid, _device, _phone) = publishing(&app, &token).await;
    let whep = app.url(&format!("/sessions/{suid}/whep"));
    let resp = app
        .http
        .post(&whep)
        .header("cookie", format!("sb_token={token}"))
        .header("origin", EVIL)
        .header("content-type", "application/sdp")
        .body(offer(Role::Viewer).await)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden_origin").await;
    // The same from this server's own pages is served.
    let resp = app
        .http
        .post(&whep)
        .header("cookie", format!("sb_token={token}"))
        .header("origin", app.config.network.public_url.clone().unwrap())
        .header("content-type", "application/sdp")
        .body(offer(Role::Viewer).await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn another_accounts_session_and_resources_are_not_there() {
    let app = spawn_app().await;
    let owner = app.signup("rtc.owner").await;
    let (suid, device, _phone) = publishing(&app, &owner).await;
    let outsider = app.signup("rtc.outsider").await;
    let resp = post_offer(
        &app,
        &format!("/sessions/{suid}/whep"),
        &outsider,
        offer(Role::Viewer).await,
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "session_not_found").await;
    // The outsider's own device token cannot publish into the owner's session.
    let (_other, other_device) = app.live_session(&outsider).await;
    let resp = post_offer(
        &app,
        &format!("/sessions/{suid}/whip"),
        &other_device,
        offer(Role::Publisher).await,
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // A device token is no user's: it cannot watch.
    let resp = post_offer(
        &app,
        &format!("/sessions/{suid}/whep"),
        &device,
        offer(Role::Viewer).await,
    )
    .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn an_offer_that_never_ends_is_cut_off_at_its_limit() {
    let app = spawn_app().await;
    let token = app.signup("rtc.endless").await;
    let (suid, device) = app.live_session(&token).await;
    // v=0, then lines forever: the server reads 64 KiB and answers.
    let head = futures::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"v=0\r\n"))
    });
    let lines = futures::stream::repeat_with(|| {
        Ok(bytes::Bytes::from_static(b"a=x-filler:0123456789\r\n"))
    });
    let body = reqwest::Body::wrap_stream(head.chain(lines));
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/whip")))
        .bearer_auth(&device)
        .header("content-type", "application/sdp")
        .body(body)
        .send()
        .await;
    match resp {
        Ok(resp) => {
            expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
        }
        // The server may close the connection once it has answered, mid-upload.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // The node still answers.
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["webrtc"], false);
}

#[tokio::test]
async fn many_offers_at_once_stop_at_the_nodes_cap() {
    let app = spawn_app_with(|c| c.webrtc.webrtc_max_viewers = 5).await;
    let token = app.signup("rtc.many").await;
    let (suid, _device, _phone) = publishing(&app, &token).await;
    let mut offers = Vec::new();
    for _ in 0..30 {
        offers.push(offer(Role::Viewer).await);
    }
    let answers = futures::future::join_all(offers.into_iter().map(|sdp| {
        app.http
            .post(app.url(&format!("/sessions/{suid}/whep")))
            .bearer_auth(&token)
            .header("content-type", "application/sdp")
            .body(sdp)
            .send()
    }))
    .await;
    let mut created = 0;
    for resp in answers {
        let resp = resp.unwrap();
        match resp.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "webrtc_capacity").await;
            }
        }
    }
    assert!((1..=5).contains(&created), "{created} answered");
    // Each answered offer holds a viewer place until its browser connects or the connect
    // timeout drops it; nothing past the cap was admitted.
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], created, "{view}");
}

#[tokio::test]
async fn a_publisher_goes_with_its_session_and_its_token_cannot_publish_again() {
    let app = spawn_app().await;
    let token = app.signup("rtc.revoked").await;
    let (suid, device, _phone) = publishing(&app, &token).await;
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the publisher to go", PATIENCE, || async {
        holds(
            !app.app.live.webrtc_publishing(suid.parse().unwrap()),
            "still publishing",
        )
    })
    .await;
    // Its token cannot publish again.
    let resp = post_offer(
        &app,
        &format!("/sessions/{suid}/whip"),
        &device,
        offer(Role::Publisher).await,
    )
    .await;
    assert!(
        resp.status() == StatusCode::GONE || resp.status() == StatusCode::UNAUTHORIZED,
        "{}",
        resp.status()
    );
}

#[tokio::test]
async fn an_answered_offer_whose_browser_never_comes_gives_its_place_back() {
    let app =
        spawn_app_with(|c| c.webrtc.webrtc_connect_timeout = Duration::from_millis(800)).await;
    let token = app.signup("rtc.ghost").await;
    let (suid, _device, _phone) = publishing(&app, &token).await;
    for _ in 0..3 {
        let whep = format!("/sessions/{suid}/whep");
        let resp = post_offer(&app, &whep, &token, offer(Role::Viewer).await).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    assert_eq!(app.session(&token, &suid, None).await["viewers"], 3);
    eventually("the ghosts' places to be given back", PATIENCE, || async {
        let view = app.session(&token, &suid, None).await;
        holds(view["viewers"] == 0, &view)
    })
    .await;
}

/// A node whose browsers get TURN credentials minted from `secret`.
async fn with_turn(secret: &str) -> (TestApp, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), secret).unwrap();
    let path = file.path().to_owned();
    let app = spawn_app_with(|c| {
        c.webrtc.webrtc_turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        c.webrtc.webrtc_turn_secret_file = Some(path);
    })
    .await;
    (app, file)
}

async fn ice_servers(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/webrtc/ice-servers"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// TURN credentials are a way through someone's relay: only a signed-in user gets them, each
/// their own (named by user id, so the relay's log says who), never cached; no token, a
/// device's token gets nothing, and a foreign page cannot read them.
#[tokio::test]
async fn turn_credentials_go_only_to_signed_in_users_each_their_own() {
    let (app, _secret) = with_turn("a-secret-long-enough-to-share").await;
    expect_error(
        ice_servers(&app, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let alice = app.signup("ice.alice").await;
    let (_suid, device) = app.live_session(&alice).await;
    let resp = ice_servers(&app, Some(&device)).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "a device token is no user's"
    );

    let mine = ice_servers(&app, Some(&alice)).await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.headers()["cache-control"], "no-store");
    let mine: serde_json::Value = mine.json().await.unwrap();
    let alice_id = app.me(&alice).await["id"].as_str().unwrap().to_owned();
    let turn = &mine["ice_servers"][0];
    let username = turn["username"].as_str().unwrap();
    assert!(username.ends_with(&format!(":{alice_id}")), "{mine}");
    let expiry: i64 = username.split(':').next().unwrap().parse().unwrap();
    assert!(expiry > chrono::Utc::now().timestamp() + 3600, "{mine}");

    let bob = app.signup("ice.bob").await;
    let theirs: serde_json::Value = ice_servers(&app, Some(&bob)).await.json().await.unwrap();
    assert_ne!(theirs["ice_servers"][0]["credential"], turn["credential"]);

    // The session cookie from another origin: a read, so served as every GET is, but without
    // CORS the foreign page cannot read the answer.
    let resp = app
        .http
        .get(app.url("/webrtc/ice-servers"))
        .header("origin", EVIL)
        .header("cookie", format!("sb_token={alice}"))
        .send()
        .await
        .unwrap();
    assert!(
        !resp.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        resp.headers()
    );
}

/// Without WebRTC there is nothing to hand out; a TURN setup that cannot mint safe
/// credentials stops the node at start rather than serving guessable ones.
#[tokio::test]
async fn ice_servers_need_webrtc_and_a_real_secret() {
    let off = spawn_app_with(|c| c.webrtc.webrtc_enabled = false).await;
    let token = off.signup("ice.off").await;
    expect_error(
        ice_servers(&off, Some(&token)).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "webrtc_unavailable",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "tiny").unwrap();
    for (secret, why) in [
        (None, "webrtc_turn_secret_file"),
        (Some(short), "fewer than 16"),
        (Some(dir.path().join("missing")), "cannot read"),
    ] {
        let mut config = switchboard_server::config::Config::default();
        config.operations.data_dir = dir.path().join("data");
        config.webrtc.webrtc_udp_port = 0;
        config.webrtc.webrtc_turn_urls = vec!["turn:127.0.0.1:3478".into()];
        config.webrtc.webrtc_turn_secret_file = secret;
        let Err(err) = switchboard_server::Server::start(config).await else {
            panic!("the node starts without a usable TURN secret ({why})");
        };
        assert!(err.to_string().contains(why), "{err}");
    }
}

/// A viewer of session `suid` over WHEP with `token`, sending nothing.
async fn watching(app: &TestApp, suid: &str, token: &str) -> switchboard_sfu::client::ClientHandle {
    let (mut client, sdp) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let resp = post_offer(app, &format!("/sessions/{suid}/whep"), token, sdp).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    client.accept(&resp.text().await.unwrap()).unwrap();
    client.spawn(SendPlan {
        video_fps: 0,
        frame_bytes: 0,
        audio: false,
        recorded: None,
    })
}

/// A right that ends mid-stream ends the stream: a member signs out while watching over
/// WebRTC, and its peer stops receiving at once (its place goes too).
#[tokio::test]
async fn a_revoked_token_ends_its_webrtc_viewing_mid_stream() {
    use switchboard_sfu::client::ClientStats;
    let app = spawn_app().await;
    let admin = app.signup("rtc.revoke.admin").await;
    let (suid, _device, _phone) = publishing(&app, &admin).await;
    let member = app.join_account(&admin, "rtc.revoke.member").await;
    let viewer = watching(&app, &suid, &member).await;
    let frames = || ClientStats::get(&viewer.stats.video_frames_in);
    eventually("frames to flow", PATIENCE, || async {
        holds(frames() >= 5, frames())
    })
    .await;
    let resp = app
        .http
        .post(app.url("/auth/logout"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    eventually("the member's viewing to end", PATIENCE, || async {
        let view = app.session(&admin, &suid, None).await;
        holds(view["viewers"] == 0, &view)
    })
    .await;
    // Nothing reaches the dropped viewer any more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = frames();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(frames(), before);
}
