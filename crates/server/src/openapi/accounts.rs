//! Accounts: signing up and in, the signed-in user, invites and the account's users.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::accounts::{
    DeleteAccountRequest, InviteResponse, LoginRequest, LoginResponse, RegisterRequest,
    TokenResponse, UserList, UserView,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    register,
    login,
    logout,
    me,
    delete_me,
    delete_account,
    create_invite,
    list_users,
    delete_user
))]
pub(super) struct Accounts;

/// Sign up: a new account (`account_name`) or joining one (`invite`). Sets the session cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "accounts",
    request_body = RegisterRequest,
    responses((status = 201, body = TokenResponse))
)]
fn register() {}

/// Sign in. Sets the session cookie; for a user with a second factor, answers a challenge
/// instead (no token, no cookie), to complete at `POST /api/v1/auth/second-factor`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse))
)]
fn login() {}

/// Sign out: the token is revoked on every node, and the cookie cleared.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "accounts",
    responses((status = 204, description = "Signed out")),
    security(("bearer" = []), ("cookie" = []))
)]
fn logout() {}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "accounts",
    responses((status = 200, body = UserView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn me() {}

/// Delete the signed-in user (refused for an account's last admin while others remain).
#[utoipa::path(
    delete,
    path = "/api/v1/me",
    tag = "accounts",
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("cookie" = []))
)]
fn delete_me() {}

/// Delete the caller's whole account for good (admins, confirming with their password): its
/// data keys are destroyed first, so everything it stored is unreadable from then on, even
/// in backups; its open sessions end, and its users are signed out everywhere.
#[utoipa::path(
    delete,
    path = "/api/v1/account",
    tag = "accounts",
    request_body = DeleteAccountRequest,
    responses((status = 204, description = "Deleted; the session cookie is cleared")),
    security(("bearer" = []), ("cookie" = []))
)]
fn delete_account() {}

/// An invite to join the account (admins).
#[utoipa::path(
    post,
    path = "/api/v1/account/invites",
    tag = "accounts",
    responses((status = 201, body = InviteResponse)),
    security(("bearer" = []), ("cookie" = []))
)]
fn create_invite() {}

/// The account's users.
#[utoipa::path(
    get,
    path = "/api/v1/account/users",
    tag = "accounts",
    responses((status = 200, body = UserList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_users() {}

/// Delete a user of the account (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/account/users/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("cookie" = []))
)]
fn delete_user() {}
