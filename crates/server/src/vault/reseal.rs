//! The re-encryption task: seals what is stored plain (snapshots, cell files and taught
//! objects' templates of earlier releases, or stored while encryption was off), moves an account's objects from older data key
//! versions to its newest (after `switchboard admin keys rotate --account`), and deletes a
//! retired version once nothing uses it.
//!
//! It works in batches and keeps no progress of its own: what is left is exactly the objects
//! still plain or under an older version, so after a crash or restart it carries on where the
//! database says. Each write is conditional on the object being unchanged since it was read,
//! so nodes of a cluster may run it at once and uploads go on meanwhile; reads work
//! throughout (a plain object is served as it is).

use super::object::Object;
use super::{Vault, VaultError, keyring};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{AccountId, Timestamp};
use switchboard_store::{CellFileBlob, SnapshotBlobs, Stale, Store, StoredBlob, TaughtBlob};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Objects read and rewritten per batch.
pub const BATCH: u32 = 64;
/// How often the task looks for work without being asked.
const EVERY: Duration = Duration::from_secs(300);
/// How long after a newer version appears an older one may be deleted: every node must
/// have stopped sealing with it (each re-reads the newest version within `CURRENT_TTL`).
const RETIRE_AFTER: Duration = Duration::from_secs(2 * keyring::CURRENT_TTL.as_secs());

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Objects sealed that were plain.
    pub sealed: u64,
    /// Objects moved to their account's newest key.
    pub rotated: u64,
    /// Objects that could not be opened (counted as integrity errors) and were left as they are.
    pub failed: u64,
    /// Retired key versions deleted.
    pub retired: u64,
}

/// The node's re-encryption task.
pub struct Resealer {
    vault: Arc<Vault>,
    store: Arc<dyn Store>,
    wake: Notify,
}

impl std::fmt::Debug for Resealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resealer").finish_non_exhaustive()
    }
}

impl Resealer {
    pub fn new(vault: Arc<Vault>, store: Arc<dyn Store>) -> Resealer {
        Resealer {
            vault,
            store,
            wake: Notify::new(),
        }
    }

