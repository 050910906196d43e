//! The web UI in a real browser: Debian's Chromium driven through chromedriver. A clinician
//! signs up and creates a session; a phone (a second browser with its own cookies and
//! Chromium's fake camera) opens the device page and streams; the dashboard turns live by
//! itself; the viewmaster shows the video, sends controls the phone carries out, and ends the
//! session. Screenshots of every page land in `target/screenshots/`.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Browsers are slower than our HTTP clients: every wait here is bounded by this.
const BROWSER_PATIENCE: Duration = Duration::from_secs(30);

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// Browser tests share the machine with each other: most run side by side, but one that
/// encodes and decodes live video in several browsers takes it alone (two at once on a
/// 2-core machine starve each other's pages past any sensible patience).
static MACHINE: std::sync::LazyLock<std::sync::Arc<tokio::sync::RwLock<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Held for a driver's life: a share of the machine, or all of it.
enum MachineShare {
    Shared {
        _guard: tokio::sync::OwnedRwLockReadGuard<()>,
    },
    Alone {
        _guard: tokio::sync::OwnedRwLockWriteGuard<()>,
    },
}

/// A chromedriver process on a free port; killed when dropped.
pub(crate) struct Driver {
    _child: Child,
    _share: MachineShare,
    url: String,
    http: reqwest::Client,
}

impl Driver {
    pub(crate) async fn start() -> Driver {
        let share = MachineShare::Shared {
            _guard: MACHINE.clone().read_owned().await,
        };
        Driver::launch(share).await
    }

    /// A driver for a test that must not share the machine with other browser tests.
    pub(crate) async fn start_alone() -> Driver {
        let share = MachineShare::Alone {
            _guard: MACHINE.clone().write_owned().await,
        };
        Driver::launch(share).await
    }

    async fn launch(share: MachineShare) -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser test needs Debian's chromium and chromium-driver. \
                 Run scripts/test (it installs them), or `apt-get install -y chromium chromium-driver`."
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            _child: child,
            _share: share,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(BROWSER_PATIENCE)
                .build()
                .unwrap(),
        };
        let status_url = format!("{}/status", driver.url);
        eventually("chromedriver to get ready", BROWSER_PATIENCE, || async {
            let resp = driver.http.get(&status_url).send().await;
            match resp {
                Ok(resp) => {
                    let v = resp.json::<Value>().await.unwrap_or_default();
                    holds(v["value"]["ready"] == true, &v)
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        driver
    }

    /// A new browser with its own profile (so its own cookies), `width`×`height` pixels.
    pub(crate) async fn browser(&self, name: &'static str, width: u32, height: u32) -> Browser {
        self.browser_with(name, width, height, Vec::new()).await
    }

    /// [`Driver::browser`] whose fake microphone plays the WAV file `speech` once.
    pub(crate) async fn browser_hearing(
        &self,
        name: &'static str,
        width: u32,
        height: u32,
        speech: &std::path::Path,
    ) -> Browser {
        let file = format!(
            "--use-file-for-fake-audio-capture={}%noloop",
            speech.display()
        );
        self.browser_with(name, width, height, vec![file]).await
    }

    async fn browser_with(
        &self,
        name: &'static str,
        width: u32,
        height: u32,
        extra: Vec<String>,
    ) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            // Received WebRTC sound plays and can be measured without a click first.
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra);
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session");
        let session = client.session_id().await.unwrap().expect("a session id");
        Browser {
            name,
            client,
            session_url: format!("{}/session/{session}", self.url),
            http: self.http.clone(),
            _profile: profile,
        }
    }
}

