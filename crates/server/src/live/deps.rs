//! Everything a session actor uses besides its own state.

use super::CdrLog;
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_core::TimeoutPolicy;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a session actor uses besides its own state.
#[derive(Clone)]
pub struct ActorDeps {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub policy: TimeoutPolicy,
    pub cdr_log: CdrLog,
    pub stats_interval: std::time::Duration,
    pub max_viewers: u32,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// This node's name, as its session leases and presence reports carry it.
    pub node: String,
    /// How long a lease lasts unless renewed (renewed every third of it).
    pub lease_ttl: std::time::Duration,
    /// Whether other nodes share the bus (NATS): then every session's status is followed.
    pub clustered: bool,
    /// Fires when the bus probe found deliveries missing: long-lived subscribers (the status
    /// board, owner links, followers) subscribe again.
    pub resubscribe: crate::bus_probe::Resubscribe,
    /// Where timeouts are recorded (the node ended the session, nobody asked).
    pub audit: crate::services::audit::AuditLog,
    /// Saves the sessions' periodic totals in batches.
    pub stats_saver: super::StatsSaver,
}
