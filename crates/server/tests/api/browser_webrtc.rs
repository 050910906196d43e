//! WebRTC in real browsers: Chromium's fake camera and microphone (moving video, a beep) on
//! the phone page, published over WHIP; the viewmaster plays it over WHEP, hears it, talks
//! back, and sends a control; the low-rate JPEG beside it keeps frame.jpg working.

use crate::browser::{Browser, Driver, run_then_close};
use crate::helpers::*;
use crate::turn::TurnServer;
use reqwest::StatusCode;
use std::time::Duration;
use switchboard_server::config::IceTransportPolicy;

/// The level (peak of the waveform) of the audio track `track` (a page global), as a
/// WebAudio analyser hears it; polled until it is above silence.
fn level_above_silence(track: &str) -> String {
    format!(
        "const t = window.{track}; if (!t) return false; \
         if (!window.meter_{track}) {{ \
           const ctx = new AudioContext(); \
           const an = ctx.createAnalyser(); an.fftSize = 2048; \
           ctx.createMediaStreamSource(new MediaStream([t])).connect(an); \
           window.meter_{track} = an; }} \
         const buf = new Float32Array(2048); window.meter_{track}.getFloatTimeDomainData(buf); \
         let peak = 0; for (const v of buf) peak = Math.max(peak, Math.abs(v)); \
         return peak > 0.02 ? peak : false;"
    )
}

const RTC_FRAMES: &str = "Number(document.getElementById('rtc-video').dataset.frames || 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_publishes_over_webrtc_and_the_clinician_watches_listens_and_talks_back() {
    let app = spawn_app().await;
    let driver = Driver::start_alone().await;
    let clinician = driver.browser("webrtc-clinician", 1280, 1000).await;
    let phone = driver.browser("webrtc-phone", 412, 860).await;
    let late = driver.browser("webrtc-late", 1000, 800).await;
    run_then_close(
        &[&clinician, &phone, &late],
        scenario(&app, &clinician, &phone, &late),
    )
    .await;
}

