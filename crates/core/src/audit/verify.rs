//! The verdict on one node's stored chain: whether every record is as written, in place and
//! present, and every checkpoint signed and agreeing; if not, the first record that was
//! edited, deleted, inserted or reordered.

use super::checkpoint::{Checkpoint, CheckpointKind, key_fingerprint};
use super::hash::{Hash, Link};
use super::record::{AuditRecord, record_hash};
use std::collections::HashMap;

/// What a stored record says of itself, kept while a chain is read (about 80 bytes a
/// record, so verifying does not hold the records).
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub seq: u64,
    pub stored_hash: Hash,
    pub prev_hash: Hash,
    /// Whether `stored_hash` is the hash of the record's content as stored.
    pub content_holds: bool,
}

impl Facts {
    pub fn of(record: &AuditRecord) -> Facts {
        Facts {
            seq: record.seq,
            stored_hash: record.hash,
            prev_hash: record.prev_hash,
            content_holds: record_hash(record) == record.hash,
        }
    }
}

/// What is wrong with a chain, at the first record where it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The record's content no longer matches its hash (or its hash was recomputed, which
    /// a later link or checkpoint shows).
    Edited { seq: u64 },
    /// Records from `seq` on are missing.
    Deleted { seq: u64 },
    /// The record at `seq` was not written in this place by the node.
    Inserted { seq: u64 },
    /// The record at `seq` belongs elsewhere in the chain.
    Reordered { seq: u64 },
    /// A checkpoint's signature does not hold, or its key is not the node's.
    BadCheckpoint { seq: u64, why: String },
    /// A signed checkpoint names record `seq` with another hash: a record up to it was
    /// rewritten, hashes and all.
    Rewritten { seq: u64 },
    /// A signed checkpoint names record `seq`, but the chain ends at `last`: the records
    /// after it were deleted.
    Truncated { last: u64, seq: u64 },
}

impl Problem {
    /// The record the problem names.
    pub fn seq(&self) -> u64 {
        match self {
            Problem::Edited { seq }
            | Problem::Deleted { seq }
            | Problem::Inserted { seq }
            | Problem::Reordered { seq }
            | Problem::BadCheckpoint { seq, .. }
            | Problem::Rewritten { seq } => *seq,
            Problem::Truncated { last, .. } => last + 1,
        }
    }

    /// One word for the kind of tampering.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Edited { .. } | Problem::Rewritten { .. } => "edited",
            Problem::Deleted { .. } | Problem::Truncated { .. } => "deleted",
            Problem::Inserted { .. } => "inserted",
            Problem::Reordered { .. } => "reordered",
            Problem::BadCheckpoint { .. } => "bad_checkpoint",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Edited { seq } => write!(f, "record {seq} was edited"),
            Problem::Deleted { seq } => write!(f, "record {seq} was deleted"),
            Problem::Inserted { seq } => write!(f, "record {seq} was inserted"),
            Problem::Reordered { seq } => write!(f, "record {seq} was moved out of its place"),
            Problem::BadCheckpoint { seq, why } => {
                write!(f, "the checkpoint at record {seq} {why}")
            }
            Problem::Rewritten { seq } => write!(
                f,
                "record {seq} (or one before it) was edited: its signed checkpoint names another hash"
            ),
            Problem::Truncated { last, seq } => write!(
                f,
                "records {} to {seq} were deleted: the chain ends at {last} but a signed checkpoint names {seq}",
                last + 1
            ),
        }
    }
}

/// The verdict on one node's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub node: String,
    /// Records read (those cut by retention aside).
    pub records: u64,
    /// Where the chain starts: after the newest prune checkpoint, else at 1.
    pub starts_after: u64,
    /// The newest record.
    pub last: u64,
    /// Signed checkpoints that hold.
    pub checkpoints: u64,
    /// Fingerprints of the keys whose checkpoints held.
    pub keys: Vec<String>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies one node's chain: `facts` of its stored records in the order of their numbers,
