//! `/api/v1/audit`: the audit trail, for account admins (their account) and operators
//! (everyone), and the middleware that tells the audit log which request it is serving.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::protocol::audit::{AuditFilter, AuditPageView};
use crate::services::RequestContext;
use crate::tls::ClientAddr;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use std::sync::Arc;

/// `GET /api/v1/audit`: records newest first, filtered, a page at a time.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<Json<AuditPageView>> {
    Ok(Json(app.audit_views.page(&caller.user, filter).await?))
}

/// Runs the request with its id and client address as the audit log's context, so every
/// record it causes names them.
pub(super) async fn request_context(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client = req
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(ClientAddr(peer))| app.client_ip(*peer, req.headers()));
    RequestContext { request_id, client }
        .scope(next.run(req))
        .await
}
