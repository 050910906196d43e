//! WebRTC signalling: WHIP (a device publishes) and WHEP (a viewer plays), RFC 9725's shape.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(whip_publish, whip_stop, whep_play, whep_stop))]
pub(super) struct WebRtc;

/// Publish the device's camera and microphone over WebRTC (WHIP): the body is the SDP
/// offer (video to send, VP8; audio send and receive, Opus; optionally a data channel for
/// controls). Answered with the SDP answer and, in `Location`, the resource to `DELETE`.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{suid}/whip",
    tag = "webrtc",
    params(("suid" = String, Path, description = "The session id")),
    request_body(content = String, content_type = "application/sdp", description = "An SDP offer"),
    responses((status = 201, description = "The SDP answer", content_type = "application/sdp", body = String,
        headers(("Location" = String, description = "The resource: DELETE it to stop")))),
    security(("bearer" = []))
)]
fn whip_publish() {}

/// Stop publishing over WebRTC.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{suid}/whip/{resource}",
    tag = "webrtc",
    params(
        ("suid" = String, Path, description = "The session id"),
        ("resource" = String, Path, description = "The resource id from `Location`")
    ),
    responses((status = 200, description = "Stopped (an empty body)", content_type = "text/plain", body = String)),
    security(("bearer" = []))
)]
fn whip_stop() {}

/// Watch and listen over WebRTC (WHEP): the body is the SDP offer (video to receive; audio
/// to receive, and to send for talking back). A viewer like any other: counted, limited,
/// audited, and stopped when the session or the caller's right ends.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{suid}/whep",
    tag = "webrtc",
    params(("suid" = String, Path, description = "The session id")),
    request_body(content = String, content_type = "application/sdp", description = "An SDP offer"),
    responses((status = 201, description = "The SDP answer", content_type = "application/sdp", body = String,
        headers(("Location" = String, description = "The resource: DELETE it to stop")))),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn whep_play() {}

/// Stop watching over WebRTC.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{suid}/whep/{resource}",
    tag = "webrtc",
    params(
        ("suid" = String, Path, description = "The session id"),
        ("resource" = String, Path, description = "The resource id from `Location`")
    ),
    responses((status = 200, description = "Stopped (an empty body)", content_type = "text/plain", body = String)),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn whep_stop() {}
