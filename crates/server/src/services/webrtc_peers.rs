//! The node's WebRTC peers by resource id, with whose each is and whether it connected: what
//! `DELETE` checks, and what says whether a session publishes over WebRTC here.

use std::collections::HashMap;
use std::sync::Mutex;
use switchboard_core::{DeviceId, Suid, UserId};
use switchboard_sfu::Role;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Whose a WebRTC resource is: only they may delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    Device(DeviceId),
    User(UserId),
}

#[derive(Debug)]
pub(super) struct Resource {
    pub suid: Suid,
    pub role: Role,
    pub owner: Owner,
    pub connected: bool,
    pub stop: CancellationToken,
}

/// The node's WebRTC peers by resource id.
#[derive(Debug, Default)]
pub struct WebRtcPeers(Mutex<HashMap<Uuid, Resource>>);

impl WebRtcPeers {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Resource>> {
        // A map of plain values: a poisoned one is still consistent.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `suid` has a connected WebRTC publisher on this node.
    pub fn publishing(&self, suid: Suid) -> bool {
        self.lock()
            .values()
            .any(|r| r.suid == suid && r.role == Role::Publisher && r.connected)
    }
}
