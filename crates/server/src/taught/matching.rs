//! Looking for an account's taught objects in a picture, and keeping where they were found.
//!
//! One `Scene` is prepared per picture and every template is looked for in it. With a
//! detector, this runs on the detector's thread right after the detection
//! ([`TaughtMatcher::after_detection`]), so it shares the detector's bound on threads; without
//! one, on a decoding slot ([`TaughtMatcher::find_now`]).

use super::cache::{TemplateCache, TemplateSet};
use crate::config::Config;
use crate::decode_slots::DecodeSlots;
use crate::vault::{Object, Vault};
use bytes::Bytes;
use std::sync::Arc;
use switchboard_core::AccountId;
use switchboard_store::{NewTaughtMatch, NormalizedBox, Store, StoreError};
use switchboard_vision::{AfterDetection, BBox, Scene, Template, TemplateMatch, VisionError};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Accounts whose templates are kept decoded at once.
const CACHED_ACCOUNTS: usize = 1024;

/// One taught object found in one picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub taught_object_id: Uuid,
    pub matched: TemplateMatch,
}

/// Why a taught object's template could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored template did not open (`data_integrity`), or its key could not be had.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// The template opened but is not one this matcher reads (a newer or damaged format).
    #[error("the stored template cannot be read: {0}")]
    Unreadable(#[from] VisionError),
}

/// The node's matcher of taught objects.
pub struct TaughtMatcher {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    cache: TemplateCache,
    decodes: DecodeSlots,
    threshold: f32,
    max_pixels: u64,
}

impl std::fmt::Debug for TaughtMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaughtMatcher")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl TaughtMatcher {
    /// A matcher with the configured threshold (`taught_match_threshold`, else the vision
    /// crate's measured default) and pixel bound.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        decodes: DecodeSlots,
    ) -> TaughtMatcher {
        TaughtMatcher {
            store,
            vault,
            cache: TemplateCache::new(CACHED_ACCOUNTS),
            decodes,
            threshold: config
                .cameras
                .taught_match_threshold
                .unwrap_or(switchboard_vision::DEFAULT_MATCH_THRESHOLD),
            max_pixels: config.cameras.max_image_pixels,
        }
    }

    /// The similarity a match must reach.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The largest picture decoded.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// The account's templates, or `None` when it has taught nothing (or they cannot be read
    /// now: matching is then skipped for this picture, which is logged).
    pub async fn templates(&self, account: AccountId) -> Option<Arc<TemplateSet>> {
        let ids: Vec<Uuid> = match self.store.taught_names(account).await {
            Ok(named) => named.into_iter().map(|(id, _)| id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, %account, "cannot read taught objects; not looked for");
                return None;
            }
        };
        if ids.is_empty() {
            self.cache.forget(account);
            return None;
        }
        if let Some(set) = self.cache.get(account, &ids) {
            return Some(set);
        }
        let stored = match self.store.taught_templates(account, None).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, %account, "cannot read templates; not looked for");
                return None;
            }
        };
        let mut templates = Vec::with_capacity(stored.len());
        for row in stored {
            match self.open(account, row.id, &row.template).await {
                Ok(template) => templates.push((row.id, template)),
                // Counted and logged by the vault when it does not open.
                Err(e) => {
                    tracing::warn!(error = %e, taught_object = %row.id, "a template cannot be used")
                }
            }
        }
        let set = Arc::new(TemplateSet::new(ids, templates));
        self.cache.put(account, Arc::clone(&set));
        Some(set)
    }

    /// One taught object's template.
    pub async fn template(&self, account: AccountId, id: Uuid) -> Result<Template, TemplateError> {
        let stored = self
            .store
            .taught_templates(account, Some(id))
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?;
        self.open(account, id, &stored.template).await
    }

    async fn open(
        &self,
        account: AccountId,
        id: Uuid,
        stored: &switchboard_store::StoredBlob,
    ) -> Result<Template, TemplateError> {
        let plain = self
            .vault
            .open(account, Object::TaughtTemplate(id), stored)
            .await?;
        Ok(Template::from_bytes(&plain)?)
    }

    /// Forgets the account's decoded templates: its taught objects changed, or it is gone.
    pub fn forget(&self, account: AccountId) {
        self.cache.forget(account);
    }

    /// Work for the detector's thread: looks for every template in the picture just
    /// detected, and sends what it found on the receiver.
    pub fn after_detection(
        &self,
        templates: Arc<TemplateSet>,
    ) -> (AfterDetection, oneshot::Receiver<Vec<Found>>) {
        let (tx, rx) = oneshot::channel();
        let (threshold, max_pixels) = (self.threshold, self.max_pixels);
        let then: AfterDetection = Box::new(move |jpeg: &[u8]| {
            let _ = tx.send(find_all(jpeg, &templates, threshold, max_pixels));
        });
        (then, rx)
    }

    /// Looks for every template in the picture on a decoding slot (no detector: nothing else
    /// decodes it), waiting for a slot as long as it takes.
    pub async fn find_now(&self, templates: Arc<TemplateSet>, jpeg: Bytes) -> Vec<Found> {
        let (threshold, max_pixels) = (self.threshold, self.max_pixels);
        match self
            .decodes
            .run(None, move || {
                find_all(&jpeg, &templates, threshold, max_pixels)
            })
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for taught objects");
                Vec::new()
            }
        }
    }

    /// Keeps where taught objects were found in a snapshot. A failure only logs: the
    /// snapshot itself is kept either way.
    pub async fn keep(&self, snapshot: Uuid, found: Vec<Found>) {
        if found.is_empty() {
            return;
        }
        let matches: Vec<NewTaughtMatch> = found.iter().map(to_stored).collect();
        match self
            .store
            .insert_taught_matches(snapshot, &matches, crate::live::now())
            .await
        {
            Ok(kept) => crate::metrics::taught_matches(kept),
            // Dropped meanwhile (retention, a duplicate): nothing to keep.
            Err(StoreError::NotFound) => {}
            Err(e) => {
                tracing::warn!(error = %e, %snapshot, "cannot store where taught objects were found")
            }
        }
    }
}

/// Every template found in the picture at or above `threshold`. A picture that does not
/// decode has none (its detection says why).
pub fn find_all(
    jpeg: &[u8],
    templates: &TemplateSet,
    threshold: f32,
    max_pixels: u64,
) -> Vec<Found> {
    if templates.templates().is_empty() {
        return Vec::new();
    }
    let scene = match Scene::from_jpeg(jpeg, max_pixels) {
        Ok(scene) => scene,
        Err(e) => {
            tracing::debug!(error = %e, "no scene to look for taught objects in");
            return Vec::new();
        }
    };
    templates
        .templates()
        .iter()
        .filter_map(|(id, template)| {
            scene.find(template, threshold).map(|matched| Found {
                taught_object_id: *id,
                matched,
            })
        })
        .collect()
}

/// A box as the store keeps it.
pub fn stored_box(b: &BBox) -> NormalizedBox {
    NormalizedBox {
        x: f64::from(b.x),
        y: f64::from(b.y),
        w: f64::from(b.w),
        h: f64::from(b.h),
    }
}

fn to_stored(found: &Found) -> NewTaughtMatch {
    NewTaughtMatch {
        taught_object_id: found.taught_object_id,
        score: f64::from(found.matched.score),
        bbox: stored_box(&found.matched.bbox),
    }
}
