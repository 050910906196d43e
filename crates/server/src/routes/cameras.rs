//! Cameras, their snapshot uploads, object search, and the snapshots search points at.

use crate::App;
use crate::auth::CurrentUser;
use crate::cameras::DetectOutcome;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::object_query;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use switchboard_core::AccountId;
use switchboard_media::jpeg;
use switchboard_store::{
    Camera, NewSnapshot, SearchHit, SnapshotSearch, StoreError, StoredDetection,
};
use uuid::Uuid;

/// Width of annotated thumbnails.
const THUMB_WIDTH: u32 = 480;
/// Most results one search returns.
const MAX_RESULTS: u32 = 100;

/// A new random camera token (shown once) and the hash that is stored.
fn new_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!(
        "sbc_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let hash = token_hash(&token);
    (token, hash)
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn camera_not_found() -> ApiError {
    ApiError::not_found("camera_not_found", "no such camera")
}

fn snapshot_not_found() -> ApiError {
    ApiError::not_found("snapshot_not_found", "no such snapshot")
}

fn parse_id(s: &str, missing: fn() -> ApiError) -> ApiResult<Uuid> {
    s.parse().map_err(|_| missing())
}

fn camera_view(c: &Camera) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "created_at": c.created_at,
        "last_seen_at": c.last_seen_at,
        "uploads": c.uploads,
        "last_snapshot_id": c.last_snapshot_id,
        "last_snapshot_at": c.last_snapshot_at,
        "last_snapshot_url": c.last_snapshot_id.map(|id| format!("/api/v1/snapshots/{id}.jpg")),
    })
}

fn detection_view(d: &StoredDetection) -> Value {
    json!({
        "label": d.label,
        "confidence": d.confidence,
        "box": { "x": d.x, "y": d.y, "w": d.w, "h": d.h },
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateCameraRequest {
    name: String,
}

/// `POST /api/v1/cameras {name}`: registers a camera; its token is shown only here.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<CreateCameraRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "a camera name has 1 to 100 characters",
        ));
    }
    let (token, hash) = new_token();
    let camera = Camera {
        id: Uuid::new_v4(),
        account_id: caller.account_id(),
        name: name.to_owned(),
        created_at: crate::live::now(),
        last_seen_at: None,
        uploads: 0,
        last_snapshot_id: None,
        last_snapshot_at: None,
    };
    app.store.create_camera(&camera, &hash).await?;
    let mut body = camera_view(&camera);
    body["token"] = json!(token);
    body["upload_url"] = json!(format!("/api/v1/cameras/{}/snapshots", camera.id));
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/v1/cameras`: the account's cameras with their newest snapshot.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<Value>> {
    let cameras = app.store.cameras(caller.account_id()).await?;
    Ok(Json(json!({
        "cameras": cameras.iter().map(camera_view).collect::<Vec<_>>(),
        "detecting": app.cameras.detecting(),
    })))
}

/// `DELETE /api/v1/cameras/{id}/token`: replaces the camera's token; the old one stops
/// working at once.
pub(super) async fn rotate_token(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, camera_not_found)?;
    let (token, hash) = new_token();
    match app
        .store
        .set_camera_token(caller.account_id(), id, &hash)
        .await
    {
        Ok(()) => Ok(Json(json!({ "id": id, "token": token }))),
        Err(StoreError::NotFound) => Err(camera_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The camera an upload's `Authorization: Bearer` token belongs to.
async fn camera_caller(app: &App, id: Uuid, headers: &HeaderMap) -> ApiResult<AccountId> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("send the camera token as Authorization: Bearer"))?;
    let (account, hash) = match app.store.camera_credentials(id).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(camera_not_found()),
        Err(e) => return Err(e.into()),
    };
    if token_hash(token) != hash {
        return Err(ApiError::unauthorized(
            "the camera token is wrong or was replaced",
        ));
    }
    Ok(account)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    taken_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/cameras/{id}/snapshots` with an `image/jpeg` body and the camera's token.
