//! The node's Ed25519 signing key: PKCS#8 in a 0600 file (by default `audit-key` in the data
//! folder, made on first start), so checkpoints can be checked by anyone who has the public
//! key and forged by nobody who only has the database.

use ring::signature::{Ed25519KeyPair, KeyPair};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    #[error("cannot read or create the audit key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit key {path} is not an Ed25519 PKCS#8 key; restore it from a backup")]
    Invalid { path: PathBuf },
}

/// The signing key and the file it came from.
pub struct NodeKey {
    pair: Ed25519KeyPair,
    pub path: PathBuf,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("path", &self.path)
            .field("public", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl NodeKey {
    /// The key at `explicit`, which must exist (nodes never make a key someone configured),
    /// else `audit-key` in `data_dir`, made if missing.
    pub fn load(explicit: Option<&Path>, data_dir: &Path) -> Result<NodeKey, NodeKeyError> {
        let (path, may_create) = match explicit {
            Some(path) => (path.to_path_buf(), false),
            None => (data_dir.join("audit-key"), true),
        };
        let io = |source| NodeKeyError::Io {
            path: path.clone(),
            source,
        };
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                create(&path).map_err(io)?
            }
            Err(e) => return Err(io(e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der))
            .map_err(|_| NodeKeyError::Invalid { path: path.clone() })?;
        Ok(NodeKey { pair, path })
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn fingerprint(&self) -> String {
        switchboard_core::audit::checkpoint::key_fingerprint(self.public_key())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// Makes a new key file, 0600, written whole before anyone can read it.
fn create(path: &Path) -> std::io::Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| std::io::Error::other("the system's random source failed"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(der.as_ref())?;
    f.sync_all()?;
    Ok(der.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let first = NodeKey::load(None, dir.path()).expect("made");
        let again = NodeKey::load(None, dir.path()).expect("read");
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("audit-key"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_explicit_key_must_exist_and_be_a_key() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("nope");
        assert!(matches!(
            NodeKey::load(Some(&missing), dir.path()),
            Err(NodeKeyError::Io { .. })
        ));
        std::fs::write(&missing, b"not a key").expect("write");
        assert!(matches!(
            NodeKey::load(Some(&missing), dir.path()),
            Err(NodeKeyError::Invalid { .. })
        ));
    }
}
