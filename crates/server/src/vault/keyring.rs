//! Accounts' data keys: wrapped by the master key in the store, unwrapped into memory when
//! first used and kept there (wiped when dropped). An account gets its first key the first
//! time something of it is sealed; a rotation adds a version, and sealing uses the newest.

use super::error::VaultError;
use super::master_key::MasterKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_core::AccountId;
use switchboard_seal::{self as blob, SecretKey};
use switchboard_store::{Store, StoreError, WrappedKey};

/// How long a node trusts its memory of an account's newest key version: a version added by
/// another node or by `switchboard admin keys rotate --account` is used from then on.
pub const CURRENT_TTL: Duration = Duration::from_secs(60);

/// What a wrapped data key is bound to: its account and version.
fn key_record(account: AccountId, version: u32) -> Vec<u8> {
    format!("switchboard/data-key\0{account}\0{version}").into_bytes()
}

/// Wraps a data key with the master key.
pub fn wrap(
    master: &MasterKey,
    account: AccountId,
    version: u32,
    key: &SecretKey,
) -> Result<Vec<u8>, VaultError> {
    blob::seal(
        master.key(),
        version,
        &key_record(account, version),
        key.expose(),
    )
    .map_err(|e| VaultError::Crypto(e.to_string()))
}

/// Unwraps a stored data key with the master key; fails if another master key wrapped it,
/// or the stored bytes were altered.
pub fn unwrap(master: &MasterKey, stored: &WrappedKey) -> Result<SecretKey, VaultError> {
    let record = key_record(stored.account_id, stored.version);
    blob::open(master.key(), stored.version, &record, &stored.wrapped)
        .ok()
        .and_then(|bytes| SecretKey::from_bytes(&bytes))
        .ok_or_else(|| VaultError::KeyUnwrap {
            account: stored.account_id,
            version: stored.version,
            master_key_id: stored.master_key_id.clone(),
        })
}

/// The node's data keys, unwrapped as needed.
pub struct Keyring {
    store: Arc<dyn Store>,
    master: MasterKey,
    keys: RwLock<HashMap<(AccountId, u32), Arc<SecretKey>>>,
    /// Each account's newest version, and when it was read.
    current: RwLock<HashMap<AccountId, (u32, Instant)>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("master_key_id", &self.master.id())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    pub fn new(store: Arc<dyn Store>, master: MasterKey) -> Keyring {
        Keyring {
            store,
            master,
            keys: RwLock::new(HashMap::new()),
            current: RwLock::new(HashMap::new()),
        }
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    fn cached(&self, account: AccountId, version: u32) -> Option<Arc<SecretKey>> {
        self.keys
            .read()
            .ok()
            .and_then(|keys| keys.get(&(account, version)).cloned())
    }

    /// Unwraps the stored keys of an account into memory; returns its newest version.
    async fn load(&self, account: AccountId) -> Result<Option<u32>, VaultError> {
        let stored = self.store.data_keys(account).await?;
        let mut newest = None;
        for wrapped in &stored {
            if self.cached(account, wrapped.version).is_none() {
                let key = Arc::new(unwrap(&self.master, wrapped)?);
                if let Ok(mut keys) = self.keys.write() {
                    keys.insert((account, wrapped.version), key);
                }
            }
            newest = newest.max(Some(wrapped.version));
        }
        if let (Some(version), Ok(mut current)) = (newest, self.current.write()) {
            current.insert(account, (version, Instant::now()));
        }
        Ok(newest)
    }

    /// The account's key of `version`; `MissingKey` when the store has none (the account was
    /// deleted, or the version retired).
    pub async fn key(
        &self,
        account: AccountId,
        version: u32,
    ) -> Result<Arc<SecretKey>, VaultError> {
        if let Some(key) = self.cached(account, version) {
            return Ok(key);
        }
        self.load(account).await?;
        self.cached(account, version)
            .ok_or(VaultError::MissingKey { account, version })
    }

    /// The account's newest key and its version, made (version 1) if it has none yet.
    pub async fn current(&self, account: AccountId) -> Result<(u32, Arc<SecretKey>), VaultError> {
        let fresh = self
            .current
            .read()
            .ok()
            .and_then(|current| current.get(&account).copied())
            .filter(|(_, read)| read.elapsed() < CURRENT_TTL);
        let version = match fresh {
            Some((version, _)) => Some(version),
            None => self.load(account).await?,
        };
        let version = match version {
            Some(version) => version,
            None => self.add_version(account).await?,
        };
        Ok((version, self.key(account, version).await?))
    }

    /// Adds a new version of the account's key (its first, or the one after the newest) and
    /// returns it. Two nodes adding the same version at once: one stores it, and the other
    /// uses that one.
    pub async fn add_version(&self, account: AccountId) -> Result<u32, VaultError> {
        let newest = self
            .store
            .data_keys(account)
            .await?
            .iter()
            .map(|k| k.version)
            .max();
        let version = newest.map_or(1, |v| v + 1);
        let key = SecretKey::generate();
        let wrapped = WrappedKey {
            account_id: account,
            version,
            wrapped: wrap(&self.master, account, version, &key)?,
            master_key_id: self.master.id().to_owned(),
            created_at: chrono::Utc::now(),
        };
        match self.store.insert_data_key(&wrapped).await {
            Ok(()) => tracing::info!(%account, version, "new data key"),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.load(account).await?;
        Ok(version)
    }

    /// Forgets everything of an account (it was deleted).
    pub fn forget(&self, account: AccountId) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|(owner, _), _| *owner != account);
        }
        if let Ok(mut current) = self.current.write() {
            current.remove(&account);
        }
    }

    /// Forgets one retired version of an account's key.
    pub fn forget_version(&self, account: AccountId, version: u32) {
        if let Ok(mut keys) = self.keys.write() {
            keys.remove(&(account, version));
        }
    }
}
