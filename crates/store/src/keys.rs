//! Encryption at rest, as the database sees it: each account's data keys (opaque bytes,
//! wrapped by a master key the database never sees), and the stored blobs re-encryption
//! walks over. The store never encrypts or decrypts anything: it keeps bytes and the version
//! of the data key they were sealed with (`NULL`: stored plain).

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::{AccountId, Timestamp};
use uuid::Uuid;

/// One version of an account's data key, as stored: wrapped by a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub account_id: AccountId,
    /// 1 for an account's first key; each rotation adds one.
    pub version: u32,
    /// The data key sealed with the master key.
    pub wrapped: Vec<u8>,
    /// The fingerprint of the master key that wrapped it.
    pub master_key_id: String,
    pub created_at: Timestamp,
}

/// A snapshot's stored blobs, as re-encryption reads and rewrites them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlobs {
    pub id: Uuid,
    pub account_id: AccountId,
    pub jpeg: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    /// The data key version both are sealed with; `None`: stored plain.
    pub key_version: Option<u32>,
}

/// A cell file's stored content, as re-encryption reads and rewrites it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellFileBlob {
    pub cell_id: Uuid,
    /// The account of the file's cell.
    pub account_id: AccountId,
    pub name: String,
    pub content: Vec<u8>,
    /// The data key version it is sealed with; `None`: stored plain.
    pub key_version: Option<u32>,
}

/// Which stored objects a re-encryption pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Every account's objects stored plain.
    Plain,
    /// One account's objects stored plain or under a data key version below `version`.
    Below { account: AccountId, version: u32 },
}

/// How many objects of an account one data key version (or none: plain) seals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub account_id: AccountId,
    pub key_version: Option<u32>,
    pub snapshots: u64,
    pub cell_files: u64,
    /// Taught objects' templates.
    pub taught_objects: u64,
}

/// Data keys and re-encryption, part of every [`crate::Store`].
///
/// Guarantees: an account's data key versions are unique (`Conflict` for a second insert of
/// one, so nodes racing to make an account's first key get one winner); `rewrap_data_keys`
/// changes every key or none; a reseal is a conditional write that changes nothing when the
/// object changed since it was read (another node resealed it, or it was replaced), so
/// passes may run on several nodes at once; a data key version is deleted only while no
/// object uses it.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// An account's data keys, oldest version first.
    async fn data_keys(&self, account: AccountId) -> Result<Vec<WrappedKey>>;

    /// Every account's data keys, by account and version.
    async fn all_data_keys(&self) -> Result<Vec<WrappedKey>>;

    /// One stored data key of any account, if there is any: what start-up tries the master
    /// key on.
    async fn any_data_key(&self) -> Result<Option<WrappedKey>>;

    /// Stores a new version of an account's data key. `Conflict` if the version exists;
    /// `NotFound` if the account does not.
    async fn insert_data_key(&self, key: &WrappedKey) -> Result<()>;

    /// Replaces the wrapping of every data key in one transaction (master key rotation):
    /// `keys` must name every stored key, each wrapped now by the new master key. `Conflict`,
    /// and nothing changes, when a stored key is missing from `keys` or is not wrapped by
    /// `from_master` (another rotation got there first).
    async fn rewrap_data_keys(&self, from_master: &str, keys: &[WrappedKey]) -> Result<()>;

    /// Deletes a data key version if no snapshot, cell file or taught object of the account
    /// uses it.
    /// Returns whether it was deleted.
    async fn delete_unused_data_key(&self, account: AccountId, version: u32) -> Result<bool>;

    /// Snapshots to re-encrypt, by id after `after`, at most `limit`.
    async fn stale_snapshots(
        &self,
        which: Stale,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SnapshotBlobs>>;

    /// Replaces a snapshot's blobs and key version if they are still those of `old`.
    /// Returns whether it did.
    async fn reseal_snapshot(&self, old: &SnapshotBlobs, new: &SnapshotBlobs) -> Result<bool>;

    /// Cell files to re-encrypt, by (cell id, name) after `after`, at most `limit`.
    async fn stale_cell_files(
        &self,
        which: Stale,
        after: &(String, String),
        limit: u32,
    ) -> Result<Vec<CellFileBlob>>;

    /// Replaces a cell file's content and key version if they are still those of `old`.
    /// Returns whether it did.
    async fn reseal_cell_file(&self, old: &CellFileBlob, new: &CellFileBlob) -> Result<bool>;

    /// Objects per account and key version (`None`: plain), by account and version.
    async fn key_usage(&self) -> Result<Vec<KeyUsage>>;
}
