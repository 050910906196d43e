//! Cameras, their snapshot uploads, object search, and the snapshots search points at.

use crate::App;
use crate::auth::CurrentUser;
use crate::cameras::{DetectOutcome, SnapshotRef, ThumbnailError};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::object_query;
use crate::protocol::SessionView;
use crate::protocol::cameras::{
    BoxView, CameraList, CameraRef, CameraToken, CameraView, CreateCameraRequest, CreatedCamera,
    DetectionView, LiveRequest, SearchHitView, SearchView, SnapshotView, UpdateCameraRequest,
    UploadState, UploadView,
};
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
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use switchboard_core::{SessionKind, SessionState, Suid};
use switchboard_media::jpeg;
use switchboard_store::{
    Camera, CameraAccess, NewSnapshot, SearchHit, SnapshotSearch, StoreError, StoredDetection,
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

fn camera_view(c: &Camera) -> CameraView {
    CameraView {
        id: c.id,
        name: c.name.clone(),
        created_at: c.created_at,
        last_seen_at: c.last_seen_at,
        uploads: c.uploads,
        uploads_per_hour: c.snapshots_last_hour,
        deduplicated: c.deduplicated,
        discarded: c.discarded,
        only_person: c.only_person,
        last_snapshot_id: c.last_snapshot_id,
        last_snapshot_at: c.last_snapshot_at,
        last_snapshot_url: c
            .last_snapshot_id
            .map(|id| format!("/api/v1/snapshots/{id}.jpg")),
        live_suid: c.live_suid.map(Suid),
    }
}

fn box_view(d: &StoredDetection) -> BoxView {
    BoxView {
        x: d.x,
        y: d.y,
        w: d.w,
        h: d.h,
    }
}

fn detection_view(d: &StoredDetection) -> DetectionView {
    DetectionView {
        label: d.label.clone(),
        confidence: d.confidence,
        bbox: box_view(d),
    }
}

fn camera_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "a camera name has 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

/// `POST /api/v1/cameras {name, only_person?}`: registers a camera; its token is shown only
/// here.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<CreateCameraRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCamera>)> {
    let name = camera_name(&req.name)?;
    let (token, hash) = new_token();
    let camera = Camera {
        id: Uuid::new_v4(),
        account_id: caller.account_id(),
        name,
        created_at: crate::live::now(),
        last_seen_at: None,
        uploads: 0,
        last_snapshot_id: None,
        last_snapshot_at: None,
        snapshots_last_hour: 0,
        deduplicated: 0,
        discarded: 0,
        live_suid: None,
        only_person: req.only_person,
    };
    app.store.create_camera(&camera, &hash).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCamera {
            upload_url: format!("/api/v1/cameras/{}/snapshots", camera.id),
            camera: camera_view(&camera),
            token,
        }),
    ))
}

/// `GET /api/v1/cameras`: the account's cameras with their newest snapshot.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<CameraList>> {
    let cameras = app.store.cameras(caller.account_id()).await?;
    Ok(Json(CameraList {
        cameras: cameras.iter().map(camera_view).collect(),
        detecting: app.cameras.detecting(),
    }))
}

