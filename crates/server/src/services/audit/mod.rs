//! The audit trail: who did what to something private, when, from where, with what outcome.
//!
//! Services hand events to [`AuditLog`]; one writer task per node (`writer.rs`) numbers and
//! links them into the node's hash chain in the database, in batches, signs checkpoints with
//! the node's key (`node_key.rs`) and cuts what retention no longer keeps. Reading the trail
//! is [`AuditViews`] (`views.rs`).
//!
//! Three ways to record, by what the action is:
//! - [`AuditLog::record_durable`]: the action changes data or grants access (sign-in,
//!   sign-out, passwords, users, sessions opened and ended, tickets, controls, admin changes,
//!   exports). It is answered only once its record is stored; if it cannot be, the action is
//!   refused (503 `audit_unavailable`) when the node fails closed.
//! - [`AuditLog::record`]: reading something private (a frame, a snapshot, a search, a file).
//!   Batched off the request path; refused at once while records cannot be written.
//! - [`AuditLog::note`]: what already happened and cannot be undone (a viewing that ended, a
//!   timeout). Never refused; queued until it is written.

pub mod chain_check;
mod context;
mod error;
mod log;
mod node_key;
mod views;
mod writer;

pub use context::RequestContext;
pub use error::AuditError;
pub use log::{AuditLog, AuditStartError};
pub use node_key::{NodeKey, NodeKeyError};
pub use views::{AuditViewError, AuditViews};