/// Runs `scenario`, then closes `browsers` whatever happened (so no Chromium outlives the
/// test), then passes on the scenario's panic, if it had one.
pub(crate) async fn run_then_close(
    browsers: &[&Browser],
    scenario: impl std::future::Future<Output = ()>,
) {
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario)).await;
    for b in browsers {
        let _ = tokio::time::timeout(Duration::from_secs(10), b.client.clone().close()).await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// One browser window and what we read from it.
pub(crate) struct Browser {
    name: &'static str,
    pub(crate) client: Client,
    /// Chromedriver's URL for this browser's session (its logs, its DevTools commands).
    session_url: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// Runs `js` (a function body; `return` gives the value) in the page.
    pub(crate) async fn js(&self, js: &str) -> Value {
        self.client
            .execute(js, vec![])
            .await
            .unwrap_or_else(|e| panic!("[{}] script failed: {e}\n{js}", self.name))
    }

    /// Polls `js` until it returns something truthy (not null/false/""/0); returns that.
    pub(crate) async fn until(&self, what: &str, js: &str) -> Value {
        let deadline = Instant::now() + BROWSER_PATIENCE;
        loop {
            let v = self.client.execute(js, vec![]).await.unwrap_or(Value::Null);
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let body = self
                    .js("return document.body ? document.body.innerText : ''")
                    .await;
                let url = self.js("return location.href").await;
                self.screenshot(&format!("failed-{}", self.name)).await;
                panic!(
                    "[{}] timed out waiting for {what} at {url}\npage text:\n{}\nconsole: {:#?}",
                    self.name,
                    body.as_str().unwrap_or_default(),
                    self.console().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn click(&self, css: &str) {
        self.until(
            &format!("{css} to be enabled"),
            &format!("const e = document.querySelector({css:?}); return !!e && !e.disabled && e.offsetParent !== null;"),
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("[{}] no {css}: {e}", self.name))
            .click()
            .await
            .unwrap_or_else(|e| panic!("[{}] cannot click {css}: {e}", self.name));
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("[{}] no {css}: {e}", self.name));
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.js(&format!(
            "const e = document.querySelector({css:?}); return e ? e.textContent.trim() : null;"
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a screenshot of the top of the page as `target/screenshots/{name}.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let _ = self
            .client
            .execute("window.scrollTo(0, 0); return true", vec![])
            .await;
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    /// The browser's console entries since the last call (errors, warnings, failed loads).
    async fn console(&self) -> Vec<Value> {
        let Ok(resp) = self
            .http
            .post(format!("{}/se/log", self.session_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
        else {
            return vec![];
        };
        let v: Value = resp.json().await.unwrap_or_default();
        v["value"].as_array().cloned().unwrap_or_default()
    }

    /// Runs `source` in every page this browser opens from now on, before the page's own
    /// scripts (DevTools' `Page.addScriptToEvaluateOnNewDocument`, through chromedriver).
    pub(crate) async fn before_every_page(&self, source: &str) {
        let resp = self
            .http
            .post(format!("{}/goog/cdp/execute", self.session_url))
            .json(&json!({
                "cmd": "Page.addScriptToEvaluateOnNewDocument",
                "params": { "source": source },
            }))
            .send()
            .await
            .expect("chromedriver answers");
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }

    /// Console errors since the last call, minus the ones `allowed` names.
    pub(crate) async fn console_errors(&self, allowed: &[&str]) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| !allowed.iter().any(|a| m.contains(a)))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_watches_a_phone_stream_and_controls_it_in_the_browser() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let clinician = driver.browser("clinician", 1280, 1000).await;
    let phone = driver.browser("phone", 412, 860).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(
        &app, &clinician, &phone,
    )))
    .await;
    // Close the browsers whatever happened, so no Chromium outlives the test.
    for b in [clinician, phone] {
        let _ = tokio::time::timeout(Duration::from_secs(10), b.client.close()).await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(app: &TestApp, clinician: &Browser, phone: &Browser) {
    let base = format!("http://{}", app.addr);

    // Signed out, the dashboard sends us to sign in.
    clinician.goto(&format!("{base}/")).await;
    clinician
        .until(
            "the redirect to /login",
            "return location.pathname === '/login' && location.search.includes('next=')",
        )
        .await;
    // The only console entry so far is the 401 that told the page we were signed out; seeing
    // it also proves the console log can be read at all.
    let entries = clinician.console().await;
    assert!(
        entries.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/api/v1/me")),
        "the browser log shows the 401 of /api/v1/me: {entries:#?}"
    );
    let others: Vec<_> = entries
        .iter()
        .filter(|e| {
            e["level"] == "SEVERE"
                && !e["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("/api/v1/me")
        })
        .collect();
    assert!(others.is_empty(), "console errors: {others:#?}");

    // Create an account.
    clinician.click("#tab-create").await;
    clinician
        .type_into("#create-account", "Seattle Grace")
        .await;
    clinician.type_into("#create-username", "dr.grey").await;
    clinician
        .type_into("#create-password", "amber falcon ledger prism")
        .await;
    clinician.screenshot("login").await;
    clinician.click("#form-create button[type=submit]").await;
    clinician
        .until(
            "the dashboard",
            "return location.pathname === '/' && !document.getElementById('main').hidden",
        )
        .await;
    assert!(clinician.text("#whoami").await.contains("dr.grey"));

    // A new session shows its ticket, QR code and phone link.
    clinician.type_into("#new-label", "Room 12").await;
    clinician.click("[data-testid=new-session]").await;
    clinician
        .until(
            "the ticket panel with a loaded QR code",
            "const img = document.getElementById('ticket-qr'); \
             return !document.getElementById('ticket-panel').hidden && img.complete && img.naturalWidth > 0",
        )
        .await;
    let ticket = clinician.text("[data-testid=ticket]").await;
    assert_eq!(ticket.len(), 9, "ticket shown as ABCD-EFGH: {ticket:?}");
    let device_url = clinician
        .js("return document.getElementById('device-url').value")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        device_url.starts_with(&format!("{base}/d/")),
        "{device_url}"
    );
    let suid = clinician
        .js("return document.getElementById('ticket-open').getAttribute('href').split('/')[2]")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let row = format!("tr[data-suid='{suid}']");
    clinician
        .until(
            "the waiting row",
            &format!("const r = document.querySelector(\"{row}\"); return r && r.dataset.state === 'waiting'"),
        )
        .await;
    clinician.screenshot("dashboard-new-session").await;
    assert_eq!(clinician.text("#conn").await, "Live updates on");
    let dashboard_loaded = Instant::now();
    // A marker that survives only as long as the page is not reloaded.
    clinician.js("window.notReloaded = true; return true").await;

    // The phone opens the link, starts its camera and streams JPEG (the WebRTC path has its
    // own test, browser_webrtc.rs).
    phone.goto(&format!("{device_url}?webrtc=0")).await;
    phone
        .until(
            "the start button",
            "return !document.getElementById('step-start').hidden",
        )
        .await;
    phone.screenshot("phone-start").await;
    phone.click("[data-testid=start]").await;
    phone
        .until(
            "the phone to stream",
            "return document.getElementById('status').dataset.state === 'streaming' \
             && Number(document.getElementById('sent').textContent) > 2",
        )
        .await;

    // The dashboard row turns live by itself, without a reload.
    clinician
        .until(
            "the row to turn live",
            &format!("const r = document.querySelector(\"{row}\"); return r && r.dataset.state === 'live'"),
        )
        .await;
    assert_eq!(
        clinician.js("return window.notReloaded === true").await,
        true
    );
    // Sooner than the dashboard's 15-second poll: the events socket told it.
    assert!(
        dashboard_loaded.elapsed() < Duration::from_secs(12),
        "the row turned live only after {:?}",
        dashboard_loaded.elapsed()
    );
    let device_cell = clinician.text(&format!("{row} [data-col=device]")).await;
    assert!(
        device_cell.contains("Linux"),
        "device column: {device_cell:?}"
    );
    clinician.screenshot("dashboard-live").await;
    // The same dashboard on a phone-sized screen: rows become cards.
    clinician.client.set_window_size(412, 900).await.unwrap();
    clinician.screenshot("dashboard-narrow").await;
    clinician.client.set_window_size(1280, 1000).await.unwrap();

    // The viewmaster shows the video: the frame counter advances on a canvas with a size.
    clinician.click(&format!("{row} [data-testid=open]")).await;
    clinician
        .until(
            "the viewmaster",
            &format!("return location.pathname === '/s/{suid}'"),
        )
        .await;
    let first = clinician
        .until(
            "a first frame",
            "return Number(document.querySelector('[data-testid=frames]').textContent)",
        )
        .await
        .as_f64()
        .unwrap();
    clinician
        .until(
            "the frame counter to advance",
            &format!("return Number(document.querySelector('[data-testid=frames]').textContent) >= {first} + 5"),
        )
        .await;
    let size = clinician
        .js("const c = document.querySelector('[data-testid=video]'); const r = c.getBoundingClientRect(); \
             return [c.width, c.height, r.width, r.height, c.dataset.empty]")
        .await;
    assert!(
        size[0].as_f64().unwrap() >= 160.0 && size[1].as_f64().unwrap() >= 90.0,
        "the canvas has the frames' size: {size}"
    );
    assert!(
        size[2].as_f64().unwrap() >= 300.0 && size[3].as_f64().unwrap() >= 150.0,
        "the canvas is shown large: {size}"
    );
    assert_eq!(size[4], "false");
    clinician
        .until(
            "viewer names and device info",
            "return document.getElementById('viewer-names').textContent.includes('dr.grey') \
             && document.getElementById('dev-model').textContent !== '—' \
             && document.getElementById('dev-camera').textContent !== '—' \
             && document.getElementById('deadline').textContent.includes(':') \
             && !document.getElementById('deadline').textContent.includes('without viewers')",
        )
        .await;

    // A message reaches the phone's screen.
    clinician.type_into("#message-text", "hello").await;
    clinician.click("[data-testid=send-message]").await;
    phone
        .until(
            "the message on the phone",
            "return !document.getElementById('message').hidden \
             && document.getElementById('message-text').textContent === 'hello'",
        )
        .await;
    phone.screenshot("phone").await;

    // The fake camera has no torch: the phone says so and the viewmaster shows it.
    clinician.click("#ctl-torch").await;
    clinician
        .until(
            "the torch report",
            "return document.getElementById('dev-torch').textContent === 'not available'",
        )
        .await;
    // A snapshot comes back as one full-size frame and is kept.
    clinician.click("#ctl-snapshot").await;
    clinician
        .until(
            "the snapshot",
            "const img = document.querySelector('#snapshots img'); return !!img && img.complete && img.naturalWidth > 0",
        )
        .await;
    // Quality: narrower frames arrive once the snapshot has passed.
    clinician
        .js("const s = document.getElementById('q-width'); s.value = '480'; return true")
        .await;
    clinician.click("#quality-form button[type=submit]").await;
    clinician
        .until(
            "480-pixel frames",
            "return document.querySelector('[data-testid=resolution]').textContent.startsWith('480')",
        )
        .await;
    clinician
        .until(
            "the log to show the message",
            "return document.getElementById('log').textContent.includes('hello')",
        )
        .await;
    clinician.screenshot("viewmaster").await;

    // Ending the session shows on both pages.
    clinician.click("[data-testid=end]").await;
    clinician.click("dialog [data-testid=confirm]").await;
    clinician
        .until(
            "the viewmaster to show ended",
            "return document.querySelector('[data-testid=state]').dataset.state === 'ended' \
             && document.getElementById('overlay').textContent.includes('ended')",
        )
        .await;
    phone
        .until(
            "the phone to show ended",
            "return document.getElementById('status').dataset.state === 'ended' \
             && !document.getElementById('step-ended').hidden",
        )
        .await;
    assert!(
        phone
            .text("[data-testid=ended-reason]")
            .await
            .contains("Your clinician ended the visit")
    );
    phone.screenshot("phone-ended").await;
    clinician.screenshot("viewmaster-ended").await;
    clinician.goto(&format!("{base}/")).await;
    clinician
        .until(
            "the dashboard row to show ended",
            &format!("const r = document.querySelector(\"{row}\"); return r && r.dataset.state === 'ended'"),
        )
        .await;

    // The account page lists the user and makes invite links.
    clinician.goto(&format!("{base}/account")).await;
    clinician
        .until(
            "the users list",
            "return document.getElementById('users').textContent.includes('dr.grey')",
        )
        .await;
    clinician.click("[data-testid=create-invite]").await;
    let link = clinician
        .until(
            "an invite link",
            "return document.getElementById('invite-link').value",
        )
        .await;
    assert!(
        link.as_str()
            .unwrap()
            .starts_with(&format!("{base}/login?invite=")),
        "{link}"
    );
    clinician.screenshot("account").await;

    // Signing out leads back to the sign-in page.
    clinician.click("#signout").await;
    clinician
        .until("the sign-in page", "return location.pathname === '/login'")
        .await;

    // A colleague follows the invite link: the join form is filled in; joining lands on the
    // same account's dashboard.
    clinician.goto(link.as_str().unwrap()).await;
    clinician
        .until(
            "the join form",
            "return !document.getElementById('form-join').hidden && document.getElementById('join-invite').value.length > 10",
        )
        .await;
    clinician.type_into("#join-username", "dr.yang").await;
    clinician
        .type_into("#join-password", "cobalt meadow riddle frost")
        .await;
    clinician.click("#form-join button[type=submit]").await;
    clinician
        .until(
            "the colleague's dashboard with the team's session",
            &format!(
                "return location.pathname === '/' && document.getElementById('whoami').textContent.includes('dr.yang') \
                 && !!document.querySelector(\"{row}\")"
            ),
        )
        .await;

    // The colleague deletes their own user and is signed out.
    clinician.goto(&format!("{base}/account")).await;
    clinician
        .until(
            "both users listed",
            "const t = document.getElementById('users').textContent; return t.includes('dr.grey') && t.includes('dr.yang')",
        )
        .await;
    assert!(
        clinician
            .js("return document.getElementById('invite-admin').hidden")
            .await
            == true,
        "members cannot invite"
    );
    clinician.click("#delete-me").await;
    clinician.click("dialog [data-testid=confirm]").await;
    clinician
        .until(
            "the sign-in page after deletion",
            "return location.pathname === '/login'",
        )
        .await;

    for b in [clinician, phone] {
        let errors = b.console_errors(&[]).await;
        assert!(
            errors.is_empty(),
            "[{}] console errors: {errors:#?}",
            b.name
        );
    }

    // A phone with a mistyped ticket: the ticket form, then the API's refusal in plain words.
    phone.goto(&format!("{base}/d")).await;
    phone
        .until(
            "the ticket form",
            "return !document.getElementById('step-ticket').hidden",
        )
        .await;
    phone.type_into("#ticket-input", "abcd efgh").await;
    phone.screenshot("phone-ticket-form").await;
    phone.click("#ticket-form button[type=submit]").await;
    phone
        .until(
            "the start page of the typed ticket",
            "return location.pathname === '/d/ABCDEFGH' && !document.getElementById('step-start').hidden",
        )
        .await;
    phone.click("[data-testid=start]").await;
    phone
        .until(
            "the unknown-ticket error",
            "return document.querySelector('[data-testid=device-error]').textContent.includes('not known') \
             && document.getElementById('status').dataset.state === 'error'",
        )
        .await;
    phone.screenshot("phone-unknown-ticket").await;
    let errors = phone.console_errors(&["/api/v1/devices/register"]).await;
    assert!(errors.is_empty(), "[phone] console errors: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewmaster_and_the_phone_reconnect_after_a_server_restart() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let clinician = driver.browser("clinician-restart", 1280, 1000).await;
    let phone = driver.browser("phone-restart", 412, 860).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(restart_scenario(
        app, &clinician, &phone,
    )))
    .await;
    for b in [clinician, phone] {
        let _ = tokio::time::timeout(Duration::from_secs(10), b.client.close()).await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Reads the viewmaster's frame counter.
const FRAMES: &str = "return Number(document.querySelector('[data-testid=frames]').textContent)";

async fn restart_scenario(app: TestApp, clinician: &Browser, phone: &Browser) {
    let base = format!("http://{}", app.addr);
    let token = app.signup("dr.bailey").await;
    let session = app.create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();

    clinician
        .goto(&format!("{base}/login?next=/s/{suid}"))
        .await;
    clinician.type_into("#signin-username", "dr.bailey").await;
    clinician
        .type_into("#signin-password", "quiet lantern orbit mosaic")
        .await;
    clinician.click("#form-signin button[type=submit]").await;
    clinician
        .until(
            "the viewmaster, waiting",
            &format!(
                "return location.pathname === '/s/{suid}' \
                 && document.querySelector('[data-testid=state]').dataset.state === 'waiting'"
            ),
        )
        .await;

    phone
        .goto(&format!(
            "{}?webrtc=0",
            session["device_url"].as_str().unwrap()
        ))
        .await;
    phone.click("[data-testid=start]").await;
    clinician
        .until("frames before the restart", &format!("{FRAMES} >= 3"))
        .await;

    // The server stops (sockets close with 1012) and comes back on the same address.
    let app = app.restart().await;
    let before = clinician.js(FRAMES).await.as_f64().unwrap();
    clinician
        .until(
            "frames after the restart",
            &format!("{FRAMES} >= {before} + 5"),
        )
        .await;
    phone
        .until(
            "the phone streaming again",
            "return document.getElementById('status').dataset.state === 'streaming'",
        )
        .await;
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["state"], "live");

    for b in [clinician, phone] {
        // A dropped socket is logged by Chromium as a failed connection while the server is
        // down; nothing else may be.
        let errors = b
            .console_errors(&["WebSocket connection to", "ERR_CONNECTION_REFUSED"])
            .await;
        assert!(
            errors.is_empty(),
            "[{}] console errors: {errors:#?}",
            b.name
        );
    }
}

/// What `pages.rs` promises without a browser: types, validators, security headers, and the
/// JSON error format for unknown assets.
#[tokio::test]
async fn pages_and_assets_are_served_with_types_and_validators() {
    let app = spawn_app().await;
    let base = format!("http://{}", app.addr);
    for (path, page) in [
        ("/", "Sessions"),
        ("/login", "Sign in"),
        ("/account", "Account"),
        ("/d", "Video visit"),
        ("/d/ABCDEFGH", "Video visit"),
        ("/s/01a20be4-1bd4-7214-8197-9d49434f634e", "Session"),
    ] {
        let resp = app.http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(resp.text().await.unwrap().contains(page), "{path}");
    }
    for (path, ty) in [
        ("/assets/css/app.css", "text/css; charset=utf-8"),
        ("/assets/js/api.js", "javascript"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let resp = app.http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains(ty),
            "{path}"
        );
        let etag = resp.headers()["etag"].clone();
        let again = app
            .http
            .get(format!("{base}{path}"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    for path in [
        "/assets/nope.js",
        "/assets/../login.html",
        "/assets/js//api.js",
        "/assets/dashboard.html",
    ] {
        let resp = app.http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
        assert!(body["message"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_shows_a_live_session_and_ends_it() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let admin = driver.browser("admin", 1280, 1100).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(admin_scenario(
        &app, &admin,
    )))
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), admin.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn admin_scenario(app: &TestApp, admin: &Browser) {
    let base = format!("http://{}", app.addr);
    let token = app.signup("chief").await;
    let (suid, device) = app.live_session(&token).await;
    // A device streams real frames while the page is open.
    let stream = {
        let http = app.http.clone();
        let url = app.url(&format!("/sessions/{suid}/frames"));
        tokio::spawn(async move {
            for seq in 1..=600u64 {
                let resp = http
                    .post(format!("{url}?seq={seq}"))
                    .bearer_auth(&device)
                    .header("content-type", "image/jpeg")
                    .body(jpeg(seq))
                    .send()
                    .await;
                if !matches!(resp, Ok(r) if r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    admin.goto(&format!("{base}/login?next=/admin")).await;
    admin.type_into("#signin-username", "chief").await;
    admin
        .type_into("#signin-password", "quiet lantern orbit mosaic")
        .await;
    admin.click("#form-signin button[type=submit]").await;
    admin
        .until(
            "the admin page with the live session",
            &format!(
                "return location.pathname === '/admin' \
                 && !!document.querySelector('#active tr[data-suid=\"{suid}\"]')"
            ),
        )
        .await;
    admin
        .until(
            "the totals counting the live session",
            "return document.querySelector('[data-testid=kpi-live] .value')?.textContent === '1'",
        )
        .await;
    let ends = admin.text("[data-testid=ends]").await;
    assert!(ends.contains("Incomplete attempts"), "{ends}");
    admin.screenshot("admin").await;
    // End the session from the page.
    admin
        .click(&format!("#active tr[data-suid=\"{suid}\"] button"))
        .await;
    admin.click("[data-testid=confirm]").await;
    admin
        .until(
            "the session gone from the active list",
            &format!("return !document.querySelector('#active tr[data-suid=\"{suid}\"]')"),
        )
        .await;
    let view = app.session(&token, &suid, None).await;
    assert_eq!(view["end_reason"], "ended_by_user");
    stream.abort();
    let errors = admin.console_errors(&[]).await;
    assert!(errors.is_empty(), "[admin] console errors: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_page_renders_the_document_under_its_policy() {
    let app = spawn_app().await;
    let driver = Driver::start().await;
    let reader = driver.browser("api-docs", 1280, 1000).await;
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        reader.goto(&format!("http://{}/api/docs", app.addr)).await;
        // Scalar fetches the document from this node and lists the operations.
        reader
            .until(
                "the reference to show the API's title and an operation",
                "const t = document.body.innerText; \
                 return t.includes('Switchboard') && t.includes('Start a kernel');",
            )
            .await;
        // Nothing was refused by the page's CSP or failed to load.
        let errors = reader.console_errors(&[]).await;
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }))
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.client.close()).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

impl Browser {
    /// Closes the browser whatever happened, so no Chromium outlives the test, then fails
    /// the test if the scenario did.
    pub(crate) async fn finish(self, result: std::thread::Result<()>) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.client.close()).await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    /// Opens `path` signed out and signs in on the sign-in page, which then goes back to
    /// `path`.
    pub(crate) async fn sign_in(
        &self,
        app: &crate::helpers::TestApp,
        path: &str,
        username: &str,
        password: &str,
    ) {
        self.goto(&format!("http://{}{path}", app.addr)).await;
        self.until(
            "the redirect to /login",
            "return location.pathname === '/login'",
        )
        .await;
        self.type_into("#signin-username", username).await;
        self.type_into("#signin-password", password).await;
        self.click("#form-signin button[type=submit]").await;
        self.until(
            &format!("{path} after signing in"),
            &format!(
                "return location.pathname === {path:?} && !document.getElementById('main').hidden"
            ),
        )
        .await;
    }
}
