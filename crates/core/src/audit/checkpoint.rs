//! Checkpoints: a node's Ed25519 signature over the end of its chain. A regular one bounds
//! what could be rewritten unseen to the records after it; a prune checkpoint marks where
//! retention cut the chain, so what remains still verifies from there.

use super::hash::Hash;
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The chain reached `seq` with `hash`.
    Regular,
    /// Records up to and including `seq` were deleted by retention; the chain goes on from
    /// `hash`.
    Prune,
}

impl CheckpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::Regular => "regular",
            CheckpointKind::Prune => "prune",
        }
    }

    pub fn parse(text: &str) -> Option<CheckpointKind> {
        match text {
            "regular" => Some(CheckpointKind::Regular),
            "prune" => Some(CheckpointKind::Prune),
            _ => None,
        }
    }
}

/// A signed statement that `node`'s chain had `hash` at record `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub node: String,
    pub seq: u64,
    pub hash: Hash,
    pub at: Timestamp,
    pub kind: CheckpointKind,
    /// The signer's Ed25519 public key (32 bytes).
    pub public_key: Vec<u8>,
    /// The signature over [`Checkpoint::message`] (64 bytes).
    pub signature: Vec<u8>,
}

/// Domain separation: a signature over anything else can never pass for a checkpoint's.
const CONTEXT: &[u8] = b"switchboard audit checkpoint v1\0";

impl Checkpoint {
    /// The bytes the node signs.
    pub fn message(
        node: &str,
        seq: u64,
        hash: &Hash,
        at: Timestamp,
        kind: CheckpointKind,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONTEXT.len() + node.len() + 64);
        out.extend_from_slice(CONTEXT);
        out.extend_from_slice(&(node.len() as u64).to_be_bytes());
        out.extend_from_slice(node.as_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&hash.0);
        out.extend_from_slice(&at.timestamp_millis().to_be_bytes());
        out.extend_from_slice(kind.as_str().as_bytes());
        out
    }

    /// Whether the signature is the public key's over this checkpoint.
    pub fn signature_holds(&self) -> bool {
        let message = Checkpoint::message(&self.node, self.seq, &self.hash, self.at, self.kind);
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.public_key)
            .verify(&message, &self.signature)
            .is_ok()
    }
}

/// A short, readable name of a public key: the first 16 hex digits of its SHA-256.
pub fn key_fingerprint(public_key: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(public_key);
    Hash(digest.into()).to_hex()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn a_signed_checkpoint_holds_and_an_altered_one_does_not() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let at = chrono::Utc.timestamp_millis_opt(5).single().expect("time");
        let hash = Hash([7; 32]);
        let message = Checkpoint::message("n1", 9, &hash, at, CheckpointKind::Regular);
        let checkpoint = Checkpoint {
            node: "n1".into(),
            seq: 9,
            hash,
            at,
            kind: CheckpointKind::Regular,
            public_key: key.public_key().as_ref().to_vec(),
            signature: key.sign(&message).as_ref().to_vec(),
        };
        assert!(checkpoint.signature_holds());
        for altered in [
            Checkpoint {
                seq: 10,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: Hash([8; 32]),
                ..checkpoint.clone()
            },
            Checkpoint {
                node: "n2".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                kind: CheckpointKind::Prune,
                ..checkpoint.clone()
            },
        ] {
            assert!(!altered.signature_holds());
        }
    }
}
