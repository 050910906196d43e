//! Devices: redeeming a ticket (the session goes live and the device gets its token), and
//! finding the session a device token may stream to.

use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::auth::TokenKind;
use crate::live::{SessionHandle, now};
use crate::protocol::DeviceRegistered;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::device::{VersionCheck, check_app_version};
use switchboard_core::{DeviceId, DeviceInfo, SessionState, Suid, TicketCode, Transition};
use switchboard_store::StoreError;

impl LiveSessions {
    /// Redeems `ticket` for a device: the session goes live, and the device gets its id, a
    /// token bound to the session, and the URLs to stream to.
    pub async fn redeem(
        &self,
        ticket: &str,
        device: DeviceInfo,
    ) -> Result<DeviceRegistered, SessionError> {
        let ticket = TicketCode::parse(ticket).map_err(|_| SessionError::UnknownTicket)?;
        let session = match self.store.session_by_ticket(&ticket).await {
            Ok(s) => s,
            Err(StoreError::NotFound) => return Err(SessionError::UnknownTicket),
            Err(e) => return Err(e.into()),
        };
        let at = now();
        session.check_redeemable(at)?;
        if let VersionCheck::TooOld { minimum, found } =
            check_app_version(self.min_app_version.as_ref(), device.app_version.as_deref())
        {
            return Err(SessionError::AppTooOld { minimum, found });
        }
        let handle = self.running(&session)?;
        self.audit.check()?;
        let device_id = DeviceId::new();
        match self
            .store
            .mark_live(session.suid, device_id, &device, at)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Transition::TicketUsed.into()),
            Err(e) => return Err(e.into()),
        }
        self.audit
            .record_durable(
                AuditEvent::new(Actor::device(session.suid), Action::TicketRedeemed)
                    .account(session.account_id)
                    .target("session", session.suid)
                    .detail(serde_json::json!({ "device_id": device_id, "device": &device })),
            )
            .await?;
        handle.device_registered(device_id, device, at);
        // The token outlives nothing: it expires when the session must have ended anyway.
        let remaining = (session.created_at
            + chrono::Duration::from_std(self.config.sessions.max_lifetime).unwrap_or_default())
            - at;
        let ttl = remaining.to_std().unwrap_or_default() + std::time::Duration::from_secs(60);
        let (device_token, claims) = self
            .tokens
            .issue(
                TokenKind::Device,
                device_id.to_string(),
                session.account_id.to_string(),
                Some(session.suid.to_string()),
                ttl,
            )
            .map_err(|e| SessionError::Internal(format!("cannot sign a device token: {e}")))?;
        let base = format!("{}/api/v1/sessions/{}", self.public_url, session.suid);
        let ws_base = base.replacen("http", "ws", 1);
        tracing::info!(suid = %session.suid, %device_id, "device registered");
        Ok(DeviceRegistered {
            suid: session.suid,
            device_id,
            device_token,
            token_expires_at: claims.expires_at(),
            frames_url: format!("{base}/frames"),
            stream_url: format!("{base}/stream"),
            websocket_url: format!("{ws_base}/device"),
            controls_url: format!("{base}/controls"),
            max_frame_bytes: self.config.devices.max_frame_bytes.as_u64(),
            whip_url: self.sfu.is_some().then(|| format!("{base}/whip")),
            webrtc_jpeg_fps: self.config.webrtc.webrtc_jpeg_fps,
            ice: self.sfu.is_some().then(|| {
                self.ice
                    .for_caller(&device_id.to_string(), chrono::Utc::now())
            }),
        })
    }

    /// The running session named by `suid` (as written in a path), for a device whose token
    /// names `allowed`: `OtherSession` for another session's token, `Ended` once it ended.
    pub async fn device_session(
        &self,
        allowed: Suid,
        suid: &str,
    ) -> Result<SessionHandle, SessionError> {
        let suid: Suid = suid.parse().map_err(|_| SessionError::NotFound)?;
        if suid != allowed {
            return Err(SessionError::OtherSession);
        }
        if let Some(h) = self.registry.get(suid) {
            return if h.is_open() {
                Ok(h)
            } else {
                Err(SessionError::Ended)
            };
        }
        match self.store.session(suid).await {
            Ok(s) if s.state == SessionState::Ended => Err(SessionError::Ended),
            Ok(s) => self.running(&s),
            Err(StoreError::NotFound) => Err(SessionError::NotFound),
            Err(e) => Err(e.into()),
        }
    }
}
