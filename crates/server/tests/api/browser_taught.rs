//! Teaching an object in a real browser: the user opens a camera's picture (bus.jpg), drags a
//! box around the sign on the bus's side with the mouse, names it "my keys"; the camera
//! then uploads zidane.jpg with that sign pasted on it, and "where are my keys" finds it,
//! with its score on the result and the box on the thumbnail. Screenshots land in
//! `target/screenshots/taught*.png`.

use crate::browser::{Browser, Driver};
use crate::cameras::{bus_jpg, upload, with_detector};
use crate::helpers::*;
use crate::taught::{SIGN, zidane_with_the_sign};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_teaches_an_object_by_drawing_a_box_and_finds_it_later() {
    let app = spawn_app_with(|c| {
        with_detector(c);
        c.cameras.snapshot_dedup_distance = 0.0;
    })
    .await;
    let driver = Driver::start().await;
    let user = driver.browser("taught", 1280, 1000).await;
    let result =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&app, &user))).await;
    user.finish(result).await;
}

/// Drags the mouse from one point of the viewport to another, button held.
async fn drag(user: &Browser, from: (f64, f64), to: (f64, f64)) {
    let mouse = MouseActions::new("mouse".to_owned())
        .then(PointerAction::MoveTo {
            duration: None,
            x: from.0.round(),
            y: from.1.round(),
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveTo {
            duration: Some(Duration::from_millis(150)),
            x: ((from.0 + to.0) / 2.0).round(),
            y: ((from.1 + to.1) / 2.0).round(),
        })
        .then(PointerAction::MoveTo {
            duration: Some(Duration::from_millis(150)),
            x: to.0.round(),
            y: to.1.round(),
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    user.client.perform_actions(mouse).await.expect("the drag");
    user.client.release_actions().await.expect("release");
}

async fn scenario(app: &TestApp, user: &Browser) {
    let owner = app.signup("teach.owner").await;
    let (camera, token) = app.create_camera(&owner, "Hallway").await;
    let resp = upload(app, &camera, &token, bus_jpg()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    user.sign_in(app, "/cameras", "teach.owner", PASSWORD).await;
    user.until(
        "the camera's picture, and nothing taught yet",
        "const img = document.querySelector('[data-testid=camera-img]'); \
         return !!img && !img.hidden && img.complete && img.naturalWidth > 0 \
           && !document.getElementById('taught-empty').hidden",
    )
    .await;

    // The picture opens large; teaching turns the mouse into a box.
    user.click("[data-testid=camera-open]").await;
    user.until(
        "the picture, large",
        "const d = document.getElementById('snapshot-dialog'); \
         const img = document.getElementById('snapshot-img'); \
         return d.open && img.complete && img.naturalWidth > 0",
    )
    .await;
    user.click("[data-testid=teach-start]").await;
    let rect = user
        .js(
            "const r = document.getElementById('snapshot-img').getBoundingClientRect(); \
             return [r.left, r.top, r.width, r.height]",
        )
        .await;
    let r: Vec<f64> = rect
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let [x, y, w, h] = SIGN;
    drag(
        user,
        (r[0] + x * r[2], r[1] + y * r[3]),
        (r[0] + (x + w) * r[2], r[1] + (y + h) * r[3]),
    )
    .await;
    let drawn = user
        .until(
            "the box drawn on the picture",
            "const b = document.querySelector('[data-testid=teach-box]'); \
             if (b.hidden) return null; \
             const s = b.style; \
             return ['x', 'y', 'w', 'h'].map((k) => parseFloat(s.getPropertyValue('--' + k)))",
        )
        .await;
    let drawn: Vec<f64> = drawn
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (got, want) in drawn.iter().zip(SIGN) {
        // A pixel or two of rounding on a picture some 700 pixels tall.
        assert!((got - want).abs() < 0.01, "drew {drawn:?}, meant {SIGN:?}");
    }
    user.screenshot("taught-box").await;
    user.type_into("[data-testid=teach-name]", "my keys").await;
    user.click("[data-testid=teach-save]").await;
    user.until(
        "the object taught",
        "const done = document.querySelector('[data-testid=taught-done]'); \
         return !!done && done.textContent.includes('my keys') \
           && document.querySelector('[data-testid=teach-form]').hidden",
    )
    .await;
    assert_eq!(user.text("[data-testid=teach-error]").await, "");
    user.client
        .execute(
            "document.getElementById('snapshot-dialog').close(); return true",
            vec![],
        )
        .await
        .unwrap();
    user.until(
        "my keys in the list",
        "const names = [...document.querySelectorAll('[data-testid=taught-object] [data-field=name]')] \
           .map((e) => e.textContent); \
         return names.includes('my keys') && document.getElementById('taught-empty').hidden",
    )
    .await;

    // The camera sends a picture with the sign in it; search finds it there.
    let (with_sign, _) = zidane_with_the_sign();
    let resp = upload(app, &camera, &token, with_sign).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    user.type_into("[data-testid=search-q]", "where are my keys")
        .await;
    user.click("[data-testid=search]").await;
    user.until(
        "the taught object found, its thumbnail loaded",
        "const r = document.querySelector('[data-testid=result][data-taught]'); \
         const img = r && r.querySelector('img'); \
         return !!img && img.complete && img.naturalWidth > 0",
    )
    .await;
    let caption = user.text("[data-testid=result][data-taught]").await;
    assert!(
        caption.contains("my keys") && caption.contains("alike") && caption.contains('%'),
        "result caption: {caption:?}"
    );
    assert!(
        user.text("#search-summary").await.contains("my keys"),
        "the summary names what was asked"
    );
    assert!(
        user.js("return document.querySelector('[data-testid=search-unknown]').hidden")
            .await
            .as_bool()
            .unwrap(),
        "a taught name is not unknown"
    );
    // The list says where it was last seen (it refreshes by itself).
    user.until(
        "the list's last sighting",
        "const seen = document.querySelector('[data-testid=taught-object] [data-field=seen]'); \
         return !!seen && seen.textContent.startsWith('Last seen') && seen.textContent.includes('Hallway')",
    )
    .await;
    // The result opens with the found box drawn on the picture.
    user.click("[data-testid=result][data-taught]").await;
    user.until(
        "the found box on the picture",
        "const d = document.getElementById('snapshot-dialog'); \
         const names = [...d.querySelectorAll('[data-testid=taught-found] .det-name')].map((e) => e.textContent); \
         return d.open && names.includes('my keys') && d.querySelectorAll('.det-box.taught-found').length > 0",
    )
    .await;
    user.client.set_window_size(1280, 1400).await.unwrap();
    // The found box lies on the picture, whatever its shape (this one is landscape).
    let inside = user
        .until(
            "the found box on the picture, resized",
            "const img = document.getElementById('snapshot-img').getBoundingClientRect(); \
             const stage = document.getElementById('snap-stage').getBoundingClientRect(); \
             const b = document.querySelector('.det-box.taught-found').getBoundingClientRect(); \
             const same = Math.abs(stage.width - img.width) < 2 && Math.abs(stage.height - img.height) < 2; \
             const on = b.left >= img.left - 1 && b.right <= img.right + 1 \
               && b.top >= img.top - 1 && b.bottom <= img.bottom + 1; \
             return same && on && { stage: stage.width, img: img.width }",
        )
        .await;
    assert!(inside.is_object(), "{inside}");
    user.screenshot("taught").await;

    let errors = user.console_errors(&["/api/v1/me"]).await;
    assert!(errors.is_empty(), "[taught] console errors: {errors:#?}");
}
