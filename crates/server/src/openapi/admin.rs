//! Administration: account admins see their account, operators every account and node.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::SessionView;
use crate::protocol::admin::{HistoryQuery, NodeHistory, NodeList, Overview};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    admin_overview,
    admin_nodes,
    admin_history,
    admin_end_session,
    admin_delete_account
))]
pub(super) struct Admin;

/// Totals, open sessions, ends by reason and recent CDRs the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/admin/overview",
    tag = "admin",
    responses((status = 200, body = Overview)),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_overview() {}

/// Every node's services and newest status (operators).
#[utoipa::path(
    get,
    path = "/api/v1/admin/nodes",
    tag = "admin",
    responses((status = 200, body = NodeList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_nodes() {}

/// A service's status samples (operators).
#[utoipa::path(
    get,
    path = "/api/v1/admin/history",
    tag = "admin",
    params(HistoryQuery),
    responses((status = 200, body = NodeHistory)),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_history() {}

/// End any session the caller may see.
#[utoipa::path(
    post,
    path = "/api/v1/admin/sessions/{suid}/end",
    tag = "admin",
    params(("suid" = String, Path, description = "The session id")),
    responses((status = 200, body = SessionView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_end_session() {}

/// Delete an account for good (operators): its data keys are destroyed first, so everything
/// it stored is unreadable from then on, even in backups; its open sessions end, and its
/// users are signed out everywhere.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/accounts/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The account id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("cookie" = []))
)]
fn admin_delete_account() {}
