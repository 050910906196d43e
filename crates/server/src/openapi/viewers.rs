//! Viewers: the MJPEG stream, the newest frame, the watch WebSocket, sending controls, and
//! the account's events socket.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::{ControlRequest, WatchQuery};
use switchboard_core::Control;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(watch_mjpeg, latest_frame, watch_socket, send_control, account_events))]
pub(super) struct Viewers;

/// The session's video as `multipart/x-mixed-replace` JPEG parts, for `<img>`, ffplay and
/// VLC. It runs until the session ends or the caller's right does.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/video.mjpeg",
    tag = "viewers",
    params(("suid" = String, Path, description = "The session id")),
    responses((status = 200, description = "An endless MJPEG stream", content_type = "multipart/x-mixed-replace", body = Vec<u8>)),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn watch_mjpeg() {}

/// The newest frame.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/frame.jpg",
    tag = "viewers",
    params(("suid" = String, Path, description = "The session id")),
    responses((status = 200, description = "A JPEG", content_type = "image/jpeg", body = Vec<u8>)),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn latest_frame() {}

/// The watch WebSocket: frames as binary messages, session events as JSON text
/// (PROTOCOL.md, Watch socket messages).
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/watch",
    tag = "viewers",
    params(("suid" = String, Path, description = "The session id"), WatchQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol")),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn watch_socket() {}

/// Send a control to the device; every viewer sees it too.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{suid}/controls",
    tag = "viewers",
    params(("suid" = String, Path, description = "The session id")),
    request_body = ControlRequest,
    responses((status = 201, body = Control)),
    security(("bearer" = []), ("cookie" = []))
)]
fn send_control() {}

/// The account's events WebSocket, for live dashboards (PROTOCOL.md, Account events).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "viewers",
    responses((status = 101, description = "Switching to the WebSocket protocol")),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn account_events() {}