async fn scenario(app: &TestApp, clinician: &Browser, phone: &Browser, late: &Browser) {
    let token = app.signup("dr.webrtc").await;
    let session = app.create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    clinician
        .sign_in(app, &format!("/s/{suid}"), "dr.webrtc", PASSWORD)
        .await;

    // The phone starts its camera: WebRTC connects and JPEG keeps going beside it.
    phone.goto(session["device_url"].as_str().unwrap()).await;
    phone.click("[data-testid=start]").await;
    phone
        .until(
            "the phone to publish over WebRTC",
            "return document.querySelector('[data-testid=path]').textContent === 'WebRTC'",
        )
        .await;

    // The viewmaster switches to WebRTC and the picture moves.
    clinician
        .until(
            "the viewmaster to play WebRTC",
            &format!(
                "return document.querySelector('[data-testid=path]').textContent === 'WebRTC' \
                 && {RTC_FRAMES} > 10"
            ),
        )
        .await;
    let before = clinician.js(&format!("return {RTC_FRAMES}")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = clinician.js(&format!("return {RTC_FRAMES}")).await;
    let (before, after) = (before.as_f64().unwrap(), after.as_f64().unwrap());
    // At least 5 new pictures a second (the fake camera sends 30; a loaded machine fewer).
    assert!(
        after - before >= 10.0,
        "frames in two seconds: {before} → {after}"
    );
    let size = clinician
        .js("const v = document.getElementById('rtc-video'); return [v.videoWidth, v.videoHeight]")
        .await;
    assert!(size[0].as_u64().unwrap() > 0, "{size}");
    clinician.screenshot("webrtc-viewmaster").await;

    // One viewer: the WHEP peer (the socket carries events only now).
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["viewers"], 1, "{view}");
    assert_eq!(view["webrtc"], true, "{view}");

    // The clinician hears the phone's beep.
    clinician
        .until("the phone's sound", &level_above_silence("sbRemoteAudio"))
        .await;

    // Talk back: the clinician's microphone reaches the phone.
    clinician.click("[data-testid=talk]").await;
    clinician
        .until(
            "the microphone to be on",
            "return document.querySelector('[data-testid=talk]').getAttribute('aria-pressed') === 'true'",
        )
        .await;
    phone
        .until("the clinician's voice", &level_above_silence("sbTalkback"))
        .await;

    // A control round-trips: sent on the viewmaster, carried out on the phone, reported back.
    clinician
        .type_into("#message-text", "Hold the phone still")
        .await;
    clinician.click("[data-testid=send-message]").await;
    phone
        .until(
            "the message on the phone",
            "return document.querySelector('[data-testid=message-text]').textContent === 'Hold the phone still'",
        )
        .await;

    // JPEG beside WebRTC: frame.jpg has a picture.
    let resp = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");

    // A viewer joining the running stream gets a picture after asking: the node asks the
    // publisher for a keyframe at once (without that, Chromium sends its next one only after
    // thousands of frames).
    late.sign_in(app, &format!("/s/{suid}"), "dr.webrtc", PASSWORD)
        .await;
    let joined_in = late
        .until(
            "the late viewer's first picture",
            "const v = document.getElementById('rtc-video'); \
             return v.dataset.firstFrameMs ? Number(v.dataset.firstFrameMs) : false",
        )
        .await;
    let joined_in = joined_in.as_f64().unwrap();
    let timeline = late
        .js("return document.getElementById('rtc-video').dataset.timeline")
        .await;
    eprintln!(
        "the late viewer's first picture came {joined_in} ms after it asked to play ({timeline})"
    );
    // Loose: a timed bound on a shared machine; `bench webrtc` measures joining.
    assert!(
        joined_in < 10_000.0,
        "the first picture took {joined_in} ms ({timeline})"
    );

    // The session's facts say what went over each path.
    clinician
        .until(
            "the traffic to name both paths",
            "const t = document.querySelector('[data-testid=traffic]').textContent; \
             return t.includes('JPEG: ') && t.includes('WebRTC: ') ? t : false",
        )
        .await;

    // Ending the session stops both sides.
    clinician.click("[data-testid=end]").await;
    clinician.click("dialog [data-testid=confirm]").await;
    phone
        .until(
            "the phone to show the end",
            "return !document.getElementById('step-ended').hidden",
        )
        .await;
    eventually("the WebRTC peers to be gone", PATIENCE, || async {
        holds(
            !app.app.live.webrtc_publishing(suid.parse().unwrap()),
            "still publishing",
        )
    })
    .await;
    // The CDR names both paths: WebRTC, and the low-rate JPEG beside it.
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    let cdrs = app.store.cdrs(from, to).await.unwrap();
    let cdr = cdrs.iter().find(|c| c.suid.to_string() == suid).unwrap();
    assert_eq!(
        cdr.paths,
        vec![
            switchboard_core::MediaPath::Jpeg,
            switchboard_core::MediaPath::Webrtc
        ],
        "{cdr:?}"
    );
    assert!(cdr.traffic.webrtc.frames_in > 30, "{cdr:?}");
    assert!(
        cdr.traffic.webrtc.bytes_out > cdr.traffic.jpeg.bytes_out,
        "{cdr:?}"
    );
    for b in [clinician, phone] {
        // The only one allowed: the 401 that sent the clinician to sign in.
        let errors = b.console_errors(&["/api/v1/me "]).await;
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }
}

/// A phone whose browser has no WebRTC at all streams JPEG over its socket as before, and a
/// clinician whose browser has it watches that over JPEG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_without_webrtc_falls_back_to_jpeg() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let clinician = driver.browser("nortc-clinician", 1280, 1000).await;
    let phone = driver.browser("nortc-phone", 412, 860).await;
    phone
        .before_every_page(
            "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;",
        )
        .await;
    run_then_close(
        &[&clinician, &phone],
        without_webrtc(&app, &clinician, &phone),
    )
    .await;
}

