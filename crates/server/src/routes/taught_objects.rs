//! Taught objects: teaching one from a snapshot, listing, renaming and deleting them, and
//! asking for a look through the kept history (`TaughtObjects`).

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::protocol::taught::{
    RenameTaughtRequest, TaughtObjectList, TaughtObjectView, TeachRequest,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;

/// `POST /api/v1/taught-objects {snapshot_id, box, name}`: teaches the object in the box.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<TeachRequest>,
) -> ApiResult<(StatusCode, Json<TaughtObjectView>)> {
    let created = app.taught.create(&caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/taught-objects`: the account's taught objects with where each was last found.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<TaughtObjectList>> {
    Ok(Json(app.taught.list(caller.account_id()).await?))
}

/// `GET /api/v1/taught-objects/{id}`: one taught object (also how a look's progress is read).
pub(super) async fn get(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<TaughtObjectView>> {
    Ok(Json(app.taught.find(caller.account_id(), &id).await?))
}

/// `PATCH /api/v1/taught-objects/{id} {name}`: renames it.
pub(super) async fn rename(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameTaughtRequest>,
) -> ApiResult<Json<TaughtObjectView>> {
    Ok(Json(app.taught.rename(&caller.user, &id, req).await?))
}

/// `DELETE /api/v1/taught-objects/{id}`: deletes it with where it was found.
pub(super) async fn delete(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.taught.delete(&caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/taught-objects/{id}/scan`: starts a look through the kept history; 202
/// with the object and the look's progress.
pub(super) async fn scan(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<TaughtObjectView>)> {
    let started = app.taught.scan(&caller.user, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}
