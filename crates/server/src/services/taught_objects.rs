//! Taught objects: a user boxes a thing on one of their snapshots and names it ("my keys");
//! from then on every new snapshot of the account's cameras is searched for it (the
//! detection engine does that, `crate::cameras`), and on request the kept history too.
//! Search answers from where it was found (`CameraService::search`).
//!
//! The template (the matcher's description of the object) is sealed with the account's data
//! key like snapshot pictures; the name is kept plain, as camera names are.

use super::audit::AuditLog;
use super::taught_error::TaughtError;
use crate::config::Config;
use crate::decode_slots::{DecodeSlotError, DecodeSlots};
use crate::live::now;
use crate::object_query;
use crate::protocol::cameras::{BoxView, CameraRef};
use crate::protocol::taught::{
    RenameTaughtRequest, ScanState, ScanView, TaughtMatchView, TaughtObjectList, TaughtObjectView,
    TeachRequest,
};
use crate::taught::scan::STALE_AFTER;
use crate::taught::{HistoryScans, TaughtMatcher, matching::stored_box};
use crate::vault::{Object, Vault};
use std::sync::Arc;
use switchboard_core::audit::{Action, AuditEvent};
use switchboard_core::{AccountId, Timestamp, User};
use switchboard_store::{
    NewTaughtObject, NormalizedBox, ScanProgress, Store, StoreError, Taught, TaughtHit,
    TaughtObject,
};
use switchboard_vision::{BBox, Template, VisionError};
use uuid::Uuid;

/// The taught objects service (`App.taught`).
#[derive(Clone)]
pub struct TaughtObjects {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    matcher: Arc<TaughtMatcher>,
    scans: Arc<HistoryScans>,
    decodes: DecodeSlots,
    audit: AuditLog,
}

impl std::fmt::Debug for TaughtObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaughtObjects")
            .field("matcher", &self.matcher)
            .finish_non_exhaustive()
    }
}

