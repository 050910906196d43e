//! Looks through the kept history for a taught object, on request: the account's newest
//! snapshots (at most `taught_scan_snapshots`) are read in small batches and matched one by
//! one on a decoding slot, so a look shares the node's bound on decodes with thumbnails.
//! Progress is stored after every batch, so any node can show it; a look whose progress
//! stops (its node stopped) counts as interrupted after [`STALE_AFTER`], and may be asked for
//! again. One look at a time per account.

use super::cache::TemplateSet;
use super::matching::{Found, TaughtMatcher, find_all};
use crate::decode_slots::DecodeSlots;
use crate::live::now;
use crate::vault::{Object, Vault};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{AccountId, Timestamp};
use switchboard_store::{Store, StoreError};
use switchboard_vision::Template;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Snapshots read from the store at a time (each with its picture).
const BATCH: u32 = 8;
/// A look that has not stored progress for this long was interrupted.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// The node's looks through the history.
pub struct HistoryScans {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    matcher: Arc<TaughtMatcher>,
    decodes: DecodeSlots,
    /// The most snapshots one look reads.
    cap: u64,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for HistoryScans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryScans")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// Where a look stands, as it goes.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    scanned: u64,
    found: u64,
}

impl HistoryScans {
    /// Looks that read at most `cap` snapshots each, run as tasks of `tracker` that stop
    /// with `shutdown`.
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        matcher: Arc<TaughtMatcher>,
        decodes: DecodeSlots,
        cap: u64,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> HistoryScans {
        HistoryScans {
            store,
            vault,
            matcher,
            decodes,
            cap,
            tracker,
            shutdown,
        }
    }

    /// Starts a look for the account's taught object `id`, whose template is given: stored
    /// as running first (`Conflict` while another of the account's runs, `NotFound` if the
    /// object is gone), then run in the background. Returns how many snapshots it reads.
    pub async fn start(
        self: &Arc<Self>,
        account: AccountId,
        id: Uuid,
        template: Template,
    ) -> Result<u64, StoreError> {
        let total = self.store.history_size(account, self.cap).await?;
        let started = now();
        let stale_before = chrono::Duration::from_std(STALE_AFTER)
            .ok()
            .and_then(|d| started.checked_sub_signed(d))
            .unwrap_or(started);
        self.store
            .start_taught_scan(account, id, total, started, stale_before)
            .await?;
        let templates = Arc::new(TemplateSet::new(vec![id], vec![(id, template)]));
        let this = Arc::clone(self);
        self.tracker.spawn(async move {
            let shutdown = this.shutdown.clone();
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Left unfinished on purpose: it shows as interrupted once stale.
                    tracing::info!(taught_object = %id, "look through the history stopped with the node");
                }
                done = this.run(account, id, total, templates) => match done {
                    Ok(tally) => tracing::info!(taught_object = %id, scanned = tally.scanned, found = tally.found, "look through the history done"),
                    Err(e) => tracing::warn!(error = %e, taught_object = %id, "look through the history failed"),
                },
            }
        });
        Ok(total)
    }

    async fn run(
        &self,
        account: AccountId,
        id: Uuid,
        total: u64,
        templates: Arc<TemplateSet>,
    ) -> Result<Tally, StoreError> {
        let mut tally = Tally::default();
        let mut after: Option<(Timestamp, Uuid)> = None;
        while tally.scanned < total {
            let left = u32::try_from(total - tally.scanned).unwrap_or(u32::MAX);
            let batch = self
                .store
                .history_snapshots(account, after, BATCH.min(left))
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some((last.taken_at, last.id));
            for snap in batch {
                tally.scanned += 1;
                let Ok(jpeg) = self
                    .vault
                    .open(account, Object::Snapshot(snap.id), &snap.jpeg)
                    .await
                else {
                    // Counted and logged by the vault; the look goes on.
                    continue;
                };
                let jpeg = jpeg.to_vec();
                let set = Arc::clone(&templates);
                let (threshold, max_pixels) = (self.matcher.threshold(), self.matcher.max_pixels());
                let found: Vec<Found> = match self
                    .decodes
                    .run(None, move || find_all(&jpeg, &set, threshold, max_pixels))
                    .await
                {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e, snapshot = %snap.id, "cannot look at a snapshot");
                        continue;
                    }
                };
                if !found.is_empty() {
                    tally.found += 1;
                    self.matcher.keep(snap.id, found).await;
                }
            }
            // Gone (deleted meanwhile) ends the look; the store says NotFound.
            self.store
                .taught_scan_progress(id, tally.scanned, tally.found, now(), false)
                .await?;
        }
        self.store
            .taught_scan_progress(id, tally.scanned, tally.found, now(), true)
            .await?;
        Ok(tally)
    }
}
