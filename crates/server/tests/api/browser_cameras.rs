//! The cameras page in a real browser: a user adds a camera (its token shown once), the
//! camera uploads a photo, the card shows it, a search finds the bus in it, the picture opens
//! with every detection boxed and listed, and a search for something the detector cannot see
//! says so. The screenshot lands in `target/screenshots/cameras.png`.

use crate::browser::{Browser, Driver};
use crate::cameras::{bus_jpg, with_detector};
use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_adds_a_camera_and_finds_the_bus_in_its_picture() {
    let app = spawn_app_with(with_detector).await;
    let driver = Driver::start().await;
    let user = driver.browser("cameras", 1280, 1000).await;
    let result =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&app, &user))).await;
    // Close the browser whatever happened, so no Chromium outlives the test.
    let _ = tokio::time::timeout(Duration::from_secs(10), user.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(app: &TestApp, user: &Browser) {
    let base = format!("http://{}", app.addr);
    let owner = app.signup("cam.owner").await;

    // Signed out, the page sends us to sign in and comes back afterwards.
    user.goto(&format!("{base}/cameras")).await;
    user.until(
        "the redirect to /login",
        "return location.pathname === '/login' && location.search.includes('next=%2Fcameras')",
    )
    .await;
    user.type_into("#signin-username", "cam.owner").await;
    user.type_into("#signin-password", "quiet lantern orbit mosaic")
        .await;
    user.click("#form-signin button[type=submit]").await;
    user.until(
        "the cameras page, empty",
        "return location.pathname === '/cameras' && !document.getElementById('main').hidden \
         && !document.getElementById('cameras-empty').hidden",
    )
    .await;
    assert_eq!(
        user.text("nav a[aria-current=page]").await,
        "Cameras",
        "the menu marks the page"
    );

    // Adding a camera shows its token once, with the uploader command.
    user.type_into("#add-name", "Driveway").await;
    user.click("[data-testid=add-camera]").await;
    user.until(
        "the token panel",
        "return !document.getElementById('token-panel').hidden \
         && document.getElementById('token-value').value.startsWith('sbc_')",
    )
    .await;
    let token = user
        .js("return document.getElementById('token-value').value")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let camera = user
        .until(
            "the new camera's card",
            "const c = document.querySelector('[data-testid=camera]'); return c && c.dataset.id",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let command = user
        .js("return document.getElementById('token-command').value")
        .await;
    assert_eq!(
        command.as_str().unwrap(),
        format!(
            "switchboard camera --server {base} --camera-id {camera} --token {token} \
             --device /dev/video0 --every 5s"
        )
    );
    assert!(
        user.text("#token-panel").await.contains("--dir"),
        "the panel mentions a folder of photos"
    );
    user.screenshot("cameras-token").await;
    assert_eq!(
        user.text("[data-testid=camera] .camera-name").await,
        "Driveway"
    );
    // Once closed, the token is gone from the page.
    user.click("#token-done").await;
    assert_eq!(
        user.js("return document.getElementById('token-panel').hidden && document.getElementById('token-value').value === ''")
            .await,
        true
    );

    // The camera uploads a photo with that token; the card shows it by itself.
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
    user.until(
        "the card with the uploaded picture",
        "const img = document.querySelector('[data-testid=camera-img]'); \
         return !img.hidden && img.complete && img.naturalWidth > 0 \
         && document.querySelector('[data-testid=camera] [data-field=uploads]').textContent.startsWith('1')",
    )
    .await;
    let seen = user.text("[data-testid=camera] [data-field=seen]").await;
    assert!(
        seen == "just now" || seen.ends_with(" ago"),
        "last seen: {seen:?}"
    );

    // Searching finds the bus, as an annotated thumbnail.
    user.type_into("[data-testid=search-q]", "where is the bus")
        .await;
    user.click("[data-testid=search]").await;
    user.until(
        "a result with its thumbnail loaded",
        "const img = document.querySelector('[data-testid=result] img'); \
         return !!img && img.complete && img.naturalWidth > 0",
    )
    .await;
    let caption = user.text("[data-testid=result]").await;
    assert!(
        caption.contains("bus") && caption.contains("Driveway") && caption.contains('%'),
        "result caption: {caption:?}"
    );

    // The result opens the full picture with every detection boxed and listed.
    user.click("[data-testid=result]").await;
    user.until(
        "the picture with its detections",
        "const d = document.getElementById('snapshot-dialog'); \
         const img = document.getElementById('snapshot-img'); \
         const names = [...d.querySelectorAll('[data-testid=detection] .det-name')].map((e) => e.textContent); \
         return d.open && img.complete && img.naturalWidth > 0 \
           && names.includes('bus') && names.includes('person')",
    )
    .await;
    assert_eq!(user.text("#snapshot-error").await, "");
    // Every box lies on the picture, and there is one per listed detection.
    let geometry = user
        .js("const img = document.getElementById('snapshot-img').getBoundingClientRect(); \
             const boxes = [...document.querySelectorAll('#snap-boxes .det-box')].map((b) => b.getBoundingClientRect()); \
             const inside = boxes.every((b) => b.width > 4 && b.height > 4 \
               && b.left >= img.left - 1 && b.right <= img.right + 1 \
               && b.top >= img.top - 1 && b.bottom <= img.bottom + 1); \
             return { boxes: boxes.length, listed: document.querySelectorAll('[data-testid=detection]').length, inside }")
        .await;
    assert_eq!(geometry["inside"], true, "{geometry}");
    assert_eq!(geometry["boxes"], geometry["listed"], "{geometry}");
    user.screenshot("cameras-picture").await;
    user.client
        .execute(
            "document.getElementById('snapshot-dialog').close(); return true",
            vec![],
        )
        .await
        .unwrap();

    // Something the detector cannot see: the page says so and lists what it can find.
    user.type_into("[data-testid=search-q]", "keys").await;
    user.click("[data-testid=search]").await;
    user.until(
        "the explanation for keys",
        "const u = document.querySelector('[data-testid=search-unknown]'); \
         return !u.hidden && u.textContent.includes('keys') && u.textContent.includes('not something') \
           && document.querySelectorAll('[data-testid=result]').length === 0",
    )
    .await;
    let unknown = user.text("[data-testid=search-unknown]").await;
    assert!(
        unknown.contains("It can find:") && unknown.contains("cell phone"),
        "{unknown}"
    );
    // Known, but in no picture: a clear empty state.
    user.type_into("[data-testid=search-q]", "cup").await;
    user.click("[data-testid=search]").await;
    user.until(
        "the empty state for cup",
        "const e = document.querySelector('[data-testid=search-empty]'); \
         return !e.hidden && e.textContent.includes('No picture shows cup') \
           && document.querySelector('[data-testid=search-unknown]').hidden",
    )
    .await;
    // A new token, after confirming: shown once like the first; the old one stops working.
    user.click("[data-testid=camera] [data-testid=new-token]")
        .await;
    user.click("dialog [data-testid=confirm]").await;
    let rotated = user
        .until(
            "the new token",
            &format!(
                "const v = document.getElementById('token-value').value; \
                 return !document.getElementById('token-panel').hidden && v.startsWith('sbc_') && v !== '{token}' && v"
            ),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        user.js("return document.getElementById('token-command').value")
            .await
            .as_str()
            .unwrap()
            .contains(&format!("--token {rotated} ")),
        "the command carries the new token"
    );
    user.click("#token-done").await;
    let upload = |used: String| {
        app.http
            .post(app.url(&format!("/cameras/{camera}/snapshots")))
            .bearer_auth(used)
            .header("content-type", "image/jpeg")
            .body(bus_jpg())
            .send()
    };
    assert_eq!(
        upload(token.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // The same photo again may be kept or set aside as a duplicate; either way it is accepted.
    let again = upload(rotated).await.unwrap().status();
    assert!(again.is_success(), "upload with the new token: {again}");

    // Live: a video session for the camera, waiting for it; the page opens its viewer.
    user.click("[data-testid=camera] [data-testid=live]").await;
    let suid = user
        .until(
            "the session viewer",
            "return location.pathname.startsWith('/s/') && location.pathname.slice(3)",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let view = app.session(&owner, &suid, None).await;
    assert_eq!(view["state"], "waiting");
    assert_eq!(view["label"], "Driveway");

    // Back on the page (asking again from the address), the card says the camera is awaited
    // and its button returns to the same session.
    user.goto(&format!("{base}/cameras?q=bus")).await;
    user.until(
        "the card's live note and the bus found again",
        "const note = document.querySelector('[data-testid=camera] [data-field=live]'); \
         const img = document.querySelector('[data-testid=result] img'); \
         return !!note && !note.hidden && note.textContent.includes('next upload') \
           && !!img && img.complete && img.naturalWidth > 0",
    )
    .await;
    assert_eq!(
        user.text("[data-testid=camera] [data-testid=live]").await,
        "Watch"
    );
    // Tall enough to show the search results and the camera card in one picture.
    user.client.set_window_size(1280, 1400).await.unwrap();
    user.screenshot("cameras").await;
    user.client.set_window_size(1280, 1000).await.unwrap();
    user.click("[data-testid=camera] [data-testid=live]").await;
    user.until(
        "the same session viewer",
        &format!("return location.pathname === '/s/{suid}'"),
    )
    .await;

    // The one expected entry is the 401 that told the page we were signed out.
    let errors = user.console_errors(&["/api/v1/me"]).await;
    assert!(errors.is_empty(), "[cameras] console errors: {errors:#?}");
}
