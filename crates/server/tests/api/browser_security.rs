//! The second factor in a real browser: a user sets one up on the account page (the QR code
//! shown, the code computed from the key the page shows, recovery codes shown once), signs
//! out, and signs in again in two steps, once with a code and once with a recovery code; an
//! admin resets a colleague's password and turns on the account's second-factor rule. The
//! screenshots land in `target/screenshots/second-factor-*.png`.

use crate::browser::{Browser, Driver};
use crate::helpers::*;
use crate::security::{totp_code, unix_now};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_enrols_a_second_factor_and_signs_in_with_it_in_the_browser() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let user = driver.browser("second-factor", 1280, 1400).await;
    let result =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&app, &user))).await;
    // Close the browser whatever happened, so no Chromium outlives the test.
    let _ = tokio::time::timeout(Duration::from_secs(10), user.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn sign_in_with_password(user: &Browser, base: &str, username: &str) {
    user.goto(&format!("{base}/login?next=%2Faccount")).await;
    user.type_into("#signin-username", username).await;
    user.type_into("#signin-password", PASSWORD).await;
    user.click("#form-signin button[type=submit]").await;
}

async fn scenario(app: &TestApp, user: &Browser) {
    let base = format!("http://{}", app.addr);
    let admin = app.signup("dr.bailey").await;
    app.join_account(&admin, "dr.webber").await;

    sign_in_with_password(user, &base, "dr.bailey").await;
    user.until(
        "the account page",
        "return location.pathname === '/account' && !document.getElementById('main').hidden",
    )
    .await;
    assert_eq!(user.text("[data-testid=second-factor-state]").await, "Off.");

    // Set up: the page shows the QR code and the key; the app's code turns it on.
    user.click("[data-testid=enrol]").await;
    let secret = user
        .until(
            "the key of the new second factor",
            "return document.querySelector('[data-testid=totp-secret]').value",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    user.until(
        "the QR code to load",
        "const img = document.querySelector('[data-testid=enrol-qr]'); \
         return img.complete && img.naturalWidth >= 200;",
    )
    .await;
    user.screenshot("second-factor-enrol").await;
    user.type_into("[data-testid=enrol-code]", &totp_code(&secret, unix_now()))
        .await;
    user.click("[data-testid=enrol-confirm]").await;
    let codes = user
        .until(
            "the recovery codes",
            "const items = [...document.querySelectorAll('[data-testid=recovery-codes] li')]; \
             return items.length === 10 ? items.map((li) => li.textContent) : null;",
        )
        .await;
    let codes: Vec<String> = codes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    user.screenshot("second-factor-recovery-codes").await;
    user.click("#recovery-done").await;
    user.until(
        "the second factor shown on",
        "return document.querySelector('[data-testid=second-factor-state]').textContent.startsWith('On')",
    )
    .await;
    // Shown once: gone from the page.
    assert_eq!(
        user.js("return document.querySelectorAll('[data-testid=recovery-codes] li').length")
            .await,
        0
    );

    // Sign out, and in again: the password, then the code.
    user.click("#signout").await;
    user.until("the sign-in page", "return location.pathname === '/login'")
        .await;
    sign_in_with_password(user, &base, "dr.bailey").await;
    user.until(
        "the second-factor step",
        "return !document.getElementById('form-second-factor').hidden",
    )
    .await;
    user.screenshot("second-factor-sign-in").await;
    // A code of the next step: the one that turned the factor on is used up.
    user.type_into(
        "[data-testid=second-factor-code]",
        &totp_code(&secret, unix_now() + 30),
    )
    .await;
    user.click("[data-testid=second-factor-submit]").await;
    user.until(
        "the account page after the second step",
        "return location.pathname === '/account' && !document.getElementById('main').hidden",
    )
    .await;
    user.until(
        "this sign-in in the list",
        "return [...document.querySelectorAll('[data-testid=sign-in]')].some((li) => li.textContent.includes('(this one)'))",
    )
    .await;

    // Admin tools: require a second factor of everyone, reset a colleague's password.
    user.click("[data-testid=require-second-factor]").await;
    crate::helpers::eventually("the rule stored", Duration::from_secs(10), || async {
        let settings: serde_json::Value = app
            .http
            .get(app.url("/account/security"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        holds(settings["require_second_factor"] == true, &settings)
    })
    .await;
    user.click("[data-testid=\"reset-dr.webber\"]").await;
    user.type_into(
        "[data-testid=\"reset-password-dr.webber\"]",
        "amber falcon ledger prism",
    )
    .await;
    user.click("#users li form button[type=submit]").await;
    crate::helpers::eventually("the one-time password set", Duration::from_secs(10), || async {
        let resp = app
            .http
            .post(app.url("/auth/login"))
            .json(&serde_json::json!({"username": "dr.webber", "password": "amber falcon ledger prism"}))
            .send()
            .await
            .unwrap();
        holds(resp.status() == reqwest::StatusCode::OK, resp.status())
    })
    .await;
    user.screenshot("second-factor-admin").await;

    // Signed out again: a recovery code stands in for the app.
    user.click("#signout").await;
    user.until("the sign-in page", "return location.pathname === '/login'")
        .await;
    sign_in_with_password(user, &base, "dr.bailey").await;
    user.until(
        "the second-factor step",
        "return !document.getElementById('form-second-factor').hidden",
    )
    .await;
    user.click("#use-recovery").await;
    user.type_into("[data-testid=second-factor-recovery]", &codes[0])
        .await;
    user.click("[data-testid=second-factor-submit]").await;
    user.until(
        "the account page after a recovery code",
        "return location.pathname === '/account' && !document.getElementById('main').hidden",
    )
    .await;
    let errors = user.console_errors(&[]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
