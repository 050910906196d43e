//! Accounts: look-alike usernames, an account left without an admin, and what a failed
//! sign-in leaves in the logs.

use crate::expect::expect_error;
use crate::helpers::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "quiet lantern orbit mosaic";

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let resp = app
        .http
        .get(app.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn usernames_differing_by_case_or_look_alike_letters_cannot_be_registered() {
    let app = spawn_app().await;
    let token = app.signup("dr.grey").await;
    let grey = me(&app, &token).await;

    for impostor in [
        "DR.GREY",
        "Dr.Grey",
        "ｄｒ.ｇｒｅｙ",         // fullwidth letters
        "dr.gr\u{0435}y",        // Cyrillic е
        "dr.gr\u{0435}\u{0443}", // Cyrillic е and у
    ] {
        let resp = register(
            &app,
            json!({"username": impostor, "password": PASSWORD, "account_name": "Impostors"}),
        )
        .await;
        expect_error(resp, StatusCode::CONFLICT, "username_taken").await;
    }

    // Any case or compatibility form of the name signs the one user in.
    for spelling in ["dr.grey", "DR.GREY", "ｄｒ.ｇｒｅｙ"] {
        let resp = login(&app, spelling, PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK, "{spelling}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["user"]["id"], grey["id"], "{spelling}");
        assert_eq!(body["user"]["username"], "dr.grey");
    }

    // A fullwidth registration is kept in its plain (NFKC) form.
    let token = {
        let resp = register(
            &app,
            json!({"username": "ｍｅｒｅｄｉｔｈ", "password": PASSWORD, "account_name": "Mercy West"}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(me(&app, &token).await["username"], "meredith");
}

#[tokio::test]
async fn the_last_admin_cannot_leave_the_account_without_one() {
    let app = spawn_app().await;
    let admin = app.signup("sole.admin").await;
    let invite: Value = app
        .http
        .post(app.url("/account/invites"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = register(
        &app,
        json!({"username": "only.member", "password": PASSWORD, "invite": invite["invite"]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let member: Value = resp.json().await.unwrap();

    let resp = app
        .http
        .delete(app.url("/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(
        me(&app, &admin).await["role"],
        "admin",
        "still there, still admin"
    );

    // Once the admin is alone, leaving empties the account and leaves nobody adminless.
    let resp = app
        .http
        .delete(app.url(&format!(
            "/account/users/{}",
            member["user"]["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .http
        .delete(app.url("/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

/// Collects what the whole test process logs. A subscriber scoped to one test's thread
/// missed events when other tests registered the same log sites on their threads at the
/// same time, so the capture is the process's global subscriber, and the test reads only
/// the lines of the names it uses.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process's log capture, installed on first use; `None` when `TEST_LOG` made another
/// subscriber the global one first.
fn process_logs() -> Option<Captured> {
    static LOGS: std::sync::OnceLock<Option<Captured>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        match tracing::subscriber::set_global_default(subscriber) {
            Ok(()) => Some(logs),
            Err(_) if std::env::var_os("TEST_LOG").is_some() => None,
            Err(e) => panic!("cannot capture the logs: {e}"),
        }
    })
    .clone()
}

#[tokio::test]
async fn failed_sign_ins_are_logged_with_the_address_and_name_but_never_the_password() {
    let Some(logs) = process_logs() else {
        eprintln!("TEST_LOG sends the logs elsewhere: this test needs them, run it without");
        return;
    };
    let app = spawn_app().await;
    app.signup("logged.known").await;

    let secret_guess = "hunter2-hunter2";
    expect_error(
        login(&app, "logged.nobody", secret_guess).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        login(&app, "logged.known", secret_guess).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // A name that tries to forge a log line stays on one quoted line.
    expect_error(
        login(&app, "logged.evil\nfailed sign-in forged=1", secret_guess).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("failed sign-in") && l.contains("logged."))
        .collect();
    assert_eq!(failures.len(), 3, "one line per failure:\n{text}");
    assert!(failures[0].contains("\"logged.nobody\"") && failures[0].contains("unknown user"));
    assert!(failures[1].contains("\"logged.known\"") && failures[1].contains("wrong password"));
    for line in &failures {
        assert!(
            line.contains("client=127.0.0.1"),
            "the client's address: {line}"
        );
    }
    assert!(
        failures[2].contains("logged.evil\\nfailed"),
        "{}",
        failures[2]
    );
    assert!(
        !text.contains(secret_guess),
        "a password never reaches the logs"
    );
}

#[tokio::test]
async fn changing_the_case_of_a_name_does_not_escape_its_failed_sign_in_limit() {
    let app = crate::helpers::spawn_app_with(|c| c.auth.sign_in_failures_per_username = 2).await;
    app.signup("victim").await;
    for spelling in ["VICTIM", "Victim"] {
        expect_error(
            login(&app, spelling, "not the password").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // A third spelling, even a look-alike one, is the same name: throttled.
    expect_error(
        login(&app, "v\u{0456}ctim", "not the password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}
