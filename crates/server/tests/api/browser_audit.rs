//! The audit trail on the admin page in a real browser: an account admin asks who watched a
//! session and finds the member who did, with the viewing's span, route and node; asks what
//! that member did this week and pages back through it; and reads the server's own words when
//! a filter is refused. A member sees no audit trail. Screenshots land in
//! `target/screenshots/admin-audit-watched.png` and `admin-audit-user.png`.

use crate::browser::{Browser, Driver};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Frames the member fetches one at a time: more than the page's 50 records, so the member's
/// week takes a second page.
const SINGLE_FRAMES: usize = 55;

/// `GET /audit?{query}` as `token`: the status and the body.
async fn audit_api(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .get(app.url(&format!("/audit?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// How many records `query` finds, asked through the API in one page.
async fn count(app: &TestApp, token: &str, query: &str) -> usize {
    let (status, page) = audit_api(app, token, &format!("{query}&limit=500")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    assert!(page.get("next").is_none(), "{query}: more than one page");
    page["records"].as_array().unwrap().len()
}

/// Saves a picture of the audit section as `target/screenshots/{name}.png` (the page's top,
/// which the shared helper takes, shows only the other sections).
async fn screenshot_section(browser: &Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    // A picture covers what the window shows: a tall window, from the section's top.
    browser.client.set_window_size(1280, 1900).await.unwrap();
    browser
        .js("document.getElementById('audit-card').scrollIntoView(); return true")
        .await;
    let section = browser
        .client
        .find(fantoccini::Locator::Css("#audit-card"))
        .await
        .unwrap();
    if let Ok(png) = section.screenshot().await {
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_finds_who_watched_a_session_and_what_they_did_on_the_admin_page() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let admin = driver.browser("audit-admin", 1280, 1000).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        who_watched_and_what_they_did(&app, &admin),
    ))
    .await;
    admin.finish(result).await;
}

async fn who_watched_and_what_they_did(app: &TestApp, browser: &Browser) {
    let admin = app.signup("dr.audit").await;
    let member = app.join_account(&admin, "nurse.watch").await;
    let member_id = app.me(&member).await["id"].as_str().unwrap().to_owned();
    let (suid, device) = app.live_session(&admin).await;

    // The member watches the session over MJPEG until a frame arrives, then stops.
    let stream = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let reader = tokio::spawn(read_mjpeg(stream, 1));
    let seq = AtomicU64::new(1);
    eventually("the member's viewer to get a frame", PATIENCE, || async {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        app.post_frame(&suid, &device, n, jpeg(n)).await;
        holds(reader.is_finished(), format!("{n} frames posted"))
    })
    .await;
    assert_eq!(reader.await.unwrap().len(), 1);
    // Then looks at single frames, each on record.
    for _ in 0..SINGLE_FRAMES {
        let frame = app
            .http
            .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
            .bearer_auth(&member)
            .send()
            .await
            .unwrap();
        assert_eq!(frame.status(), StatusCode::OK);
    }
    // Ending the session ends any viewing the server has not seen stop yet.
    let end = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), StatusCode::OK);
    let watched_query = format!("target={suid}&action=session.watched");
    let frames_query = format!("actor={member_id}&action=session.frame_viewed");
    eventually(
        "the viewing and every frame on record",
        PATIENCE,
        || async {
            let watched = count(app, &admin, &watched_query).await;
            let frames = count(app, &admin, &frames_query).await;
            holds(
                watched == 1 && frames == SINGLE_FRAMES,
                format!("{watched} viewings, {frames} frames"),
            )
        },
    )
    .await;
    // Nothing the member does is recorded after this.
    let member_records = count(app, &admin, &format!("actor={member_id}")).await;
    assert!(
        member_records > 50,
        "{member_records} records: one page would hold them"
    );

    browser.sign_in(app, "/admin", "dr.audit", PASSWORD).await;
    browser
        .until(
            "the audit trail",
            "return !document.getElementById('audit-card').hidden \
             && document.querySelectorAll('#audit-action option').length > 1",
        )
        .await;
    assert_eq!(browser.text("#audit-scope").await, "· your account");
    let options = browser
        .js("return [...document.querySelectorAll('#audit-action option')].map(o => o.value)")
        .await;
    let options: Vec<&str> = options
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(
        options.len(),
        40,
        "any action and the 39 actions: {options:?}"
    );
    for action in ["", "auth.sign_in", "session.watched", "keys.rotated"] {
        assert!(options.contains(&action), "{action:?} missing: {options:?}");
    }
    assert_eq!(
        browser
            .js("return document.getElementById('audit-account-field').hidden")
            .await,
        true,
        "only operators pick an account"
    );

    // Who watched the session: one row, the member by name, with the viewing's facts.
    browser.type_into("#audit-watched-suid", &suid).await;
    browser.click("[data-testid=audit-watched-go]").await;
    browser
        .until(
            "the viewing's row",
            "return document.querySelectorAll('#audit-viewings [data-testid=viewing-row]').length === 1 \
             && !document.getElementById('audit-viewings-wrap').hidden",
        )
        .await;
    let row = browser
        .js(
            "const r = document.querySelector('#audit-viewings [data-testid=viewing-row]'); \
             const cell = (c) => r.querySelector(`[data-col=${c}]`).textContent.trim(); \
             return { viewer: cell('viewer'), id: r.dataset.viewer, started: cell('started'), \
                      ended: cell('ended'), seconds: cell('seconds'), route: cell('route'), \
                      node: cell('node') };",
        )
        .await;
    assert_eq!(row["viewer"], "nurse.watch", "{row}");
    assert_eq!(row["id"], member_id.as_str(), "{row}");
    assert_eq!(row["route"], "mjpeg", "{row}");
    assert_eq!(row["node"], app.config.node_name().as_str(), "{row}");
    assert!(row["seconds"].as_str().unwrap().ends_with(" s"), "{row}");
    for when in ["started", "ended"] {
        assert_ne!(row[when], "—", "{row}");
    }
    assert_eq!(
        browser
            .js("return [document.getElementById('audit-action').value, \
                         document.getElementById('audit-target').value]")
            .await,
        json!(["session.watched", suid]),
        "the question shows as the filters it set"
    );
    assert!(
        browser
            .text("#audit-status")
            .await
            .starts_with(&format!("1 viewing of session {suid}")),
        "{}",
        browser.text("#audit-status").await
    );
    assert_eq!(
        browser
            .js("return document.getElementById('audit-older').hidden")
            .await,
        true
    );
    // Opening the row shows the whole record.
    browser
        .click("#audit-viewings [data-testid=viewing-row] button[aria-expanded]")
        .await;
    let detail = browser
        .until(
            "the record's detail",
            "const pre = document.querySelector('#audit-viewings [data-testid=audit-json]'); \
             return pre && pre.offsetParent !== null ? pre.textContent : null",
        )
        .await;
    let detail: Value = serde_json::from_str(detail.as_str().unwrap()).unwrap();
    assert_eq!(detail["route"], "mjpeg", "{detail}");
    assert!(detail["seconds"].as_f64().unwrap() > 0.0, "{detail}");
    screenshot_section(browser, "admin-audit-watched").await;

    // What the member did this week: every record, a page at a time.
    browser.type_into("#audit-user", "nurse.watch").await;
    browser.click("[data-testid=audit-user-go]").await;
    browser
        .until(
            "the member's first page",
            "return document.querySelectorAll('#audit-records [data-testid=audit-row]').length === 50 \
             && !document.getElementById('audit-older').hidden",
        )
        .await;
    assert_eq!(
        browser
            .js("return [document.getElementById('audit-actor').value, \
                         document.getElementById('audit-action').value, \
                         document.getElementById('audit-target').value, \
                         document.getElementById('audit-from').value !== '', \
                         document.getElementById('audit-to').value !== '', \
                         document.getElementById('audit-viewings-wrap').hidden]")
            .await,
        json!(["nurse.watch", "", "", true, true, true]),
        "the member, any action, over a range of days"
    );
    browser.click("[data-testid=audit-older]").await;
    browser
        .until(
            "every record of the member",
            &format!(
                "return document.querySelectorAll('#audit-records [data-testid=audit-row]').length === {member_records} \
                 && document.getElementById('audit-older').hidden"
            ),
        )
        .await;
    let rows = browser
        .js(
            "return [...document.querySelectorAll('#audit-records [data-testid=audit-row]')].map(r => \
             [r.querySelector('[data-col=actor] .who').textContent, r.dataset.action, r.dataset.outcome])",
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert!(
        rows.iter().all(|r| r[0] == "nurse.watch"),
        "only the member: {rows:?}"
    );
    for action in [
        "session.watch_started",
        "session.watched",
        "session.frame_viewed",
    ] {
        assert!(
            rows.iter().any(|r| r[1] == action),
            "{action} missing: {rows:?}"
        );
    }
    assert!(rows.iter().all(|r| r[2] == "ok"), "{rows:?}");
    assert_eq!(
        browser.text("#audit-status").await,
        format!("{member_records} records, newest first.")
    );
    screenshot_section(browser, "admin-audit-user").await;

    // A range that ends before it starts: the server's own message, and no stale rows.
    let (status, refusal) = audit_api(
        app,
        &admin,
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refusal["error"], "invalid_filter");
    browser
        .js(
            "document.getElementById('audit-from').value = '2026-01-02T00:00'; \
             document.getElementById('audit-to').value = '2026-01-01T00:00'; return true",
        )
        .await;
    browser.click("[data-testid=audit-search]").await;
    let shown = browser
        .until(
            "the refusal",
            "return document.getElementById('audit-error').textContent",
        )
        .await;
    assert_eq!(shown, refusal["message"]);
    assert_eq!(
        browser
            .js(
                "return [document.getElementById('audit-records-wrap').hidden, \
                         document.getElementById('audit-older').hidden]"
            )
            .await,
        json!([true, true])
    );

    // The 401 that sent the page to sign in, and the refused filter.
    let errors = browser
        .console_errors(&["/api/v1/me ", "/api/v1/audit?"])
        .await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_no_audit_trail_on_the_admin_page() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let member = driver.browser("audit-member", 1280, 1000).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        no_trail_for_a_member(&app, &member),
    ))
    .await;
    member.finish(result).await;
}

async fn no_trail_for_a_member(app: &TestApp, browser: &Browser) {
    let admin = app.signup("dr.owner").await;
    let member = app.join_account(&admin, "nurse.member").await;
    let (status, refusal) = audit_api(app, &member, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");

    browser
        .sign_in(app, "/admin", "nurse.member", PASSWORD)
        .await;
    browser
        .until(
            "the page's refusal",
            "const e = document.getElementById('page-error'); return e && e.textContent",
        )
        .await;
    assert_eq!(
        browser
            .js("return [document.getElementById('audit-card').hidden, \
                         document.getElementById('audit-card').offsetParent === null, \
                         performance.getEntriesByType('resource') \
                           .some(e => e.name.includes('/api/v1/audit'))]")
            .await,
        json!([true, true, false]),
        "the section stays hidden and the page never asks for the trail"
    );
    let errors = browser.console_errors(&["/api/v1/me "]).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
