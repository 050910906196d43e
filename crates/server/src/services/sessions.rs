//! The live-session service: opening sessions, finding an account's sessions, what the API
//! shows of one, waiting for its state to change, and ending it. Devices, frames, viewers
//! and controls are further `impl` blocks of [`LiveSessions`] in their own modules.

use super::audit::AuditLog;
use super::gatekeeper::Gatekeeper;
use super::session_error::SessionError;
use crate::auth::{Claims, Right, TokenService};
use crate::config::Config;
use crate::live::{SessionHandle, SessionRegistry, now};
use crate::protocol::{DeadlineView, SessionView};
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::Bus;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::{
    AccountId, AppVersion, EndReason, Session, SessionClock, SessionKind, SessionState, Suid,
    TicketCode, User,
};
use switchboard_store::{SessionFilter, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Longest label a session may carry, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// Live sessions: what routes for sessions, devices, frames, viewers and controls call.
#[derive(Clone)]
pub struct LiveSessions {
    pub(super) config: Arc<Config>,
    pub(super) store: Arc<dyn Store>,
    pub(super) bus: Arc<dyn Bus>,
    pub(super) registry: SessionRegistry,
    pub(super) tokens: Arc<TokenService>,
    pub(super) gate: Arc<Gatekeeper>,
    pub(super) min_app_version: Option<AppVersion>,
    pub(super) public_url: String,
    pub(super) shutdown: CancellationToken,
    pub(super) audit: AuditLog,
    /// The node's WebRTC forwarding unit; `None` when WebRTC is off here.
    pub(super) sfu: Option<switchboard_sfu::Sfu>,
    pub(super) webrtc: Arc<super::webrtc_peers::WebRtcPeers>,
    /// The STUN and TURN servers browsers get for their peer connections.
    pub(super) ice: Arc<super::ice_servers::IceServers>,
}

impl std::fmt::Debug for LiveSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSessions")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// How a wait for a session's state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    Changed,
    TimedOut,
    RightEnded,
}

