//! Switchboard's domain: accounts, users, sessions, tickets, devices, viewers and call-detail
//! records, the session state machine and its timeout policy.
//!
//! Architecture invariant: this crate does no I/O. Every function that depends on time takes
//! `now` as an argument, and randomness comes in as an `Rng`, so all of it is testable with
//! plain values.

pub mod account;
pub mod audit;
pub mod cdr;
pub mod control;
pub mod device;
pub mod ids;
pub mod limits;
pub mod ops;
pub mod security;
pub mod session;
pub mod ticket;
pub mod timeouts;
pub mod viewers;

pub use account::{Account, Role, User};
pub use cdr::Cdr;
pub use control::Control;
pub use device::{AppVersion, DeviceInfo};
pub use ids::{AccountId, DeviceId, Suid, UserId};
pub use ops::{Service, ServiceStatus, least_loaded};
pub use session::{
    EndReason, MediaPath, PathTraffic, Session, SessionKind, SessionState, SessionStats, Traffic,
    Transition,
};
pub use ticket::TicketCode;
pub use timeouts::{Deadline, SessionClock, TimeoutPolicy};
pub use viewers::ViewerLedger;

/// Wall-clock timestamps are UTC everywhere; they serialize as RFC 3339.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
