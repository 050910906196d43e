//! Session ownership in a cluster: which node runs an open session's actor.
//!
//! A node owns an open session while its lease row says so and has not expired. Nodes renew
//! and claim in one statement every few seconds: their own sessions are renewed, and open
//! sessions whose lease ran out (their owner died) or that have none are taken over. The
//! database decides races: two nodes claiming the same session at once update one row, and
//! only one update matches.

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::{Suid, Timestamp};

/// Session leases, part of every [`crate::Store`].
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Renews this node's leases and takes over open sessions whose lease expired before
    /// `now` (or that have none), all until `until`. Returns every open session the node owns
    /// now.
    async fn claim_sessions(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Suid>>;

    /// Takes one open session for this node unless another node holds a live lease on it.
    /// Returns whether the node owns it now.
    async fn claim_session(
        &self,
        suid: Suid,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool>;

    /// Gives up this node's leases (a graceful stop), so other nodes take its sessions over
    /// at once instead of after the lease runs out.
    async fn release_sessions(&self, node: &str) -> Result<u64>;

    /// The node owning an open session and until when, if any.
    async fn session_owner(&self, suid: Suid) -> Result<Option<(String, Timestamp)>>;
}
