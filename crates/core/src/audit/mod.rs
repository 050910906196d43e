//! The audit trail's records: who did what to which private thing, when, from where, and
//! with what outcome (`record.rs`); the hashes that link them into a chain (`hash.rs`); the
//! checkpoints a node signs (`checkpoint.rs`) and the verdict on a stored chain
//! (`verify.rs`).
//!
//! Each node keeps its own chain: records numbered 1, 2, 3… (`seq`), each carrying the hash
//! of the one before, so editing, deleting, inserting or reordering a stored record breaks a
//! link that [`verify::verify_chain`] names.

mod action;
pub mod checkpoint;
mod hash;
mod record;
pub mod verify;

pub use action::{Action, UnknownAction};
pub use checkpoint::{Checkpoint, CheckpointKind};
pub use hash::{Hash, Link, hex_decode, hex_encode};
pub use record::{Actor, ActorKind, AuditEvent, AuditRecord, Outcome, Target, record_hash};
