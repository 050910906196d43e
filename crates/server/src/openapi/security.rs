//! Account security: the second step of a sign-in, one's password, username, second factor
//! and sign-ins, an admin's password reset and the account's second-factor rule.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::accounts::{TokenResponse, UserView};
use crate::protocol::security::{
    AccountSecuritySettings, ChangePasswordRequest, ChangeUsernameRequest,
    ConfirmSecondFactorRequest, DisableSecondFactorRequest, RecoveryCodes, ResetPasswordRequest,
    SecondFactorEnrolment, SecondFactorRequest, SignInList, SignInsRevoked,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    second_factor_sign_in,
    change_password,
    change_username,
    begin_second_factor,
    second_factor_qr,
    confirm_second_factor,
    disable_second_factor,
    list_sign_ins,
    revoke_other_sign_ins,
    revoke_sign_in,
    account_security,
    update_account_security,
    reset_password
))]
pub(super) struct Security;

/// The second step of a sign-in: the challenge from `POST /api/v1/auth/login` with a code
/// from the authenticator app (`code`) or an unused recovery code (`recovery_code`). Sets
/// the session cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/second-factor",
    tag = "security",
    request_body = SecondFactorRequest,
    responses((status = 200, body = TokenResponse))
)]
fn second_factor_sign_in() {}

/// Change the caller's password, giving the current one. Every other sign-in of the caller
/// ends at once, on every node. Allowed while a reset password must be changed.
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    tag = "security",
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed")),
    security(("bearer" = []), ("cookie" = []))
)]
fn change_password() {}

/// Change the caller's username; the old one is free again, sign-ins carry on.
#[utoipa::path(
    post,
    path = "/api/v1/me/username",
    tag = "security",
    request_body = ChangeUsernameRequest,
    responses((status = 200, body = UserView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn change_username() {}

/// Start enrolling a second factor (TOTP): a new secret, its `otpauth://` URL and QR code.
/// Allowed while the account requires an enrolment.
#[utoipa::path(
    post,
    path = "/api/v1/me/second-factor",
    tag = "security",
    responses((status = 200, body = SecondFactorEnrolment)),
    security(("bearer" = []), ("cookie" = []))
)]
fn begin_second_factor() {}

/// The QR code of the pending enrolment's `otpauth://` URL.
#[utoipa::path(
    get,
    path = "/api/v1/me/second-factor/qr.svg",
    tag = "security",
    responses((status = 200, description = "An SVG picture", content_type = "image/svg+xml", body = String)),
    security(("bearer" = []), ("cookie" = []))
)]
fn second_factor_qr() {}

/// Confirm the enrolment with a code from the app: the second factor is on, and ten
/// single-use recovery codes are shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/me/second-factor/confirm",
    tag = "security",
    request_body = ConfirmSecondFactorRequest,
    responses((status = 200, body = RecoveryCodes)),
    security(("bearer" = []), ("cookie" = []))
)]
fn confirm_second_factor() {}

/// Turn the second factor off, with the password and a code (or a recovery code).
#[utoipa::path(
    post,
    path = "/api/v1/me/second-factor/disable",
    tag = "security",
    request_body = DisableSecondFactorRequest,
    responses((status = 204, description = "Turned off")),
    security(("bearer" = []), ("cookie" = []))
)]
fn disable_second_factor() {}

/// The caller's sign-ins, newest first; `current` marks the one making the request.
#[utoipa::path(
    get,
    path = "/api/v1/me/sign-ins",
    tag = "security",
    responses((status = 200, body = SignInList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_sign_ins() {}

/// End every sign-in of the caller but the one making the request, on every node.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sign-ins",
    tag = "security",
    responses((status = 200, body = SignInsRevoked)),
    security(("bearer" = []), ("cookie" = []))
)]
fn revoke_other_sign_ins() {}

/// End one of the caller's sign-ins, on every node; its open connections close.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sign-ins/{id}",
    tag = "security",
    params(("id" = String, Path, description = "The sign-in's id")),
    responses((status = 204, description = "Ended")),
    security(("bearer" = []), ("cookie" = []))
)]
fn revoke_sign_in() {}

/// The account's security settings.
#[utoipa::path(
    get,
    path = "/api/v1/account/security",
    tag = "security",
    responses((status = 200, body = AccountSecuritySettings)),
    security(("bearer" = []), ("cookie" = []))
)]
fn account_security() {}

/// Change the account's security settings (admins): require a second factor of every user.
#[utoipa::path(
    put,
    path = "/api/v1/account/security",
    tag = "security",
    request_body = AccountSecuritySettings,
    responses((status = 200, body = AccountSecuritySettings)),
    security(("bearer" = []), ("cookie" = []))
)]
fn update_account_security() {}

/// Set a one-time password for another user of the account (admins): their sign-ins end,
/// and after signing in with it they may only change it.
#[utoipa::path(
    post,
    path = "/api/v1/account/users/{id}/password",
    tag = "security",
    params(("id" = String, Path, description = "The user id")),
    request_body = ResetPasswordRequest,
    responses((status = 204, description = "Reset")),
    security(("bearer" = []), ("cookie" = []))
)]
fn reset_password() {}
