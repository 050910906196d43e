//! Cameras: registering them, their snapshot uploads, object search (typed or spoken), and
//! the snapshots.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::cameras::{
    CameraList, CameraToken, CameraView, CreateCameraRequest, CreatedCamera, SearchQuery,
    SearchView, SnapshotRefused, SnapshotView, UpdateCameraRequest, UploadQuery, UploadView,
    VoiceSearchQuery, VoiceSearchView, VoiceView,
};
use crate::protocol::{ErrorBody, SessionView};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    create_camera,
    list_cameras,
    update_camera,
    rotate_camera_token,
    camera_go_live,
    upload_snapshot,
    search_snapshots,
    voice_status,
    voice_search,
    get_snapshot,
    snapshot_thumbnail
))]
pub(super) struct Cameras;

/// Register a camera; its upload token is shown only in this answer.
#[utoipa::path(
    post,
    path = "/api/v1/cameras",
    tag = "cameras",
    request_body = CreateCameraRequest,
    responses((status = 201, body = CreatedCamera)),
    security(("bearer" = []), ("cookie" = []))
)]
fn create_camera() {}

/// The account's cameras, with their newest snapshot.
#[utoipa::path(
    get,
    path = "/api/v1/cameras",
    tag = "cameras",
    responses((status = 200, body = CameraList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_cameras() {}

/// Rename a camera or change what it keeps.
#[utoipa::path(
    patch,
    path = "/api/v1/cameras/{id}",
    tag = "cameras",
    params(("id" = String, Path, description = "The camera id")),
    request_body = UpdateCameraRequest,
    responses((status = 200, body = CameraView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn update_camera() {}

/// Replace the camera's token; the old one stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/cameras/{id}/token",
    tag = "cameras",
    params(("id" = String, Path, description = "The camera id")),
    responses((status = 200, body = CameraToken)),
    security(("bearer" = []), ("cookie" = []))
)]
fn rotate_camera_token() {}

/// Ask the camera to stream into a video session (201 new, 200 already open).
#[utoipa::path(
    post,
    path = "/api/v1/cameras/{id}/live",
    tag = "cameras",
    params(("id" = String, Path, description = "The camera id")),
    responses(
        (status = 201, body = SessionView),
        (status = 200, body = SessionView)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
fn camera_go_live() {}

/// Upload a snapshot with the camera's token: 201 detected, 202 pending, 200 dropped as a
/// duplicate or without a person. A 503 `detector_busy` or 422 `undecodable_image` still
/// stored the snapshot, and says so.
#[utoipa::path(
    post,
    path = "/api/v1/cameras/{id}/snapshots",
    tag = "cameras",
    params(("id" = String, Path, description = "The camera id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "One JPEG"),
    responses(
        (status = 201, body = UploadView),
        (status = 202, body = UploadView),
        (status = 200, body = UploadView),
        (status = 503, description = "The detector's queue is full (`detector_busy`, \
            `Retry-After: 2`): the snapshot is stored and detected later; or another \
            refusal (`unavailable`)", body = SnapshotRefused),
        (status = 422, description = "The snapshot is stored, marked failed: it cannot be \
            decoded (`undecodable_image`)", body = SnapshotRefused)
    ),
    security(("bearer" = []))
)]
fn upload_snapshot() {}

/// The newest snapshots showing the objects asked for (`q` in words or `label`).
#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "cameras",
    params(SearchQuery),
    responses((status = 200, body = SearchView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn search_snapshots() {}

/// Whether this node takes voice questions: the speech library and model it found, or why
/// it has none and what to install.
#[utoipa::path(
    get,
    path = "/api/v1/search/voice",
    tag = "cameras",
    responses((status = 200, body = VoiceView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn voice_status() {}

/// Ask by voice: a WAV recording (16 kHz, mono, 16-bit PCM, at most `voice_max_bytes` and
/// `voice_max_duration`) is recognized offline and searched for like `GET /api/v1/search`'s
/// `q`; the answer adds `transcript`. Silence, or speech matching no phrase, answers 200
/// with an empty transcript and a `message`.
#[utoipa::path(
    post,
    path = "/api/v1/search/voice",
    tag = "cameras",
    params(VoiceSearchQuery),
    request_body(
        content = Vec<u8>,
        content_type = "audio/wav",
        description = "One WAV file: 16000 Hz, mono, 16-bit PCM (also as audio/x-wav or audio/wave)"
    ),
    responses(
        (status = 200, body = VoiceSearchView),
        (status = 413, description = "Larger than `voice_max_bytes` (`audio_too_large`)", body = ErrorBody),
        (status = 415, description = "Not declared as WAV, or not a WAV file \
            (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Another sample format (`unsupported_audio`), or longer \
            than `voice_max_duration` (`audio_too_long`)", body = ErrorBody),
        (status = 503, description = "Speech recognition is not installed on this node \
            (`voice_unavailable`), or every recognizer is busy (`busy`, `Retry-After: 1`)", body = ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
fn voice_search() {}

/// A snapshot's facts and detections (`{id}`), or its JPEG (`{id}.jpg`).
#[utoipa::path(
    get,
    path = "/api/v1/snapshots/{id}",
    tag = "cameras",
    params(("id" = String, Path, description = "The snapshot id, or the id followed by .jpg")),
    responses(
        (status = 200, content(
            (SnapshotView = "application/json"),
            (Vec<u8> = "image/jpeg")
        )),
    ),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn get_snapshot() {}

/// A small copy with the detections drawn on it.
#[utoipa::path(
    get,
    path = "/api/v1/snapshots/{id}/thumb.jpg",
    tag = "cameras",
    params(("id" = String, Path, description = "The snapshot id")),
    responses((status = 200, description = "A JPEG", content_type = "image/jpeg", body = Vec<u8>)),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn snapshot_thumbnail() {}