/// `PATCH /api/v1/cameras/{id} {name?, only_person?}`: renames or changes what is kept.
pub(super) async fn update(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCameraRequest>,
) -> ApiResult<Json<CameraView>> {
    let id = parse_id(&id, camera_not_found)?;
    let name = req.name.as_deref().map(camera_name).transpose()?;
    let account = caller.account_id();
    match app
        .store
        .update_camera(account, id, name.as_deref(), req.only_person)
        .await
    {
        Ok(()) => Ok(Json(camera_view(&app.store.camera(account, id).await?))),
        Err(StoreError::NotFound) => Err(camera_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /api/v1/cameras/{id}/token`: replaces the camera's token; the old one stops
/// working at once.
pub(super) async fn rotate_token(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CameraToken>> {
    let id = parse_id(&id, camera_not_found)?;
    let (token, hash) = new_token();
    match app
        .store
        .set_camera_token(caller.account_id(), id, &hash)
        .await
    {
        Ok(()) => Ok(Json(CameraToken { id, token })),
        Err(StoreError::NotFound) => Err(camera_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/cameras/{id}/live`: asks the camera to stream into a video session. The
/// camera is a device like any other: it gets the session's ticket with its next upload
/// and redeems it. Answers the session: 201 when new, 200 when one is already open.
pub(super) async fn go_live(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let id = parse_id(&id, camera_not_found)?;
    let account = caller.account_id();
    let camera = match app.store.camera(account, id).await {
        Ok(camera) => camera,
        Err(StoreError::NotFound) => return Err(camera_not_found()),
        Err(e) => return Err(e.into()),
    };
    if let Some(suid) = camera.live_suid {
        match app.store.session(Suid(suid)).await {
            Ok(s) if s.state != SessionState::Ended && s.account_id == account => {
                return Ok((StatusCode::OK, Json(super::sessions::view(&app, &s))));
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let session =
        super::sessions::open(&app, &caller, SessionKind::Video, Some(camera.name.clone())).await?;
    app.store
        .set_camera_live(account, id, Some(session.suid.0))
        .await?;
    tracing::info!(camera = %id, suid = %session.suid, "camera asked to go live");
    Ok((
        StatusCode::CREATED,
        Json(super::sessions::view(&app, &session)),
    ))
}

/// The ticket an uploading camera is to redeem, if a user asked to see it live and the
/// session still waits for it. A session that ended is forgotten.
async fn live_request(app: &App, camera_id: Uuid, access: &CameraAccess) -> Option<LiveRequest> {
    let suid = Suid(access.live_suid?);
    match app.store.session(suid).await {
        Ok(s) if s.state == SessionState::Waiting => Some(LiveRequest {
            ticket: s.ticket.display(),
            suid,
        }),
        Ok(s) if s.state == SessionState::Ended => {
            if let Err(e) = app
                .store
                .set_camera_live(access.account_id, camera_id, None)
                .await
            {
                tracing::warn!(error = %e, camera = %camera_id, "cannot clear an ended live session");
            }
            None
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, camera = %camera_id, "cannot read the camera's live session");
            None
        }
    }
}

/// The camera an upload's `Authorization: Bearer` token belongs to.
async fn camera_caller(app: &App, id: Uuid, headers: &HeaderMap) -> ApiResult<CameraAccess> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("send the camera token as Authorization: Bearer"))?;
    let access = match app.store.camera_access(id).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(camera_not_found()),
        Err(e) => return Err(e.into()),
    };
    if token_hash(token) != access.token_hash {
        return Err(ApiError::unauthorized(
            "the camera token is wrong or was replaced",
        ));
    }
    Ok(access)
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
    let access = camera_caller(&app, camera_id, &headers).await?;
    let account_id = access.account_id;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.trim().to_ascii_lowercase().starts_with("image/jpeg") {
        return Err(unsupported("send the snapshot as Content-Type: image/jpeg"));
    }
    let limit = app.config.cameras.max_snapshot_bytes.as_u64();
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
    let info = jpeg::inspect(&data).map_err(|e| unsupported(format!("not a valid JPEG: {e}")))?;
    // Refused before it is stored: thumbnails and detection would have to decode it.
    if info.pixels() > app.config.cameras.max_image_pixels {
        return Err(ApiError::image_too_large(
            info.width,
            info.height,
            app.config.cameras.max_image_pixels,
        ));
    }
    let received_at = crate::live::now();
    let snapshot = NewSnapshot {
        id: Uuid::new_v4(),
        camera_id,
        account_id,
        taken_at: crate::cameras::taken_at(
            q.taken_at,
            received_at,
            app.config.cameras.snapshot_clock_skew,
        ),
        received_at,
        jpeg: data.to_vec(),
    };
    app.store.insert_snapshot(&snapshot).await?;
    let id = snapshot.id;
    let target = SnapshotRef {
        id,
        camera_id,
        taken_at: snapshot.taken_at,
        only_person: access.only_person,
    };
    let (outcome, live) = tokio::join!(
        app.cameras.detect_upload(target, data),
        live_request(&app, camera_id, &access)
    );
    let mut view = UploadView {
        id,
        camera_id,
        taken_at: snapshot.taken_at,
        state: UploadState::Pending,
        detections: None,
        duplicate_of: None,
        image_url: Some(format!("/api/v1/snapshots/{id}.jpg")),
        thumb_url: Some(format!("/api/v1/snapshots/{id}/thumb.jpg")),
        live,
    };
    let views = |found: &[StoredDetection]| Some(found.iter().map(detection_view).collect());
    Ok(match outcome {
        DetectOutcome::Done(found) => {
            view.state = UploadState::Done;
            view.detections = views(&found);
            (StatusCode::CREATED, Json(view)).into_response()
        }
        DetectOutcome::Duplicate(found, previous) => {
            view.state = UploadState::Duplicate;
            view.detections = views(&found);
            view.duplicate_of = Some(previous);
            (view.image_url, view.thumb_url) = (None, None);
            (StatusCode::OK, Json(view)).into_response()
        }
        DetectOutcome::Discarded(found) => {
            view.state = UploadState::Discarded;
            view.detections = views(&found);
            (view.image_url, view.thumb_url) = (None, None);
            (StatusCode::OK, Json(view)).into_response()
        }
        DetectOutcome::Pending => (StatusCode::ACCEPTED, Json(view)).into_response(),
        DetectOutcome::Busy => {
            let mut busy = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "detector_busy",
                "the detector is busy; the snapshot is stored and will be detected later",
            )
            .with_extra(json!({ "snapshot": view, "state": "pending" }));
            busy.retry_after = Some(2);
            busy.into_response()
        }
        DetectOutcome::Failed(why) => {
            view.state = UploadState::Failed;
            ApiError::unprocessable(
                "undecodable_image",
                format!("the snapshot is stored but cannot be decoded: {why}"),
            )
            .with_extra(json!({ "snapshot": view, "state": "failed" }))
            .into_response()
        }
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

fn hit_view(h: &SearchHit) -> SearchHitView {
    let id = h.snapshot_id;
    SearchHitView {
        snapshot_id: id,
        camera: CameraRef {
            id: h.camera_id,
            name: h.camera_name.clone(),
        },
        taken_at: h.taken_at,
        label: h.detection.label.clone(),
        confidence: h.detection.confidence,
        bbox: box_view(&h.detection),
        image_url: format!("/api/v1/snapshots/{id}.jpg"),
        thumb_url: format!("/api/v1/snapshots/{id}/thumb.jpg"),
    }
}

/// `GET /api/v1/search?q=where is my phone` (or `?label=cup`), with optional `camera`,
/// `since`, `until` and `limit`: the newest snapshots showing the objects asked for.
pub(super) async fn search(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchView>> {
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
    pin_results(&app, &hits).await;
    Ok(Json(SearchView {
        labels: asked.labels,
        unknown: asked.unknown,
        known_labels: known.to_vec(),
        results: hits.iter().map(hit_view).collect(),
    }))
}

/// Spares the snapshots just handed out from retention for `search_pin`, so the pictures
/// behind the results stay there while someone looks at them. Done before answering, so
/// retention cannot slip in between; a failure only logs (the search itself succeeded).
async fn pin_results(app: &App, hits: &[SearchHit]) {
    let mut ids: Vec<Uuid> = hits.iter().map(|h| h.snapshot_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return;
    }
    let Some(until) = chrono::Duration::from_std(app.config.cameras.search_pin)
        .ok()
        .and_then(|pin| crate::live::now().checked_add_signed(pin))
    else {
        return;
    };
    if let Err(e) = app.store.pin_snapshots(&ids, until).await {
        tracing::warn!(error = %e, "cannot pin search results");
    }
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
    let account = caller.account_id();
    if let Some(id) = file.strip_suffix(".jpg") {
        let id = parse_id(id, snapshot_not_found)?;
        return match app.store.snapshot_jpeg(account, id).await {
            Ok(bytes) => Ok(jpeg_response(bytes)),
            Err(StoreError::NotFound) => Err(snapshot_not_found()),
            Err(e) => Err(e.into()),
        };
    }
    let id = parse_id(&file, snapshot_not_found)?;
    let (info, found) = match tokio::try_join!(
        app.store.snapshot_info(account, id),
        app.store.snapshot_detections(account, id)
    ) {
        Ok(both) => both,
        Err(StoreError::NotFound) => return Err(snapshot_not_found()),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(SnapshotView {
        id,
        camera: CameraRef {
            id: info.camera_id,
            name: info.camera_name,
        },
        taken_at: info.taken_at,
        received_at: info.received_at,
        state: info.state.as_str().to_owned(),
        bytes: info.bytes,
        image_url: format!("/api/v1/snapshots/{id}.jpg"),
        thumb_url: format!("/api/v1/snapshots/{id}/thumb.jpg"),
        detections: found.iter().map(detection_view).collect(),
    })
    .into_response())
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
    match app.cameras.thumbnail(image, drawn, THUMB_WIDTH).await {
        Ok(thumb) => Ok(jpeg_response(thumb)),
        Err(ThumbnailError::Busy) => {
            let mut busy = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is busy making thumbnails; try again shortly",
            );
            busy.retry_after = Some(1);
            Err(busy)
        }
        Err(ThumbnailError::Undecodable(why)) => {
            Err(ApiError::unprocessable("undecodable_image", why))
        }
        Err(ThumbnailError::Failed(why)) => Err(ApiError::internal(why)),
    }
}
