//! WebRTC beside the JPEG paths: a device publishes over WHIP and viewers play over WHEP, with
//! real WebRTC clients (str0m over loopback UDP), in ordinary sessions with their viewer
//! counts, controls, ends and tokens.

use crate::expect::expect_error;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use switchboard_sfu::Role;
use switchboard_sfu::client::{Client, ClientHandle, ClientStats, SendPlan};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const METRICS_TOKEN: &str = "webrtc-metrics-token";

fn n(counter: &std::sync::atomic::AtomicU64) -> u64 {
    ClientStats::get(counter)
}

/// Posts `offer` to `path` with `token`: the response.
pub async fn post_sdp(app: &TestApp, path: &str, token: &str, offer: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer.to_owned())
        .send()
        .await
        .unwrap()
}

/// A str0m client of `role` that offered to `path` and was answered: (client, resource URL).
pub async fn connect(
    app: &TestApp,
    path: &str,
    token: &str,
    role: Role,
    plan: SendPlan,
) -> (ClientHandle, String) {
    let (mut client, offer) = Client::offer(role, LOOPBACK).await.unwrap();
    let resp = post_sdp(app, path, token, &offer).await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    assert_eq!(resp.headers()["content-type"], "application/sdp");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    client.accept(&resp.text().await.unwrap()).unwrap();
    (client.spawn(plan), location)
}

/// `DELETE`s the resource at `location` (as `Location` gave it) on `app` with `token`.
async fn delete_resource(app: &TestApp, location: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&location.replacen("/api/v1", "", 1)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn quiet() -> SendPlan {
    SendPlan {
        video_fps: 0,
        frame_bytes: 0,
        audio: false,
        recorded: None,
    }
}

/// A live session whose device publishes over WebRTC: (suid, device token, phone, resource).
pub async fn publishing(app: &TestApp, token: &str) -> (String, String, ClientHandle, String) {
    let (suid, device) = app.live_session(token).await;
    let (phone, location) = connect(
        app,
        &format!("/sessions/{suid}/whip"),
        &device,
        Role::Publisher,
        SendPlan::default(),
    )
    .await;
    eventually("the session to say it publishes", PATIENCE, || async {
        let view = app.session(token, &suid, None).await;
        holds(view["webrtc"] == true, &view)
    })
    .await;
    (suid, device, phone, location)
}

#[tokio::test]
async fn a_phone_publishes_over_whip_and_a_viewer_plays_over_whep_as_a_counted_viewer() {
    let app = spawn_app_with(|c| c.operations.metrics_token = Some(METRICS_TOKEN.into())).await;
    let token = app.signup("webrtc.viewer").await;
    let (suid, _device, phone, _) = publishing(&app, &token).await;
    let mut watch = app
        .ws(&format!("/sessions/{suid}/watch?frames=false"), &token)
        .await
        .unwrap();
    let hello = next_event(&mut watch, "hello").await;
    assert_eq!(
        hello["viewers"], 0,
        "an events-only socket is no viewer: {hello}"
    );

    let (viewer, location) = connect(
        &app,
        &format!("/sessions/{suid}/whep"),
        &token,
        Role::Viewer,
        quiet(),
    )
    .await;
    assert!(
        location.starts_with(&format!("/api/v1/sessions/{suid}/whep/")),
        "{location}"
    );
    eventually("the viewer to get 20 frames", PATIENCE, || async {
        holds(
            n(&viewer.stats.video_frames_in) >= 20,
            n(&viewer.stats.video_frames_in),
        )
    })
    .await;
    assert!(
        n(&phone.stats.keyframe_requests) >= 1,
        "a joining viewer asks for a keyframe"
    );
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], 1, "{view}");
    assert_eq!(view["viewer_names"], json!(["webrtc.viewer"]), "{view}");
    // The session counts each path's traffic as it goes.
    let rtc = &view["traffic"]["webrtc"];
    assert!(rtc["frames_in"].as_u64().unwrap() >= 20, "{view}");
    assert!(rtc["bytes_out"].as_u64().unwrap() > 0, "{view}");
    assert_eq!(view["traffic"]["jpeg"]["bytes_in"], 0, "{view}");
    let viewers = next_event(&mut watch, "viewers").await;
    assert_eq!(viewers["count"], 1, "{viewers}");

    let metrics = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"switchboard_frames_in_total{path="webrtc"}"#,
        r#"switchboard_webrtc_peers{role="viewer"}"#,
    ] {
        assert!(metrics.contains(series), "{series} is not in /metrics");
    }

    // DELETE the viewer's resource: its place goes.
    let resp = delete_resource(&app, &location, &token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the viewer's place to go", PATIENCE, || async {
        let view = app.session(&token, &suid, None).await;
        holds(view["viewers"] == 0, &view)
    })
    .await;

    // Ending the session ends the publisher: the session no longer publishes.
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the publisher to be dropped", PATIENCE, || async {
        holds(
            !app.app.live.webrtc_publishing(suid.parse().unwrap()),
            "publishing",
        )
    })
    .await;

    // The CDR says the call went over WebRTC alone, with its bytes each way: at least what
    // the viewer received went out, and no more came in than the phone sent.
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    let cdrs = app.store.cdrs(from, to).await.unwrap();
    let cdr = cdrs.iter().find(|c| c.suid.to_string() == suid).unwrap();
    assert_eq!(cdr.paths, vec![switchboard_core::MediaPath::Webrtc]);
    let rtc = cdr.traffic.webrtc;
    assert!(rtc.frames_in >= 20, "{rtc:?}");
    assert!(rtc.bytes_out >= n(&viewer.stats.bytes_in), "{rtc:?}");
    assert!(
        rtc.bytes_in > 0 && rtc.bytes_in <= n(&phone.stats.bytes_out) + n(&viewer.stats.bytes_out),
        "{rtc:?}"
    );
    assert_eq!(cdr.traffic.jpeg, switchboard_core::PathTraffic::default());
    drop(phone);
}