impl TaughtObjects {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        matcher: Arc<TaughtMatcher>,
        scans: Arc<HistoryScans>,
        decodes: DecodeSlots,
        audit: AuditLog,
    ) -> Self {
        TaughtObjects {
            config,
            store,
            vault,
            matcher,
            scans,
            decodes,
            audit,
        }
    }

    /// Teaches the object inside `box` of one of the caller's snapshots as `name`: the
    /// picture is decoded (on a decoding slot) into a template, which is sealed and stored.
    /// From the next snapshot on, the account's cameras are searched for it.
    pub async fn create(
        &self,
        caller: &User,
        req: TeachRequest,
    ) -> Result<TaughtObjectView, TaughtError> {
        let account = caller.account_id;
        self.audit.check()?;
        let (name, name_key) = self.name(&req.name)?;
        let bbox = check_box(&req.bbox)?;
        let max = self.config.cameras.taught_objects_per_account;
        if max == 0 {
            return Err(TaughtError::TooMany { max });
        }
        let stored = match self.store.snapshot_jpeg(account, req.snapshot_id).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound) => return Err(TaughtError::SnapshotNotFound),
            Err(e) => return Err(e.into()),
        };
        let jpeg = self
            .vault
            .open(account, Object::Snapshot(req.snapshot_id), &stored)
            .await?;
        let max_pixels = self.config.cameras.max_image_pixels;
        let template = self
            .decodes
            .run(Some(self.config.cameras.decode_wait), move || {
                Template::from_jpeg(&jpeg, bbox, max_pixels)
            })
            .await
            .map_err(|e| match e {
                DecodeSlotError::Busy => TaughtError::Busy,
                DecodeSlotError::Failed(why) => TaughtError::Failed(why),
            })?
            .map_err(template_error)?;
        let id = Uuid::new_v4();
        let sealed = self
            .vault
            .seal(account, Object::TaughtTemplate(id), &template.to_bytes())
            .await?;
        let object = NewTaughtObject {
            id,
            account_id: account,
            name: name.clone(),
            name_key,
            template: sealed,
            snapshot_id: req.snapshot_id,
            bbox: stored_box(&bbox),
            created_at: now(),
        };
        match self.store.create_taught_object(&object, max).await {
            Ok(Taught::Created) => {}
            Ok(Taught::Full { max }) => return Err(TaughtError::TooMany { max }),
            Err(StoreError::Conflict(_)) => return Err(TaughtError::NameTaken),
            // Deleted between reading its picture and now.
            Err(StoreError::NotFound) => return Err(TaughtError::SnapshotNotFound),
            Err(e) => return Err(e.into()),
        }
        self.matcher.forget(account);
        tracing::info!(%account, taught_object = %id, "object taught");
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::TaughtObjectCreated)
                    .target("taught_object", id)
                    .detail(serde_json::json!({
                        "name": name,
                        "snapshot": req.snapshot_id,
                    })),
            )
            .await?;
        self.get(account, id).await
    }

    /// The account's taught objects, oldest first, each with where it was last found.
    pub async fn list(&self, account: AccountId) -> Result<TaughtObjectList, TaughtError> {
        let objects = self.store.taught_objects(account).await?;
        let at = now();
        Ok(TaughtObjectList {
            taught_objects: objects.iter().map(|o| object_view(o, at)).collect(),
            max: self.config.cameras.taught_objects_per_account,
            threshold: self.matcher.threshold(),
            max_name_chars: self.config.cameras.taught_name_chars,
        })
    }

    /// One of the account's taught objects, named by `id` as written in a path.
    pub async fn find(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<TaughtObjectView, TaughtError> {
        self.get(account, taught_id(id)?).await
    }

    async fn get(&self, account: AccountId, id: Uuid) -> Result<TaughtObjectView, TaughtError> {
        match self.store.taught_object(account, id).await {
            Ok(object) => Ok(object_view(&object, now())),
            Err(StoreError::NotFound) => Err(TaughtError::TaughtObjectNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a taught object; questions find it by its new name from now on.
    pub async fn rename(
        &self,
        caller: &User,
        id: &str,
        req: RenameTaughtRequest,
    ) -> Result<TaughtObjectView, TaughtError> {
        let account = caller.account_id;
        let id = taught_id(id)?;
        self.audit.check()?;
        let (name, name_key) = self.name(&req.name)?;
        match self
            .store
            .rename_taught_object(account, id, &name, &name_key, now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(TaughtError::TaughtObjectNotFound),
            Err(StoreError::Conflict(_)) => return Err(TaughtError::NameTaken),
            Err(e) => return Err(e.into()),
        }
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::TaughtObjectRenamed)
                    .target("taught_object", id)
                    .detail(serde_json::json!({ "name": name })),
            )
            .await?;
        self.get(account, id).await
    }

    /// Deletes a taught object with everywhere it was found; it is no longer looked for.
    pub async fn delete(&self, caller: &User, id: &str) -> Result<(), TaughtError> {
        let account = caller.account_id;
        let id = taught_id(id)?;
        self.audit.check()?;
        match self.store.delete_taught_object(account, id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(TaughtError::TaughtObjectNotFound),
            Err(e) => return Err(e.into()),
        }
        self.matcher.forget(account);
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::TaughtObjectDeleted).target("taught_object", id),
            )
            .await?;
        Ok(())
    }

    /// Starts a look through the kept history for a taught object: the account's newest
    /// snapshots (at most `taught_scan_snapshots`) are matched in the background, one look
    /// per account at a time. Answers the object with the look just started.
    pub async fn scan(&self, caller: &User, id: &str) -> Result<TaughtObjectView, TaughtError> {
        let account = caller.account_id;
        let id = taught_id(id)?;
        self.audit.check()?;
        let template = match self.matcher.template(account, id).await {
            Ok(template) => template,
            Err(crate::taught::matching::TemplateError::Store(StoreError::NotFound)) => {
                return Err(TaughtError::TaughtObjectNotFound);
            }
            Err(crate::taught::matching::TemplateError::Store(e)) => return Err(e.into()),
            Err(crate::taught::matching::TemplateError::Vault(e)) => return Err(e.into()),
            Err(crate::taught::matching::TemplateError::Unreadable(e)) => {
                return Err(TaughtError::Failed(e.to_string()));
            }
        };
        let total = match self.scans.start(account, id, template).await {
            Ok(total) => total,
            Err(StoreError::NotFound) => return Err(TaughtError::TaughtObjectNotFound),
            Err(StoreError::Conflict(_)) => return Err(TaughtError::ScanRunning),
            Err(e) => return Err(e.into()),
        };
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::TaughtObjectScanned)
                    .target("taught_object", id)
                    .detail(serde_json::json!({ "snapshots": total })),
            )
            .await?;
        self.get(account, id).await
    }

    /// The account's taught names, lower case, as phrases a voice grammar may offer beside
    /// the detector's labels ("where are my keys" once "My keys" is taught).
    pub async fn phrases(&self, account: AccountId) -> Result<Vec<String>, TaughtError> {
        let mut phrases: Vec<String> = self
            .store
            .taught_names(account)
            .await?
            .into_iter()
            .map(|(_, name)| object_query::name_key(&name))
            .filter(|phrase| !phrase.is_empty())
            .collect();
        phrases.sort();
        phrases.dedup();
        Ok(phrases)
    }

    /// A name as given (trimmed) and its key, if it is one a taught object may have.
    fn name(&self, raw: &str) -> Result<(String, String), TaughtError> {
        let max = self.config.cameras.taught_name_chars;
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
            return Err(TaughtError::InvalidName(format!(
                "a taught object's name has 1 to {max} characters, none of them control characters"
            )));
        }
        if !object_query::is_searchable_name(name) {
            return Err(TaughtError::InvalidName(
                "a name needs a word besides ones like \u{201c}my\u{201d} or \u{201c}the\u{201d}, \
                 so a question can name it"
                    .into(),
            ));
        }
        Ok((name.to_owned(), object_query::name_key(name)))
    }
}

/// A path's taught object id; malformed ones are simply not found.
fn taught_id(s: &str) -> Result<Uuid, TaughtError> {
    s.parse().map_err(|_| TaughtError::TaughtObjectNotFound)
}

