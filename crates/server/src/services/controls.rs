//! Controls: a viewer sends one (stored first, so a device that reconnects gets it, then
//! announced to the device and every viewer); a device reads those after its cursor.

use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::auth::Claims;
use crate::live::now;
use crate::protocol::WatchEvent;
use bytes::Bytes;
use futures::StreamExt;
use std::time::Duration;
use switchboard_bus::subjects;
use switchboard_core::audit::{Action, AuditEvent};
use switchboard_core::control::validate_action;
use switchboard_core::{Control, SessionState, Suid, User};

/// Largest `args` object a control may carry, serialized.
const MAX_ARGS_BYTES: usize = 16 * 1024;
/// Most controls one read returns.
const READ_LIMIT: u32 = 1000;

impl LiveSessions {
    /// Sends a control from `user` to the device of their account's session `suid`.
    pub async fn send_control(
        &self,
        user: &User,
        suid: &str,
        action: &str,
        args: &serde_json::Value,
    ) -> Result<Control, SessionError> {
        let (session, _) = self.running_of(user.account_id, suid).await?;
        validate_action(action)
            .map_err(|e| SessionError::InvalidControl(format!("action: {e}")))?;
        if serde_json::to_vec(args)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
            > MAX_ARGS_BYTES
        {
            return Err(SessionError::InvalidControl("args: at most 16 KiB".into()));
        }
        self.audit.check()?;
        let control = self
            .store
            .insert_control(session.suid, action, args, user.id, now())
            .await?;
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::ControlSent)
                    .target("session", session.suid)
                    .detail(serde_json::json!({ "control": control.id, "action": action })),
            )
            .await?;
        for (subject, payload) in [
            (
                subjects::controls(session.suid),
                serde_json::to_vec(&control),
            ),
            (
                subjects::events(session.suid),
                serde_json::to_vec(&WatchEvent::Control {
                    control: control.clone(),
                }),
            ),
        ] {
            if let Ok(payload) = payload
                && let Err(e) = self.bus.publish(&subject, Bytes::from(payload)).await
            {
                tracing::warn!(suid = %session.suid, error = %e, "announcing a control failed; the device gets it on reconnect");
            }
        }
        Ok(control)
    }

    /// Controls of the session after id `after`, in order.
    pub async fn controls_after(
        &self,
        suid: Suid,
        after: i64,
    ) -> Result<Vec<Control>, SessionError> {
        Ok(self.store.controls_after(suid, after, READ_LIMIT).await?)
    }

    /// Controls after `after` for the device whose token (`claims`) names `allowed`, waiting
    /// up to `wait` (at most `max_long_poll`) for one to arrive; `RightEnded` if the token's
    /// right ends meanwhile, `Ended` if the session does.
    pub async fn poll_controls(
        &self,
        allowed: Suid,
        claims: &Claims,
        suid: &str,
        after: i64,
        wait: Duration,
    ) -> Result<Vec<Control>, SessionError> {
        let handle = self.device_session(allowed, suid).await?;
        let suid = handle.suid();
        let wait = wait.min(self.config.sessions.max_long_poll);
        // Subscribe before reading, so a control sent in between wakes us.
        let mut announced = self
            .bus
            .subscribe(&subjects::controls(suid))
            .await
            .map_err(|e| SessionError::Bus(e.to_string()))?;
        let controls = self.controls_after(suid, after).await?;
        if !controls.is_empty() || wait.is_zero() {
            return Ok(controls);
        }
        let mut status = handle.subscribe_status();
        let right = self.tokens.hold(claims);
        tokio::select! {
            () = right.ended() => return Err(SessionError::RightEnded),
            _ = announced.next() => {}
            _ = status.wait_for(|s| s.state == SessionState::Ended) => {
                return Err(SessionError::Ended);
            }
            () = tokio::time::sleep(wait) => {}
            () = self.shutdown.cancelled() => {}
        }
        self.controls_after(suid, after).await
    }
}
