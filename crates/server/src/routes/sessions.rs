//! Creating, listing, watching the state of, and ending sessions.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::protocol::{
    CreateSessionRequest, SessionList, SessionListQuery, SessionView, SessionWaitQuery,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::EndReason;

/// `POST /api/v1/sessions`: a new session and its ticket.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<CreateSessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let session = app.live.open(&caller.user, req.kind, req.label).await?;
    Ok((StatusCode::CREATED, Json(app.live.view(&session))))
}

/// `GET /api/v1/sessions`: the account's sessions, newest first.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<SessionListQuery>,
) -> ApiResult<Json<SessionList>> {
    let sessions = app
        .live
        .list(caller.account_id(), q.state.as_deref(), q.limit)
        .await?;
    Ok(Json(SessionList { sessions }))
}

/// `GET /api/v1/sessions/{suid}`, optionally a long poll (`?wait=30`) that answers as soon as
/// the state differs from `state` (default: the state when the request arrived), or 401 as
/// soon as the caller's token is revoked or expires or their user is deleted.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<SessionWaitQuery>,
) -> ApiResult<Json<SessionView>> {
    let wait = Duration::from_secs(q.wait.unwrap_or(0));
    let view = app
        .live
        .get(
            caller.account_id(),
            &caller.claims,
            &suid,
            q.state.as_deref(),
            wait,
        )
        .await?;
    Ok(Json(view))
}

/// `DELETE /api/v1/sessions/{suid}`: ends the session (`ended_by_user`). Ending an ended
/// session answers its final state again.
pub(super) async fn end(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Json<SessionView>> {
    let view = app
        .live
        .end(
            &caller.user,
            Some(caller.account_id()),
            &suid,
            EndReason::EndedByUser,
        )
        .await?;
    Ok(Json(view))
}
