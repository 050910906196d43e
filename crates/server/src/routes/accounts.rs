//! Accounts, users, sign-in (both steps) and invites: the session cookie is the edge's;
//! everything else is `Accounts`' (and the second step `AccountSecurity`'s).

use crate::App;
use crate::auth::{self, CurrentUser, GatedUser};
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::protocol::accounts::{
    DeleteAccountRequest, InviteResponse, LoginRequest, LoginResponse, RegisterRequest,
    TokenResponse, UserList, UserView,
};
use crate::protocol::security::SecondFactorRequest;
use crate::services::security::ClientInfo;
use crate::tls::ClientAddr;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The `Set-Cookie` value carrying `token` (empty with `max_age` 0: clearing it). Over HTTPS
/// its name has the `__Host-` prefix, which browsers accept only `Secure`, with `Path=/` and
/// no `Domain`.
fn session_cookie(app: &App, token: &str, max_age: i64) -> HeaderValue {
    let https = app.config.served_over_https();
    cookie_header(
        auth::cookie_name(https),
        https || app.config.auth.secure_cookies,
        token,
        max_age,
    )
}

fn cookie_header(name: &str, secure: bool, token: &str, max_age: i64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie =
        format!("{name}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where a request comes from, for the record of a sign-in.
fn client_info(app: &App, peer: std::net::SocketAddr, headers: &HeaderMap) -> ClientInfo {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    ClientInfo::new(app.client_ip(peer, headers), user_agent)
}

/// Answers a new token with the cookie carrying it.
fn signed_in(app: &App, body: TokenResponse, status: StatusCode) -> Response {
    let max_age = i64::try_from(app.config.auth.token_ttl.as_secs()).unwrap_or(i64::MAX);
    let cookie = session_cookie(app, &body.token, max_age);
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

/// `POST /api/v1/auth/register`: a new account with its first admin, or a user joining an
/// account with an invite.
pub(super) async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    let client = client_info(&app, peer, &headers);
    app.limits.auth(client.addr)?;
    let body = app.accounts.register(req, &client).await?;
    Ok(signed_in(&app, body, StatusCode::CREATED))
}

/// `POST /api/v1/auth/login`: a token and its cookie, or for a user with a second factor a
/// challenge (no token, no cookie) to complete at `POST /api/v1/auth/second-factor`.
pub(super) async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let client = client_info(&app, peer, &headers);
    app.limits.auth(client.addr)?;
    Ok(match app.accounts.login(req, &client).await? {
        LoginResponse::Token(body) => signed_in(&app, body, StatusCode::OK),
        challenge @ LoginResponse::SecondFactor(_) => Json(challenge).into_response(),
    })
}

/// `POST /api/v1/auth/second-factor`: the second step of a sign-in (the challenge with a
/// code or recovery code), answered like a sign-in.
pub(super) async fn second_factor(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SecondFactorRequest>,
) -> ApiResult<Response> {
    let client = client_info(&app, peer, &headers);
    app.limits.auth(client.addr)?;
    let body = app.security.complete_sign_in(req, &client).await?;
    Ok(signed_in(&app, body, StatusCode::OK))
}

/// 204 clearing the session cookie.
fn signed_out(app: &App) -> Response {
    let mut resp = (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(app, "", 0))],
    )
        .into_response();
    // A browser may still hold the plain-HTTP cookie from before the node was served over
    // HTTPS; it is no credential there, but signing out clears it too.
    if app.config.served_over_https() {
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(auth::COOKIE_NAME, true, "", 0),
        );
    }
    resp
}

/// `POST /api/v1/auth/logout`: the token stops working at once.
pub(super) async fn logout(
    State(app): State<Arc<App>>,
    GatedUser { caller, .. }: GatedUser,
) -> ApiResult<Response> {
    app.accounts.logout(&caller.user, &caller.claims).await?;
    Ok(signed_out(&app))
}

/// `GET /api/v1/me`.
pub(super) async fn me(
    State(app): State<Arc<App>>,
    GatedUser { caller, standing }: GatedUser,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.accounts.me(&caller.user, standing).await?))
}

/// `DELETE /api/v1/me`: deletes the caller's user; their sessions and CDRs stay.
pub(super) async fn delete_me(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Response> {
    app.accounts.delete_me(&caller.user, &caller.claims).await?;
    Ok(signed_out(&app))
}

/// `DELETE /api/v1/account` (admins): deletes the caller's whole account, its data keys
/// first, after checking their password again.
pub(super) async fn delete_account(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> ApiResult<Response> {
    app.deletions.delete_own(&caller.user, req.password).await?;
    Ok(signed_out(&app))
}

/// `POST /api/v1/account/invites` (admins): a single-use code for a new user.
pub(super) async fn create_invite(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<(StatusCode, Json<InviteResponse>)> {
    let invite = app.accounts.create_invite(&caller.user).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

/// `GET /api/v1/account/users`.
pub(super) async fn list_users(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<UserList>> {
    Ok(Json(app.accounts.users(caller.account_id()).await?))
}

/// `DELETE /api/v1/account/users/{id}` (admins): deletes another user of the caller's
/// account. Their tokens fail at once on every node (each request looks the user up).
pub(super) async fn delete_user(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.accounts.delete_user(&caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