impl LiveSessions {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        registry: SessionRegistry,
        tokens: Arc<TokenService>,
        gate: Arc<Gatekeeper>,
        public_url: String,
        shutdown: CancellationToken,
        audit: AuditLog,
        sfu: Option<switchboard_sfu::Sfu>,
        ice: Arc<super::ice_servers::IceServers>,
    ) -> Self {
        let min_app_version = config
            .devices
            .min_device_app_version
            .as_deref()
            .and_then(|v| AppVersion::parse(v).ok());
        LiveSessions {
            config,
            store,
            bus,
            registry,
            tokens,
            gate,
            min_app_version,
            public_url,
            shutdown,
            audit,
            sfu,
            webrtc: Arc::default(),
            ice,
        }
    }

    /// Opens a session for `user`: stored with a fresh ticket, its actor started here. The
    /// account's open sessions and this node's are limited (the gatekeeper).
    pub async fn open(
        &self,
        user: &User,
        kind: SessionKind,
        label: Option<String>,
    ) -> Result<Session, SessionError> {
        let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
        if label
            .as_ref()
            .is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS)
        {
            return Err(SessionError::LabelTooLong);
        }
        self.audit.check()?;
        // A ticket collides with an open one with negligible odds; draw again if it does.
        for _ in 0..5 {
            let ticket = TicketCode::generate(&mut rand::rng());
            let session = Session::new(
                user.account_id,
                user.id,
                kind,
                label.clone(),
                ticket,
                now(),
                self.config.sessions.ticket_ttl,
            );
            let reservation = self
                .gate
                .admit_session(
                    user.account_id,
                    &session.suid.to_string(),
                    self.registry.len(),
                )
                .await?;
            let stored = self.store.insert_session(&session).await;
            reservation.done().await;
            match stored {
                Ok(()) => {
                    tracing::info!(suid = %session.suid, user = %user.id, "session created");
                    self.registry.own(session.clone()).await?;
                    self.audit
                        .record_durable(
                            AuditEvent::by(user, Action::SessionCreated)
                                .target("session", session.suid)
                                .detail(serde_json::json!({
                                    "kind": session.kind,
                                    "label": session.label,
                                })),
                        )
                        .await?;
                    return Ok(session);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::Internal(
            "could not draw a free ticket in five tries".into(),
        ))
    }

    /// The account's session named by `suid` (as written in a path), else `NotFound`, also
    /// for a malformed SUID or another account's session.
    pub async fn session_of(
        &self,
        account: AccountId,
        suid: &str,
    ) -> Result<Session, SessionError> {
        // Another account's session is answered as one that does not exist.
        let session = self.session(suid).await?;
        if session.account_id == account {
            Ok(session)
        } else {
            Err(SessionError::NotFound)
        }
    }

    /// Any session by SUID, whatever its account (operators' views).
    pub async fn session(&self, suid: &str) -> Result<Session, SessionError> {
        let suid: Suid = suid.parse().map_err(|_| SessionError::NotFound)?;
        match self.store.session(suid).await {
            Ok(s) => Ok(s),
            Err(StoreError::NotFound) => Err(SessionError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The handle of an open session (this node's, or a follower of the node that owns it),
    /// or `Ended`.
    pub fn running(&self, session: &Session) -> Result<SessionHandle, SessionError> {
        if session.state == SessionState::Ended {
            return Err(SessionError::Ended);
        }
        let h = self.registry.follow(session);
        if h.is_open() {
            Ok(h)
        } else {
            Err(SessionError::Ended)
        }
    }

    /// The account's session, running.
    pub async fn running_of(
        &self,
        account: AccountId,
        suid: &str,
    ) -> Result<(Session, SessionHandle), SessionError> {
        let session = self.session_of(account, suid).await?;
        let handle = self.running(&session)?;
        Ok((session, handle))
    }

    /// The account's sessions, newest first: `states` is a comma-separated filter.
    pub async fn list(
        &self,
        account: AccountId,
        states: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<SessionView>, SessionError> {
        let mut filter = SessionFilter {
            limit: limit.unwrap_or(100).clamp(1, 1000),
            ..SessionFilter::default()
        };
        if let Some(states) = states {
            for s in states.split(',') {
                filter
                    .states
                    .push(SessionState::parse(s.trim()).ok_or(SessionError::InvalidState)?);
            }
        }
        let sessions = self.store.list_sessions(account, &filter).await?;
        Ok(sessions.iter().map(|s| self.view(s)).collect())
    }

    /// The account's session as the API shows it; with `wait`, once its state differs from
    /// `known` (default: its state now), the wait ends, or `wait` passes (at most
    /// `max_long_poll`), or the node stops. `RightEnded` as soon as the right of `claims`
    /// (the caller's token) ends meanwhile.
    pub async fn get(
        &self,
        account: AccountId,
        claims: &Claims,
        suid: &str,
        known: Option<&str>,
        wait: Duration,
    ) -> Result<SessionView, SessionError> {
        let session = self.session_of(account, suid).await?;
        let known = match known {
            Some(s) => Some(SessionState::parse(s).ok_or(SessionError::InvalidState)?),
            None => None,
        };
        let wait = wait.min(self.config.sessions.max_long_poll);
        let Some(handle) = self.registry.get(session.suid).filter(|_| !wait.is_zero()) else {
            return Ok(self.view(&session));
        };
        match self
            .wait_for_state(
                &handle,
                known.unwrap_or(session.state),
                wait,
                self.tokens.hold(claims),
            )
            .await
        {
            Waited::RightEnded => Err(SessionError::RightEnded),
            Waited::Changed | Waited::TimedOut => {
                let fresh = self.store.session(session.suid).await?;
                Ok(self.view(&fresh))
            }
        }
    }

    async fn wait_for_state(
        &self,
        handle: &SessionHandle,
        from: SessionState,
        wait: Duration,
        right: Right,
    ) -> Waited {
        let mut status = handle.subscribe_status();
        let changed = async {
            loop {
                if status.borrow_and_update().state != from {
                    return;
                }
                if status.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = right.ended() => Waited::RightEnded,
            () = changed => Waited::Changed,
            () = tokio::time::sleep(wait) => Waited::TimedOut,
            () = self.shutdown.cancelled() => Waited::TimedOut,
        }
    }

    /// Ends the account's session with `reason`. Ending an ended session answers its final
    /// state again.
    pub async fn end(
        &self,
        by: &User,
        account: Option<AccountId>,
        suid: &str,
        reason: EndReason,
    ) -> Result<SessionView, SessionError> {
        let session = match account {
            Some(account) => self.session_of(account, suid).await?,
            None => self.session(suid).await?,
        };
        if session.state != SessionState::Ended {
            self.audit.check()?;
        }
        if session.state != SessionState::Ended
            && let Ok(ended) = self.registry.follow(&session).end(reason).await
        {
            tracing::info!(suid = %ended.suid, ?reason, "session ended");
            self.audit
                .record_durable(
                    AuditEvent::new(Actor::user(by.id), Action::SessionEnded)
                        .account(ended.account_id)
                        .target("session", ended.suid)
                        .detail(serde_json::json!({
                            "reason": reason.as_str(),
                            "by_operator": by.account_id != ended.account_id,
                        })),
                )
                .await?;
            return Ok(self.view(&ended));
        }
        let fresh = self.store.session(session.suid).await?;
        Ok(self.view(&fresh))
    }

    /// The device URL of the account's session, while its ticket can still be redeemed (for
    /// its QR code).
    pub async fn device_url(&self, account: AccountId, suid: &str) -> Result<String, SessionError> {
        let session = self.session_of(account, suid).await?;
        match session.state {
            SessionState::Waiting => Ok(self.device_url_of(&session)),
            SessionState::Live => Err(SessionError::TicketUsed),
            SessionState::Ended => Err(SessionError::Ended),
        }
    }

    fn device_url_of(&self, s: &Session) -> String {
        format!("{}/d/{}", self.public_url, s.ticket.as_str())
    }

    /// The API's view of a session: stored facts overlaid with live figures.
    pub fn view(&self, s: &Session) -> SessionView {
        let live = self
            .registry
            .get(s.suid)
            .filter(|_| s.state != SessionState::Ended);
        let status = live.as_ref().map(|h| h.status());
        let (state, viewers, viewer_names, fps, frames, bytes, last_frame_at) =
            match (&live, &status) {
                (Some(h), Some(st)) => {
                    let stats = h.stats();
                    (
                        st.state,
                        st.viewers,
                        st.viewer_names.clone(),
                        stats.fps(),
                        stats.frames(),
                        stats.bytes(),
                        stats
                            .last_frame_ms()
                            .and_then(chrono::DateTime::from_timestamp_millis)
                            .or(s.stats.last_frame_at),
                    )
                }
                _ => match self
                    .registry
                    .remote_status(s.suid)
                    .filter(|_| s.state != SessionState::Ended)
                {
                    // Owned by another node and not followed here: its owner's figures.
                    Some(st) => (
                        st.state,
                        st.viewers,
                        st.viewer_names,
                        st.fps,
                        st.frames,
                        st.bytes,
                        st.last_frame_ms
                            .and_then(chrono::DateTime::from_timestamp_millis)
                            .or(s.stats.last_frame_at),
                    ),
                    None => (
                        s.state,
                        0,
                        Vec::new(),
                        0.0,
                        s.stats.frames,
                        s.stats.bytes,
                        s.stats.last_frame_at,
                    ),
                },
            };
        // Counted where the session is held; a follower shows the last saved totals.
        let traffic = match &live {
            Some(h) if !h.is_follower() => h.stats().traffic(),
            _ => s.stats.traffic(),
        };
        let waiting = state == SessionState::Waiting;
        let deadline = status.as_ref().and_then(|st| {
            self.config.timeout_policy().next_deadline(&SessionClock {
                state,
                created_at: s.created_at,
                ticket_expires_at: s.ticket_expires_at,
                live_at: s.live_at,
                last_frame_at,
                viewers_zero_since: st.viewers_zero_since,
            })
        });
        SessionView {
            suid: s.suid,
            kind: s.kind,
            label: s.label.clone(),
            state,
            end_reason: s.end_reason,
            ticket: waiting.then(|| s.ticket.display()),
            ticket_expires_at: s.ticket_expires_at,
            device_url: waiting.then(|| self.device_url_of(s)),
            created_by: s.created_by,
            created_at: s.created_at,
            live_at: s.live_at,
            ended_at: s.ended_at,
            device_id: s.device_id,
            device: s.device.clone(),
            viewers,
            viewer_names,
            peak_viewers: s.stats.peak_viewers.max(viewers),
            fps: (fps * 10.0).round() / 10.0,
            frames,
            bytes,
            webrtc: s.state != SessionState::Ended && self.webrtc.publishing(s.suid),
            traffic,
            last_frame_at,
            deadline: deadline.map(|d| DeadlineView {
                at: d.at,
                reason: d.reason,
            }),
        }
    }
}
