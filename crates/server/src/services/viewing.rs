//! Viewers: joining a running session as a viewer (a place counted until it is dropped, on
//! this node and in the account's admission counts), and the newest frame.

use super::audit::{AuditLog, RequestContext};
use super::gatekeeper::{Bucket, Place};
use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::live::{Frame, SessionHandle, ViewerGuard, ViewerRefused};
use std::sync::Arc;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::{AccountId, Suid, Timestamp, User, UserId};

/// How a viewer watches, as the audit trail names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewRoute {
    /// The watch WebSocket (frames and events).
    WatchSocket,
    /// An MJPEG stream.
    Mjpeg,
    /// A WebRTC peer (WHEP).
    Webrtc,
}

impl ViewRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewRoute::WatchSocket => "watch_socket",
            ViewRoute::Mjpeg => "mjpeg",
            ViewRoute::Webrtc => "webrtc",
        }
    }
}

/// A viewing on the audit trail: its start is recorded as it begins, and dropping this
/// (however the viewing ends) records the whole viewing: start, end, seconds, route, node.
#[derive(Debug)]
pub struct WatchRecord {
    audit: AuditLog,
    user: UserId,
    account: AccountId,
    suid: Suid,
    route: ViewRoute,
    started: Timestamp,
    context: RequestContext,
}

impl Drop for WatchRecord {
    fn drop(&mut self) {
        let ended = chrono::Utc::now();
        let seconds = (ended - self.started).num_milliseconds() as f64 / 1000.0;
        self.audit.note(
            AuditEvent::new(Actor::user(self.user), Action::Watched)
                .account(self.account)
                .target("session", self.suid)
                .detail(serde_json::json!({
                    "started_at": self.started,
                    "ended_at": ended,
                    "seconds": seconds,
                    "route": self.route.as_str(),
                }))
                .request(self.context.request_id.take(), self.context.client),
        );
    }
}

/// A viewer's place in a running session.
#[derive(Debug)]
pub struct Viewing {
    pub handle: SessionHandle,
    pub place: ViewerGuard,
    /// The viewer's place in the account's admission counts.
    pub admitted: Place,
    /// Shapes what the account's viewers receive from this node (`None`: not shaped). A
    /// viewer skips a frame the bucket has no room for, as a slow reader does.
    pub egress: Option<Arc<Bucket>>,
    /// Records the viewing's end when dropped.
    pub record: WatchRecord,
}

impl LiveSessions {
    /// Joins the user's account's session `suid` as a viewer, within the account's viewer
    /// limits and this node's.
    pub async fn watch(
        &self,
        user: &User,
        suid: &str,
        route: ViewRoute,
    ) -> Result<Viewing, SessionError> {
        let (session, handle) = self.running_of(user.account_id, suid).await?;
        // Watching must be on record: refused while the trail cannot be written.
        self.audit.check()?;
        let admitted = self
            .gate
            .admit_viewer(user.account_id, &session.suid.to_string())
            .await?;
        let egress = self.gate.egress_bucket(user.account_id).await;
        let place = handle
            .join_viewer(user.username.clone())
            .map_err(|e| match e {
                ViewerRefused::Ended => SessionError::Ended,
                ViewerRefused::Full(_) => SessionError::TooManyViewers(e.to_string()),
            })?;
        self.audit.record(
            AuditEvent::by(user, Action::WatchStarted)
                .target("session", session.suid)
                .detail(serde_json::json!({ "route": route.as_str() })),
        )?;
        let record = WatchRecord {
            audit: self.audit.clone(),
            user: user.id,
            account: user.account_id,
            suid: session.suid,
            route,
            started: chrono::Utc::now(),
            context: RequestContext::current(),
        };
        Ok(Viewing {
            handle,
            place,
            admitted,
            egress,
            record,
        })
    }

    /// The user's account's running session `suid`, for its events alone: no frames, no
    /// viewer place (the page plays the video over WebRTC, whose peer is the viewer).
    pub async fn follow_events(
        &self,
        user: &User,
        suid: &str,
    ) -> Result<SessionHandle, SessionError> {
        let (_, handle) = self.running_of(user.account_id, suid).await?;
        Ok(handle)
    }

    /// The newest frame of the user's account's running session `suid`.
    pub async fn latest_frame(&self, user: &User, suid: &str) -> Result<Frame, SessionError> {
        let (session, handle) = self.running_of(user.account_id, suid).await?;
        let frame = handle.frames().latest().ok_or(SessionError::NoFrameYet)?;
        self.audit
            .record(AuditEvent::by(user, Action::FrameViewed).target("session", session.suid))?;
        handle.stats().sent_jpeg(frame.data.len());
        Ok(frame)
    }
}
