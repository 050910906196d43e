//! The handle through which handlers reach a live session.

use super::actor::Command;
use super::{Frame, FrameSlot, LiveStats};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use switchboard_core::{
    AccountId, DeviceId, DeviceInfo, EndReason, Session, SessionState, Suid, Timestamp,
};
use tokio::sync::{mpsc, oneshot, watch};

/// What watchers of a session need to know at a glance; changes wake long polls.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    pub state: SessionState,
    pub end_reason: Option<EndReason>,
    pub viewers: u32,
    /// Who watches now (usernames, each once, sorted).
    pub viewer_names: Vec<String>,
    /// Since when nobody has watched (drives the `no_viewers` timeout).
    pub viewers_zero_since: Option<Timestamp>,
}

/// A cheap, clonable reference to one live session.
#[derive(Debug, Clone)]
pub struct SessionHandle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    suid: Suid,
    account_id: AccountId,
    commands: mpsc::UnboundedSender<Command>,
    frames: FrameSlot,
    stats: LiveStats,
    status: watch::Sender<LiveStatus>,
    viewers: AtomicU32,
    max_viewers: u32,
}

/// Why a viewer could not join.
#[derive(Debug, thiserror::Error)]
pub enum ViewerRefused {
    #[error("the session has ended")]
    Ended,
    #[error("this session already has its maximum of {0} viewers")]
    Full(u32),
}

/// Why the session actor could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the session has ended")]
pub struct SessionGone;

impl SessionHandle {
    pub(super) fn new(
        session: &Session,
        commands: mpsc::UnboundedSender<Command>,
        stats: LiveStats,
        max_viewers: u32,
    ) -> Self {
        SessionHandle(Arc::new(Inner {
            suid: session.suid,
            account_id: session.account_id,
            commands,
            frames: FrameSlot::default(),
            stats,
            status: watch::Sender::new(LiveStatus {
                state: session.state,
                end_reason: session.end_reason,
                viewers: 0,
                viewer_names: Vec::new(),
                viewers_zero_since: None,
            }),
            viewers: AtomicU32::new(0),
            max_viewers,
        }))
    }

    pub fn suid(&self) -> Suid {
        self.0.suid
    }

    pub fn account_id(&self) -> AccountId {
        self.0.account_id
    }

    pub fn stats(&self) -> &LiveStats {
        &self.0.stats
    }

    pub fn frames(&self) -> &FrameSlot {
        &self.0.frames
    }

    /// The current status.
    pub fn status(&self) -> LiveStatus {
        self.0.status.borrow().clone()
    }

    /// Wakes on every status change.
    pub fn subscribe_status(&self) -> watch::Receiver<LiveStatus> {
        self.0.status.subscribe()
    }

    pub(super) fn set_status(&self, status: LiveStatus) {
        self.0.status.send_replace(status);
    }

    /// Whether the session is still open.
    pub fn is_open(&self) -> bool {
        self.0.status.borrow().state != SessionState::Ended
    }

    /// Accepts a frame from the device: counts it and hands it to every viewer.
    /// Returns the frame's sequence number.
    pub fn push_frame(
        &self,
        seq: Option<u64>,
        data: Bytes,
        now_ms: i64,
    ) -> Result<u64, SessionGone> {
        if !self.is_open() {
            return Err(SessionGone);
        }
        let seq = self.0.stats.record(seq, data.len(), now_ms);
        self.0.frames.publish(Frame {
            seq,
            data,
            received: std::time::Instant::now(),
        });
        Ok(seq)
    }

    /// Registers a viewer (named for the others to see). The guard unregisters it when
    /// dropped, however the connection ends.
    pub fn join_viewer(&self, name: String) -> Result<ViewerGuard, ViewerRefused> {
        if !self.is_open() {
            return Err(ViewerRefused::Ended);
        }
        let max = self.0.max_viewers;
        self.0
            .viewers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| ViewerRefused::Full(max))?;
        if self
            .0
            .commands
            .send(Command::ViewerJoined { name: name.clone() })
            .is_err()
        {
            self.0.viewers.fetch_sub(1, Ordering::AcqRel);
            return Err(ViewerRefused::Ended);
        }
        Ok(ViewerGuard {
            session: self.clone(),
            name,
        })
    }

    /// Tells the actor the device redeemed the ticket (already recorded in the store).
    pub fn device_registered(&self, device_id: DeviceId, info: DeviceInfo, at: Timestamp) {
        // If the actor is gone the session has ended; the device learns that on its next call.
        let _ = self.0.commands.send(Command::DeviceRegistered {
            device_id,
            info,
            at,
        });
    }

    /// Ends the session and waits until it is recorded. Returns the ended session.
    pub async fn end(&self, reason: EndReason) -> Result<Session, SessionGone> {
        let (reply, rx) = oneshot::channel();
        self.0
            .commands
            .send(Command::End { reason, reply })
            .map_err(|_| SessionGone)?;
        rx.await.map_err(|_| SessionGone)
    }
}

/// Holds a viewer's place; dropping it tells the session the viewer left.
#[derive(Debug)]
pub struct ViewerGuard {
    session: SessionHandle,
    name: String,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let inner = &self.session.0;
        inner.viewers.fetch_sub(1, Ordering::AcqRel);
        let name = std::mem::take(&mut self.name);
        let _ = inner.commands.send(Command::ViewerLeft { name });
    }
}
