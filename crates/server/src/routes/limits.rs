//! Admission limits: the account's own view, the admin views' accounts and their limits, and
//! the middleware that holds each request to this node's limit for its route class.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::protocol::admission::{AccountLimits, AccountSummaryList, SetLimitsRequest};
use crate::services::gatekeeper::RouteClass;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /api/v1/account/limits`: the caller's account's limits with what it uses.
pub(super) async fn own(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<AccountLimits>> {
    Ok(Json(app.limit_views.own(&caller.user).await?))
}

/// `GET /api/v1/admin/accounts`.
pub(super) async fn accounts(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<AccountSummaryList>> {
    Ok(Json(app.limit_views.accounts(&caller.user).await?))
}

/// `GET /api/v1/admin/accounts/{id}/limits`.
pub(super) async fn of_account(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountLimits>> {
    Ok(Json(app.limit_views.of(&caller.user, &id).await?))
}

/// `PUT /api/v1/admin/accounts/{id}/limits` (operators).
pub(super) async fn set(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetLimitsRequest>,
) -> ApiResult<Json<AccountLimits>> {
    Ok(Json(app.limit_views.set(&caller.user, &id, req).await?))
}

/// Holds a place for the request under this node's limit for its route class while the
/// handler runs (a streamed body is not counted); past it, `503 busy`.
pub(super) async fn admit_request(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    match app.gate.admit_request(RouteClass::of(req.uri().path())) {
        Ok(_permit) => next.run(req).await,
        Err(refused) => ApiError::from(refused).into_response(),
    }
}
