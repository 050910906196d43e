//! The admin API behind `/admin`: account admins see their account, operators see every
//! account and every node (`AdminViews`).

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::protocol::SessionView;
use crate::protocol::admin::{HistoryQuery, NodeHistory, NodeList, Overview};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;

/// `GET /api/v1/admin/overview`.
pub(super) async fn overview(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<Overview>> {
    Ok(Json(app.admin.overview(&caller.user).await?))
}

/// `GET /api/v1/admin/nodes` (operators).
pub(super) async fn nodes(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<NodeList>> {
    Ok(Json(app.admin.nodes(&caller.user).await?))
}

/// `GET /api/v1/admin/history?service=ID&minutes=60` (operators): status samples for charts.
pub(super) async fn node_history(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<NodeHistory>> {
    Ok(Json(
        app.admin
            .history(&caller.user, q.service, q.minutes)
            .await?,
    ))
}

/// `POST /api/v1/admin/sessions/{suid}/end`: ends any session the caller may see.
pub(super) async fn end_session(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(app.admin.end_session(&caller.user, &suid).await?))
}

/// `DELETE /api/v1/admin/accounts/{id}` (operators): deletes an account, its data keys first.
pub(super) async fn delete_account(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.deletions.delete_any(&caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
