//! Cameras: registering them and their tokens, asking one to go live, snapshot uploads with
//! detection, object search, and the snapshots search points at. Detection itself (the
//! pool, the resume and retention tasks) is the engine's, `crate::cameras::Cameras`.

use super::audit::AuditLog;
use super::camera_error::CameraError;
use super::gatekeeper::Gatekeeper;
use super::sessions::LiveSessions;
use crate::cameras::{Cameras, DetectOutcome, SnapshotRef, ThumbnailError};
use crate::config::Config;
use crate::live::now;
use crate::object_query;
use crate::protocol::SessionView;
use crate::protocol::cameras::{
    BoxView, CameraList, CameraRef, CameraToken, CameraView, CreateCameraRequest, CreatedCamera,
    DetectionView, DetectorView, LiveRequest, SearchHitView, SearchQuery, SearchView, SnapshotView,
    TaughtFoundView, UpdateCameraRequest, UploadState, UploadView,
};
use crate::vault::{Object, Vault};
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use switchboard_core::audit::{Action, AuditEvent};
use switchboard_core::{AccountId, SessionKind, SessionState, Suid, User};
use switchboard_media::jpeg;
use switchboard_store::{
    Camera, CameraAccess, NewSnapshot, SearchHit, SnapshotSearch, Store, StoreError,
    StoredDetection, TaughtHit, TaughtSearch,
};
use uuid::Uuid;

/// Width of annotated thumbnails.
const THUMB_WIDTH: u32 = 480;
/// Most results one search returns.
const MAX_RESULTS: u32 = 100;
/// Results of a search that gives no `limit`.
const DEFAULT_RESULTS: u32 = 20;
/// Longest camera name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A camera whose token an upload carried.
#[derive(Debug, Clone)]
pub struct CameraCaller {
    pub id: Uuid,
    access: CameraAccess,
}

/// What asking a camera to go live found.
#[derive(Debug)]
pub enum GoLive {
    /// A new video session, waiting for the camera.
    Opened(SessionView),
    /// The camera's session, already waiting or live.
    AlreadyOpen(SessionView),
}

/// The camera service: what routes for cameras, uploads, search and snapshots call.
#[derive(Clone)]
pub struct CameraService {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    /// The detector and what it is working on.
    engine: Arc<Cameras>,
    live: LiveSessions,
    gate: Arc<Gatekeeper>,
    audit: AuditLog,
    /// Pictures are sealed before they are stored and opened after they are read.
    vault: Arc<Vault>,
}

