//! Admission limits: an account's limits with what it uses, and operators' changes to them.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::admission::{AccountLimits, AccountSummaryList, SetLimitsRequest};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(own_limits, admin_accounts, account_limits, set_account_limits))]
pub(super) struct Limits;

/// The limits of the caller's account, with what it uses against each (every user).
#[utoipa::path(
    get,
    path = "/api/v1/account/limits",
    tag = "accounts",
    responses((status = 200, body = AccountLimits)),
    security(("bearer" = []), ("cookie" = []))
)]
fn own_limits() {}

/// The accounts the caller administers: every account for operators, their own for an
/// account's admins.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts",
    tag = "admin",
    responses((status = 200, body = AccountSummaryList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_accounts() {}

/// An account's limits with what it uses (operators: any account; an account's admins:
/// theirs; another account is `404 account_not_found`).
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts/{id}/limits",
    tag = "admin",
    params(("id" = String, Path, description = "The account's id")),
    responses((status = 200, body = AccountLimits)),
    security(("bearer" = []), ("cookie" = []))
)]
fn account_limits() {}

/// Replace an account's own limits (operators). Limits not named follow the defaults again.
#[utoipa::path(
    put,
    path = "/api/v1/admin/accounts/{id}/limits",
    tag = "admin",
    params(("id" = String, Path, description = "The account's id")),
    request_body = SetLimitsRequest,
    responses((status = 200, body = AccountLimits)),
    security(("bearer" = []), ("cookie" = []))
)]
fn set_account_limits() {}
