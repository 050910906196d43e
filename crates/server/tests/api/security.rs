//! Account security over the API: changing one's password (every other sign-in ends) and
//! username, an admin's one-time password, the strength rule, second factors (enrolment,
//! sign-in in two steps, codes and recovery codes accepted once), the account's rule that
//! every user has one, and the sign-ins a user lists and ends.

use crate::expect::expect_error;
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

/// The second password tests move to.
const NEW_PASSWORD: &str = "velvet harbor compass tundra";

/// The code an authenticator app shows for `secret` at Unix time `at`.
pub fn totp_code(secret: &str, at: u64) -> String {
    Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap()
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Signs in with a password: the whole answer.
pub async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

/// Signs in and returns the token (for a user without a second factor).
pub async fn login_token(app: &TestApp, username: &str, password: &str) -> String {
    let resp = login(app, username, password).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Enrols a second factor for `token`'s user: (the secret, the recovery codes).
pub async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let resp = post(app, "/me/second-factor", Some(token), json!(null)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let enrolment: Value = resp.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let resp = post(
        app,
        "/me/second-factor/confirm",
        Some(token),
        json!({"code": totp_code(&secret, unix_now())}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let codes: Value = resp.json().await.unwrap();
    let codes = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The status `token` gets for `GET path`.
async fn status(app: &TestApp, path: &str, token: &str) -> StatusCode {
    get(app, path, token).await.status()
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_sign_in() {
    let app = spawn_app().await;
    let first = app.signup("dr.change").await;
    let second = login_token(&app, "dr.change", PASSWORD).await;
    let resp = post(
        &app,
        "/me/password",
        Some(&second),
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The other sign-in is over at once; this one carries on.
    let body = expect_error(
        get(&app, "/sessions", &first).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert_eq!(status(&app, "/sessions", &second).await, StatusCode::OK);
    expect_error(
        login(&app, "dr.change", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    login_token(&app, "dr.change", NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_current_password_is_refused() {
    let app = spawn_app().await;
    let token = app.signup("dr.wrong").await;
    let resp = post(
        &app,
        "/me/password",
        Some(&token),
        json!({"current_password": "not the password at all", "new_password": NEW_PASSWORD}),
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "wrong_password").await;
    // Nothing changed.
    login_token(&app, "dr.wrong", PASSWORD).await;
}

#[tokio::test]
async fn weak_passwords_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let token = app.signup("dr.weak").await;
    for (weak, why) in [
        ("short1!", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ] {
        let resp = post(
            &app,
            "/me/password",
            Some(&token),
            json!({"current_password": PASSWORD, "new_password": weak}),
        )
        .await;
        let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(
            body["message"].as_str().unwrap().contains(why),
            "{weak}: {body}"
        );
    }
    // The account's name is among the first guesses too.
    let resp = post(
        &app,
        "/auth/register",
        None,
        json!({"username": "dr.other", "password": "Grey Sloan Memorial", "account_name": "Grey Sloan Memorial"}),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    // So does joining with an invite.
    let invite: Value = post(&app, "/account/invites", Some(&token), json!(null))
        .await
        .json()
        .await
        .unwrap();
    let resp = post(
        &app,
        "/auth/register",
        None,
        json!({"username": "dr.joiner", "password": "qwertyuiop12", "invite": invite["invite"]}),
    )
    .await;
    let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert!(
        body["message"].as_str().unwrap().contains("too easy"),
        "{body}"
    );
}

#[tokio::test]
async fn usernames_change_uniquely_and_free_the_old_one() {
    let app = spawn_app().await;
    let token = app.signup("dr.old").await;
    app.signup("dr.taken").await;
    let resp = post(
        &app,
        "/me/username",
        Some(&token),
        json!({"username": "DR.TAKEN"}),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "username_taken").await;
    let resp = post(
        &app,
        "/me/username",
        Some(&token),
        json!({"username": "a b"}),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_username").await;
    let resp = post(
        &app,
        "/me/username",
        Some(&token),
        json!({"username": "dr.new"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let user: Value = resp.json().await.unwrap();
    assert_eq!(user["username"], "dr.new");
    // The sign-in carries on under the new name.
    assert_eq!(app.me(&token).await["username"], "dr.new");
    login_token(&app, "dr.new", PASSWORD).await;
    expect_error(
        login(&app, "dr.old", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The old name is free again.
    app.signup("dr.old").await;
}

#[tokio::test]
async fn an_admin_sets_a_one_time_password_that_must_be_changed_first() {
    let app = spawn_app().await;
    let admin = app.signup("dr.admin").await;
    let member = app.join_account(&admin, "dr.member").await;
    let member_id = app.me(&member).await["id"].as_str().unwrap().to_owned();
    let one_time = "amber falcon ledger prism";
    let resp = post(
        &app,
        &format!("/account/users/{member_id}/password"),
        Some(&admin),
        json!({"password": one_time}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Every sign-in of the member ended.
    expect_error(
        get(&app, "/me", &member).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        login(&app, "dr.member", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Signed in with the one-time password: /me, and nothing else but changing it.
    let held = login(&app, "dr.member", one_time).await;
    assert_eq!(held.status(), StatusCode::OK);
    let held: Value = held.json().await.unwrap();
    assert_eq!(held["user"]["security"]["password_change_required"], true);
    let held = held["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.me(&held).await["security"]["password_change_required"],
        true
    );
    let body = expect_error(
        get(&app, "/sessions", &held).await,
        StatusCode::FORBIDDEN,
        "password_change_required",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("/me/password"),
        "{body}"
    );
    expect_error(
        get(&app, "/me/sign-ins", &held).await,
        StatusCode::FORBIDDEN,
        "password_change_required",
    )
    .await;
    expect_error(
        post(&app, "/me/second-factor", Some(&held), json!(null)).await,
        StatusCode::FORBIDDEN,
        "password_change_required",
    )
    .await;
    // Keeping the one-time password is not a change.
    let resp = post(
        &app,
        "/me/password",
        Some(&held),
        json!({"current_password": one_time, "new_password": one_time}),
    )
    .await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let resp = post(
        &app,
        "/me/password",
        Some(&held),
        json!({"current_password": one_time, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The same sign-in is whole again.
    assert_eq!(status(&app, "/sessions", &held).await, StatusCode::OK);
    assert_eq!(
        app.me(&held).await["security"]["password_change_required"],
        false
    );
}

#[tokio::test]
async fn only_an_admin_of_the_same_account_resets_a_password() {
    let app = spawn_app().await;
    let admin = app.signup("dr.one").await;
    let member = app.join_account(&admin, "dr.two").await;
    let member_id = app.me(&member).await["id"].as_str().unwrap().to_owned();
    let stranger = app.signup("dr.stranger").await;
    let path = format!("/account/users/{member_id}/password");
    let body = json!({"password": "amber falcon ledger prism"});
    expect_error(
        post(&app, &path, Some(&stranger), body.clone()).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    expect_error(
        post(&app, &path, Some(&member), body.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        post(
            &app,
            "/account/users/not-a-uuid/password",
            Some(&admin),
            body.clone(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    let own = app.me(&admin).await["id"].as_str().unwrap().to_owned();
    expect_error(
        post(
            &app,
            &format!("/account/users/{own}/password"),
            Some(&admin),
            body.clone(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    expect_error(
        post(
            &app,
            &path,
            Some(&admin),
            json!({"password": "password1234"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    // The member was never touched.
    assert_eq!(status(&app, "/sessions", &member).await, StatusCode::OK);
}

#[tokio::test]
async fn second_factor_enrolment_and_sign_in_in_two_steps() {
    let app = spawn_app().await;
    let token = app.signup("dr.totp").await;
    assert_eq!(
        app.me(&token).await["security"]["second_factor_enabled"],
        false
    );
    // Confirming needs an enrolment first.
    expect_error(
        post(
            &app,
            "/me/second-factor/confirm",
            Some(&token),
            json!({"code": "123456"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let enrolment: Value = post(&app, "/me/second-factor", Some(&token), json!(null))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let url = enrolment["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/Switchboard:dr.totp?"),
        "{url}"
    );
    assert!(url.contains(&secret), "{url}");
    assert_eq!(enrolment["qr_svg"], "/api/v1/me/second-factor/qr.svg");
    let qr = get(&app, "/me/second-factor/qr.svg", &token).await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert_eq!(qr.headers()["cache-control"], "no-store");
    assert!(qr.text().await.unwrap().contains("<svg"));
    // A wrong code does not confirm.
    let now = unix_now();
    let wrong = format!(
        "{:06}",
        (totp_code(&secret, now).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    expect_error(
        post(
            &app,
            "/me/second-factor/confirm",
            Some(&token),
            json!({"code": wrong}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    let confirming = totp_code(&secret, now);
    let resp = post(
        &app,
        "/me/second-factor/confirm",
        Some(&token),
        json!({"code": confirming}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let codes: Value = resp.json().await.unwrap();
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        app.me(&token).await["security"]["second_factor_enabled"],
        true
    );
    // Enrolled: no second enrolment.
    expect_error(
        post(&app, "/me/second-factor", Some(&token), json!(null)).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // The password alone answers a challenge: no token, no cookie.
    let resp = login(&app, "dr.totp", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("set-cookie").is_none());
    let first: Value = resp.json().await.unwrap();
    assert_eq!(first["second_factor_required"], true);
    assert!(first.get("token").is_none(), "{first}");
    let challenge = first["challenge"].as_str().unwrap().to_owned();
    // A challenge is no credential.
    expect_error(
        get(&app, "/me", &challenge).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The code that confirmed the enrolment was used.
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": confirming}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    // An old code has expired.
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": totp_code(&secret, now - 120)}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    let next = totp_code(&secret, unix_now() + 30);
    let resp = post(
        &app,
        "/auth/second-factor",
        None,
        json!({"challenge": challenge, "code": next}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("set-cookie").is_some());
    let signed: Value = resp.json().await.unwrap();
    let second = signed["token"].as_str().unwrap().to_owned();
    assert_eq!(status(&app, "/sessions", &second).await, StatusCode::OK);
    // The challenge served once; the code is used up for a new challenge too.
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": next}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let again: Value = login(&app, "dr.totp", PASSWORD).await.json().await.unwrap();
    let challenge = again["challenge"].as_str().unwrap().to_owned();
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": next}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    // A recovery code works once, typed any way.
    let recovery = codes[0].to_uppercase().replace('-', " ");
    let resp = post(
        &app,
        "/auth/second-factor",
        None,
        json!({"challenge": challenge, "recovery_code": recovery}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let again: Value = login(&app, "dr.totp", PASSWORD).await.json().await.unwrap();
    let challenge = again["challenge"].as_str().unwrap().to_owned();
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "recovery_code": codes[0]}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": challenge, "code": "123456", "recovery_code": codes[1]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    // A garbled challenge is refused as such.
    expect_error(
        post(
            &app,
            "/auth/second-factor",
            None,
            json!({"challenge": "nonsense", "code": "123456"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn turning_the_second_factor_off_needs_the_password_and_a_code() {
    let app = spawn_app().await;
    let token = app.signup("dr.off").await;
    let (_, codes) = enrol(&app, &token).await;
    let resp = post(
        &app,
        "/me/second-factor/disable",
        Some(&token),
        json!({"password": "not the password at all", "recovery_code": codes[0]}),
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "wrong_password").await;
    let resp = post(
        &app,
        "/me/second-factor/disable",
        Some(&token),
        json!({"password": PASSWORD, "code": "000000x"}),
    )
    .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let resp = post(
        &app,
        "/me/second-factor/disable",
        Some(&token),
        json!({"password": PASSWORD, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.me(&token).await["security"]["second_factor_enabled"],
        false
    );
    // Signing in takes the password alone again.
    login_token(&app, "dr.off", PASSWORD).await;
    let resp = post(
        &app,
        "/me/second-factor/disable",
        Some(&token),
        json!({"password": PASSWORD, "recovery_code": codes[1]}),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn an_account_that_requires_a_second_factor_holds_back_users_without_one() {
    let app = spawn_app().await;
    let admin = app.signup("dr.boss").await;
    let member = app.join_account(&admin, "dr.staff").await;
    assert_eq!(
        get(&app, "/account/security", &member)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"require_second_factor": false})
    );
    let resp = app
        .http
        .put(app.url("/account/security"))
        .bearer_auth(&member)
        .json(&json!({"require_second_factor": true}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // The admin enrols first, then turns the rule on.
    enrol(&app, &admin).await;
    let resp = app
        .http
        .put(app.url("/account/security"))
        .bearer_auth(&admin)
        .json(&json!({"require_second_factor": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(status(&app, "/sessions", &admin).await, StatusCode::OK);
    // The member's open sign-in is held back at once: /me and enrolling only.
    let body = expect_error(
        get(&app, "/sessions", &member).await,
        StatusCode::FORBIDDEN,
        "second_factor_enrolment_required",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/me/second-factor"),
        "{body}"
    );
    let me = app.me(&member).await;
    assert_eq!(me["security"]["second_factor_enrolment_required"], true);
    expect_error(
        post(
            &app,
            "/me/password",
            Some(&member),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "second_factor_enrolment_required",
    )
    .await;
    // A new sign-in with the password alone is held back the same way.
    let fresh = login_token(&app, "dr.staff", PASSWORD).await;
    expect_error(
        get(&app, "/sessions", &fresh).await,
        StatusCode::FORBIDDEN,
        "second_factor_enrolment_required",
    )
    .await;
    enrol(&app, &fresh).await;
    assert_eq!(status(&app, "/sessions", &fresh).await, StatusCode::OK);
    assert_eq!(status(&app, "/sessions", &member).await, StatusCode::OK);
}

#[tokio::test]
async fn sign_ins_are_listed_and_ended_by_their_user() {
    let app = spawn_app().await;
    let first = app.signup("dr.places").await;
    let resp = app
        .http
        .post(app.url("/auth/login"))
        .header("user-agent", "TestBrowser/1.0")
        .json(&json!({"username": "dr.places", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let second: Value = resp.json().await.unwrap();
    let second = second["token"].as_str().unwrap().to_owned();
    let third = login_token(&app, "dr.places", PASSWORD).await;
    let list: Value = get(&app, "/me/sign-ins", &second)
        .await
        .json()
        .await
        .unwrap();
    let sign_ins = list["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 3, "{list}");
    let current: Vec<&Value> = sign_ins.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "TestBrowser/1.0");
    assert_eq!(current[0]["client_addr"], "127.0.0.1");
    // Requests do not write "last used" each time: it is kept to about a minute.
    for _ in 0..3 {
        assert_eq!(status(&app, "/sessions", &second).await, StatusCode::OK);
    }
    let again: Value = get(&app, "/me/sign-ins", &second)
        .await
        .json()
        .await
        .unwrap();
    let mine = again["sign_ins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(mine["last_used_at"], mine["created_at"]);

    // Ending one: its token stops at once.
    let oldest = sign_ins.last().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        delete(&app, &format!("/me/sign-ins/{oldest}"), &second)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        get(&app, "/sessions", &first).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        delete(&app, &format!("/me/sign-ins/{oldest}"), &second).await,
        StatusCode::NOT_FOUND,
        "sign_in_not_found",
    )
    .await;
    // Another user's sign-in is not there to end.
    let stranger = app.signup("dr.elsewhere").await;
    let theirs: Value = get(&app, "/me/sign-ins", &stranger)
        .await
        .json()
        .await
        .unwrap();
    let theirs = theirs["sign_ins"][0]["id"].as_str().unwrap().to_owned();
    expect_error(
        delete(&app, &format!("/me/sign-ins/{theirs}"), &second).await,
        StatusCode::NOT_FOUND,
        "sign_in_not_found",
    )
    .await;
    assert_eq!(status(&app, "/sessions", &stranger).await, StatusCode::OK);
    // Ending all others keeps the caller's.
    let resp = delete(&app, "/me/sign-ins", &second).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"revoked": 1}));
    expect_error(
        get(&app, "/sessions", &third).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let list: Value = get(&app, "/me/sign-ins", &second)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sign_ins"].as_array().unwrap().len(), 1);
    // Signing out leaves the list too.
    let resp = post(&app, "/auth/logout", Some(&second), json!(null)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let fresh = login_token(&app, "dr.places", PASSWORD).await;
    let list: Value = get(&app, "/me/sign-ins", &fresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sign_ins"].as_array().unwrap().len(), 1);
}
