//! Taught objects: things a user boxed on a snapshot and named ("my keys"), the matcher's
//! template of each (sealed, like pictures), and the snapshots they were found in.

use crate::error::Result;
use crate::keys::Stale;
use crate::types::StoredBlob;
use async_trait::async_trait;
use switchboard_core::{AccountId, Timestamp};
use uuid::Uuid;

/// A box normalized to its picture (0..1, top-left origin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalizedBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A taught object as it is first stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTaughtObject {
    pub id: Uuid,
    pub account_id: AccountId,
    pub name: String,
    /// The name as compared (unique per account).
    pub name_key: String,
    /// The template as stored: sealed, or plain when its `key_version` is `None`.
    pub template: StoredBlob,
    /// The snapshot it was taught on.
    pub snapshot_id: Uuid,
    /// Where on that snapshot.
    pub bbox: NormalizedBox,
    pub created_at: Timestamp,
}

/// What [`TaughtStore::create_taught_object`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taught {
    /// Stored.
    Created,
    /// Not stored: the account already has `max` taught objects.
    Full { max: u32 },
}

/// The newest look through the kept history for one taught object.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanProgress {
    pub started_at: Timestamp,
    /// When it last reported progress (a scan that stops reporting was interrupted).
    pub updated_at: Timestamp,
    /// `None` while it runs.
    pub finished_at: Option<Timestamp>,
    /// Snapshots it looks at in all.
    pub total: u64,
    /// Snapshots looked at so far.
    pub scanned: u64,
    /// Snapshots the object was found in so far.
    pub found: u64,
}

/// Where a taught object was found: one snapshot, with the best place and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct TaughtHit {
    pub taught_object_id: Uuid,
    /// The object's name now.
    pub name: String,
    pub snapshot_id: Uuid,
    pub camera_id: Uuid,
    pub camera_name: String,
    pub taken_at: Timestamp,
    /// Similarity, 0..1.
    pub score: f64,
    pub bbox: NormalizedBox,
}

/// A taught object as its account lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaughtObject {
    pub id: Uuid,
    pub account_id: AccountId,
    pub name: String,
    /// The snapshot it was taught on, while that snapshot is kept.
    pub snapshot_id: Option<Uuid>,
    pub bbox: NormalizedBox,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Snapshots it has been found in (of those kept).
    pub matches: u64,
    /// The newest of them.
    pub latest_match: Option<TaughtHit>,
    /// The newest look through the kept history, if one was asked for.
    pub scan: Option<ScanProgress>,
}

/// A taught object's template as stored, for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaughtTemplate {
    pub id: Uuid,
    pub template: StoredBlob,
}

/// Where one taught object was found in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewTaughtMatch {
    pub taught_object_id: Uuid,
    pub score: f64,
    pub bbox: NormalizedBox,
}

/// What to read of an account's taught matches.
#[derive(Debug, Clone, PartialEq)]
pub struct TaughtSearch {
    pub account_id: AccountId,
    /// Taught objects; any of them matches. Empty matches nothing.
    pub taught_object_ids: Vec<Uuid>,
    pub camera_id: Option<Uuid>,
    /// Inclusive lower bound on `taken_at`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `taken_at`.
    pub until: Option<Timestamp>,
    pub limit: u32,
}

/// A kept snapshot's picture as a look through the history reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySnapshot {
    pub id: Uuid,
    pub taken_at: Timestamp,
    /// The picture as stored, with the key version that sealed it.
    pub jpeg: StoredBlob,
}

/// A taught object's stored template, as re-encryption reads and rewrites it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaughtBlob {
    pub id: Uuid,
    pub account_id: AccountId,
    pub template: Vec<u8>,
    /// The data key version it is sealed with; `None`: stored plain.
    pub key_version: Option<u32>,
}