async fn without_webrtc(app: &TestApp, clinician: &Browser, phone: &Browser) {
    let token = app.signup("dr.nortc").await;
    let session = app.create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    clinician
        .sign_in(app, &format!("/s/{suid}"), "dr.nortc", PASSWORD)
        .await;

    phone.goto(session["device_url"].as_str().unwrap()).await;
    assert_eq!(
        phone.js("return typeof window.RTCPeerConnection").await,
        "undefined"
    );
    phone.click("[data-testid=start]").await;
    phone
        .until(
            "the phone to send JPEG frames",
            "return Number(document.querySelector('[data-testid=sent]').textContent) > 10",
        )
        .await;
    assert_eq!(
        phone
            .js("return document.querySelector('[data-testid=path]').textContent")
            .await,
        "JPEG"
    );
    assert!(!app.app.live.webrtc_publishing(suid.parse().unwrap()));

    // The clinician's browser could play WebRTC, but there is none to play: JPEG it is.
    clinician
        .until(
            "the viewmaster to show JPEG frames",
            "return Number(document.querySelector('[data-testid=frames]').textContent) > 10",
        )
        .await;
    assert_eq!(
        clinician
            .js("return document.querySelector('[data-testid=path]').textContent")
            .await,
        "JPEG"
    );
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["webrtc"], false, "{view}");
    assert_eq!(view["viewers"], 1, "{view}");
    let errors = phone.console_errors(&[]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// The type (`host`, `srflx`, `prflx`, `relay`) of the local candidate the peer connection
/// `pc` (a page global) sends media from, once it has chosen one, with how a relayed one
/// reaches its relay (`relay/tcp`).
fn selected_candidate_type(pc: &str) -> String {
    format!(
        "const pc = window.{pc}; if (!pc) return false; \
         pc.getStats().then((report) => {{ \
           report.forEach((s) => {{ \
             if (s.type !== 'transport' || !s.selectedCandidatePairId) return; \
             const pair = report.get(s.selectedCandidatePairId); \
             const local = pair && report.get(pair.localCandidateId); \
             if (local) window.{pc}Selected = local.candidateType \
               + (local.relayProtocol ? '/' + local.relayProtocol : ''); \
           }}); \
         }}); \
         return window.{pc}Selected || false;"
    )
}

/// A network that lets no media through directly, and no UDP out at all: the node tells
/// browsers to use relayed candidates only, through Debian's coturn on loopback reached over
/// TCP, with credentials it minted for each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_through_a_turn_relay_when_the_node_says_relay_only() {
    let turn = TurnServer::start().await;
    let app = spawn_app_with(|c| {
        c.webrtc.webrtc_turn_urls = vec![turn.url("tcp")];
        c.webrtc.webrtc_turn_secret_file = Some(turn.secret_file());
        c.webrtc.webrtc_ice_transport_policy = IceTransportPolicy::Relay;
    })
    .await;
    let driver = Driver::start_alone().await;
    let clinician = driver.browser("turn-clinician", 1280, 1000).await;
    let phone = driver.browser("turn-phone", 412, 860).await;
    run_then_close(
        &[&clinician, &phone],
        through_turn(&app, &clinician, &phone),
    )
    .await;
}

async fn through_turn(app: &TestApp, clinician: &Browser, phone: &Browser) {
    let token = app.signup("dr.turn").await;
    let session = app.create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    clinician
        .sign_in(app, &format!("/s/{suid}"), "dr.turn", PASSWORD)
        .await;
    phone.goto(session["device_url"].as_str().unwrap()).await;
    phone.click("[data-testid=start]").await;
    phone
        .until(
            "the phone to publish over WebRTC through the relay",
            "return document.querySelector('[data-testid=path]').textContent === 'WebRTC'",
        )
        .await;
    clinician
        .until(
            "the viewmaster to play WebRTC through the relay",
            &format!(
                "return document.querySelector('[data-testid=path]').textContent === 'WebRTC' \
                 && {RTC_FRAMES} > 10"
            ),
        )
        .await;
    for (browser, pc) in [(phone, "sbPublisherPc"), (clinician, "sbViewerPc")] {
        let kind = browser
            .until("a chosen candidate pair", &selected_candidate_type(pc))
            .await;
        // A relayed candidate exists only if coturn accepted the credentials the node minted
        // (use-auth-secret checks each request's HMAC against the shared secret).
        assert_eq!(kind, "relay/tcp", "{pc} sends from a {kind} candidate");
    }
}