/// Stores the snapshot, then detects: 201 with detections, 202 while pending, 503 when the
/// detector's queue is full (the snapshot is kept and detected later).
pub(super) async fn upload(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let camera_id = parse_id(&id, camera_not_found)?;
    let account_id = camera_caller(&app, camera_id, &headers).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.trim().to_ascii_lowercase().starts_with("image/jpeg") {
        return Err(unsupported("send the snapshot as Content-Type: image/jpeg"));
    }
    let limit = app.config.max_snapshot_bytes.as_u64();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "snapshot_too_large",
            format!("a snapshot may be at most {limit} bytes"),
        )
    };
    let data: Bytes =
        http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    ApiError::bad_request("body_read_failed", "the upload was cut short")
                }
            })?
            .to_bytes();
    jpeg::inspect(&data).map_err(|e| unsupported(format!("not a valid JPEG: {e}")))?;
    let received_at = crate::live::now();
    let snapshot = NewSnapshot {
        id: Uuid::new_v4(),
        camera_id,
        account_id,
        taken_at: q.taken_at.unwrap_or(received_at),
        received_at,
        jpeg: data.to_vec(),
        duplicate: false,
    };
    app.store.insert_snapshot(&snapshot).await?;
    let id = snapshot.id;
    let urls = json!({
        "id": id,
        "camera_id": camera_id,
        "taken_at": snapshot.taken_at,
        "image_url": format!("/api/v1/snapshots/{id}.jpg"),
        "thumb_url": format!("/api/v1/snapshots/{id}/thumb.jpg"),
    });
    let mut body = urls;
    Ok(match app.cameras.detect_upload(id, data).await {
        DetectOutcome::Done(found) => {
            body["state"] = json!("done");
            body["detections"] = found.iter().map(detection_view).collect();
            (StatusCode::CREATED, Json(body)).into_response()
        }
        DetectOutcome::Pending => {
            body["state"] = json!("pending");
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        DetectOutcome::Busy => {
            let mut busy = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "detector_busy",
                "the detector is busy; the snapshot is stored and will be detected later",
            )
            .with_extra(json!({ "snapshot": body, "state": "pending" }));
            busy.retry_after = Some(2);
            busy.into_response()
        }
        DetectOutcome::Failed(why) => ApiError::unprocessable(
            "undecodable_image",
            format!("the snapshot is stored but cannot be decoded: {why}"),
        )
        .with_extra(json!({ "snapshot": body, "state": "failed" }))
        .into_response(),
    })
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    q: Option<String>,
    label: Option<String>,
    camera: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

fn hit_view(h: &SearchHit) -> Value {
    let id = h.snapshot_id;
    json!({
        "snapshot_id": id,
        "camera": { "id": h.camera_id, "name": h.camera_name },
        "taken_at": h.taken_at,
        "label": h.detection.label,
        "confidence": h.detection.confidence,
        "box": { "x": h.detection.x, "y": h.detection.y, "w": h.detection.w, "h": h.detection.h },
        "image_url": format!("/api/v1/snapshots/{id}.jpg"),
        "thumb_url": format!("/api/v1/snapshots/{id}/thumb.jpg"),
    })
}

/// `GET /api/v1/search?q=where is my phone` (or `?label=cup`), with optional `camera`,
/// `since`, `until` and `limit`: the newest snapshots showing the objects asked for.
pub(super) async fn search(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let known = app.cameras.labels();
    let mut asked = object_query::ObjectQuery::default();
    if let Some(text) = &q.q {
        asked = object_query::parse(text, known);
    }
    if let Some(label) = &q.label {
        let label = label.trim().to_lowercase();
        if known.contains(&label) {
            if !asked.labels.contains(&label) {
                asked.labels.push(label);
            }
        } else {
            asked.unknown.push(label);
        }
    }
    if q.q.is_none() && q.label.is_none() {
        return Err(ApiError::bad_request(
            "missing_query",
            "ask with ?q=words or ?label=name",
        ));
    }
    let hits = app
        .store
        .search_snapshots(&SnapshotSearch {
            account_id: caller.account_id(),
            labels: asked.labels.clone(),
            camera_id: q.camera,
            since: q.since,
            until: q.until,
            limit: q.limit.unwrap_or(20).clamp(1, MAX_RESULTS),
        })
        .await?;
    Ok(Json(json!({
        "labels": asked.labels,
        "unknown": asked.unknown,
        "known_labels": known,
        "results": hits.iter().map(hit_view).collect::<Vec<_>>(),
    })))
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

/// `GET /api/v1/snapshots/{id}.jpg` (routed as `{id}`): a snapshot as uploaded.
pub(super) async fn snapshot_image(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let id = file
        .strip_suffix(".jpg")
        .ok_or_else(snapshot_not_found)
        .and_then(|id| parse_id(id, snapshot_not_found))?;
    match app.store.snapshot_jpeg(caller.account_id(), id).await {
        Ok(bytes) => Ok(jpeg_response(bytes)),
        Err(StoreError::NotFound) => Err(snapshot_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/snapshots/{id}/thumb.jpg`: a small copy with the detections drawn on it.
pub(super) async fn snapshot_thumb(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, snapshot_not_found)?;
    let account = caller.account_id();
    let (image, found) = match tokio::try_join!(
        app.store.snapshot_jpeg(account, id),
        app.store.snapshot_detections(account, id)
    ) {
        Ok(both) => both,
        Err(StoreError::NotFound) => return Err(snapshot_not_found()),
        Err(e) => return Err(e.into()),
    };
    let drawn: Vec<_> = found.iter().map(|d| app.cameras.to_detection(d)).collect();
    let thumb = tokio::task::spawn_blocking(move || {
        switchboard_vision::annotate(&image, &drawn, THUMB_WIDTH)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::unprocessable("undecodable_image", e.to_string()))?;
    Ok(jpeg_response(thumb))
}
