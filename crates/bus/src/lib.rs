//! Fan-out between nodes: the [`Bus`] trait, its in-process implementation for one node, and
//! NATS for clusters.
//!
//! A node publishes what other nodes may need (session events, controls, and later frames) on
//! subjects; whoever subscribed gets it. Embedded deployments use [`InProcessBus`]; clusters
//! use NATS behind the same trait.
//!
//! Architecture invariant: the bus moves opaque bytes. It knows nothing of sessions, SQL or
//! HTTP; [`subjects`] only names the subjects.

mod in_process;
mod nats;
pub mod subjects;

pub use in_process::InProcessBus;
pub use nats::NatsBus;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// What can go wrong talking to the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached now; the caller may retry.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The subject or payload is not acceptable (too large, bad subject).
    #[error("bus rejected the message: {0}")]
    Rejected(String),
}

/// One item from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A published message, in publish order for a given publisher.
    Message(Bytes),
    /// The subscriber fell behind and this many messages were skipped. Frames are meant to
    /// be skipped by slow readers; for events a subscriber re-reads state instead.
    Lagged(u64),
}

/// A live subscription: a stream of deliveries that ends when the bus closes.
/// Dropping it unsubscribes.
pub type Subscription = BoxStream<'static, Delivery>;

/// Publish/subscribe between the parts of a node and between nodes.
///
/// Semantics every implementation keeps:
/// - At most once: a message published while nobody subscribes is gone; there is no replay.
///   Durable things (controls, state) are stored first and the bus only says "look".
/// - Per-publisher order: messages from one publisher on one subject arrive in order.
/// - Bounded: a subscriber that cannot keep up loses the oldest messages and is told how
///   many ([`Delivery::Lagged`]); publishers never wait for slow subscribers.
/// - `publish` returns once the message is handed over, not when it is delivered.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes a message on a subject.
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError>;

    /// Subscribes to a subject. Messages published after this returns are delivered.
    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError>;

    /// Whether the bus can reach its broker now. While it cannot, messages published here
    /// or elsewhere are lost (at most once), so a node reports itself not ready. A bus with
    /// no broker is always connected.
    fn is_connected(&self) -> bool {
        true
    }
}
