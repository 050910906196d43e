//! [`AuditStore`]: the nodes' audit chains, their signed checkpoints and signing keys
//! (migration 0010).

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::audit::{AuditRecord, Checkpoint, Link};
use switchboard_core::{AccountId, Timestamp};

/// Where a page of records ends: the next page starts after it (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: Timestamp,
    pub node: String,
    pub seq: u64,
}

/// Which records to read, newest first. Every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub account: Option<AccountId>,
    /// Who acted (a user id, SUID or camera id).
    pub actor: Option<String>,
    /// What was acted on (its id).
    pub target: Option<String>,
    pub action: Option<String>,
    /// From this time (inclusive).
    pub from: Option<Timestamp>,
    /// Up to this time (exclusive).
    pub to: Option<Timestamp>,
    /// Records strictly older than this one.
    pub after: Option<AuditCursor>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends records in one transaction. `Conflict` if one's place (node, seq) is taken:
    /// another process writes this node's chain.
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<()>;

    /// The end of `node`'s chain: its newest record, else where retention cut it, else
    /// `None` (an empty chain).
    async fn audit_head(&self, node: &str) -> Result<Option<Link>>;

    /// Stores a signed checkpoint (storing the same one twice is a no-op).
    async fn add_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;

    /// Records that `node` signs with `public_key` (a no-op when known).
    async fn register_audit_key(&self, node: &str, public_key: &[u8], at: Timestamp) -> Result<()>;

    /// The public keys `node` has signed with.
    async fn audit_keys(&self, node: &str) -> Result<Vec<Vec<u8>>>;

    /// Every node with a chain, a checkpoint or a key.
    async fn audit_nodes(&self) -> Result<Vec<String>>;

    /// Up to `limit` records of `node`'s chain numbered above `after`, in order.
    async fn audit_chain(&self, node: &str, after: u64, limit: u32) -> Result<Vec<AuditRecord>>;

    /// Every checkpoint of `node`, in order.
    async fn audit_checkpoints(&self, node: &str) -> Result<Vec<Checkpoint>>;

    /// Records matching `query`, newest first.
    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;

    /// The newest record of `node`'s chain written before `before`: where retention may cut.
    async fn audit_prune_point(&self, node: &str, before: Timestamp) -> Result<Option<Link>>;

    /// Stores a prune checkpoint and deletes the records it covers, in one transaction.
    /// Returns how many records were deleted.
    async fn prune_audit(&self, checkpoint: &Checkpoint) -> Result<u64>;
}