    /// Asks for a pass now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs a pass at start, when woken, and every few minutes, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                done = self.pass(chrono::Utc::now()) => match done {
                    Ok(done) if done != Resealed::default() => {
                        tracing::info!(?done, "re-encryption pass");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "re-encryption pass failed; trying again later"),
                },
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    }

    /// One pass over everything left to do, as of `now`. Tests call it directly.
    pub async fn pass(&self, now: Timestamp) -> Result<Resealed, VaultError> {
        let mut done = Resealed::default();
        if !self.vault.encrypting() {
            return Ok(done);
        }
        self.snapshots(Stale::Plain, &mut done).await?;
        self.cell_files(Stale::Plain, &mut done).await?;
        self.taught_templates(Stale::Plain, &mut done).await?;
        let mut versions: BTreeMap<AccountId, Vec<(u32, Timestamp)>> = BTreeMap::new();
        for key in self.store.all_data_keys().await? {
            versions
                .entry(key.account_id)
                .or_default()
                .push((key.version, key.created_at));
        }
        for (account, keys) in versions {
            let Some(&(newest, since)) = keys.iter().max_by_key(|(v, _)| *v) else {
                continue;
            };
            if keys.len() < 2 {
                continue;
            }
            let stale = Stale::Below {
                account,
                version: newest,
            };
            self.snapshots(stale, &mut done).await?;
            self.cell_files(stale, &mut done).await?;
            self.taught_templates(stale, &mut done).await?;
            let settled = chrono::Duration::from_std(RETIRE_AFTER)
                .ok()
                .and_then(|d| since.checked_add_signed(d))
                .is_some_and(|at| at <= now);
            if !settled {
                continue;
            }
            for &(version, _) in keys.iter().filter(|(v, _)| *v < newest) {
                if self.store.delete_unused_data_key(account, version).await? {
                    self.vault.keyring().forget_version(account, version);
                    tracing::info!(%account, version, "retired data key deleted");
                    done.retired += 1;
                }
            }
        }
        Ok(done)
    }

    async fn snapshots(&self, which: Stale, done: &mut Resealed) -> Result<(), VaultError> {
        let target = target_of(which);
        let mut after = String::new();
        loop {
            let batch = self.store.stale_snapshots(which, &after, BATCH).await?;
            for old in &batch {
                match self.reseal_snapshot(old, target).await {
                    Ok(true) => count(done, old.key_version),
                    Ok(false) => {}
                    Err(VaultError::Integrity { .. }) => done.failed += 1,
                    Err(e) => return Err(e),
                }
            }
            match batch.last() {
                Some(last) if batch.len() == BATCH as usize => after = last.id.to_string(),
                _ => return Ok(()),
            }
            tokio::task::yield_now().await;
        }
    }

    async fn reseal_snapshot(
        &self,
        old: &SnapshotBlobs,
        target: Option<u32>,
    ) -> Result<bool, VaultError> {
        let account = old.account_id;
        let jpeg = self
            .vault
            .open(
                account,
                Object::Snapshot(old.id),
                &stored(&old.jpeg, old.key_version),
            )
            .await?;
        let sealed = self
            .seal(account, Object::Snapshot(old.id), &jpeg, target)
            .await?;
        let signature = match &old.signature {
            Some(signature) => {
                let plain = self
                    .vault
                    .open(
                        account,
                        Object::Signature(old.id),
                        &stored(signature, old.key_version),
                    )
                    .await?;
                let resealed = self
                    .vault
                    .seal_as(
                        account,
                        Object::Signature(old.id),
                        &plain,
                        sealed.key_version,
                    )
                    .await?;
                Some(resealed.bytes)
            }
            None => None,
        };
        let new = SnapshotBlobs {
            jpeg: sealed.bytes,
            signature,
            key_version: sealed.key_version,
            ..old.clone()
        };
        Ok(self.store.reseal_snapshot(old, &new).await?)
    }

    async fn seal(
        &self,
        account: AccountId,
        object: Object<'_>,
        plain: &[u8],
        target: Option<u32>,
    ) -> Result<StoredBlob, VaultError> {
        match target {
            Some(version) => {
                self.vault
                    .seal_as(account, object, plain, Some(version))
                    .await
            }
            None => self.vault.seal(account, object, plain).await,
        }
    }

    async fn cell_files(&self, which: Stale, done: &mut Resealed) -> Result<(), VaultError> {
        let target = target_of(which);
        let mut after = (String::new(), String::new());
        loop {
            let batch = self.store.stale_cell_files(which, &after, BATCH).await?;
            for old in &batch {
                match self.reseal_cell_file(old, target).await {
                    Ok(true) => count(done, old.key_version),
                    Ok(false) => {}
                    Err(VaultError::Integrity { .. }) => done.failed += 1,
                    Err(e) => return Err(e),
                }
            }
            match batch.last() {
                Some(last) if batch.len() == BATCH as usize => {
                    after = (last.cell_id.to_string(), last.name.clone());
                }
                _ => return Ok(()),
            }
            tokio::task::yield_now().await;
        }
    }

    async fn reseal_cell_file(
        &self,
        old: &CellFileBlob,
        target: Option<u32>,
    ) -> Result<bool, VaultError> {
        let object = Object::CellFile {
            cell: old.cell_id,
            name: &old.name,
        };
        let plain = self
            .vault
            .open(
                old.account_id,
                object,
                &stored(&old.content, old.key_version),
            )
            .await?;
        let sealed = self.seal(old.account_id, object, &plain, target).await?;
        let new = CellFileBlob {
            content: sealed.bytes,
            key_version: sealed.key_version,
            ..old.clone()
        };
        Ok(self.store.reseal_cell_file(old, &new).await?)
    }

    async fn taught_templates(&self, which: Stale, done: &mut Resealed) -> Result<(), VaultError> {
        let target = target_of(which);
        let mut after = String::new();
        loop {
            let batch = self
                .store
                .stale_taught_templates(which, &after, BATCH)
                .await?;
            for old in &batch {
                match self.reseal_taught_template(old, target).await {
                    Ok(true) => count(done, old.key_version),
                    Ok(false) => {}
                    Err(VaultError::Integrity { .. }) => done.failed += 1,
                    Err(e) => return Err(e),
                }
            }
            match batch.last() {
                Some(last) if batch.len() == BATCH as usize => after = last.id.to_string(),
                _ => return Ok(()),
            }
            tokio::task::yield_now().await;
        }
    }

    async fn reseal_taught_template(
        &self,
        old: &TaughtBlob,
        target: Option<u32>,
    ) -> Result<bool, VaultError> {
        let object = Object::TaughtTemplate(old.id);
        let plain = self
            .vault
            .open(
                old.account_id,
                object,
                &stored(&old.template, old.key_version),
            )
            .await?;
        let sealed = self.seal(old.account_id, object, &plain, target).await?;
        let new = TaughtBlob {
            template: sealed.bytes,
            key_version: sealed.key_version,
            ..old.clone()
        };
        Ok(self.store.reseal_taught_template(old, &new).await?)
    }
}

/// The version a pass seals with: the account's newest for a rotation (named, not taken from
/// a node's memory, which may lag), whatever is newest for plain objects.
fn target_of(which: Stale) -> Option<u32> {
    match which {
        Stale::Plain => None,
        Stale::Below { version, .. } => Some(version),
    }
}

fn stored(bytes: &[u8], key_version: Option<u32>) -> StoredBlob {
    StoredBlob {
        bytes: bytes.to_vec(),
        key_version,
    }
}

fn count(done: &mut Resealed, from: Option<u32>) {
    match from {
        None => done.sealed += 1,
        Some(_) => done.rotated += 1,
    }
}
