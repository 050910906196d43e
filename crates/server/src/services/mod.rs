//! The server's domain work, behind services that know nothing of HTTP: live sessions
//! (`sessions`, `devices`, `frames`, `viewing`, `controls`), compute (kernels, cells, runs,
//! files), cameras, taught objects and voice questions, accounts (and deleting them) and administration. Each returns its own error enum, which
//! names the protocol's [`crate::protocol::ErrorCode`] of each failure
//! ([`failure::ServiceError`]); the HTTP edge (`crate::error`) turns any of them into an
//! answer in one place. Routes extract, call one service method and shape the answer.

pub mod account_deletion;
pub mod account_error;
pub mod accounts;
pub mod admin;
pub mod admin_error;
pub mod audit;
pub mod camera_error;
pub mod cameras;
pub mod compute;
pub mod controls;
pub mod devices;
pub mod failure;
pub mod frames;
pub mod gatekeeper;
pub mod ice_servers;
pub mod limits;
pub mod security;
pub mod session_error;
pub mod sessions;
pub(crate) mod sign_in_failures;
pub mod taught_error;
pub mod taught_objects;
pub mod viewing;
pub mod voice_error;
pub mod voice_search;
pub mod webrtc;
pub mod webrtc_peers;

pub use account_deletion::AccountDeletion;
pub use account_error::AccountError;
pub use accounts::Accounts;
pub use admin::AdminViews;
pub use admin_error::AdminError;
pub use audit::{AuditError, AuditLog, AuditViews, RequestContext};
pub use camera_error::CameraError;
pub use cameras::{CameraService, GoLive};
pub use compute::{Compute, ComputeError};
pub use failure::ServiceError;
pub use limits::LimitViews;
pub use security::{AccountSecurity, SecurityError, SignIns};
pub use session_error::SessionError;
pub use sessions::LiveSessions;
pub use taught_error::TaughtError;
pub use taught_objects::TaughtObjects;
pub use voice_error::VoiceSearchError;
pub use voice_search::VoiceSearch;
