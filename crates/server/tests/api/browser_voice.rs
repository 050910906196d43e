//! Asking by voice in a real browser: Chromium's fake microphone plays a question spoken by
//! espeak-ng, the cameras page records it (WebAudio, downsampled to 16 kHz, encoded as WAV
//! in the page), the server recognizes it, and the page shows what it heard and the bus
//! snapshot it found. The screenshot lands in `target/screenshots/cameras-voice.png`.

use crate::browser::{Browser, Driver};
use crate::cameras::{bus_jpg, with_detector};
use crate::helpers::*;
use crate::voice::speak;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_asked_into_the_microphone_finds_the_bus() {
    let app = spawn_app_with(|c| {
        with_detector(c);
        // The page stops listening a second before the longest question taken.
        c.cameras.voice_max_duration = Duration::from_secs(4);
    })
    .await;
    // The fake microphone plays the question once, then silence.
    let speech = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
    std::fs::write(speech.path(), speak("where is the bus", "en-us")).unwrap();
    let driver = Driver::start().await;
    let user = driver
        .browser_hearing("cameras-voice", 1280, 1000, speech.path())
        .await;
    let result =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&app, &user))).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), user.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(app: &TestApp, user: &Browser) {
    let base = format!("http://{}", app.addr);
    let owner = app.signup("voice.owner").await;
    let (camera, token) = app.create_camera(&owner, "Street").await;
    let resp = app
        .http
        .post(app.url(&format!("/cameras/{camera}/snapshots")))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(bus_jpg())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    user.goto(&format!("{base}/login?next=%2Fcameras")).await;
    user.type_into("#signin-username", "voice.owner").await;
    user.type_into("#signin-password", PASSWORD).await;
    user.click("#form-signin button[type=submit]").await;
    user.until(
        "the cameras page with the microphone ready",
        "return location.pathname === '/cameras' && !document.getElementById('main').hidden \
         && !document.querySelector('[data-testid=voice]').disabled",
    )
    .await;
    assert!(
        user.js("return document.getElementById('voice-off').hidden")
            .await
            .as_bool()
            .unwrap(),
        "voice is on: no notice"
    );

    // One press starts listening; the page stops by itself before the server's bound.
    user.click("[data-testid=voice]").await;
    user.until(
        "listening",
        "return document.querySelector('[data-testid=voice]').getAttribute('aria-pressed') === 'true'",
    )
    .await;
    let heard = user
        .until(
            "what was heard",
            "const t = document.querySelector('[data-testid=voice-heard]').textContent; \
             return t.startsWith('Heard') ? t : null",
        )
        .await;
    assert_eq!(heard.as_str().unwrap(), "Heard: “where is the bus”");
    user.until(
        "the bus found, as a thumbnail",
        "const img = document.querySelector('[data-testid=result] img'); \
         return !!img && img.complete && img.naturalWidth > 0",
    )
    .await;
    let caption = user.text("[data-testid=result]").await;
    assert!(
        caption.contains("bus") && caption.contains("Street"),
        "{caption}"
    );
    assert_eq!(
        user.js("return document.getElementById('search-q').value")
            .await,
        "where is the bus",
        "the question is in the search box, to change and ask again"
    );
    user.screenshot("cameras-voice").await;
    let errors = user.console_errors(&[]).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
