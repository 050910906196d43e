//! WebRTC signalling over HTTP: WHIP (RFC 9725) for a device publishing and WHEP for a
//! viewer playing. A `POST` carries an SDP offer (`application/sdp`) and is answered `201`
//! with the SDP answer and the resource's URL in `Location`; `DELETE` on that URL stops.
//! Candidates are not trickled: the answer carries the node's, and the node learns the
//! browser's from its connectivity checks.

use crate::App;
use crate::auth::{CurrentUser, DeviceCaller};
use crate::error::{ApiError, ApiResult};
use crate::protocol::ErrorCode;
use crate::services::webrtc::WebRtcAnswer;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::sync::Arc;
use switchboard_sfu::offer::MAX_OFFER_BYTES;

/// The offer in the body, as text: `application/sdp`, at most 64 KiB.
async fn read_offer(headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !ct.starts_with("application/sdp") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the SDP offer as Content-Type: application/sdp",
        ));
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("an SDP offer may be at most {MAX_OFFER_BYTES} bytes"),
        )
    };
    let bytes = http_body_util::Limited::new(body, MAX_OFFER_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::new(ErrorCode::BodyReadFailed, "the offer could not be read")
            }
        })?
        .to_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::new(ErrorCode::InvalidSdp, "the SDP offer is not UTF-8 text"))
}

/// `201 Created` with the answer and where the resource is.
fn created(location: String, answer: WebRtcAnswer) -> Response {
    let mut response = (StatusCode::CREATED, answer.sdp).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /api/v1/sessions/{suid}/whip`: the device's offer, with its device token.
pub(super) async fn publish(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let offer = read_offer(&headers, body).await?;
    let answer = app
        .live
        .publish_webrtc(device.device_id, device.suid, &device.claims, &suid, &offer)
        .await?;
    let location = format!("/api/v1/sessions/{}/whip/{}", device.suid, answer.resource);
    Ok(created(location, answer))
}

/// `DELETE /api/v1/sessions/{suid}/whip/{resource}`: the device stops publishing.
pub(super) async fn unpublish(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path((suid, resource)): Path<(String, String)>,
) -> ApiResult<&'static str> {
    app.live
        .stop_webrtc_publisher(device.device_id, &suid, &resource)?;
    // RFC 9725: 200 OK (with nothing to say).
    Ok("")
}

/// `POST /api/v1/sessions/{suid}/whep`: a viewer's offer.
pub(super) async fn play(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let offer = read_offer(&headers, body).await?;
    let answer = app
        .live
        .play_webrtc(&caller.user, &caller.claims, &suid, &offer)
        .await?;
    let location = format!("/api/v1/sessions/{suid}/whep/{}", answer.resource);
    Ok(created(location, answer))
}

/// `DELETE /api/v1/sessions/{suid}/whep/{resource}`: the viewer stops.
pub(super) async fn stop(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path((suid, resource)): Path<(String, String)>,
) -> ApiResult<&'static str> {
    app.live
        .stop_webrtc_viewer(&caller.user, &suid, &resource)?;
    Ok("")
}

/// `GET /api/v1/webrtc/ice-servers`: the STUN and TURN servers for the caller's peer
/// connections, with TURN credentials minted for them (never cached: they expire).
pub(super) async fn ice_servers(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Response> {
    let config = app.live.ice_servers(&caller.user)?;
    let mut response = Json(config).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
