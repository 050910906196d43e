//! The handle through which handlers reach a live session.

use super::command::Command;
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
    role: Role,
    /// On the owner: viewers on other nodes, so frames are relayed only while someone
    /// there watches.
    remote_viewers: AtomicU32,
    /// Cancelled when this node stops running the session (another took its lease): the
    /// connections holding this handle close, so that they reconnect to the session's new
    /// owner or a follower of it.
    detached: tokio_util::sync::CancellationToken,
    /// Frames this node relays for the session's device, per second (`max_device_fps`).
    frame_rate: std::sync::Mutex<super::RateBucket>,
}

/// Whether this node runs the session or follows another node that does.
#[derive(Debug)]
enum Role {
    /// The session actor runs here.
    Owner,
    /// Another node owns the session; frames a device sends here wait in `outbox` for the
    /// follower task to forward them (the newest only, like any viewer).
    Follower { outbox: FrameSlot },
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
            role: Role::Owner,
            remote_viewers: AtomicU32::new(0),
            detached: tokio_util::sync::CancellationToken::new(),
            frame_rate: std::sync::Mutex::new(super::RateBucket::default()),
        }))
    }

    /// A handle for a session another node owns: its commands go to a follower task that
    /// relays them over the bus.
    pub(super) fn new_follower(
        session: &Session,
        commands: mpsc::UnboundedSender<Command>,
        stats: LiveStats,
        max_viewers: u32,
    ) -> Self {
        let mut handle = Self::new(session, commands, stats, max_viewers);
        if let Some(inner) = Arc::get_mut(&mut handle.0) {
            inner.role = Role::Follower {
                outbox: FrameSlot::default(),
            };
        }
        handle
    }

    /// Whether another node owns the session.
    pub fn is_follower(&self) -> bool {
        matches!(self.0.role, Role::Follower { .. })
    }

    /// Frames received here for the owner (followers only).
    pub(super) fn outbox(&self) -> Option<&FrameSlot> {
        match &self.0.role {
            Role::Follower { outbox } => Some(outbox),
            Role::Owner => None,
        }
    }

    /// Viewers on other nodes (owners only).
    pub(super) fn remote_viewers(&self) -> u32 {
        self.0.remote_viewers.load(Ordering::Acquire)
    }

    pub(super) fn set_remote_viewers(&self, n: u32) {
        self.0.remote_viewers.store(n, Ordering::Release);
    }

    /// Whether two handles are the same session instance (not merely the same SUID).
    pub fn same(&self, other: &SessionHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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

    /// Whether the device may have one more frame relayed now, at most `max_fps` a second
    /// (0: unlimited); a frame over the rate is dropped by the caller.
    pub fn admit_frame(&self, max_fps: u32) -> bool {
        self.0
            .frame_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(max_fps, std::time::Instant::now())
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
        match &self.0.role {
            Role::Owner => {
                let seq = self.0.stats.record(seq, data.len(), now_ms);
                self.0.frames.publish(Frame {
                    seq,
                    data,
                    received: std::time::Instant::now(),
                });
                Ok(seq)
            }
            // The owner counts and numbers it, and relays it back to viewers here too.
            Role::Follower { outbox } => {
                let seq = seq.unwrap_or_else(|| self.0.stats.last_seq().map_or(0, |s| s + 1));
                outbox.publish(Frame {
                    seq,
                    data,
                    received: std::time::Instant::now(),
                });
                Ok(seq)
            }
        }
    }

    /// A frame relayed by the owner (followers only): viewers here get it.
    pub(super) fn relayed_frame(&self, seq: u64, data: Bytes, now_ms: i64) {
        self.0.stats.record(Some(seq), data.len(), now_ms);
        self.0.frames.publish(Frame {
            seq,
            data,
            received: std::time::Instant::now(),
        });
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
            info: Box::new(info),
            at,
        });
    }

    /// Cancelled once this handle no longer carries the session (see `detached`).
    pub fn detached(&self) -> &tokio_util::sync::CancellationToken {
        &self.0.detached
    }

    pub(super) fn detach(&self) {
        self.0.detached.cancel();
    }

    /// Asks the actor to read its stored session, which the store no longer lists as open.
    pub(super) fn check_stored(&self) {
        let _ = self.0.commands.send(Command::CheckStored);
    }

    /// Stops a session's actor without ending the session (this node lost its lease).
    pub(super) fn stop(&self) {
        let _ = self.0.commands.send(Command::Stop);
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
