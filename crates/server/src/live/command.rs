//! What handlers and followers ask of a session's actor.

use switchboard_core::{DeviceId, DeviceInfo, EndReason, Session, Timestamp};
use tokio::sync::oneshot;

/// What handlers ask of a session.
#[derive(Debug)]
pub(super) enum Command {
    ViewerJoined {
        name: String,
    },
    ViewerLeft {
        name: String,
    },
    DeviceRegistered {
        device_id: DeviceId,
        // Boxed: the largest variant sets the size of every slot of the session's command
        // channel, whose first block of 32 slots is allocated with the session.
        info: Box<DeviceInfo>,
        at: Timestamp,
    },
    End {
        reason: EndReason,
        reply: oneshot::Sender<Session>,
    },
    /// Stop without ending: another node owns the session now.
    Stop,
    /// The store no longer lists the session as open: read it, and adopt the end written
    /// there (by the admin CLI or another node).
    CheckStored,
}
