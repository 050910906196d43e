//! The master key: 32 bytes in a file outside the database, wrapping every account's data
//! keys. Without it the stored pictures and cell files cannot be read, so it must be backed
//! up apart from the database; nodes of a cluster share one file.
//!
//! The file holds the 32 bytes themselves (`head -c 32 /dev/urandom > master-key`), or their
//! base64 on one line. Its id is a short SHA-256 fingerprint, stored beside each wrapped key,
//! so a node started with another key says so instead of reading garbage.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_seal::SecretKey;

/// The file name of the default master key, in the data directory.
pub const DEFAULT_FILE: &str = "master-key";

/// The master key and the file it came from.
#[derive(Debug)]
pub struct MasterKey {
    key: SecretKey,
    id: String,
    path: PathBuf,
}

/// Why the master key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("master key file {}: {why}", .path.display())]
pub struct MasterKeyError {
    pub path: PathBuf,
    pub why: String,
}

impl MasterKey {
    /// The key in `path`, which must exist (a cluster's nodes share one file, so none makes
    /// its own).
    pub fn read(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let fail = |why: String| MasterKeyError {
            path: path.to_owned(),
            why,
        };
        let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| fail(e.to_string()))?);
        let key = match SecretKey::from_bytes(&bytes) {
            Some(key) => key,
            None => {
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    fail(format!(
                        "holds {} bytes; a master key is 32 bytes (or their base64)",
                        bytes.len()
                    ))
                })?;
                let decoded = zeroize::Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(text.trim())
                        .map_err(|_| fail("is neither 32 bytes nor their base64".into()))?,
                );
                SecretKey::from_bytes(&decoded).ok_or_else(|| {
                    fail(format!(
                        "holds base64 of {} bytes; a master key is 32 bytes",
                        decoded.len()
                    ))
                })?
            }
        };
        Ok(MasterKey::new(key, path.to_owned()))
    }

    /// Where the default key file of `data_dir` is.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join(DEFAULT_FILE)
    }

    /// Makes a new random key and writes it to `path` (mode 0600), which must not exist.
    pub fn create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let key = SecretKey::generate();
        write_new(path, &key).map_err(|e| MasterKeyError {
            path: path.to_owned(),
            why: format!("cannot create it: {e}"),
        })?;
        Ok(MasterKey::new(key, path.to_owned()))
    }

    /// A key that is not (yet) in its file; `path` names where it goes.
    pub fn new(key: SecretKey, path: PathBuf) -> MasterKey {
        let id = fingerprint(&key);
        MasterKey { key, id, path }
    }

    /// The key's fingerprint, stored beside every key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file the key is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn key(&self) -> &SecretKey {
        &self.key
    }
}

/// The first 8 bytes of SHA-256 over a label and the key, in hex: enough to tell keys apart,
/// and nothing about the key.
fn fingerprint(key: &SecretKey) -> String {
    let digest = Sha256::new()
        .chain_update(b"switchboard master key id\0")
        .chain_update(key.expose())
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `key` to a new file at `path` (0600, flushed to disk); fails if it exists.
pub fn write_new(path: &Path, key: &SecretKey) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key.expose())?;
    file.sync_all()
}

/// Where a rotation writes the new key before it takes the old one's place.
pub fn pending_path(path: &Path) -> PathBuf {
    with_suffix(path, ".new")
}

/// Where a rotation keeps the previous key.
pub fn previous_path(path: &Path) -> PathBuf {
    with_suffix(path, ".old")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Puts the key written at [`pending_path`] in the place of `path`, keeping the previous key
/// at [`previous_path`] (replacing an older one there), and flushes the directory so the
/// renames survive a crash.
pub fn install_pending(path: &Path) -> std::io::Result<()> {
    std::fs::rename(path, previous_path(path))?;
    std::fs::rename(pending_path(path), path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_and_reads_back_raw_or_base64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let made = MasterKey::create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(MasterKey::create(&path).is_err(), "never overwritten");
        let read = MasterKey::read(&path).unwrap();
        assert_eq!(read.id(), made.id());
        assert_eq!(read.id().len(), 16);

        let text = dir.path().join("text");
        let encoded = base64::engine::general_purpose::STANDARD.encode(made.key().expose());
        std::fs::write(&text, format!("{encoded}\n")).unwrap();
        assert_eq!(MasterKey::read(&text).unwrap().id(), made.id());

        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 16]).unwrap();
        let err = MasterKey::read(&short).unwrap_err().to_string();
        assert!(err.contains("short") && err.contains("32 bytes"), "{err}");
        assert!(MasterKey::read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn installing_a_pending_key_keeps_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let old = MasterKey::create(&path).unwrap();
        let new = SecretKey::generate();
        write_new(&pending_path(&path), &new).unwrap();
        install_pending(&path).unwrap();
        assert_eq!(MasterKey::read(&path).unwrap().id(), fingerprint(&new));
        assert_eq!(
            MasterKey::read(&previous_path(&path)).unwrap().id(),
            old.id()
        );
        assert!(!pending_path(&path).exists());
    }
}
