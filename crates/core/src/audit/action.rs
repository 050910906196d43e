//! The closed set of audited actions, by name. Names are `area.verb`, stable on the wire and
//! in stored records; add new ones, never rename.

use serde::{Deserialize, Serialize};

macro_rules! actions {
    ($($variant:ident = $name:literal, $doc:literal;)*) => {
        /// An audited action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum Action {
            $(
                #[doc = $doc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the order documented in PROTOCOL.md.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The action's stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    SignIn = "auth.sign_in", "A password sign-in: ok, or denied with the reason.";
    SecondFactor = "auth.second_factor", "The second step of a sign-in (a TOTP or recovery code).";
    SignOut = "auth.sign_out", "A sign-out: the token that signed out is revoked.";
    SignInEnded = "auth.sign_in_ended", "A user ended one or all of their other sign-ins.";
    PasswordChanged = "auth.password_changed", "A user changed their own password.";
    PasswordReset = "auth.password_reset", "An admin gave a user a one-time password.";
    UsernameChanged = "auth.username_changed", "A user changed their username.";
    SecondFactorEnrolled = "auth.second_factor_enrolled", "A user confirmed a TOTP second factor.";
    SecondFactorDisabled = "auth.second_factor_disabled", "A user turned their second factor off.";
    SecurityRuleChanged = "auth.security_rule_changed", "An admin changed the account's second-factor rule.";
    SignUp = "account.sign_up", "A new account with its first admin.";
    AccountDeleted = "account.deleted", "An account was deleted, with its data keys.";
    UserCreated = "user.created", "A user joined an account through an invite.";
    UserDeleted = "user.deleted", "An admin deleted a user.";
    InviteCreated = "invite.created", "An admin made an invite.";
    SessionCreated = "session.created", "A session was opened (its ticket issued).";
    TicketRedeemed = "session.ticket_redeemed", "A device redeemed a ticket (with its device info).";
    WatchStarted = "session.watch_started", "A viewer began watching a session.";
    Watched = "session.watched", "A viewing ended: its start, end, seconds and route.";
    FrameViewed = "session.frame_viewed", "A single frame of a session was fetched.";
    ControlSent = "session.control_sent", "A control was sent to a session's device.";
    SessionEnded = "session.ended", "A session ended: by a user, an admin, the device or a timeout.";
    CameraCreated = "camera.created", "A camera was added.";
    CameraChanged = "camera.changed", "A camera's settings or token changed.";
    CameraLive = "camera.live", "A camera was asked to go live.";
    SnapshotViewed = "camera.snapshot_viewed", "A snapshot's picture was fetched.";
    ThumbnailViewed = "camera.thumbnail_viewed", "A snapshot's thumbnail was fetched.";
    SnapshotRead = "camera.snapshot_read", "A snapshot's facts and detections were read.";
    Searched = "camera.searched", "A search of the camera history (the question is recorded).";
    TaughtObjectCreated = "taught.created", "An object was taught: boxed on a snapshot and named.";
    TaughtObjectRenamed = "taught.renamed", "A taught object was renamed.";
    TaughtObjectDeleted = "taught.deleted", "A taught object was deleted, with where it was found.";
    TaughtObjectScanned = "taught.scanned", "A look through the kept history for a taught object was started.";
    KernelStarted = "kernel.started", "A kernel was started.";
    KernelStopped = "kernel.stopped", "A kernel was shut down by its user.";
    CodeRun = "cell.run", "Code was run (the cell id and a SHA-256 of the code, never the code).";
    CellFileDownloaded = "cell.file_downloaded", "A file a run wrote was downloaded.";
    LinkOpened = "cell.link_opened", "A shared cell link was opened.";
    LimitsChanged = "admin.limits_changed", "An operator changed an account's limits.";
    AuditRead = "audit.read", "Someone read the audit trail.";
    AuditExported = "audit.exported", "The audit trail was exported.";
    AuditPruned = "audit.pruned", "Records older than the retention were removed (a signed checkpoint stays).";
    KeysRotated = "keys.rotated", "A master key or an account's data key was rotated.";
}

/// An action name this release does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl std::str::FromStr for Action {
    type Err = UnknownAction;

    fn from_str(text: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| UnknownAction(text.to_owned()))
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            assert!(seen.insert(action.as_str()), "{action} twice");
            assert_eq!(action.as_str().parse::<Action>(), Ok(*action));
            let (area, verb) = action.as_str().split_once('.').expect("area.verb");
            assert!(!area.is_empty() && !verb.is_empty());
        }
        assert!("session.nope".parse::<Action>().is_err());
    }
}
