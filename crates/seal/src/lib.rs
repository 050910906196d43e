//! Switchboard's sealed blobs.
//!
//! The sealed blob format, the same for stored objects and for wrapped data keys:
//!
//! ```text
//! "SB" | format (1) | key version (u32, big-endian) | nonce (24 bytes) | ciphertext | tag (16 bytes)
//! ```
//!
//! sealed with XChaCha20-Poly1305, whose 192-bit nonces may be drawn at random for every blob.
//! The associated data is the 7-byte header followed by what names the blob's record, so a
//! blob moved to another record, or given another key version, fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// The first bytes of every sealed blob.
pub const MAGIC: [u8; 2] = *b"SB";
/// The format this release writes and reads.
pub const FORMAT: u8 = 1;
const VERSION_AT: usize = MAGIC.len() + 1;
const NONCE_AT: usize = VERSION_AT + 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = NONCE_AT + NONCE_LEN;
const TAG_LEN: usize = 16;
/// Bytes a sealed blob has beyond its plain content.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// A 256-bit key (master or data key), wiped from memory when dropped.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        SecretKey(key)
    }

    /// A key from its bytes; `None` unless there are exactly 32.
    pub fn from_bytes(bytes: &[u8]) -> Option<SecretKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(SecretKey(key))
    }

    /// The key's bytes (to wrap it, or write it to its file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305, BlobError> {
        XChaCha20Poly1305::new_from_slice(self.0.as_ref()).map_err(|_| BlobError::BadKey)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// Why a blob cannot be opened. Deliberately vague: which check failed tells an attacker
/// nothing useful, and the caller logs what the blob was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("the blob is too short to be sealed")]
    Truncated,
    #[error("the blob does not start with a known sealed format")]
    UnknownFormat,
    #[error("the blob was sealed with key version {found}, not {expected}")]
    WrongVersion { expected: u32, found: u32 },
    #[error("the blob failed authentication (altered, or sealed for another record or key)")]
    Forged,
    #[error("the content is too large to seal")]
    TooLarge,
    #[error("the key is not 32 bytes")]
    BadKey,
}

fn header(key_version: u32) -> [u8; NONCE_AT] {
    let mut head = [0u8; NONCE_AT];
    head[..MAGIC.len()].copy_from_slice(&MAGIC);
    head[MAGIC.len()] = FORMAT;
    head[VERSION_AT..NONCE_AT].copy_from_slice(&key_version.to_be_bytes());
    head
}

fn aad(head: &[u8], record: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(head.len() + record.len());
    aad.extend_from_slice(head);
    aad.extend_from_slice(record);
    aad
}

/// Seals `plain` with `key` (of version `key_version`), bound to `record`.
pub fn seal(
    key: &SecretKey,
    key_version: u32,
    record: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, BlobError> {
    let head = header(key_version);
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = key
        .cipher()?
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: &aad(&head, record),
            },
        )
        .map_err(|_| BlobError::TooLarge)?;
    let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
    blob.extend_from_slice(&head);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The key version a blob says it was sealed with (checked again when it is opened).
pub fn key_version(blob: &[u8]) -> Result<u32, BlobError> {
    if blob.len() < OVERHEAD {
        return Err(BlobError::Truncated);
    }
    if blob[..MAGIC.len()] != MAGIC || blob[MAGIC.len()] != FORMAT {
        return Err(BlobError::UnknownFormat);
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&blob[VERSION_AT..NONCE_AT]);
    Ok(u32::from_be_bytes(version))
}

/// Opens a blob sealed with `key` of version `key_version` for `record`.
pub fn open(
    key: &SecretKey,
    key_version: u32,
    record: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    let found = self::key_version(blob)?;
    if found != key_version {
        return Err(BlobError::WrongVersion {
            expected: key_version,
            found,
        });
    }
    let (head, rest) = blob.split_at(NONCE_AT);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| BlobError::Truncated)?;
    key.cipher()?
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: &aad(head, record),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BlobError::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_opens_only_with_its_key_record_and_version() {
        let key = SecretKey::generate();
        let blob = seal(&key, 3, b"snapshot/a", b"picture").unwrap();
        assert_eq!(blob.len(), b"picture".len() + OVERHEAD);
        assert_eq!(&blob[..3], b"SB\x01");
        assert_eq!(key_version(&blob), Ok(3));
        assert_eq!(
            open(&key, 3, b"snapshot/a", &blob).unwrap().as_slice(),
            b"picture"
        );
        // Another record, key or version.
        assert_eq!(open(&key, 3, b"snapshot/b", &blob), Err(BlobError::Forged));
        assert_eq!(
            open(&SecretKey::generate(), 3, b"snapshot/a", &blob),
            Err(BlobError::Forged)
        );
        assert_eq!(
            open(&key, 2, b"snapshot/a", &blob),
            Err(BlobError::WrongVersion {
                expected: 2,
                found: 3
            })
        );
        // A header rewritten to claim another version fails authentication.
        let mut relabelled = blob.clone();
        relabelled[VERSION_AT + 3] = 2;
        assert_eq!(
            open(&key, 2, b"snapshot/a", &relabelled),
            Err(BlobError::Forged)
        );
        // Two seals of the same content differ (fresh nonces).
        assert_ne!(seal(&key, 3, b"snapshot/a", b"picture").unwrap(), blob);
    }

    #[test]
    fn every_altered_or_truncated_blob_is_refused() {
        let key = SecretKey::generate();
        let blob = seal(&key, 1, b"r", &[7u8; 64]).unwrap();
        for i in 0..blob.len() {
            let mut altered = blob.clone();
            altered[i] ^= 0x01;
            assert!(open(&key, 1, b"r", &altered).is_err(), "byte {i}");
        }
        for len in 0..blob.len() {
            assert!(open(&key, 1, b"r", &blob[..len]).is_err(), "length {len}");
        }
        assert_eq!(
            open(&key, 1, b"r", b"\xFF\xD8 a plain jpeg"),
            Err(BlobError::Truncated)
        );
    }
}
