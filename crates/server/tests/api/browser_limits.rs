//! Limits in a real browser: an operator picks an account on the admin page, reads its use
//! against each limit as bars and lowers its session limit; a user whose account is at that
//! limit is told plainly why the dashboard makes no new session. Screenshots land in
//! `target/screenshots/admin-limits.png` and `dashboard-limit-reached.png`.

use crate::browser::{Browser, Driver};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The bar of `limit` on the admin page: [aria-valuenow, aria-valuemax, level, figures].
const BAR: &str = "const row = document.querySelector(`#limits tr[data-limit=\"${arguments[0]}\"]`); \
    if (!row) return null; const bar = row.querySelector('[role=meter]'); \
    return [bar.getAttribute('aria-valuenow'), bar.getAttribute('aria-valuemax'), \
            bar.dataset.level, row.querySelector('[data-testid=limit-figures]').textContent];";

async fn bar(browser: &Browser, limit: &str) -> Value {
    browser
        .client
        .execute(BAR, vec![limit.into()])
        .await
        .expect("the bar script runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lowers_an_accounts_session_limit_on_the_admin_page() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let operator = driver.browser("operator", 1280, 1000).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        lower_the_session_limit(&app, &operator),
    ))
    .await;
    operator.finish(result).await;
}

async fn lower_the_session_limit(app: &TestApp, op: &Browser) {
    let admin = app.signup("clinic.admin").await;
    let stranger = app.signup("stranger").await;
    app.operator_token(&stranger).await;
    let account = app.me(&admin).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_session(&admin).await;

    op.sign_in(app, "/admin", "op", "operator password").await;
    // The node's detector: off on test nodes, and the page says why.
    op.until(
        "the detector card saying why detection is off",
        "const d = document.querySelector('[data-testid=detector-why]'); \
         return d !== null && d.textContent.includes('turned off')",
    )
    .await;
    // The picker lists both accounts, the operator's own chosen first.
    op.until(
        "the account picker with both accounts",
        "const s = document.getElementById('limits-account'); \
         return !document.getElementById('limits-picker').hidden && s.options.length === 2 \
         && document.querySelectorAll('#limits tbody tr').length === 12",
    )
    .await;
    op.client
        .find(fantoccini::Locator::Css("#limits-account"))
        .await
        .unwrap()
        .select_by_value(&account)
        .await
        .unwrap();
    op.until(
        "the clinic's limits",
        &format!("return document.querySelector('#limits tbody').dataset.account === {account:?}"),
    )
    .await;
    assert_eq!(
        op.js("return document.querySelectorAll('#limits tbody tr').length")
            .await,
        12,
        "a row for every limit"
    );
    // The clinic has one session open of the default 100.
    assert_eq!(
        bar(op, "sessions").await,
        json!(["1", "100", "ok", "1 of 100"])
    );
    // Bandwidth is shaped, not refused, and says so; sizes are in binary units.
    let shaped = op
        .text("#limits tr[data-limit=egress_bytes_per_second] th")
        .await;
    assert!(shaped.contains("slowed, not refused"), "{shaped}");
    assert_eq!(bar(op, "snapshot_bytes").await[3], "0 B of 5 GiB");
    assert_eq!(
        op.js("const i = document.getElementById('max-sessions'); \
               return [i.value, i.placeholder, document.getElementById('use-default-sessions').checked]")
            .await,
        json!(["", "100", true]),
        "the default shows as the placeholder"
    );

    // A value the page cannot read is refused there; the server's refusals are shown as it
    // words them.
    op.type_into("#max-snapshot_bytes", "lots").await;
    op.click("[data-testid=save-limits]").await;
    op.until(
        "the page's own message",
        "return document.getElementById('limits-error').textContent.includes('is not a size')",
    )
    .await;
    op.click("#use-default-snapshot_bytes").await;
    op.type_into("#max-upload_bytes_per_second", "100").await;
    op.click("[data-testid=save-limits]").await;
    op.until(
        "the server's message",
        "return document.getElementById('limits-error').textContent.includes('at least 1024')",
    )
    .await;
    op.click("#use-default-upload_bytes_per_second").await;

    // Lowering sessions to 1 (below what is in use) saves, and the bar is full at 1.
    op.type_into("#max-sessions", "1").await;
    assert_eq!(
        op.js("return document.getElementById('use-default-sessions').checked")
            .await,
        false,
        "typing a maximum unticks the default"
    );
    op.click("[data-testid=save-limits]").await;
    op.until(
        "the saved maximum in the bar",
        "const bar = document.querySelector('#limits tr[data-limit=sessions] [role=meter]'); \
         return bar.getAttribute('aria-valuemax') === '1' && bar.dataset.level === 'full' \
         && document.getElementById('limits-saved').textContent.startsWith('Saved')",
    )
    .await;
    assert_eq!(
        bar(op, "sessions").await,
        json!(["1", "1", "full", "1 of 1"])
    );
    assert_eq!(op.text("#limits-error").await, "");
    assert_eq!(
        op.js("return document.getElementById('max-sessions').value")
            .await,
        "1"
    );
    assert!(
        op.text("#limits-account").await.contains("own limits"),
        "the picker marks an account with limits of its own"
    );
    // Tall enough to show the whole Limits section under the rest of the page.
    op.client.set_window_size(1280, 1900).await.unwrap();
    op.screenshot("admin-limits").await;

    // The server holds the account to it.
    let resp = app
        .http
        .post(app.url("/sessions"))
        .bearer_auth(&admin)
        .json(&json!({"kind": "video"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // The 401 that sent the page to sign in, and the refused save.
    let errors = op.console_errors(&["/api/v1/me ", "/limits "]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_says_plainly_that_the_account_is_at_its_session_limit() {
    let app = spawn_app_with(|c| c.admission.account_sessions = 1).await;
    let driver = Driver::start().await;
    let user = driver.browser("limited", 1280, 1000).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        refused_on_the_dashboard(&app, &user),
    ))
    .await;
    user.finish(result).await;
}

async fn refused_on_the_dashboard(app: &TestApp, user: &Browser) {
    let token = app.signup("dr.limit").await;
    app.create_session(&token).await;

    user.sign_in(app, "/", "dr.limit", PASSWORD).await;
    user.until(
        "the open session's row",
        "return document.querySelectorAll('[data-testid=session-row]').length === 1",
    )
    .await;
    user.click("[data-testid=new-session]").await;
    let message = user
        .until(
            "the refusal",
            "return document.querySelector('[data-testid=new-error]').textContent",
        )
        .await;
    assert_eq!(
        message,
        "Your account has reached its limit of 1 session open at once. \
         End a session, or ask your operator to raise the limit."
    );
    assert_eq!(
        user.js("return document.getElementById('ticket-panel').hidden")
            .await,
        true,
        "no ticket for a session that was not made"
    );
    assert_eq!(
        user.js("return document.querySelectorAll('[data-testid=session-row]').length")
            .await,
        1
    );
    user.screenshot("dashboard-limit-reached").await;
    let errors = user
        .console_errors(&["/api/v1/me ", "/api/v1/sessions "])
        .await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
