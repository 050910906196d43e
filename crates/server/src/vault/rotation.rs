//! Key rotation, as `switchboard admin keys rotate` runs it on the database.
//!
//! A master key rotation re-wraps every data key, in one transaction, without touching the
//! sealed objects. The new key is written first to `<file>.new` (0600, flushed); once the
//! database holds keys wrapped by it, it takes the file's place and the previous key stays as
//! `<file>.old`, for restoring backups made before the rotation. A crash between the two
//! leaves `<file>.new`, which start-up points at.
//!
//! An account rotation adds a version of the account's data key; new objects are sealed with
//! it at once, and the server's re-encryption task moves the older objects over, then deletes
//! the older version (`reseal`).

use super::error::VaultError;
use super::keyring::{self, Keyring};
use super::master_key::{self, MasterKey, MasterKeyError};
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_core::AccountId;
use switchboard_seal::SecretKey;
use switchboard_store::{Store, WrappedKey};

/// What a master key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRotation {
    pub old_id: String,
    pub new_id: String,
    /// Data keys re-wrapped.
    pub keys: usize,
    /// The key file, now holding the new key.
    pub path: PathBuf,
    /// Where the previous key is kept.
    pub previous: PathBuf,
}

/// Makes a new master key, re-wraps every data key with it in one transaction, and puts it
/// in `master`'s file (the previous key kept as `<file>.old`). Run with the servers stopped:
/// a key a running node adds meanwhile makes the transaction fail, and nothing changes.
pub async fn rotate_master_key(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<MasterRotation, VaultError> {
    let path = master.path().to_owned();
    let pending = master_key::pending_path(&path);
    if pending.exists() {
        return Err(MasterKeyError {
            path: pending,
            why: "exists: an earlier rotation did not finish; find out which key the database \
                  uses (start the server) and remove the other file first"
                .into(),
        }
        .into());
    }
    let stored = store.all_data_keys().await?;
    let next = MasterKey::new(SecretKey::generate(), path.clone());
    let mut rewrapped = Vec::with_capacity(stored.len());
    for key in &stored {
        let data_key = keyring::unwrap(master, key)?;
        rewrapped.push(WrappedKey {
            wrapped: keyring::wrap(&next, key.account_id, key.version, &data_key)?,
            master_key_id: next.id().to_owned(),
            ..key.clone()
        });
    }
    let io = |why: std::io::Error| MasterKeyError {
        path: pending.clone(),
        why: why.to_string(),
    };
    master_key::write_new(&pending, next.key()).map_err(io)?;
    if let Err(e) = store.rewrap_data_keys(master.id(), &rewrapped).await {
        // The database still uses the old key: the new one must not be left around.
        if let Err(removing) = std::fs::remove_file(&pending) {
            tracing::warn!(path = %pending.display(), error = %removing, "cannot remove the unused new key");
        }
        return Err(e.into());
    }
    master_key::install_pending(&path).map_err(|why| MasterKeyError {
        path: path.clone(),
        why: format!(
            "the database now uses the key in {}, but it could not take this file's place: {why}",
            pending.display()
        ),
    })?;
    Ok(MasterRotation {
        old_id: master.id().to_owned(),
        new_id: next.id().to_owned(),
        keys: stored.len(),
        previous: master_key::previous_path(&path),
        path,
    })
}

/// Adds a new version of an account's data key; returns it. `NotFound` (a store error) when
/// there is no such account.
pub async fn rotate_account_key(
    store: Arc<dyn Store>,
    master: MasterKey,
    account: AccountId,
) -> Result<u32, VaultError> {
    store.account(account).await?;
    Keyring::new(store, master).add_version(account).await
}