impl std::fmt::Debug for CameraService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraService")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl CameraService {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        engine: Arc<Cameras>,
        live: LiveSessions,
        gate: Arc<Gatekeeper>,
        audit: AuditLog,
        vault: Arc<Vault>,
    ) -> Self {
        CameraService {
            audit,
            config,
            store,
            engine,
            live,
            gate,
            vault,
        }
    }

    /// Registers a camera; its token is in this answer only.
    pub async fn create(
        &self,
        caller: &User,
        req: CreateCameraRequest,
    ) -> Result<CreatedCamera, CameraError> {
        let account = caller.account_id;
        self.audit.check()?;
        let name = camera_name(&req.name)?;
        let (token, hash) = new_token();
        let camera = Camera {
            id: Uuid::new_v4(),
            account_id: account,
            name,
            created_at: now(),
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
        let reservation = self
            .gate
            .admit_camera(account, &camera.id.to_string())
            .await?;
        let created = self.store.create_camera(&camera, &hash).await;
        reservation.done().await;
        created?;
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::CameraCreated)
                    .target("camera", camera.id)
                    .detail(serde_json::json!({ "name": camera.name })),
            )
            .await?;
        Ok(CreatedCamera {
            upload_url: format!("/api/v1/cameras/{}/snapshots", camera.id),
            camera: camera_view(&camera),
            token,
        })
    }

    /// The account's cameras with their newest snapshot, and whether this node detects.
    pub async fn list(&self, account: AccountId) -> Result<CameraList, CameraError> {
        let cameras = self.store.cameras(account).await?;
        Ok(CameraList {
            cameras: cameras.iter().map(camera_view).collect(),
            detecting: self.engine.detecting(),
            detector: self.detector(),
        })
    }

    /// This node's object detector: model and backend, or why detection is off.
    pub fn detector(&self) -> DetectorView {
        DetectorView {
            model: self.engine.model().map(str::to_owned),
            backend: self.engine.backend().map(str::to_owned),
            library: self.engine.library().map(str::to_owned),
            off_because: self.engine.off_because().map(str::to_owned),
        }
    }

    /// Renames the camera named by `id` (as written in a path) or changes what it keeps.
    pub async fn update(
        &self,
        caller: &User,
        id: &str,
        req: UpdateCameraRequest,
    ) -> Result<CameraView, CameraError> {
        let account = caller.account_id;
        let id = camera_id(id)?;
        self.audit.check()?;
        let name = req.name.as_deref().map(camera_name).transpose()?;
        match self
            .store
            .update_camera(account, id, name.as_deref(), req.only_person)
            .await
        {
            Ok(()) => {
                self.audit
                    .record_durable(
                        AuditEvent::by(caller, Action::CameraChanged)
                            .target("camera", id)
                            .detail(serde_json::json!({
                                "name": name,
                                "only_person": req.only_person,
                            })),
                    )
                    .await?;
                Ok(camera_view(&self.store.camera(account, id).await?))
            }
            Err(StoreError::NotFound) => Err(CameraError::CameraNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the camera's token; the old one stops working at once.
    pub async fn rotate_token(&self, caller: &User, id: &str) -> Result<CameraToken, CameraError> {
        let account = caller.account_id;
        let id = camera_id(id)?;
        self.audit.check()?;
        let (token, hash) = new_token();
        match self.store.set_camera_token(account, id, &hash).await {
            Ok(()) => {
                self.audit
                    .record_durable(
                        AuditEvent::by(caller, Action::CameraChanged)
                            .target("camera", id)
                            .detail(serde_json::json!({ "token": "replaced" })),
                    )
                    .await?;
                Ok(CameraToken { id, token })
            }
            Err(StoreError::NotFound) => Err(CameraError::CameraNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Asks the camera to stream into a video session, opened for `user` through the
    /// live-session service. The camera is a device like any other: it gets the session's
    /// ticket with its next upload and redeems it. A session already waiting or live is
    /// answered again.
    pub async fn go_live(&self, user: &User, id: &str) -> Result<GoLive, CameraError> {
        let id = camera_id(id)?;
        let account = user.account_id;
        let camera = match self.store.camera(account, id).await {
            Ok(camera) => camera,
            Err(StoreError::NotFound) => return Err(CameraError::CameraNotFound),
            Err(e) => return Err(e.into()),
        };
        if let Some(suid) = camera.live_suid {
            match self.store.session(Suid(suid)).await {
                Ok(s) if s.state != SessionState::Ended && s.account_id == account => {
                    return Ok(GoLive::AlreadyOpen(self.live.view(&s)));
                }
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let session = self
            .live
            .open(user, SessionKind::Video, Some(camera.name.clone()))
            .await?;
        self.store
            .set_camera_live(account, id, Some(session.suid.0))
            .await?;
        tracing::info!(camera = %id, suid = %session.suid, "camera asked to go live");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::CameraLive)
                    .target("camera", id)
                    .detail(serde_json::json!({ "session": session.suid })),
            )
            .await?;
        Ok(GoLive::Opened(self.live.view(&session)))
    }

    /// The camera named by `id` (as written in a path), if `token` is its token: `NoToken`
    /// without one, `WrongToken` for another (or a replaced) one.
    pub async fn camera_caller(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<CameraCaller, CameraError> {
        let id = camera_id(id)?;
        let token = token.ok_or(CameraError::NoToken)?;
        let access = match self.store.camera_access(id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(CameraError::CameraNotFound),
            Err(e) => return Err(e.into()),
        };
        if token_hash(token) != access.token_hash {
            return Err(CameraError::WrongToken);
        }
        Ok(CameraCaller { id, access })
    }

    /// Largest snapshot accepted, in bytes.
    pub fn max_snapshot_bytes(&self) -> u64 {
        self.config.cameras.max_snapshot_bytes.as_u64()
    }

    /// Stores one JPEG from `camera`, then detects it, waiting at most `detect_wait`: the
    /// answer's state says how far detection got (`done`, `pending`, or dropped as
    /// `duplicate` or `discarded`). A picture declaring more than `max_image_pixels` is
    /// refused before it is stored; `DetectorBusy` and `Undecodable` carry the stored
    /// snapshot.
    pub async fn upload(
        &self,
        camera: &CameraCaller,
        taken_at: Option<DateTime<Utc>>,
        data: Bytes,
    ) -> Result<UploadView, CameraError> {
        let limit = self.max_snapshot_bytes();
        if data.len() as u64 > limit {
            return Err(CameraError::SnapshotTooLarge { limit });
        }
        let info = jpeg::inspect(&data).map_err(|e| CameraError::NotJpeg(e.to_string()))?;
        // Refused before it is stored: thumbnails and detection would have to decode it.
        let max_pixels = self.config.cameras.max_image_pixels;
        if info.pixels() > max_pixels {
            return Err(CameraError::ImageTooLarge {
                width: info.width,
                height: info.height,
                max_pixels,
            });
        }
        // The account's storage and hourly uploads, and this node's uploads at once.
        let _upload = self
            .gate
            .admit_snapshot(camera.access.account_id, data.len() as u64)
            .await?;
        let received_at = now();
        let id = Uuid::new_v4();
        let account = camera.access.account_id;
        let sealed = self
            .vault
            .seal(account, Object::Snapshot(id), &data)
            .await?;
        let snapshot = NewSnapshot {
            id,
            camera_id: camera.id,
            account_id: camera.access.account_id,
            taken_at: crate::cameras::taken_at(
                taken_at,
                received_at,
                self.config.cameras.snapshot_clock_skew,
            ),
            received_at,
            jpeg: sealed.bytes,
            size: data.len() as u64,
            key_version: sealed.key_version,
        };
        self.store.insert_snapshot(&snapshot).await?;
        let target = SnapshotRef {
            id,
            account_id: account,
            key_version: snapshot.key_version,
            camera_id: camera.id,
            taken_at: snapshot.taken_at,
            only_person: camera.access.only_person,
        };
        let (outcome, live) = tokio::join!(
            self.engine.detect_upload(target, data),
            self.live_request(camera)
        );
        let mut view = UploadView {
            id,
            camera_id: camera.id,
            taken_at: snapshot.taken_at,
            state: UploadState::Pending,
            detections: None,
            duplicate_of: None,
            image_url: Some(image_url(id)),
            thumb_url: Some(thumb_url(id)),
            live,
        };
        let views = |found: &[StoredDetection]| Some(found.iter().map(detection_view).collect());
        match outcome {
            DetectOutcome::Done(found) => {
                view.state = UploadState::Done;
                view.detections = views(&found);
            }
            DetectOutcome::Duplicate(found, previous) => {
                view.state = UploadState::Duplicate;
                view.detections = views(&found);
                view.duplicate_of = Some(previous);
                (view.image_url, view.thumb_url) = (None, None);
            }
            DetectOutcome::Discarded(found) => {
                view.state = UploadState::Discarded;
                view.detections = views(&found);
                (view.image_url, view.thumb_url) = (None, None);
            }
            DetectOutcome::Pending => {}
            DetectOutcome::Busy => {
                return Err(CameraError::DetectorBusy {
                    snapshot: Box::new(view),
                });
            }
            DetectOutcome::Failed(why) => {
                view.state = UploadState::Failed;
                return Err(CameraError::Undecodable {
                    why,
                    snapshot: Box::new(view),
                });
            }
        }
        Ok(view)
    }

    /// The ticket an uploading camera is to redeem, if a user asked to see it live and the
    /// session still waits for it. A session that ended is forgotten.
    async fn live_request(&self, camera: &CameraCaller) -> Option<LiveRequest> {
        let suid = Suid(camera.access.live_suid?);
        match self.store.session(suid).await {
            Ok(s) if s.state == SessionState::Waiting => Some(LiveRequest {
                ticket: s.ticket.display(),
                suid,
            }),
            Ok(s) if s.state == SessionState::Ended => {
                if let Err(e) = self
                    .store
                    .set_camera_live(camera.access.account_id, camera.id, None)
                    .await
                {
                    tracing::warn!(error = %e, camera = %camera.id, "cannot clear an ended live session");
                }
                None
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, camera = %camera.id, "cannot read the camera's live session");
                None
            }
        }
    }

    /// The newest snapshots of the account showing the objects asked for, in words (`q`)
    /// or by label; words that name nothing the detector finds and nothing the account
    /// taught are reported, not refused. A taught object named in `q` is answered from
    /// where it was found, with its score, among the detector's results.
    pub async fn search(&self, caller: &User, q: SearchQuery) -> Result<SearchView, CameraError> {
        self.search_as(caller, q, false).await
    }

    /// [`CameraService::search`] for a question that was spoken (`q` is its transcript):
    /// the audit record says so.
    pub async fn search_spoken(
        &self,
        caller: &User,
        q: SearchQuery,
    ) -> Result<SearchView, CameraError> {
        self.search_as(caller, q, true).await
    }

    /// The classes the detector knows (what `known_labels` lists).
    pub fn known_labels(&self) -> Vec<String> {
        self.engine.labels().to_vec()
    }

    async fn search_as(
        &self,
        caller: &User,
        q: SearchQuery,
        spoken: bool,
    ) -> Result<SearchView, CameraError> {
        let account = caller.account_id;
        let known = self.engine.labels();
        let mut asked = object_query::ObjectQuery::default();
        let mut taught_names: Vec<(Uuid, String)> = Vec::new();
        if let Some(text) = &q.q {
            taught_names = self.store.taught_names(account).await?;
            let names: Vec<String> = taught_names.iter().map(|(_, n)| n.clone()).collect();
            asked = object_query::parse_with_taught(text, known, &names);
        }
        let taught: Vec<&(Uuid, String)> = asked
            .taught
            .iter()
            .filter_map(|&i| taught_names.get(i))
            .collect();
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
            return Err(CameraError::MissingQuery);
        }
        let limit = q.limit.unwrap_or(DEFAULT_RESULTS).clamp(1, MAX_RESULTS);
        let hits = self
            .store
            .search_snapshots(&SnapshotSearch {
                account_id: account,
                labels: asked.labels.clone(),
                camera_id: q.camera,
                since: q.since,
                until: q.until,
                limit,
            })
            .await?;
        let taught_hits = self
            .store
            .taught_hits(&TaughtSearch {
                account_id: account,
                taught_object_ids: taught.iter().map(|(id, _)| *id).collect(),
                camera_id: q.camera,
                since: q.since,
                until: q.until,
                limit,
            })
            .await?;
        let mut results: Vec<SearchHitView> = hits.iter().map(hit_view).collect();
        results.extend(taught_hits.iter().map(taught_hit_view));
        // Newest first across both kinds; on a tie the more certain first.
        results.sort_by(|a, b| {
            b.taken_at
                .cmp(&a.taken_at)
                .then_with(|| b.snapshot_id.cmp(&a.snapshot_id))
                .then_with(|| b.confidence.total_cmp(&a.confidence))
        });
        results.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        self.pin_results(results.iter().map(|r| r.snapshot_id))
            .await;
        let taught: Vec<String> = taught.iter().map(|(_, name)| name.clone()).collect();
        self.audit.record(
            AuditEvent::by(caller, Action::Searched).detail(serde_json::json!({
                "question": q.q,
                "spoken": spoken,
                "label": q.label,
                "camera": q.camera,
                "labels": asked.labels,
                "taught": taught,
                "results": results.len(),
            })),
        )?;
        Ok(SearchView {
            labels: asked.labels,
            taught,
            unknown: asked.unknown,
            known_labels: known.to_vec(),
            results,
        })
    }

    /// Spares the snapshots just handed out from retention for `search_pin`, so the pictures
    /// behind the results stay there while someone looks at them. Done before answering, so
    /// retention cannot slip in between; a failure only logs (the search itself succeeded).
    async fn pin_results(&self, snapshots: impl Iterator<Item = Uuid>) {
        let mut ids: Vec<Uuid> = snapshots.collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let Some(until) = chrono::Duration::from_std(self.config.cameras.search_pin)
            .ok()
            .and_then(|pin| now().checked_add_signed(pin))
        else {
            return;
        };
        if let Err(e) = self.store.pin_snapshots(&ids, until).await {
            tracing::warn!(error = %e, "cannot pin search results");
        }
    }

    /// The account's snapshot named by `id` (as written in a path), as uploaded.
    pub async fn snapshot_jpeg(&self, caller: &User, id: &str) -> Result<Vec<u8>, CameraError> {
        let account = caller.account_id;
        let id = snapshot_id(id)?;
        self.audit.check()?;
        let stored = match self.store.snapshot_jpeg(account, id).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound) => return Err(CameraError::SnapshotNotFound),
            Err(e) => return Err(e.into()),
        };
        let jpeg = self
            .vault
            .open(account, Object::Snapshot(id), &stored)
            .await?;
        self.audit
            .record(AuditEvent::by(caller, Action::SnapshotViewed).target("snapshot", id))?;
        Ok(jpeg.to_vec())
    }

    /// The account's snapshot's facts and every detection, most confident first.
    pub async fn snapshot(&self, caller: &User, id: &str) -> Result<SnapshotView, CameraError> {
        let account = caller.account_id;
        let id = snapshot_id(id)?;
        let (info, found, taught) = match tokio::try_join!(
            self.store.snapshot_info(account, id),
            self.store.snapshot_detections(account, id),
            self.store.snapshot_taught_hits(account, id)
        ) {
            Ok(all) => all,
            Err(StoreError::NotFound) => return Err(CameraError::SnapshotNotFound),
            Err(e) => return Err(e.into()),
        };
        self.audit
            .record(AuditEvent::by(caller, Action::SnapshotRead).target("snapshot", id))?;
        Ok(SnapshotView {
            id,
            camera: CameraRef {
                id: info.camera_id,
                name: info.camera_name,
            },
            taken_at: info.taken_at,
            received_at: info.received_at,
            state: info.state.as_str().to_owned(),
            bytes: info.bytes,
            image_url: image_url(id),
            thumb_url: thumb_url(id),
            detections: found.iter().map(detection_view).collect(),
            taught: taught.iter().map(taught_found_view).collect(),
        })
    }

    /// A JPEG copy of the account's snapshot, at most 480 pixels wide, with its detections
    /// and the taught objects found in it (named, with their score) drawn on it. Decodes are
    /// bounded in number (`ThumbnailBusy` past `decode_wait`) and in pixels.
    pub async fn thumbnail(&self, caller: &User, id: &str) -> Result<Vec<u8>, CameraError> {
        let account = caller.account_id;
        let id = snapshot_id(id)?;
        self.audit.check()?;
        let (stored, found, taught) = match tokio::try_join!(
            self.store.snapshot_jpeg(account, id),
            self.store.snapshot_detections(account, id),
            self.store.snapshot_taught_hits(account, id)
        ) {
            Ok(both) => both,
            Err(StoreError::NotFound) => return Err(CameraError::SnapshotNotFound),
            Err(e) => return Err(e.into()),
        };
        let image = self
            .vault
            .open(account, Object::Snapshot(id), &stored)
            .await?
            .to_vec();
        self.audit
            .record(AuditEvent::by(caller, Action::ThumbnailViewed).target("snapshot", id))?;
        let mut drawn: Vec<_> = found.iter().map(|d| self.engine.to_detection(d)).collect();
        drawn.extend(taught.iter().map(|t| self.engine.taught_detection(t)));
        self.engine
            .thumbnail(image, drawn, THUMB_WIDTH)
            .await
            .map_err(|e| match e {
                ThumbnailError::Busy => CameraError::ThumbnailBusy,
                ThumbnailError::Undecodable(why) => CameraError::ThumbnailUndecodable(why),
                ThumbnailError::Failed(why) => CameraError::ThumbnailFailed(why),
            })
    }
}

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

fn camera_id(s: &str) -> Result<Uuid, CameraError> {
    s.parse().map_err(|_| CameraError::CameraNotFound)
}

fn snapshot_id(s: &str) -> Result<Uuid, CameraError> {
    s.parse().map_err(|_| CameraError::SnapshotNotFound)
}

fn camera_name(name: &str) -> Result<String, CameraError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CameraError::InvalidName);
    }
    Ok(name.to_owned())
}

