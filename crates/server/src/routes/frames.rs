//! Frames from devices: one JPEG per POST, or one long MJPEG POST. (The device WebSocket in
//! `devices` uses the same [`accept_frame`].)

use super::devices::device_session;
use super::sockets;
use crate::App;
use crate::auth::DeviceCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::live::SessionHandle;
use crate::protocol::{FrameAccepted, StreamSummary};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use serde::Deserialize;
use std::sync::Arc;
use switchboard_media::{jpeg, mjpeg};

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    )
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "frame_too_large",
        format!("a frame may be at most {limit} bytes"),
    )
}

/// Validates one JPEG (markers and dimensions; no decoding) and hands it to the viewers.
/// A frame over the device's `max_device_fps` is dropped: 429 `rate_limited`.
pub(super) fn accept_frame(
    app: &App,
    handle: &SessionHandle,
    seq: Option<u64>,
    data: Bytes,
) -> ApiResult<FrameAccepted> {
    let limit = app.config.devices.max_frame_bytes.as_u64();
    if data.len() as u64 > limit {
        return Err(too_large(limit));
    }
    let info = jpeg::inspect(&data).map_err(|e| unsupported(format!("not a valid JPEG: {e}")))?;
    // Viewers decode every frame: a small file declaring a huge picture is a bomb for them.
    if info.pixels() > app.config.devices.max_frame_pixels {
        return Err(ApiError::image_too_large(
            info.width,
            info.height,
            app.config.devices.max_frame_pixels,
        ));
    }
    if !handle.admit_frame(app.config.devices.max_device_fps) {
        return Err(ApiError::too_many_requests(
            format!(
                "more than {} frames a second; this one was dropped",
                app.config.devices.max_device_fps
            ),
            1,
        ));
    }
    let seq = handle
        .push_frame(seq, data, chrono::Utc::now().timestamp_millis())
        .map_err(|_| ApiError::session_ended())?;
    Ok(FrameAccepted {
        seq,
        width: info.width,
        height: info.height,
    })
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[derive(Debug, Deserialize)]
pub(super) struct FrameQuery {
    seq: Option<u64>,
}

/// `POST /api/v1/sessions/{suid}/frames?seq=N` with an `image/jpeg` body.
pub(super) async fn post_frame(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<FrameQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<FrameAccepted>> {
    let handle = device_session(&app, &device, &suid).await?;
    let ct = content_type(&headers);
    if !ct.trim().to_ascii_lowercase().starts_with("image/jpeg") {
        return Err(unsupported("send the frame as Content-Type: image/jpeg"));
    }
    let limit = app.config.devices.max_frame_bytes.as_u64();
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large(limit));
    }
    let data = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large(limit)
            } else {
                ApiError::bad_request("body_read_failed", "the frame could not be read")
            }
        })?
        .to_bytes();
    accept_frame(&app, &handle, q.seq, data).map(Json)
}

/// `POST /api/v1/sessions/{suid}/stream`: one long `multipart/x-mixed-replace` body of JPEG
/// parts, as `ffmpeg -f mpjpeg -method POST` sends. Answers when the device closes it, or
/// 401 once the device token's right ends (it expires). Parts over `max_device_fps` are
/// dropped.
pub(super) async fn post_stream(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<StreamSummary>> {
    let handle = device_session(&app, &device, &suid).await?;
    let right = app.tokens.hold(&device.claims);
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    let ct = content_type(&headers).trim().to_ascii_lowercase();
    let mut body = body.into_data_stream();
    let mut head = Vec::new();
    let boundary = match mjpeg::boundary_from_content_type(&ct) {
        Some(b) => b,
        // `ffmpeg -f mpjpeg -method POST` sends no Content-Type at all: take the boundary
        // from the body's first line, as a multipart parser would.
        None if ct.is_empty() || ct.starts_with("application/octet-stream") => {
            sniff_boundary(&mut body, &mut head).await.ok_or_else(|| {
                unsupported("the body does not start with a multipart boundary line")
            })?
        }
        None => {
            return Err(unsupported(
                "send a multipart/x-mixed-replace body with a boundary parameter",
            ));
        }
    };
    let limit = usize::try_from(app.config.devices.max_frame_bytes.as_u64()).unwrap_or(usize::MAX);
    let replayed =
        futures::stream::iter((!head.is_empty()).then(|| Ok::<_, axum::Error>(Bytes::from(head))));
    let mut parts = std::pin::pin!(mjpeg::parts(replayed.chain(body), boundary, limit));
    let mut summary = StreamSummary {
        frames: 0,
        bytes: 0,
    };
    loop {
        let next = tokio::select! {
            next = parts.next() => next,
            () = app.shutdown.cancelled() => {
                return Err(ApiError::unavailable("the server is restarting; reconnect"));
            }
            () = &mut right_ended => return Err(sockets::right_ended()),
        };
        let Some(part) = next else { break };
        let part = match part {
            Ok(p) => p,
            Err(mjpeg::MjpegError::PartTooLarge { .. }) => {
                return Err(too_large(app.config.devices.max_frame_bytes.as_u64()));
            }
            Err(mjpeg::MjpegError::Transport(e)) => {
                tracing::debug!(suid = %handle.suid(), error = %e, "stream closed by device");
                break;
            }
            Err(e) => return Err(ApiError::bad_request("malformed_stream", e.to_string())),
        };
        let len = part.body.len() as u64;
        match accept_frame(&app, &handle, None, part.body) {
            Ok(_) => {}
            Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => continue,
            Err(e) => return Err(e),
        }
        summary.frames += 1;
        summary.bytes += len;
    }
    Ok(Json(summary))
}

/// Reads the body up to its first line break (at most 1 KiB) into `head` and returns the
/// boundary that line names (`--boundary`). `head` is replayed in front of the rest.
async fn sniff_boundary(
    body: &mut axum::body::BodyDataStream,
    head: &mut Vec<u8>,
) -> Option<String> {
    const MAX_LINE: usize = 1024;
    loop {
        let window = &head[..head.len().min(MAX_LINE)];
        if let Some(end) = window.windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&head[..end]).ok()?;
            let boundary = line.strip_prefix("--")?.trim();
            return (!boundary.is_empty()).then(|| boundary.to_owned());
        }
        if head.len() >= MAX_LINE {
            return None;
        }
        match body.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            _ => return None,
        }
    }
}
