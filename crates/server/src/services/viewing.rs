//! Viewers: joining a running session as a viewer (a place counted until it is dropped), and
//! the newest frame.

use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::live::{Frame, SessionHandle, ViewerGuard, ViewerRefused};
use switchboard_core::User;

/// A viewer's place in a running session.
#[derive(Debug)]
pub struct Viewing {
    pub handle: SessionHandle,
    pub place: ViewerGuard,
}

impl LiveSessions {
    /// Joins the user's account's session `suid` as a viewer.
    pub async fn watch(&self, user: &User, suid: &str) -> Result<Viewing, SessionError> {
        let (_, handle) = self.running_of(user.account_id, suid).await?;
        let place = handle
            .join_viewer(user.username.clone())
            .map_err(|e| match e {
                ViewerRefused::Ended => SessionError::Ended,
                ViewerRefused::Full(_) => SessionError::TooManyViewers(e.to_string()),
            })?;
        Ok(Viewing { handle, place })
    }

    /// The newest frame of the user's account's running session `suid`.
    pub async fn latest_frame(&self, user: &User, suid: &str) -> Result<Frame, SessionError> {
        let (_, handle) = self.running_of(user.account_id, suid).await?;
        handle.frames().latest().ok_or(SessionError::NoFrameYet)
    }
}