fn image_url(id: Uuid) -> String {
    format!("/api/v1/snapshots/{id}.jpg")
}

fn thumb_url(id: Uuid) -> String {
    format!("/api/v1/snapshots/{id}/thumb.jpg")
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
        last_snapshot_url: c.last_snapshot_id.map(image_url),
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
        image_url: image_url(id),
        thumb_url: thumb_url(id),
        taught_object_id: None,
        score: None,
    }
}

fn taught_box(h: &TaughtHit) -> BoxView {
    BoxView {
        x: h.bbox.x,
        y: h.bbox.y,
        w: h.bbox.w,
        h: h.bbox.h,
    }
}

/// A taught object found, as a search result: its name is the label, its score the
/// confidence.
fn taught_hit_view(h: &TaughtHit) -> SearchHitView {
    let id = h.snapshot_id;
    SearchHitView {
        snapshot_id: id,
        camera: CameraRef {
            id: h.camera_id,
            name: h.camera_name.clone(),
        },
        taken_at: h.taken_at,
        label: h.name.clone(),
        confidence: h.score,
        bbox: taught_box(h),
        image_url: image_url(id),
        thumb_url: thumb_url(id),
        taught_object_id: Some(h.taught_object_id),
        score: Some(h.score),
    }
}

fn taught_found_view(h: &TaughtHit) -> TaughtFoundView {
    TaughtFoundView {
        taught_object_id: h.taught_object_id,
        name: h.name.clone(),
        score: h.score,
        bbox: taught_box(h),
    }
}
