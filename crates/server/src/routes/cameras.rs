//! Cameras, their snapshot uploads, object search (typed or spoken), and the snapshots
//! search points at (`CameraService`, `VoiceSearch`). The upload's content type and body, and JPEG answers, are the edge's.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::protocol::ErrorCode;
use crate::protocol::SessionView;
use crate::protocol::cameras::{
    CameraList, CameraToken, CameraView, CreateCameraRequest, CreatedCamera, SearchQuery,
    SearchView, UpdateCameraRequest, UploadQuery, UploadState, UploadView, VoiceSearchQuery,
    VoiceSearchView, VoiceView,
};
use crate::services::{CameraError, GoLive, VoiceSearchError};
use crate::tls::ClientAddr;
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;

/// `POST /api/v1/cameras {name, only_person?}`: registers a camera; its token is shown only
/// here.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<CreateCameraRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCamera>)> {
    let created = app.cameras.create(&caller.user, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/cameras`: the account's cameras with their newest snapshot.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<CameraList>> {
    Ok(Json(app.cameras.list(caller.account_id()).await?))
}

/// `PATCH /api/v1/cameras/{id} {name?, only_person?}`: renames or changes what is kept.
pub(super) async fn update(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCameraRequest>,
) -> ApiResult<Json<CameraView>> {
    Ok(Json(app.cameras.update(&caller.user, &id, req).await?))
}

/// `DELETE /api/v1/cameras/{id}/token`: replaces the camera's token; the old one stops
/// working at once.
pub(super) async fn rotate_token(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraToken>> {
    Ok(Json(app.cameras.rotate_token(&caller.user, &id).await?))
}

/// `POST /api/v1/cameras/{id}/live`: asks the camera to stream into a video session.
/// Answers the session: 201 when new, 200 when one is already open.
pub(super) async fn go_live(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    Ok(match app.cameras.go_live(&caller.user, &id).await? {
        GoLive::Opened(session) => (StatusCode::CREATED, Json(session)),
        GoLive::AlreadyOpen(session) => (StatusCode::OK, Json(session)),
    })
}

/// The camera token an upload carries as `Authorization: Bearer`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// `POST /api/v1/cameras/{id}/snapshots` with an `image/jpeg` body and the camera's token.
/// Stores the snapshot, then detects: 201 with detections, 202 while pending, 200 when
/// dropped by the camera's rules, 503 when the detector's queue is full (the snapshot is
/// kept and detected later).
pub(super) async fn upload(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    // Tokens are 256 random bits, so guessing is hopeless; the bound keeps a guesser from
    // costing a lookup per try.
    let client = app.client_ip(peer, &headers);
    app.limits.camera_token(client)?;
    let camera = match app.cameras.camera_caller(&id, bearer(&headers)).await {
        Ok(camera) => camera,
        Err(e @ (CameraError::NoToken | CameraError::WrongToken | CameraError::CameraNotFound)) => {
            app.limits.camera_token_failed(client);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.trim().to_ascii_lowercase().starts_with("image/jpeg") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the snapshot as Content-Type: image/jpeg",
        ));
    }
    let limit = app.cameras.max_snapshot_bytes();
    let data: Bytes =
        http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    CameraError::SnapshotTooLarge { limit }.into()
                } else {
                    ApiError::new(ErrorCode::BodyReadFailed, "the upload was cut short")
                }
            })?
            .to_bytes();
    let view = app.cameras.upload(&camera, q.taken_at, data).await?;
    let status = match view.state {
        UploadState::Done => StatusCode::CREATED,
        UploadState::Duplicate | UploadState::Discarded => StatusCode::OK,
        // Still being detected, or no detector here. (A failed one is an error, not a view.)
        UploadState::Pending | UploadState::Failed => StatusCode::ACCEPTED,
    };
    Ok((status, Json(view)))
}

/// `GET /api/v1/search?q=where is my phone` (or `?label=cup`), with optional `camera`,
/// `since`, `until` and `limit`: the newest snapshots showing the objects asked for.
pub(super) async fn search(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchView>> {
    Ok(Json(app.cameras.search(&caller.user, q).await?))
}

/// The media types a voice question may be declared as (parameters aside).
const WAV_TYPES: &[&str] = &["audio/wav", "audio/x-wav", "audio/wave"];

/// `GET /api/v1/search/voice`: whether this node takes voice questions (or why not).
pub(super) async fn voice_status(
    State(app): State<Arc<App>>,
    _caller: CurrentUser,
) -> Json<VoiceView> {
    Json(app.voice.status())
}

/// `POST /api/v1/search/voice` with an `audio/wav` body (16 kHz mono 16-bit PCM), and the
/// optional bounds of `GET /api/v1/search`: the transcript and the search it asked for.
pub(super) async fn voice_search(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<VoiceSearchQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<VoiceSearchView>> {
    // Refused before the body is read: nothing here could use it.
    app.voice.check_available()?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !WAV_TYPES.contains(&media_type.as_str()) {
        return Err(VoiceSearchError::NotAudio.into());
    }
    let limit = app.voice.max_bytes();
    let recording: Bytes =
        http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    VoiceSearchError::TooLarge { limit }
                } else {
                    VoiceSearchError::BodyCut
                }
            })?
            .to_bytes();
    Ok(Json(app.voice.search(&caller.user, recording, q).await?))
}

fn jpeg_response(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /api/v1/snapshots/{id}.jpg`: a snapshot as uploaded; `GET /api/v1/snapshots/{id}`:
/// its facts and detections as JSON (one route: the router cannot split `{id}.jpg`).
pub(super) async fn snapshot(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    Ok(match file.strip_suffix(".jpg") {
        Some(id) => jpeg_response(app.cameras.snapshot_jpeg(&caller.user, id).await?),
        None => Json(app.cameras.snapshot(&caller.user, &file).await?).into_response(),
    })
}

/// `GET /api/v1/snapshots/{id}/thumb.jpg`: a small copy with the detections drawn on it.
pub(super) async fn snapshot_thumb(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(jpeg_response(
        app.cameras.thumbnail(&caller.user, &id).await?,
    ))
}
