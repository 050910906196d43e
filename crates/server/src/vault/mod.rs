//! Encryption at rest. Camera snapshots (the picture and its signature) and cell files are
//! sealed with their account's data key before they are stored, and opened after they are
//! read; the store keeps only bytes and the key version. Data keys are kept wrapped by the
//! master key, which lives in a file, never in the database.
//!
//! Key hierarchy: master key (file) → wraps each account's data keys (versions, in
//! `data_keys`) → seal each stored blob ([`blob`] format), bound to its record (object kind,
//! account, object id), so a blob copied onto another record does not open.
//!
//! Architecture invariant: plain snapshot and cell file bytes never touch the disk. The one
//! exception is on purpose: with `encrypt_at_rest = false` (benchmarks, compatibility) new
//! objects are stored plain, as earlier releases stored them, and are still read.

pub mod error;
pub mod keyring;
pub mod master_key;
pub mod object;
pub mod reseal;
pub mod rotation;

pub use error::VaultError;
pub use object::Object;

use crate::config::Config;
use keyring::Keyring;
use master_key::MasterKey;
use std::sync::Arc;
use switchboard_core::AccountId;
use switchboard_seal as blob;
use switchboard_seal::BlobError;
use switchboard_store::{Store, StoredBlob};
use zeroize::Zeroizing;

/// Seals and opens stored objects with their account's data keys.
#[derive(Debug)]
pub struct Vault {
    keys: Keyring,
    /// Seal new objects (`encrypt_at_rest`); stored sealed ones are opened either way.
    encrypt: bool,
}

impl Vault {
    /// Reads the master key (`master_key_file`, else `<data_dir>/master-key`, made on first
    /// start) and checks it against the database: a stored data key must unwrap with it.
    pub async fn start(config: &Config, store: Arc<dyn Store>) -> Result<Vault, VaultError> {
        let sample = store.any_data_key().await?;
        let master = match &config.operations.master_key_file {
            Some(path) => MasterKey::read(path)?,
            None => {
                let path = MasterKey::default_path(&config.operations.data_dir);
                match (path.exists(), &sample) {
                    (true, _) => MasterKey::read(&path)?,
                    (false, None) => {
                        let made = MasterKey::create(&path)?;
                        tracing::info!(path = %path.display(), id = made.id(), "made a new master key: back it up apart from the database");
                        made
                    }
                    (false, Some(stored)) => {
                        return Err(VaultError::MissingMasterKey {
                            path,
                            expected: stored.master_key_id.clone(),
                        });
                    }
                }
            }
        };
        if let Some(stored) = sample {
            let wrong = |expected: String| {
                let pending = master_key::pending_path(master.path());
                let hint = if pending.exists() {
                    format!(
                        " ({} exists: a rotation was interrupted after the database changed; \
                         if its key is the one expected, move it to {})",
                        pending.display(),
                        master.path().display()
                    )
                } else {
                    String::new()
                };
                VaultError::WrongMasterKey {
                    path: master.path().to_owned(),
                    expected,
                    found: master.id().to_owned(),
                    hint,
                }
            };
            if stored.master_key_id != master.id() {
                return Err(wrong(stored.master_key_id));
            }
            // Same fingerprint: proved by unwrapping, not trusted.
            if keyring::unwrap(&master, &stored).is_err() {
                return Err(wrong(stored.master_key_id));
            }
        }
        tracing::info!(
            master_key = master.id(),
            encrypt = config.operations.encrypt_at_rest,
            "encryption at rest ready"
        );
        Ok(Vault::new(store, master, config.operations.encrypt_at_rest))
    }

    /// A vault over `store` with a master key already read (tools and tests).
    pub fn new(store: Arc<dyn Store>, master: MasterKey, encrypt: bool) -> Vault {
        Vault {
            keys: Keyring::new(store, master),
            encrypt,
        }
    }

    /// Whether new objects are sealed.
    pub fn encrypting(&self) -> bool {
        self.encrypt
    }

    /// The data keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Seals `plain` for storage with the account's newest data key (or leaves it plain
    /// when encryption is off).
    pub async fn seal(
        &self,
        account: AccountId,
        object: Object<'_>,
        plain: &[u8],
    ) -> Result<StoredBlob, VaultError> {
        if !self.encrypt {
            return Ok(plain_blob(plain));
        }
        let (version, key) = self.keys.current(account).await?;
        seal_with(&key, version, account, object, plain)
    }

    /// Seals `plain` with the account's key of `version` (`None`: leaves it plain), to store
    /// it beside blobs sealed with that version (a snapshot's signature beside its picture).
    pub async fn seal_as(
        &self,
        account: AccountId,
        object: Object<'_>,
        plain: &[u8],
        version: Option<u32>,
    ) -> Result<StoredBlob, VaultError> {
        let Some(version) = version else {
            return Ok(plain_blob(plain));
        };
        let key = self.keys.key(account, version).await?;
        seal_with(&key, version, account, object, plain)
    }

    /// Opens a stored blob (a plain one as it is). A blob that does not open — truncated,
    /// altered, another record's, or sealed with a key that is gone — is logged and counted
    /// as an integrity error, and never returned.
    pub async fn open(
        &self,
        account: AccountId,
        object: Object<'_>,
        stored: &StoredBlob,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let Some(version) = stored.key_version else {
            return Ok(Zeroizing::new(stored.bytes.clone()));
        };
        let key = match self.keys.key(account, version).await {
            Ok(key) => key,
            Err(VaultError::MissingKey { .. }) => {
                return Err(integrity(account, object, "its data key is gone"));
            }
            Err(e) => return Err(e),
        };
        blob::open(&key, version, &object.record(account), &stored.bytes)
            .map_err(|e: BlobError| integrity(account, object, &e.to_string()))
    }

    /// Forgets an account's keys (it was deleted).
    pub fn forget(&self, account: AccountId) {
        self.keys.forget(account);
    }
}

fn plain_blob(plain: &[u8]) -> StoredBlob {
    StoredBlob {
        bytes: plain.to_vec(),
        key_version: None,
    }
}

fn seal_with(
    key: &blob::SecretKey,
    version: u32,
    account: AccountId,
    object: Object<'_>,
    plain: &[u8],
) -> Result<StoredBlob, VaultError> {
    let bytes = blob::seal(key, version, &object.record(account), plain)
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    Ok(StoredBlob {
        bytes,
        key_version: Some(version),
    })
}

/// Logs and counts a blob that does not open.
fn integrity(account: AccountId, object: Object<'_>, why: &str) -> VaultError {
    tracing::error!(%account, object = %object, why, "stored data failed its integrity check");
    crate::metrics::integrity_error(object.kind());
    VaultError::Integrity {
        object: object.to_string(),
        why: why.to_owned(),
    }
}
