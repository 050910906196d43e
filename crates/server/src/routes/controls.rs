//! Controls: viewers send them; the device receives them on its WebSocket or by long poll.

use super::devices::device_session;
use super::sessions::{running, session_of};
use super::sockets;
use crate::App;
use crate::auth::{CurrentUser, DeviceCaller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::live::now;
use crate::protocol::{ControlList, ControlRequest, WatchEvent};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::subjects;
use switchboard_core::Control;
use switchboard_core::control::validate_action;

/// Largest `args` object a control may carry, serialized.
const MAX_ARGS_BYTES: usize = 16 * 1024;

/// `POST /api/v1/sessions/{suid}/controls {action, args}`: stored first (so a device that
/// reconnects gets it), then announced to the device and to every viewer.
pub(super) async fn send(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    ApiJson(req): ApiJson<ControlRequest>,
) -> ApiResult<(StatusCode, Json<Control>)> {
    let session = session_of(&app, &caller, &suid).await?;
    running(&app, &session)?;
    validate_action(&req.action)
        .map_err(|e| ApiError::unprocessable("invalid_field", format!("action: {e}")))?;
    if serde_json::to_vec(&req.args)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
        > MAX_ARGS_BYTES
    {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "args: at most 16 KiB",
        ));
    }
    let control = app
        .store
        .insert_control(session.suid, &req.action, &req.args, caller.user.id, now())
        .await?;
    for (subject, payload) in [
        (
            subjects::controls(session.suid),
            serde_json::to_vec(&control),
        ),
        (
            subjects::events(session.suid),
            serde_json::to_vec(&WatchEvent::Control {
                control: control.clone(),
            }),
        ),
    ] {
        if let Ok(payload) = payload
            && let Err(e) = app.bus.publish(&subject, Bytes::from(payload)).await
        {
            tracing::warn!(suid = %session.suid, error = %e, "announcing a control failed; the device gets it on reconnect");
        }
    }
    Ok((StatusCode::CREATED, Json(control)))
}

#[derive(Debug, Deserialize)]
pub(super) struct PollQuery {
    after: Option<i64>,
    wait: Option<u64>,
}

/// `GET /api/v1/sessions/{suid}/controls?after=ID&wait=30`: controls after `after`, waiting
/// up to `wait` seconds for one to arrive (401 if the device token's right ends meanwhile).
pub(super) async fn poll(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> ApiResult<Json<ControlList>> {
    let handle = device_session(&app, &device, &suid).await?;
    let suid = handle.suid();
    let after = q.after.unwrap_or(0);
    let wait = Duration::from_secs(q.wait.unwrap_or(0)).min(app.config.sessions.max_long_poll);
    // Subscribe before reading, so a control sent in between wakes us.
    let mut announced = app
        .bus
        .subscribe(&subjects::controls(suid))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let controls = app.store.controls_after(suid, after, 1000).await?;
    if !controls.is_empty() || wait.is_zero() {
        return Ok(Json(ControlList { controls }));
    }
    let mut status = handle.subscribe_status();
    let right = app.tokens.hold(&device.claims);
    tokio::select! {
        () = right.ended() => return Err(sockets::right_ended()),
        _ = announced.next() => {}
        _ = status.wait_for(|s| s.state == switchboard_core::SessionState::Ended) => {
            return Err(ApiError::session_ended());
        }
        () = tokio::time::sleep(wait) => {}
        () = app.shutdown.cancelled() => {}
    }
    let controls = app.store.controls_after(suid, after, 1000).await?;
    Ok(Json(ControlList { controls }))
}
