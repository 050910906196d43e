//! The audit trail: who did what to private things, for account admins and operators.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::audit::{AuditFilter, AuditPageView};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(list_audit))]
pub(super) struct Audit;

/// Audit records, newest first: account admins see their account's, operators everyone's
/// (or one account's with `account`). Filter by who acted (`actor`), what was acted on
/// (`target`), one `action` and a time range; page with `next` as `cursor`. Reading the
/// trail is itself recorded. An unknown action, a range that ends before it starts or a
/// cursor the server did not make is `422 invalid_filter`; members get `403 forbidden`; an
/// account admin naming another `account` gets `404 account_not_found`.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "admin",
    params(AuditFilter),
    responses((status = 200, body = AuditPageView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_audit() {}
