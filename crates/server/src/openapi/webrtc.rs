//! WebRTC signalling: WHIP (a device publishes) and WHEP (a viewer plays), RFC 9725's shape.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(whip_publish, whip_stop, whep_play, whep_stop, ice_servers))]
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

/// The STUN and TURN servers to give a peer connection before the WHEP offer
/// (`new RTCPeerConnection({iceServers, iceTransportPolicy})`), with TURN credentials minted
/// for the caller that expire at `expires_at`. A device gets its own in its registration.
#[utoipa::path(
    get,
    path = "/api/v1/webrtc/ice-servers",
    tag = "webrtc",
    responses((status = 200, description = "The ICE servers", body = crate::protocol::ice::IceConfig)),
    security(("bearer" = []), ("cookie" = []))
)]
fn ice_servers() {}
