//! Why a live-session operation failed.

use super::failure::ServiceError;
use crate::protocol::ErrorCode;
use switchboard_core::Transition;
use switchboard_store::StoreError;

/// A failure of the live-session service (sessions, devices, frames, viewers, controls).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, malformed, or another account's: one answer, so nobody learns which exist.
    #[error("no such session")]
    NotFound,
    #[error("the session has ended")]
    Ended,
    #[error("no session has this ticket")]
    UnknownTicket,
    #[error("this ticket has already been used")]
    TicketUsed,
    #[error("this ticket has expired")]
    TicketExpired,
    #[error(
        "this app ({}) is too old; update it to version {minimum} or later",
        found.as_deref().unwrap_or("no version given")
    )]
    AppTooOld {
        minimum: String,
        found: Option<String>,
    },
    #[error("label: at most 200 characters")]
    LabelTooLong,
    #[error("state must be waiting, live or ended")]
    InvalidState,
    #[error("{0}")]
    InvalidControl(String),
    #[error("this device token belongs to another session")]
    OtherSession,
    #[error("{0}")]
    TooManyViewers(String),
    #[error("the device has not sent a frame yet")]
    NoFrameYet,
    #[error("a frame may be at most {limit} bytes")]
    FrameTooLarge { limit: u64 },
    #[error("not a valid JPEG: {0}")]
    NotJpeg(String),
    #[error("the picture is {width}x{height}, more than the {max_pixels} pixels allowed")]
    ImageTooLarge {
        width: u16,
        height: u16,
        max_pixels: u64,
    },
    /// A frame past the device's `max_device_fps`: dropped, as a slow viewer skips frames.
    #[error("more than {max_fps} frames a second; this one was dropped")]
    OverRate { max_fps: u32 },
    /// The right that opened a long poll ended while it waited.
    #[error("the token was revoked or has expired, or its user was deleted")]
    RightEnded,
    #[error("the server is restarting; reconnect")]
    Restarting,
    #[error("the bus is unavailable: {0}")]
    Bus(String),
    #[error("{0}")]
    Internal(String),
    /// A WHIP/WHEP body that is not an SDP offer.
    #[error("{0}")]
    BadOffer(String),
    /// An offer without the media its side needs (video to send, or to receive).
    #[error("{0}")]
    MissingMedia(String),
    #[error("this session already has a WebRTC publisher; stop it first (DELETE its resource)")]
    PublisherPresent,
    #[error("the device does not publish over WebRTC on this node; watch over JPEG")]
    NotPublishing,
    /// The node serves its maximum of WebRTC peers.
    #[error("{0}")]
    WebRtcCapacity(String),
    #[error("WebRTC is off on this node; use the JPEG paths")]
    WebRtcUnavailable,
    /// Unknown, malformed, of another session, or another's: one answer.
    #[error("no such WebRTC resource")]
    WebRtcResourceNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Refused by the gatekeeper.
    #[error(transparent)]
    Admission(#[from] crate::services::gatekeeper::AdmissionError),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
}

impl From<Transition> for SessionError {
    fn from(t: Transition) -> Self {
        match t {
            Transition::TicketUsed => SessionError::TicketUsed,
            Transition::TicketExpired => SessionError::TicketExpired,
            Transition::Ended => SessionError::Ended,
        }
    }
}

impl ServiceError for SessionError {
    fn code(&self) -> ErrorCode {
        match self {
            SessionError::NotFound => ErrorCode::SessionNotFound,
            SessionError::Ended => ErrorCode::SessionEnded,
            SessionError::UnknownTicket => ErrorCode::UnknownTicket,
            SessionError::TicketUsed => ErrorCode::TicketUsed,
            SessionError::TicketExpired => ErrorCode::TicketExpired,
            SessionError::AppTooOld { .. } => ErrorCode::AppUpgradeRequired,
            SessionError::LabelTooLong | SessionError::InvalidControl(_) => ErrorCode::InvalidField,
            SessionError::InvalidState => ErrorCode::InvalidQuery,
            SessionError::OtherSession => ErrorCode::Forbidden,
            SessionError::TooManyViewers(_) => ErrorCode::TooManyViewers,
            SessionError::NoFrameYet => ErrorCode::NoFrameYet,
            SessionError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            SessionError::NotJpeg(_) => ErrorCode::UnsupportedMediaType,
            SessionError::ImageTooLarge { .. } => ErrorCode::ImageTooLarge,
            SessionError::OverRate { .. } => ErrorCode::RateLimited,
            SessionError::RightEnded => ErrorCode::Unauthorized,
            SessionError::Restarting | SessionError::Bus(_) => ErrorCode::Unavailable,
            SessionError::Internal(_) => ErrorCode::Internal,
            SessionError::BadOffer(_) => ErrorCode::InvalidSdp,
            SessionError::MissingMedia(_) => ErrorCode::MissingMedia,
            SessionError::PublisherPresent => ErrorCode::PublisherPresent,
            SessionError::NotPublishing => ErrorCode::NotPublishing,
            SessionError::WebRtcCapacity(_) => ErrorCode::WebrtcCapacity,
            SessionError::WebRtcUnavailable => ErrorCode::WebrtcUnavailable,
            SessionError::WebRtcResourceNotFound => ErrorCode::WebrtcResourceNotFound,
            SessionError::Store(e) => e.code(),
            SessionError::Admission(e) => e.code(),
            SessionError::Audit(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            SessionError::Store(e) => e.message(),
            SessionError::Admission(e) => e.message(),
            SessionError::Audit(e) => e.message(),
            SessionError::Bus(_) => "the bus is unavailable; try again shortly".into(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            SessionError::OverRate { .. } => Some(1),
            SessionError::Store(e) => e.retry_after(),
            SessionError::Admission(e) => e.retry_after(),
            SessionError::Audit(e) => e.retry_after(),
            other => match other.code() {
                ErrorCode::Unavailable => Some(1),
                _ => None,
            },
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            SessionError::Admission(e) => e.extra(),
            SessionError::AppTooOld { minimum, .. } => {
                serde_json::to_value(crate::protocol::errors::UpgradeRequired {
                    minimum_app_version: minimum.clone(),
                })
                .ok()
            }
            _ => None,
        }
    }
}
