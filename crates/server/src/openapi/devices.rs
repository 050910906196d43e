//! Devices: redeeming a ticket, sending frames (one per request, or one long MJPEG stream),
//! the device WebSocket, and polling for controls.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::{
    ControlList, ControlPollQuery, DeviceRegisterRequest, DeviceRegistered, DeviceSocketQuery,
    FrameAccepted, FrameQuery, StreamSummary,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(register_device, send_frame, send_stream, device_socket, poll_controls))]
pub(super) struct Devices;

/// Redeem a ticket: the session goes live and the device gets its token and URLs.
#[utoipa::path(
    post,
    path = "/api/v1/devices/register",
    tag = "devices",
    request_body = DeviceRegisterRequest,
    responses((status = 201, body = DeviceRegistered))
)]
fn register_device() {}

/// Send one JPEG frame.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{suid}/frames",
    tag = "devices",
    params(("suid" = String, Path, description = "The session id"), FrameQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "One JPEG"),
    responses((status = 200, body = FrameAccepted)),
    security(("bearer" = []))
)]
fn send_frame() {}

/// Send frames as one long `multipart/x-mixed-replace` body (what `ffmpeg -f mpjpeg
/// -method POST` sends); answers when the device closes it.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{suid}/stream",
    tag = "devices",
    params(("suid" = String, Path, description = "The session id")),
    request_body(
        content = Vec<u8>,
        content_type = "application/octet-stream",
        description = "JPEG parts in `multipart/x-mixed-replace` framing: sent as \
            `multipart/x-mixed-replace; boundary=…`, or (as ffmpeg does) with no or this content \
            type and the boundary taken from the body's first line"
    ),
    responses((status = 200, body = StreamSummary)),
    security(("bearer" = []))
)]
fn send_stream() {}

/// The device WebSocket: frames up as binary messages, controls down as JSON text
/// (PROTOCOL.md, Device socket messages).
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/device",
    tag = "devices",
    params(("suid" = String, Path, description = "The session id"), DeviceSocketQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol")),
    security(("bearer" = []), ("query" = []))
)]
fn device_socket() {}

/// Controls after `after`, waiting up to `wait` seconds for one (a device's long poll).
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/controls",
    tag = "devices",
    params(("suid" = String, Path, description = "The session id"), ControlPollQuery),
    responses((status = 200, body = ControlList)),
    security(("bearer" = []))
)]
fn poll_controls() {}
