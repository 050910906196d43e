//! Frames from devices: one JPEG per POST, or one long MJPEG POST. Each frame goes through
//! `LiveSessions::accept_frame`, as the device WebSocket's do.

use crate::App;
use crate::auth::DeviceCaller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::protocol::ErrorCode;
use crate::protocol::{FrameAccepted, FrameQuery, StreamSummary};
use crate::services::SessionError;
use crate::services::gatekeeper;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use std::sync::Arc;
use switchboard_media::mjpeg;

fn part_len(len: u64) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType, message)
}

fn too_large(limit: u64) -> ApiError {
    SessionError::FrameTooLarge { limit }.into()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
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
    let handle = app.live.device_session(device.suid, &suid).await?;
    let ct = content_type(&headers);
    if !ct.trim().to_ascii_lowercase().starts_with("image/jpeg") {
        return Err(unsupported("send the frame as Content-Type: image/jpeg"));
    }
    let limit = app.live.max_frame_bytes();
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
                ApiError::new(ErrorCode::BodyReadFailed, "the frame could not be read")
            }
        })?
        .to_bytes();
    let len = data.len();
    let accepted = app.live.accept_frame(&handle, q.seq, data)?;
    // The answer waits while the account is over its upload bandwidth: the device slows down.
    let upload = app.gate.upload_bucket(handle.account_id()).await;
    gatekeeper::pace(upload.as_deref(), len).await;
    Ok(Json(accepted))
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
    let handle = app.live.device_session(device.suid, &suid).await?;
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
    let limit = usize::try_from(app.live.max_frame_bytes()).unwrap_or(usize::MAX);
    let replayed =
        futures::stream::iter((!head.is_empty()).then(|| Ok::<_, axum::Error>(Bytes::from(head))));
    let mut parts = std::pin::pin!(mjpeg::parts(replayed.chain(body), boundary, limit));
    let mut summary = StreamSummary {
        frames: 0,
        bytes: 0,
    };
    let upload = app.gate.upload_bucket(handle.account_id()).await;
    loop {
        let next = tokio::select! {
            next = parts.next() => next,
            () = app.shutdown.cancelled() => {
                return Err(SessionError::Restarting.into());
            }
            () = &mut right_ended => return Err(SessionError::RightEnded.into()),
        };
        let Some(part) = next else { break };
        let part = match part {
            Ok(p) => p,
            Err(mjpeg::MjpegError::PartTooLarge { .. }) => {
                return Err(too_large(app.live.max_frame_bytes()));
            }
            Err(mjpeg::MjpegError::Transport(e)) => {
                tracing::debug!(suid = %handle.suid(), error = %e, "stream closed by device");
                break;
            }
            Err(e) => return Err(ApiError::new(ErrorCode::MalformedStream, e.to_string())),
        };
        let len = part.body.len() as u64;
        match app.live.accept_frame(&handle, None, part.body) {
            // The next part is read once the account's upload bandwidth allows.
            Ok(_) => gatekeeper::pace(upload.as_deref(), part_len(len)).await,
            Err(SessionError::OverRate { .. }) => continue,
            Err(e) => return Err(e.into()),
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
