//! Controls: commands a viewer sends to the device (switch camera, torch, quality, message…).

use crate::{Suid, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A control as stored and delivered. `id` increases per session, so a device that reconnects
/// asks for everything after the last id it saw and gets controls in order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: i64,
    pub suid: Suid,
    pub action: String,
    #[serde(default)]
    pub args: serde_json::Value,
    pub sent_by: UserId,
    pub sent_at: DateTime<Utc>,
}

/// Why a control is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("action must be 1 to 64 characters of a-z, 0-9, '_', '-' and '.'")]
    BadAction,
}

/// Checks a control's action name: short and machine-readable.
pub fn validate_action(action: &str) -> Result<(), ControlError> {
    let ok = (1..=64).contains(&action.len())
        && action.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(ControlError::BadAction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert!(validate_action("torch").is_ok());
        assert!(validate_action("switch_camera").is_ok());
        assert!(validate_action("").is_err());
        assert!(validate_action("Drop Table").is_err());
    }
}
