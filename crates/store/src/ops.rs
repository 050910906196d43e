//! Operations data: the node and service registry, status history, and admin reports.

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::{Account, AccountId, EndReason, Service, ServiceStatus, Timestamp, User};

/// How many sessions ended for one reason in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndCount {
    pub reason: EndReason,
    pub count: u64,
    /// Of those, how many never went live (incomplete attempts).
    pub incomplete: u64,
}

/// What was removed by a prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub revoked_tokens: u64,
    pub services: u64,
}

/// Operations storage, part of every [`crate::Store`].
///
/// Guarantees: `record_status` inserts and caps in one transaction, so a service never holds
/// more than `keep` rows after it returns; `mark_node_stopped` only touches the named node.
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// Records a service start, or updates it if the id is known.
    async fn register_service(&self, service: &Service) -> Result<()>;

    /// Marks one service stopped.
    async fn mark_service_stopped(&self, id: &str, at: Timestamp) -> Result<()>;

    /// Marks every running service of a node stopped (on a clean stop, and at start for rows a
    /// crash left behind). Returns how many changed.
    async fn mark_node_stopped(&self, node: &str, at: Timestamp) -> Result<u64>;

    /// Appends a status sample and deletes the service's oldest samples beyond `keep`.
    async fn record_status(&self, status: &ServiceStatus, keep: u32) -> Result<()>;

    /// Every service, running ones first, newest start first.
    async fn services(&self) -> Result<Vec<Service>>;

    /// The newest status of each service that has one.
    async fn latest_statuses(&self) -> Result<Vec<ServiceStatus>>;

    /// A service's samples since `since`, oldest first.
    async fn status_history(
        &self,
        service_id: &str,
        since: Timestamp,
    ) -> Result<Vec<ServiceStatus>>;

    /// Sessions that ended since `since`, counted by reason, for one account or all.
    async fn end_counts(
        &self,
        account: Option<AccountId>,
        since: Timestamp,
    ) -> Result<Vec<EndCount>>;

    /// Creates a user in an existing account. `Conflict` if the username is taken,
    /// `NotFound` if the account does not exist.
    async fn create_user(&self, user: &User) -> Result<()>;

    /// Every account, oldest first.
    async fn accounts(&self) -> Result<Vec<Account>>;

    /// Every user of every account, oldest first.
    async fn all_users(&self) -> Result<Vec<User>>;

    /// Deletes revoked-token rows past their expiry and services stopped before
    /// `stopped_before` (with their samples).
    async fn prune(&self, now: Timestamp, stopped_before: Timestamp) -> Result<Pruned>;
}