/// its `checkpoints`, and the public keys that are the node's (`trusted`). A checkpoint
/// signed by another key is a problem, so whoever can write the database cannot re-sign a
/// rewritten chain with a key of their own.
pub fn verify_chain(
    node: &str,
    facts: &[Facts],
    checkpoints: &[Checkpoint],
    trusted: &[Vec<u8>],
) -> Verdict {
    let mut verdict = Verdict {
        node: node.to_owned(),
        records: 0,
        starts_after: 0,
        last: 0,
        checkpoints: 0,
        keys: Vec::new(),
        problem: None,
    };
    let mut problems: Vec<Problem> = Vec::new();

    // Checkpoints first: a bad one is a problem wherever it is; good ones say where the
    // chain starts and what it must hold.
    let mut good: Vec<&Checkpoint> = Vec::new();
    for cp in checkpoints.iter().filter(|cp| cp.node == node) {
        if !cp.signature_holds() {
            problems.push(Problem::BadCheckpoint {
                seq: cp.seq,
                why: "has a signature that does not hold".into(),
            });
        } else if !trusted.contains(&cp.public_key) {
            problems.push(Problem::BadCheckpoint {
                seq: cp.seq,
                why: format!(
                    "is signed by key {}, which is not the node's",
                    key_fingerprint(&cp.public_key)
                ),
            });
        } else {
            let fingerprint = key_fingerprint(&cp.public_key);
            if !verdict.keys.contains(&fingerprint) {
                verdict.keys.push(fingerprint);
            }
            good.push(cp);
        }
    }
    verdict.checkpoints = good.len() as u64;
    let start = good
        .iter()
        .filter(|cp| cp.kind == CheckpointKind::Prune)
        .max_by_key(|cp| cp.seq)
        .map_or(Link::GENESIS, |cp| Link {
            seq: cp.seq,
            hash: cp.hash,
        });
    verdict.starts_after = start.seq;

    let chain: Vec<&Facts> = facts.iter().filter(|f| f.seq > start.seq).collect();
    verdict.records = chain.len() as u64;
    verdict.last = chain.last().map_or(start.seq, |f| f.seq);
    if let Some(problem) = walk(&chain, start) {
        problems.push(problem);
    }

    // Each good checkpoint after the start must name a record that is there, with its hash.
    let by_seq: HashMap<u64, Hash> = chain.iter().map(|f| (f.seq, f.stored_hash)).collect();
    for cp in good.iter().filter(|cp| cp.seq > start.seq) {
        match by_seq.get(&cp.seq) {
            Some(hash) if *hash == cp.hash => {}
            Some(_) => problems.push(Problem::Rewritten { seq: cp.seq }),
            None if cp.seq > verdict.last => problems.push(Problem::Truncated {
                last: verdict.last,
                seq: cp.seq,
            }),
            // A missing record inside the chain is the walk's finding.
            None => {}
        }
    }
    verdict.problem = problems.into_iter().min_by_key(Problem::seq);
    verdict
}