/// Taught object storage, part of every [`crate::Store`].
///
/// Guarantees: every read and write that names an account sees only that account's rows
/// (another account's object or snapshot is `NotFound`); `create_taught_object` counts the
/// account's objects with the new one in the same transaction (serialized per account on
/// PostgreSQL), so racing creations never pass the maximum; names are unique per account
/// by their key (`Conflict`); a match is stored only for an object and a snapshot of the
/// same account that both still exist, once per pair (a later one replaces it); matches go
/// with their object and their snapshot, and the object outlives its snapshot.
#[async_trait]
pub trait TaughtStore: Send + Sync {
    /// Stores a taught object taught on a snapshot of its account, unless the account has
    /// `max` already. `NotFound` if the snapshot is not the account's; `Conflict` if the
    /// name is taken.
    async fn create_taught_object(&self, object: &NewTaughtObject, max: u32) -> Result<Taught>;

    /// An account's taught objects, oldest first, each with its newest match.
    async fn taught_objects(&self, account: AccountId) -> Result<Vec<TaughtObject>>;

    /// One taught object of an account.
    async fn taught_object(&self, account: AccountId, id: Uuid) -> Result<TaughtObject>;

    /// Renames a taught object. `Conflict` if the name is taken by another.
    async fn rename_taught_object(
        &self,
        account: AccountId,
        id: Uuid,
        name: &str,
        name_key: &str,
        at: Timestamp,
    ) -> Result<()>;

    /// Deletes a taught object with its matches.
    async fn delete_taught_object(&self, account: AccountId, id: Uuid) -> Result<()>;

    /// An account's taught objects as ids and names, sorted by id: what questions are read
    /// against and a cache of templates is checked against.
    async fn taught_names(&self, account: AccountId) -> Result<Vec<(Uuid, String)>>;

    /// An account's templates (all, or the one `only` names), sorted by id.
    async fn taught_templates(
        &self,
        account: AccountId,
        only: Option<Uuid>,
    ) -> Result<Vec<TaughtTemplate>>;

    /// Stores where taught objects were found in a snapshot (replacing earlier matches of the
    /// same object there). Matches of objects deleted meanwhile, or of another account, are
    /// left out. Returns how many were stored; `NotFound` if the snapshot is gone.
    async fn insert_taught_matches(
        &self,
        snapshot: Uuid,
        matches: &[NewTaughtMatch],
        at: Timestamp,
    ) -> Result<u64>;

    /// Snapshots the objects were found in, newest first, one hit per object and snapshot.
    async fn taught_hits(&self, search: &TaughtSearch) -> Result<Vec<TaughtHit>>;

    /// The taught objects found in one snapshot of the account, best first.
    async fn snapshot_taught_hits(
        &self,
        account: AccountId,
        snapshot: Uuid,
    ) -> Result<Vec<TaughtHit>>;

    /// How many snapshots of the account a look through the history would read (those not
    /// failed), at most `cap`.
    async fn history_size(&self, account: AccountId, cap: u64) -> Result<u64>;

    /// Kept snapshots of the account (not failed) with their pictures, newest first, those
    /// after `after` (a `(taken_at, id)` cursor), at most `limit`.
    async fn history_snapshots(
        &self,
        account: AccountId,
        after: Option<(Timestamp, Uuid)>,
        limit: u32,
    ) -> Result<Vec<HistorySnapshot>>;

    /// Starts a look through the history for a taught object: `Conflict` while one of the
    /// account's objects has a look unfinished that reported progress since `stale_before`
    /// (one at a time per account; a look that stopped reporting was interrupted).
    async fn start_taught_scan(
        &self,
        account: AccountId,
        id: Uuid,
        total: u64,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> Result<()>;

    /// Records a look's progress, and its end when `finished`.
    async fn taught_scan_progress(
        &self,
        id: Uuid,
        scanned: u64,
        found: u64,
        now: Timestamp,
        finished: bool,
    ) -> Result<()>;

    /// Templates to re-encrypt, by id after `after`, at most `limit`.
    async fn stale_taught_templates(
        &self,
        which: Stale,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TaughtBlob>>;

    /// Replaces a template and its key version if they are still those of `old`. Returns
    /// whether it did.
    async fn reseal_taught_template(&self, old: &TaughtBlob, new: &TaughtBlob) -> Result<bool>;
}
