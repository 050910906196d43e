//! Every error code the API answers with, and the HTTP status each one carries. The edge
//! (`crate::error`) turns an [`ErrorCode`] into a response; PROTOCOL.md's error table is
//! checked against [`ErrorCode::ALL`] by a test.

use serde::{Serialize, Serializer};

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $name:ident = $code:literal, $status:literal;)*) => {
        /// A stable `snake_case` code clients branch on (`"error"` in every error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in the order PROTOCOL.md's table lists them.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code as it appears on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $code,)*
                }
            }

            /// The HTTP status answered with this code.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $status,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON.
    MalformedJson = "malformed_json", 400;
    /// The JSON body could not be read for another reason.
    BadRequest = "bad_request", 400;
    /// A query parameter has the wrong type or value.
    InvalidQuery = "invalid_query", 400;
    /// A frame body broke off while being read.
    BodyReadFailed = "body_read_failed", 400;
    /// A `POST …/stream` body is not valid multipart.
    MalformedStream = "malformed_stream", 400;
    /// No token, or a token that is invalid, expired, revoked or of the wrong kind.
    Unauthorized = "unauthorized", 401;
    /// The caller's role does not allow the action.
    Forbidden = "forbidden", 403;
    /// A browser request from a page of another origin.
    ForbiddenOrigin = "forbidden_origin", 403;
    /// No such route, or a record vanished while the request ran.
    NotFound = "not_found", 404;
    /// An account id that is malformed, unknown, or beyond the caller's reach.
    AccountNotFound = "account_not_found", 404;
    /// A user id that is malformed, unknown, or of another account.
    UserNotFound = "user_not_found", 404;
    /// A SUID that is malformed, unknown, or of another account.
    SessionNotFound = "session_not_found", 404;
    /// No session has this ticket.
    UnknownTicket = "unknown_ticket", 404;
    /// The invite is unknown, used or expired.
    InvalidInvite = "invalid_invite", 404;
    /// The session's device has sent no frame yet.
    NoFrameYet = "no_frame_yet", 404;
    /// The username exists (compared by its key).
    UsernameTaken = "username_taken", 409;
    /// The change would leave an account without an admin.
    LastAdmin = "last_admin", 409;
    /// A concurrent change refused the write.
    Conflict = "conflict", 409;
    /// The ticket was already redeemed.
    TicketUsed = "ticket_used", 410;
    /// The ticket was not redeemed in time.
    TicketExpired = "ticket_expired", 410;
    /// The session has ended.
    SessionEnded = "session_ended", 410;
    /// A JSON body is larger than `max_json_bytes`.
    BodyTooLarge = "body_too_large", 413;
    /// A frame is larger than `max_frame_bytes`.
    FrameTooLarge = "frame_too_large", 413;
    /// A picture declares more pixels than allowed.
    ImageTooLarge = "image_too_large", 413;
    /// A body of the wrong media type, or data that is not a valid JPEG.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// The route exists but not with this method.
    MethodNotAllowed = "method_not_allowed", 405;
    /// A plain HTTP request to a WebSocket route.
    WebsocketExpected = "websocket_expected", 400;
    /// A body of the wrong shape or with a value out of range.
    InvalidField = "invalid_field", 422;
    /// A username outside the allowed letters or length.
    InvalidUsername = "invalid_username", 422;
    /// A password that is too short or too easy to guess.
    WeakPassword = "weak_password", 422;
    /// A search filter the server cannot search by: an unknown audit action, a time range
    /// that ends before it starts, a cursor it did not make.
    InvalidFilter = "invalid_filter", 422;
    /// An account name that is empty or too long.
    InvalidAccountName = "invalid_account_name", 422;
    /// A protocol version this server does not speak.
    UnsupportedProtocolVersion = "unsupported_protocol_version", 426;
    /// The device's app is older than the minimum.
    AppUpgradeRequired = "app_upgrade_required", 426;
    /// Too many attempts, or a frame past the device's rate.
    RateLimited = "rate_limited", 429;
    /// The account is at one of its admission limits (`limit`, `value`, `max` say which).
    LimitReached = "limit_reached", 429;
    /// A request body stalled or arrived too slowly.
    BodyTimeout = "body_timeout", 408;
    /// The node is at a cap; try again shortly.
    Busy = "busy", 503;
    /// An unexpected failure, logged on the server.
    Internal = "internal", 500;
    /// The audit trail cannot be written, and the action must be recorded first.
    AuditUnavailable = "audit_unavailable", 503;
    /// A stored picture or file failed its integrity check (altered, truncated, moved from
    /// another record, or its key is gone): it is not served, and the server logs it.
    DataIntegrity = "data_integrity", 500;
    /// The database is unreachable, or the server is restarting.
    Unavailable = "unavailable", 503;
    /// The session has as many viewers as it may.
    TooManyViewers = "too_many_viewers", 503;
    /// A cell id or permalink that is malformed or unknown.
    CellNotFound = "cell_not_found", 404;
    /// A cell has no stored file of that name.
    FileNotFound = "file_not_found", 404;
    /// A cell's code is larger than `max_cell_code_bytes`.
    CodeTooLarge = "code_too_large", 413;
    /// A kernel id that is unknown, stopped, or of another account.
    KernelNotFound = "kernel_not_found", 404;
    /// A kernelspec this node does not have.
    KernelspecNotFound = "kernelspec_not_found", 404;
    /// The kernel died or was shut down while the request ran.
    KernelDead = "kernel_dead", 410;
    /// A message for a kernel that is not a valid Jupyter message.
    InvalidMessage = "invalid_message", 400;
    /// The user or account runs as many kernels as it may.
    TooManyKernels = "too_many_kernels", 429;
    /// Kernels are off on this node.
    KernelsUnavailable = "kernels_unavailable", 503;
    /// The node runs as many kernels as it may.
    KernelCapacity = "kernel_capacity", 503;
    /// The node running the kernel cannot be reached.
    KernelNodeUnavailable = "kernel_node_unavailable", 503;
    /// The kernel did not answer within its deadline.
    KernelTimeout = "kernel_timeout", 504;
    /// A camera id that is malformed, unknown, or of another account.
    CameraNotFound = "camera_not_found", 404;
    /// A snapshot id that is malformed, unknown, deleted, or of another account.
    SnapshotNotFound = "snapshot_not_found", 404;
    /// A camera or taught object name that is empty or too long.
    InvalidName = "invalid_name", 422;
    /// A snapshot larger than `max_snapshot_bytes`.
    SnapshotTooLarge = "snapshot_too_large", 413;
    /// A picture that cannot be decoded.
    UndecodableImage = "undecodable_image", 422;
    /// A search without `q` or `label`.
    MissingQuery = "missing_query", 400;
    /// The detector's queue is full; the snapshot is detected later.
    DetectorBusy = "detector_busy", 503;
    /// A voice question larger than `voice_max_bytes`.
    AudioTooLarge = "audio_too_large", 413;
    /// A voice question longer than `voice_max_duration`.
    AudioTooLong = "audio_too_long", 422;
    /// A WAV file in another format than 16 kHz, mono, 16-bit PCM.
    UnsupportedAudio = "unsupported_audio", 422;
    /// Speech recognition is not installed (or failed to load) on this node.
    VoiceUnavailable = "voice_unavailable", 503;
    /// A taught object id that is malformed, unknown, deleted, or of another account.
    TaughtObjectNotFound = "taught_object_not_found", 404;
    /// Another taught object of the account has this name (compared ignoring case).
    TaughtNameTaken = "taught_name_taken", 409;
    /// A box outside the picture, of zero size, or too small to describe an object.
    InvalidBox = "invalid_box", 422;
    /// A look through the kept history already runs for the account.
    ScanRunning = "scan_running", 409;
    /// The current password given to confirm a change is wrong.
    WrongPassword = "wrong_password", 403;
    /// An admin reset the password: only changing it is allowed until then.
    PasswordChangeRequired = "password_change_required", 403;
    /// The account requires a second factor the user has not enrolled: only enrolling is
    /// allowed until then.
    SecondFactorEnrolmentRequired = "second_factor_enrolment_required", 403;
    /// A second-factor code or recovery code that is wrong, used already or expired.
    InvalidCode = "invalid_code", 401;
    /// A sign-in id that is malformed, unknown, ended, or another user's.
    SignInNotFound = "sign_in_not_found", 404;
    /// A WHIP or WHEP body that is not an SDP offer (or is larger than 64 KiB).
    InvalidSdp = "invalid_sdp", 400;
    /// An SDP offer without the media its side needs: a publisher's must send VP8 video, a
    /// viewer's must receive it.
    MissingMedia = "missing_media", 422;
    /// The session already has a WebRTC publisher.
    PublisherPresent = "publisher_present", 409;
    /// The session's device does not publish over WebRTC on this node (now).
    NotPublishing = "not_publishing", 409;
    /// The node serves as many WebRTC publishers or viewers as it may; use MJPEG.
    WebrtcCapacity = "webrtc_capacity", 503;
    /// WebRTC is off on this node (or its UDP port could not be opened); use the JPEG paths.
    WebrtcUnavailable = "webrtc_unavailable", 503;
    /// A WebRTC resource that is unknown, ended, or another's.
    WebrtcResourceNotFound = "webrtc_resource_not_found", 404;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A stable code clients branch on (PROTOCOL.md, Errors).",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The body of every error answer: `{"error": code, "message": text}`. A few answers add
/// fields (`supported`, `minimum_app_version`); they are listed with their routes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

/// The field `426 app_upgrade_required` adds to its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpgradeRequired {
    /// The oldest app version this server accepts.
    pub minimum_app_version: String,
}

/// The field `426 unsupported_protocol_version` adds to its body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnsupportedVersion {
    /// The protocol versions this server speaks.
    pub supported: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_with_error_statuses() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(
                (400..600).contains(&code.status()),
                "{s}: {}",
                code.status()
            );
        }
    }
}