/// Follows the links from `start`; the first broken one, classified.
fn walk(chain: &[&Facts], start: Link) -> Option<Problem> {
    let position: HashMap<Hash, usize> = chain
        .iter()
        .enumerate()
        .map(|(i, f)| (f.stored_hash, i))
        .collect();
    let mut expected = start;
    // The hash before the expected one: a record linking to it skips the one between.
    let mut before_expected: Option<Hash> = None;
    for (i, f) in chain.iter().enumerate() {
        if !f.content_holds {
            return Some(Problem::Edited { seq: f.seq });
        }
        if f.prev_hash == expected.hash {
            if f.seq != expected.seq + 1 {
                // Linked right but numbered out of place: the numbers were changed.
                return Some(if f.seq > expected.seq + 1 {
                    Problem::Deleted {
                        seq: expected.seq + 1,
                    }
                } else {
                    Problem::Reordered { seq: f.seq }
                });
            }
            before_expected = Some(expected.hash);
            expected = Link {
                seq: f.seq,
                hash: f.stored_hash,
            };
            continue;
        }
        // The link is broken at `f`: say why as precisely as the links allow.
        let links_to = position.get(&f.prev_hash).copied();
        if links_to.is_some_and(|j| j > i) {
            // It follows a record that comes after it: records were swapped or moved.
            return Some(Problem::Reordered { seq: f.seq });
        }
        if before_expected.is_some_and(|h| h == f.prev_hash) {
            // It skips the record before it, which therefore was put in between.
            return Some(Problem::Inserted { seq: expected.seq });
        }
        if chain
            .get(i + 1)
            .is_some_and(|next| next.prev_hash == expected.hash)
        {
            // The next record skips this one.
            return Some(Problem::Inserted { seq: f.seq });
        }
        if links_to.is_some() {
            return Some(Problem::Reordered { seq: f.seq });
        }
        if f.seq > expected.seq + 1 {
            return Some(Problem::Deleted {
                seq: expected.seq + 1,
            });
        }
        // It follows a record that is not there: the one before it was rewritten, hash and
        // all, or one was deleted and the rest renumbered. Either way, from here on.
        return Some(if expected.seq > start.seq {
            Problem::Edited { seq: expected.seq }
        } else {
            Problem::Deleted { seq: f.seq }
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Actor, AuditEvent};
    use chrono::TimeZone;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut link = Link::GENESIS;
        (1..=n)
            .map(|i| {
                let at = chrono::Utc
                    .timestamp_millis_opt(i as i64)
                    .single()
                    .expect("t");
                let r = AuditRecord::next(
                    "n1",
                    &link,
                    at,
                    AuditEvent::new(Actor::user(format!("u{i}")), Action::SignIn),
                );
                link = r.link();
                r
            })
            .collect()
    }

    fn verdict(records: &[AuditRecord]) -> Option<Problem> {
        let facts: Vec<Facts> = records.iter().map(Facts::of).collect();
        verify_chain("n1", &facts, &[], &[]).problem
    }

    #[test]
    fn an_intact_chain_holds() {
        assert_eq!(verdict(&chain(10)), None);
        assert_eq!(verdict(&[]), None);
    }

    #[test]
    fn an_edit_is_named() {
        let mut records = chain(10);
        records[4].detail = "{\"x\":1}".into();
        assert_eq!(verdict(&records), Some(Problem::Edited { seq: 5 }));
    }

    #[test]
    fn a_rehashed_edit_is_named_by_the_next_link() {
        let mut records = chain(10);
        records[4].detail = "{\"x\":1}".into();
        records[4].hash = record_hash(&records[4]);
        assert_eq!(verdict(&records), Some(Problem::Edited { seq: 5 }));
    }

    #[test]
    fn a_deletion_is_named() {
        let mut records = chain(10);
        records.remove(3);
        assert_eq!(verdict(&records), Some(Problem::Deleted { seq: 4 }));
    }

    #[test]
    fn an_insertion_with_renumbering_is_named() {
        let mut records = chain(10);
        let forged = AuditRecord::next(
            "n1",
            &records[5].link(),
            records[5].at,
            AuditEvent::new(Actor::anonymous(), Action::SignIn),
        );
        records.insert(6, forged);
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        assert_eq!(verdict(&records), Some(Problem::Inserted { seq: 7 }));
    }

    #[test]
    fn an_unlinked_insertion_is_named() {
        let mut records = chain(10);
        let mut forged = records[2].clone();
        forged.prev_hash = Hash([9; 32]);
        forged.hash = record_hash(&forged);
        records.insert(3, forged);
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        assert_eq!(verdict(&records), Some(Problem::Inserted { seq: 4 }));
    }

    #[test]
    fn a_swap_is_named() {
        let mut records = chain(10);
        records.swap(3, 4);
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        assert_eq!(verdict(&records), Some(Problem::Reordered { seq: 4 }));
        let mut far = chain(10);
        far.swap(2, 7);
        for (i, r) in far.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        assert_eq!(verdict(&far), Some(Problem::Reordered { seq: 3 }));
    }
}