#[tokio::test]
async fn controls_reach_the_phone_on_its_data_channel_and_its_text_reaches_viewers() {
    let app = spawn_app().await;
    let token = app.signup("webrtc.controls").await;
    let (suid, _device, mut phone, _) = publishing(&app, &token).await;
    eventually("the data channel to open", PATIENCE, || async {
        holds(phone.stats.channel_open.load(Ordering::Relaxed), "closed")
    })
    .await;
    let mut watch = app
        .ws(&format!("/sessions/{suid}/watch?frames=false"), &token)
        .await
        .unwrap();
    next_event(&mut watch, "hello").await;
    for text in ["one", "two", "three"] {
        let resp = app
            .http
            .post(app.url(&format!("/sessions/{suid}/controls")))
            .bearer_auth(&token)
            .json(&json!({"action": "message", "args": {"text": text}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let text = tokio::time::timeout(PATIENCE, phone.texts.recv())
            .await
            .expect("a control on the data channel")
            .unwrap();
        let control: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(control["type"], "control", "{control}");
        seen.push(control["args"]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["one", "two", "three"], "in order, none lost");

    phone.send_text(r#"{"type":"status","battery":77}"#);
    let device = next_event(&mut watch, "device").await;
    assert_eq!(device["status"]["battery"], 77, "{device}");
}

#[tokio::test]
async fn bad_offers_and_wrong_callers_get_clear_errors() {
    let app = spawn_app_with(|c| c.webrtc.webrtc_max_viewers = 1).await;
    let token = app.signup("webrtc.bad").await;
    let (suid, device) = app.live_session(&token).await;
    let whip = format!("/sessions/{suid}/whip");
    let whep = format!("/sessions/{suid}/whep");

    // Not SDP, wrong content type, too large.
    let resp = post_sdp(&app, &whip, &device, "hello, server").await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_sdp").await;
    let resp = app
        .http
        .post(app.url(&whip))
        .bearer_auth(&device)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(
        resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(20_000));
    let resp = post_sdp(&app, &whip, &device, &huge).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    // A viewer's offer is no publisher's, and the other way round.
    let (_c, viewer_offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let resp = post_sdp(&app, &whip, &device, &viewer_offer).await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "missing_media").await;

    // No token, a user's token for WHIP, another session's device token.
    let (_c, offer) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    let resp = app
        .http
        .post(app.url(&whip))
        .header("content-type", "application/sdp")
        .body(offer.clone())
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = post_sdp(&app, &whip, &token, &offer).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let (other_suid, other_device) = app.live_session(&token).await;
    let resp = post_sdp(&app, &whip, &other_device, &offer).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;

    // WHEP before the device publishes.
    let (_c, view_offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let resp = post_sdp(&app, &whep, &token, &view_offer).await;
    expect_error(resp, StatusCode::CONFLICT, "not_publishing").await;

    // One publisher per session.
    let (_phone, _) = connect(&app, &whip, &device, Role::Publisher, quiet()).await;
    let (_c, offer) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    let resp = post_sdp(&app, &whip, &device, &offer).await;
    expect_error(resp, StatusCode::CONFLICT, "publisher_present").await;
    eventually("the session to publish", PATIENCE, || async {
        holds(
            app.app.live.webrtc_publishing(suid.parse().unwrap()),
            "not yet",
        )
    })
    .await;

    // The node's WebRTC viewers are capped (here at one).
    let (_v, location) = connect(&app, &whep, &token, Role::Viewer, quiet()).await;
    let (_c, view_offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let resp = post_sdp(&app, &whep, &token, &view_offer).await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "webrtc_capacity").await;

    // Another account sees no such session; its DELETE finds no such resource.
    let stranger = app.signup("webrtc.stranger").await;
    let resp = post_sdp(&app, &whep, &stranger, &view_offer).await;
    expect_error(resp, StatusCode::NOT_FOUND, "session_not_found").await;
    let resp = delete_resource(&app, &location, &stranger).await;
    expect_error(resp, StatusCode::NOT_FOUND, "webrtc_resource_not_found").await;
    for bad in ["not-a-uuid", "6f1c2a9e-1b7d-4c3e-9a51-2f6d8e0b7c44"] {
        let resp = app
            .http
            .delete(app.url(&format!("/sessions/{suid}/whep/{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "webrtc_resource_not_found").await;
    }
    // Trickle ICE is not taken.
    let resp = app
        .http
        .patch(app.url(&location.replacen("/api/v1", "", 1)))
        .bearer_auth(&token)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body("a=candidate:1 1 udp 1 127.0.0.1 9 typ host")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);

    // An ended session.
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{other_suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_c, offer) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    let resp = post_sdp(
        &app,
        &format!("/sessions/{other_suid}/whip"),
        &other_device,
        &offer,
    )
    .await;
    expect_error(resp, StatusCode::GONE, "session_ended").await;
}

#[tokio::test]
async fn a_node_without_webrtc_says_so_and_devices_learn_it_at_registration() {
    let app = spawn_app_with(|c| c.webrtc.webrtc_enabled = false).await;
    let token = app.signup("webrtc.off").await;
    let s = app.create_session(&token).await;
    let resp = app
        .register_device_raw(s["ticket"].as_str().unwrap(), json!({}))
        .await;
    let reg: Value = resp.json().await.unwrap();
    assert_eq!(reg["whip_url"], Value::Null, "{reg}");
    let suid = reg["suid"].as_str().unwrap();
    let (_c, offer) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    let resp = post_sdp(
        &app,
        &format!("/sessions/{suid}/whip"),
        reg["device_token"].as_str().unwrap(),
        &offer,
    )
    .await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "webrtc_unavailable").await;

    let on = spawn_app().await;
    let token = on.signup("webrtc.on").await;
    let s = on.create_session(&token).await;
    let reg: Value = on
        .register_device_raw(s["ticket"].as_str().unwrap(), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        reg["whip_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/sessions/{}/whip", reg["suid"].as_str().unwrap())),
        "{reg}"
    );
    assert_eq!(reg["webrtc_jpeg_fps"], 1.0);
}

/// In a cluster any node takes the signalling: WHIP and WHEP for a session another node holds
/// are forwarded there, media flows to and from that node, and the resources' DELETEs find
/// their way back the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_takes_whip_and_whep_and_media_flows_through_the_sessions_node() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let (home, other) = (&cluster[0], &cluster[1]);
    let token = home.signup("rtc.cluster").await;
    let (suid, device) = home.live_session(&token).await;
    let session: switchboard_core::Suid = suid.parse().unwrap();

    // The phone publishes through the node that does not hold the session.
    let (phone, _) = connect(
        other,
        &format!("/sessions/{suid}/whip"),
        &device,
        Role::Publisher,
        SendPlan::default(),
    )
    .await;
    eventually(
        "the publisher to connect to the session's node",
        PATIENCE,
        || async {
            holds(
                home.app.live.webrtc_publishing(session),
                "not publishing on the session's node",
            )
        },
    )
    .await;
    assert!(
        !other.app.live.webrtc_publishing(session),
        "the other node holds no peer of the session"
    );

    // A viewer plays through the other node too, and gets the phone's frames.
    let (viewer, location) = connect(
        other,
        &format!("/sessions/{suid}/whep"),
        &token,
        Role::Viewer,
        quiet(),
    )
    .await;
    eventually("the viewer to get 20 frames", PATIENCE, || async {
        holds(
            n(&viewer.stats.video_frames_in) >= 20,
            n(&viewer.stats.video_frames_in),
        )
    })
    .await;
    let view = home.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], 1, "{view}");

    // Its DELETE, sent to the other node, reaches the resource on the session's node.
    let resp = delete_resource(other, &location, &token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the viewer's place to go", PATIENCE, || async {
        let view = home.session(&token, &suid, None).await;
        holds(view["viewers"] == 0, &view)
    })
    .await;

    // Forwarding checks callers first: no token is refused by the node that got the request.
    let resp = other
        .http
        .post(other.url(&format!("/sessions/{suid}/whep")))
        .header("content-type", "application/sdp")
        .body("v=0")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    drop(phone);
}
