//! Controls: viewers send them; the device receives them on its WebSocket or by long poll.

use crate::App;
use crate::auth::{CurrentUser, DeviceCaller};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::protocol::{ControlList, ControlPollQuery, ControlRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Control;

/// `POST /api/v1/sessions/{suid}/controls {action, args}`: stored first (so a device that
/// reconnects gets it), then announced to the device and to every viewer.
pub(super) async fn send(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    ApiJson(req): ApiJson<ControlRequest>,
) -> ApiResult<(StatusCode, Json<Control>)> {
    let control = app
        .live
        .send_control(&caller.user, &suid, &req.action, &req.args)
        .await?;
    Ok((StatusCode::CREATED, Json(control)))
}

/// `GET /api/v1/sessions/{suid}/controls?after=ID&wait=30`: controls after `after`, waiting
/// up to `wait` seconds for one to arrive (401 if the device token's right ends meanwhile).
pub(super) async fn poll(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<ControlPollQuery>,
) -> ApiResult<Json<ControlList>> {
    let controls = app
        .live
        .poll_controls(
            device.suid,
            &device.claims,
            &suid,
            q.after.unwrap_or(0),
            Duration::from_secs(q.wait.unwrap_or(0)),
        )
        .await?;
    Ok(Json(ControlList { controls }))
}
