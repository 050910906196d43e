//! Viewers: joining a running session as a viewer (a place counted until it is dropped, on
//! this node and in the account's admission counts), and the newest frame.

use super::gatekeeper::{Bucket, Place};
use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::live::{Frame, SessionHandle, ViewerGuard, ViewerRefused};
use std::sync::Arc;
use switchboard_core::User;

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
}

impl LiveSessions {
    /// Joins the user's account's session `suid` as a viewer, within the account's viewer
    /// limits and this node's.
    pub async fn watch(&self, user: &User, suid: &str) -> Result<Viewing, SessionError> {
        let (session, handle) = self.running_of(user.account_id, suid).await?;
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
        Ok(Viewing {
            handle,
            place,
            admitted,
            egress,
        })
    }

    /// The newest frame of the user's account's running session `suid`.
    pub async fn latest_frame(&self, user: &User, suid: &str) -> Result<Frame, SessionError> {
        let (_, handle) = self.running_of(user.account_id, suid).await?;
        handle.frames().latest().ok_or(SessionError::NoFrameYet)
    }
}
