//! Accounts and users: sign-up, sign-in and its cookie, invites, and deleting oneself.

use crate::expect::{expect_error, message};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

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
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// An admin's invite code.
async fn invite(app: &TestApp, admin: &str) -> String {
    let resp = app
        .http
        .post(app.url("/account/invites"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert!(body["expires_at"].is_string(), "{body}");
    body["invite"].as_str().unwrap().to_owned()
}

/// Joins the account of `code` as `username`; returns the sign-up answer.
async fn join(app: &TestApp, username: &str, code: &str) -> Value {
    let resp = register(
        app,
        json!({"username": username, "password": PASSWORD, "invite": code}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{username} joins");
    resp.json().await.unwrap()
}

/// The usernames `GET /account/users` lists, sorted.
async fn usernames(app: &TestApp, token: &str) -> Vec<String> {
    let resp = get(app, "/account/users", token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let mut names: Vec<String> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn registering_creates_an_account_with_its_admin() {
    let app = spawn_app().await;
    let resp = register(
        &app,
        json!({"username": "dr.house", "password": PASSWORD, "account_name": "  Princeton Plainsboro  "}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(body["expires_at"].is_string(), "{body}");
    assert_eq!(body["user"]["username"], "dr.house");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["account_name"], "Princeton Plainsboro");
    assert!(
        body["user"].get("password_hash").is_none(),
        "no password hash is shown: {body}"
    );

    let me: Value = get(&app, "/me", token).await.json().await.unwrap();
    assert_eq!(me["id"], body["user"]["id"]);
    assert_eq!(me["role"], "admin");
    assert_eq!(me["account_id"], body["user"]["account_id"]);
    assert_eq!(me["account_name"], "Princeton Plainsboro");
    assert_eq!(usernames(&app, token).await, ["dr.house"]);

    // A second sign-up is a second, separate account.
    let other = app.signup("dr.cuddy").await;
    let other_me: Value = get(&app, "/me", &other).await.json().await.unwrap();
    assert_ne!(other_me["account_id"], me["account_id"]);
    assert_eq!(usernames(&app, &other).await, ["dr.cuddy"]);
}

#[tokio::test]
async fn a_taken_username_is_409() {
    let app = spawn_app().await;
    let admin = app.signup("clinician").await;
    let resp = register(
        &app,
        json!({"username": "clinician", "password": "cobalt meadow riddle frost", "account_name": "Elsewhere"}),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "username_taken").await;
    // Joining with an invite under a taken name is refused the same way.
    let code = invite(&app, &admin).await;
    let resp = register(
        &app,
        json!({"username": "clinician", "password": PASSWORD, "invite": code}),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "username_taken").await;
    // The original account is untouched, and the invite was not used up.
    assert_eq!(usernames(&app, &admin).await, ["clinician"]);
    join(&app, "colleague", &code).await;
}

#[tokio::test]
async fn a_weak_password_is_422() {
    let app = spawn_app().await;
    for password in ["", "short", "12345678901"] {
        let resp = register(
            &app,
            json!({"username": "clinician", "password": password, "account_name": "Clinic"}),
        )
        .await;
        let body = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(
            message(&body).contains("12"),
            "the message gives the minimum: {body}"
        );
    }
    let resp = login(&app, "clinician", "short").await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_bad_username_is_422() {
    let app = spawn_app().await;
    for username in ["ab", "a b c", "semi;colon", "", &"x".repeat(65)] {
        let resp = register(
            &app,
            json!({"username": username, "password": PASSWORD, "account_name": "Clinic"}),
        )
        .await;
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_username").await;
    }
}

#[tokio::test]
async fn both_or_neither_account_name_and_invite_is_422() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let code = invite(&app, &admin).await;
    for body in [
        json!({"username": "both", "password": PASSWORD, "account_name": "Clinic", "invite": code}),
        json!({"username": "neither", "password": PASSWORD}),
    ] {
        let resp = register(&app, body.clone()).await;
        let err = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(
            message(&err).contains("account_name") && message(&err).contains("invite"),
            "{body}: {err}"
        );
    }
    // Neither refusal created a user or used the invite.
    assert_eq!(usernames(&app, &admin).await, ["admin"]);
    join(&app, "both", &code).await;
}

#[tokio::test]
async fn login_sets_an_http_only_cookie_that_authenticates_alone() {
    let app = spawn_app().await;
    app.signup("clinician").await;
    let resp = login(&app, "clinician", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(body["user"]["username"], "clinician");
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("sb_token="))
        .unwrap_or_else(|| panic!("an sb_token cookie is set: {cookies:?}"));
    let attributes: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(
        attributes.iter().any(|a| a == "httponly"),
        "HttpOnly: {cookie}"
    );
    assert!(
        attributes.iter().any(|a| a.starts_with("samesite=")),
        "SameSite: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        pair,
        format!("sb_token={token}"),
        "the cookie carries the token"
    );

    // The cookie alone signs the browser in.
    let me = app
        .http
        .get(app.url("/me"))
        .header("cookie", format!("theme=dark; {pair}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "clinician");
    // A broken cookie does not.
    let me = app
        .http
        .get(app.url("/me"))
        .header("cookie", "sb_token=garbage")
        .send()
        .await
        .unwrap();
    expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    app.signup("clinician").await;
    let wrong = login(&app, "clinician", "not the password").await;
    let wrong = expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = login(&app, "nobody", PASSWORD).await;
    let unknown = expect_error(unknown, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        wrong, unknown,
        "nothing tells which usernames exist: {wrong} vs {unknown}"
    );
}

#[tokio::test]
async fn only_admins_invite() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let code = invite(&app, &admin).await;
    let member = join(&app, "member", &code).await;
    assert_eq!(member["user"]["role"], "member");
    let member = member["token"].as_str().unwrap();
    let resp = app
        .http
        .post(app.url("/account/invites"))
        .bearer_auth(member)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn an_invite_works_once_and_joins_the_same_account() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let admin_me: Value = get(&app, "/me", &admin).await.json().await.unwrap();
    let code = invite(&app, &admin).await;
    let joined = join(&app, "colleague", &code).await;
    assert_eq!(joined["user"]["account_id"], admin_me["account_id"]);
    assert_eq!(joined["user"]["account_name"], admin_me["account_name"]);
    assert_eq!(joined["user"]["role"], "member");

    let again = register(
        &app,
        json!({"username": "latecomer", "password": PASSWORD, "invite": code}),
    )
    .await;
    expect_error(again, StatusCode::NOT_FOUND, "invalid_invite").await;
    let made_up = register(
        &app,
        json!({"username": "latecomer", "password": PASSWORD, "invite": "abcdefghjkmnpqrstuvw"}),
    )
    .await;
    expect_error(made_up, StatusCode::NOT_FOUND, "invalid_invite").await;

    let colleague = joined["token"].as_str().unwrap();
    for token in [admin.as_str(), colleague] {
        assert_eq!(usernames(&app, token).await, ["admin", "colleague"]);
    }
    // The colleague signs in with their own password.
    assert_eq!(
        login(&app, "colleague", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_deleted_user_is_signed_out_but_their_sessions_stay() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let code = invite(&app, &admin).await;
    let leaver = join(&app, "leaver", &code).await;
    let leaver_id = leaver["user"]["id"].clone();
    let leaver = leaver["token"].as_str().unwrap().to_owned();
    let (suid, device) = app.live_session(&leaver).await;
    assert_eq!(
        app.post_frame(&suid, &device, 1, jpeg(1)).await.status(),
        StatusCode::OK
    );

    let resp = app
        .http
        .delete(app.url("/me"))
        .bearer_auth(&leaver)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "{}",
        resp.text().await.unwrap()
    );

    let me = get(&app, "/me", &leaver).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let list = get(&app, "/sessions", &leaver).await;
    expect_error(list, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let again = login(&app, "leaver", PASSWORD).await;
    expect_error(again, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // The account's other users still see the session, and it still streams.
    let view = app.session(&admin, &suid, None).await;
    assert_eq!(view["state"], "live", "{view}");
    assert_eq!(view["created_by"], leaver_id);
    let list: Value = get(&app, "/sessions", &admin).await.json().await.unwrap();
    assert!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["suid"] == suid.as_str()),
        "{list}"
    );
    assert_eq!(
        app.post_frame(&suid, &device, 2, jpeg(2)).await.status(),
        StatusCode::OK
    );
    assert_eq!(usernames(&app, &admin).await, ["admin"]);
}

#[tokio::test]
async fn an_admin_deletes_a_user_of_their_account_and_no_one_else() {
    let app = spawn_app().await;
    let admin = app.signup("boss").await;
    let code = invite(&app, &admin).await;
    let member = join(&app, "member", &code).await;
    let member_id = member["user"]["id"].as_str().unwrap().to_owned();
    let member_token = member["token"].as_str().unwrap().to_owned();
    let stranger = app.signup("stranger").await;
    let server = &app;
    let id_of = |token: String| async move {
        let me: Value = get(server, "/me", &token).await.json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    };
    let stranger_id = id_of(stranger.clone()).await;
    let admin_id = id_of(admin.clone()).await;
    let delete = |token: &str, id: &str| {
        app.http
            .delete(app.url(&format!("/account/users/{id}")))
            .bearer_auth(token)
            .send()
    };

    // A member may not; nobody reaches another account's users or deletes themselves here.
    let resp = delete(&member_token, &admin_id).await.unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    for id in [
        stranger_id.as_str(),
        "not-a-uuid",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        let resp = delete(&admin, id).await.unwrap();
        expect_error(resp, StatusCode::NOT_FOUND, "user_not_found").await;
    }
    let resp = delete(&admin, &admin_id).await.unwrap();
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(get(&app, "/me", &stranger).await.status(), StatusCode::OK);

    // The admin deletes the member: their token fails at once, and they are gone.
    let resp = delete(&admin, &member_id).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let me = get(&app, "/me", &member_token).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(usernames(&app, &admin).await, ["boss"]);
    let again = delete(&admin, &member_id).await.unwrap();
    expect_error(again, StatusCode::NOT_FOUND, "user_not_found").await;
}
