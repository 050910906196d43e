//! Accounts, users, sign-in and invites.

use crate::App;
use crate::auth::{self, CurrentUser, TokenKind};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::live::now;
use crate::protocol::{InviteResponse, LoginRequest, RegisterRequest, TokenResponse, UserView};
use crate::tls::ClientAddr;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::sync::Arc;
use switchboard_core::account::{
    MIN_PASSWORD_LEN, normalize_username, username_key, validate_username,
};
use switchboard_core::{Account, AccountId, Role, User, UserId};
use switchboard_store::{Invite, StoreError};

/// How long an invite stays valid.
const INVITE_TTL: chrono::Duration = chrono::Duration::days(7);

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

/// Issues a token for `user` and answers with it and the cookie carrying it.
async fn signed_in(app: &App, user: &User, status: StatusCode) -> ApiResult<Response> {
    let ttl = app.config.auth.token_ttl;
    let (token, claims) = app
        .tokens
        .issue(
            TokenKind::User,
            user.id.to_string(),
            user.account_id.to_string(),
            None,
            ttl,
        )
        .map_err(ApiError::internal)?;
    let account_name = app
        .store
        .account(user.account_id)
        .await
        .ok()
        .map(|a| a.name);
    let body = TokenResponse {
        token: token.clone(),
        expires_at: claims.expires_at(),
        user: UserView::of(user, account_name),
    };
    let cookie = session_cookie(
        app,
        &token,
        i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
    );
    Ok((status, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /api/v1/auth/register`: a new account with its first admin, or a user joining an
/// account with an invite.
pub(super) async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    app.limits.auth(app.client_ip(peer, &headers))?;
    // Kept in NFKC form; the store refuses a name whose key (case and look-alike letters
    // folded) another user holds, as `username_taken`.
    let username = normalize_username(&req.username);
    validate_username(&username)
        .map_err(|e| ApiError::unprocessable("invalid_username", e.to_string()))?;
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::unprocessable(
            "weak_password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    let created_at = now();
    let password_hash = app.passwords.hash(req.password).await?;
    let taken = |e: StoreError| match e {
        StoreError::Conflict(_) => {
            ApiError::conflict("username_taken", "this username is already taken")
        }
        other => other.into(),
    };
    let user = match (req.account_name, req.invite) {
        (Some(name), None) => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(ApiError::unprocessable(
                    "invalid_account_name",
                    "account_name must be 1 to 100 characters",
                ));
            }
            let account = Account {
                id: AccountId::new(),
                name,
                created_at,
            };
            let user = User {
                id: UserId::new(),
                account_id: account.id,
                username: username.clone(),
                password_hash,
                role: Role::Admin,
                created_at,
            };
            app.store
                .create_account(&account, &user)
                .await
                .map_err(taken)?;
            tracing::info!(account = %account.id, user = %user.id, "account created");
            user
        }
        (None, Some(code)) => {
            let user = User {
                id: UserId::new(),
                account_id: AccountId::new(),
                username: username.clone(),
                password_hash,
                role: Role::Member,
                created_at,
            };
            let user = match app
                .store
                .create_user_with_invite(code.trim(), &user, created_at)
                .await
            {
                Err(StoreError::NotFound) => {
                    return Err(ApiError::not_found(
                        "invalid_invite",
                        "this invite is unknown, used or expired",
                    ));
                }
                other => other.map_err(taken)?,
            };
            tracing::info!(account = %user.account_id, user = %user.id, "user joined with invite");
            user
        }
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "give either account_name (a new account) or invite (join one), not both",
            ));
        }
    };
    signed_in(&app, &user, StatusCode::CREATED).await
}

/// `POST /api/v1/auth/login`.
pub(super) async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let client = app.client_ip(peer, &headers);
    app.limits.auth(client)?;
    // What was typed, bounded and quoted (`?`) in logs, so a hostile name cannot forge log
    // lines; never the password.
    let typed: String = req.username.chars().take(64).collect();
    // Refused before any hashing: a guesser rotating addresses still meets this.
    // Counted per name as the server knows it, so `ALICE` and a look-alike `аlice` are the
    // same guesser's target as `alice`.
    let name_key = username_key(&req.username);
    app.limits.sign_in_allowed(&name_key)?;
    let wrong = || ApiError::unauthorized("wrong username or password");
    let user = match app.store.user_by_name(&req.username).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => {
            // Hash anyway so timing does not tell which usernames exist, and count the
            // failure like any other so a refusal does not tell it either.
            app.passwords.hash(req.password).await?;
            app.limits.sign_in_failed(&name_key);
            tracing::info!(%client, username = ?typed, reason = "unknown user", "failed sign-in");
            crate::metrics::login(false);
            return Err(wrong());
        }
        Err(e) => return Err(e.into()),
    };
    // The user row is in hand and its database connection returned before hashing waits.
    if !app
        .passwords
        .verify(req.password, user.password_hash.clone())
        .await?
    {
        app.limits.sign_in_failed(&name_key);
        tracing::info!(%client, username = ?typed, user = %user.id, reason = "wrong password", "failed sign-in");
        crate::metrics::login(false);
        return Err(wrong());
    }
    app.limits.sign_in_succeeded(&name_key);
    crate::metrics::login(true);
    signed_in(&app, &user, StatusCode::OK).await
}

/// Revokes the caller's token everywhere, now and after restarts.
async fn revoke(app: &App, caller: &CurrentUser) -> ApiResult<()> {
    let claims = &caller.claims;
    app.store
        .revoke_token(&claims.jti, claims.expires_at())
        .await?;
    app.tokens.revoked.insert(claims.jti.clone(), claims.exp);
    app.tokens.forget(&claims.jti);
    crate::auth::revocations::announce(&*app.bus, claims).await;
    Ok(())
}

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
    caller: CurrentUser,
) -> ApiResult<Response> {
    revoke(&app, &caller).await?;
    Ok(signed_out(&app))
}

/// `GET /api/v1/me`.
pub(super) async fn me(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<UserView>> {
    let account = app.store.account(caller.account_id()).await?;
    Ok(Json(UserView::of(&caller.user, Some(account.name))))
}

/// `DELETE /api/v1/me`: deletes the caller's user; their sessions and CDRs stay.
pub(super) async fn delete_me(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Response> {
    app.store
        .delete_user(caller.user.id)
        .await
        .map_err(last_admin)?;
    revoke(&app, &caller).await?;
    // Stored first: a node that misses the announcement finds the user gone when it catches up.
    crate::auth::revocations::user_deleted(&*app.bus, &app.tokens, caller.user.id).await;
    tracing::info!(user = %caller.user.id, "user deleted");
    Ok(signed_out(&app))
}

/// A deletion the store refused because it would leave the account's other users without
/// an admin (of two admins deleting each other at once, the second).
fn last_admin(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "last_admin",
            "you are the account's last admin and other users remain: \
             delete them first, or have an operator make another admin",
        ),
        other => other.into(),
    }
}

/// `POST /api/v1/account/invites` (admins): a single-use code for a new user.
pub(super) async fn create_invite(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<(StatusCode, Json<InviteResponse>)> {
    if caller.user.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only an account admin can invite users",
        ));
    }
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let code: String = {
        let mut rng = rand::rng();
        (0..20)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let created_at = now();
    let invite = Invite {
        code: code.clone(),
        account_id: caller.account_id(),
        created_by: caller.user.id,
        created_at,
        expires_at: created_at + INVITE_TTL,
    };
    app.store.create_invite(&invite).await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteResponse {
            invite: code,
            expires_at: invite.expires_at,
        }),
    ))
}

/// `GET /api/v1/account/users`.
pub(super) async fn list_users(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<serde_json::Value>> {
    let users = app.store.list_users(caller.account_id()).await?;
    let views: Vec<UserView> = users.iter().map(|u| UserView::of(u, None)).collect();
    Ok(Json(serde_json::json!({ "users": views })))
}

/// `DELETE /api/v1/account/users/{id}` (admins): deletes another user of the caller's
/// account. Their tokens fail at once on every node (each request looks the user up).
pub(super) async fn delete_user(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if caller.user.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only an account admin can delete users",
        ));
    }
    let not_found = || ApiError::not_found("user_not_found", "no such user in this account");
    let id: UserId = id.parse().map_err(|_| not_found())?;
    if id == caller.user.id {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "id: to delete yourself use DELETE /api/v1/me",
        ));
    }
    match app.store.user(id).await {
        Ok(user) if user.account_id == caller.account_id() => {}
        Ok(_) | Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    }
    match app.store.delete_user(id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(last_admin(e)),
    }
    // Their open streams and sockets close on every node.
    crate::auth::revocations::user_deleted(&*app.bus, &app.tokens, id).await;
    tracing::info!(user = %id, by = %caller.user.id, "user deleted by an admin");
    Ok(StatusCode::NO_CONTENT)
}
