//! What can go wrong with encryption at rest, and what the API answers for it.

use super::master_key::MasterKeyError;
use crate::protocol::ErrorCode;
use crate::services::ServiceError;
use std::path::PathBuf;
use switchboard_core::AccountId;
use switchboard_store::StoreError;

/// What went wrong sealing, opening, or with the keys.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The database's data keys are wrapped by another master key than the file's.
    #[error(
        "the master key in {} (id {found}) is not the one this database's data keys are \
         wrapped with (id {expected}): start with the right master_key_file (--master-key-file), \
         or restore that file from its backup{hint}",
        .path.display()
    )]
    WrongMasterKey {
        path: PathBuf,
        expected: String,
        found: String,
        hint: String,
    },
    /// The default master key file is gone, but data keys wrapped by a master key exist.
    #[error(
        "the master key file {} is missing, but this database holds data keys wrapped by \
         master key {expected}: restore the file from its backup (without it the stored \
         pictures and cell files cannot be read)",
        .path.display()
    )]
    MissingMasterKey { path: PathBuf, expected: String },
    #[error(
        "data key {version} of account {account} does not unwrap with master key {master_key_id}"
    )]
    KeyUnwrap {
        account: AccountId,
        version: u32,
        master_key_id: String,
    },
    #[error("account {account} has no data key of version {version}")]
    MissingKey { account: AccountId, version: u32 },
    /// A stored blob that does not open: never served.
    #[error("{object} failed its integrity check: {why}")]
    Integrity { object: String, why: String },
    #[error("sealing failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for VaultError {
    fn code(&self) -> ErrorCode {
        match self {
            VaultError::Integrity { .. } => ErrorCode::DataIntegrity,
            VaultError::Store(e) => e.code(),
            _ => ErrorCode::Internal,
        }
    }

    fn message(&self) -> String {
        match self {
            VaultError::Integrity { .. } => {
                "the stored data failed its integrity check and is not served".into()
            }
            VaultError::Store(e) => e.message(),
            _ => "internal server error".into(),
        }
    }
}