/// The box as the matcher takes it, if it lies on the picture and has a size. (Whether it
/// is large enough to describe is the matcher's to say.)
fn check_box(b: &BoxView) -> Result<BBox, TaughtError> {
    // A box a hair past an edge is a rounding of a box drawn to the edge.
    const SLACK: f64 = 1e-6;
    let finite = [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite());
    let inside = b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 1.0 + SLACK && b.y + b.h <= 1.0 + SLACK;
    if !finite || b.w <= 0.0 || b.h <= 0.0 {
        return Err(TaughtError::InvalidBox(
            "the box must have a width and a height above 0".into(),
        ));
    }
    if !inside {
        return Err(TaughtError::InvalidBox(
            "the box must lie on the picture: x, y, w and h are fractions of it (0 to 1)".into(),
        ));
    }
    Ok(BBox {
        x: b.x as f32,
        y: b.y as f32,
        w: (b.w.min(1.0 - b.x)) as f32,
        h: (b.h.min(1.0 - b.y)) as f32,
    })
}

/// What making a template's failure means to the caller.
fn template_error(e: VisionError) -> TaughtError {
    match e {
        VisionError::BadBox(why) => TaughtError::InvalidBox(why),
        VisionError::Decode(_) | VisionError::TooLarge { .. } => {
            TaughtError::Undecodable(e.to_string())
        }
        other => TaughtError::Failed(other.to_string()),
    }
}

fn box_view(b: &NormalizedBox) -> BoxView {
    BoxView {
        x: b.x,
        y: b.y,
        w: b.w,
        h: b.h,
    }
}

/// Where a taught object was found, as the API shows it.
pub fn match_view(hit: &TaughtHit) -> TaughtMatchView {
    let id = hit.snapshot_id;
    TaughtMatchView {
        snapshot_id: id,
        camera: CameraRef {
            id: hit.camera_id,
            name: hit.camera_name.clone(),
        },
        taken_at: hit.taken_at,
        score: hit.score,
        bbox: box_view(&hit.bbox),
        image_url: format!("/api/v1/snapshots/{id}.jpg"),
        thumb_url: format!("/api/v1/snapshots/{id}/thumb.jpg"),
    }
}

fn scan_view(scan: &ScanProgress, at: Timestamp) -> ScanView {
    let stale = chrono::Duration::from_std(STALE_AFTER)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .is_some_and(|cutoff| scan.updated_at < cutoff);
    let state = match scan.finished_at {
        Some(_) => ScanState::Done,
        None if stale => ScanState::Interrupted,
        None => ScanState::Running,
    };
    ScanView {
        state,
        total: scan.total,
        scanned: scan.scanned,
        found: scan.found,
        started_at: scan.started_at,
        finished_at: scan.finished_at,
    }
}

fn object_view(o: &TaughtObject, at: Timestamp) -> TaughtObjectView {
    TaughtObjectView {
        id: o.id,
        name: o.name.clone(),
        snapshot_id: o.snapshot_id,
        bbox: box_view(&o.bbox),
        created_at: o.created_at,
        updated_at: o.updated_at,
        matches: o.matches,
        latest_match: o.latest_match.as_ref().map(match_view),
        scan: o.scan.as_ref().map(|s| scan_view(s, at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f64, y: f64, w: f64, h: f64) -> BoxView {
        BoxView { x, y, w, h }
    }

    #[test]
    fn boxes_must_lie_on_the_picture_and_have_a_size() {
        assert!(check_box(&b(0.1, 0.2, 0.3, 0.4)).is_ok());
        assert!(check_box(&b(0.0, 0.0, 1.0, 1.0)).is_ok());
        // Drawn to the edge, rounded a hair past it: clipped, not refused.
        let edge = check_box(&b(0.5, 0.5, 0.500_000_1, 0.5)).unwrap();
        assert!(edge.x + edge.w <= 1.0);
        for bad in [
            b(0.1, 0.1, 0.0, 0.2),
            b(0.1, 0.1, 0.2, -0.1),
            b(-0.1, 0.1, 0.2, 0.2),
            b(0.9, 0.1, 0.2, 0.2),
            b(0.1, 0.95, 0.2, 0.2),
            b(f64::NAN, 0.1, 0.2, 0.2),
            b(0.1, 0.1, f64::INFINITY, 0.2),
        ] {
            assert!(
                matches!(check_box(&bad), Err(TaughtError::InvalidBox(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_look_that_stopped_reporting_is_interrupted() {
        let start = chrono::Utc::now();
        let scan = ScanProgress {
            started_at: start,
            updated_at: start,
            finished_at: None,
            total: 10,
            scanned: 3,
            found: 1,
        };
        assert_eq!(scan_view(&scan, start).state, ScanState::Running);
        let later = start + chrono::Duration::seconds(3600);
        assert_eq!(scan_view(&scan, later).state, ScanState::Interrupted);
        let done = ScanProgress {
            finished_at: Some(start),
            ..scan
        };
        assert_eq!(scan_view(&done, later).state, ScanState::Done);
    }
}
