//! The wire protocol's types: request and response bodies and every WebSocket message, in one
//! place. PROTOCOL.md documents them and a test checks the two agree.

pub mod accounts;
pub mod admin;
pub mod admission;
pub mod audit;
pub mod cameras;
pub mod compute;
pub mod errors;
pub mod ice;
pub mod jupyter;
#[cfg(test)]
mod properties;
pub mod security;
pub mod taught;

pub use errors::{ErrorBody, ErrorCode};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::{
    Control, DeviceId, DeviceInfo, EndReason, SessionKind, SessionState, Suid, Traffic,
};

/// `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    #[serde(default = "default_kind")]
    pub kind: SessionKind,
    /// At most 200 characters (spaces around it are dropped).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub label: Option<String>,
}

fn default_kind() -> SessionKind {
    SessionKind::Video
}

/// `GET /api/v1/sessions` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// Only sessions in these states: `waiting`, `live`, `ended`, comma-separated.
    #[param(pattern = "^(waiting|live|ended)(,(waiting|live|ended))*$")]
    pub state: Option<String>,
    /// At most this many (1 to 1000; default 100).
    pub limit: Option<u32>,
}

/// `GET /api/v1/sessions/{suid}` query: a long poll when `wait` is given.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionWaitQuery {
    /// Seconds to wait for the state to change (at most `max_long_poll`).
    pub wait: Option<u64>,
    /// The state the caller last saw; the answer comes once the state differs from it.
    #[param(pattern = "^(waiting|live|ended)$")]
    pub state: Option<String>,
}

/// `POST /api/v1/sessions/{suid}/frames` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FrameQuery {
    /// The device's own frame number, passed on to viewers.
    pub seq: Option<u64>,
}

/// `GET /api/v1/sessions/{suid}/watch` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// `false`: events only, no frames, and no viewer place (a page that plays the video
    /// over WebRTC, where its WHEP peer is the viewer). Default `true`.
    pub frames: Option<bool>,
}

/// `GET /api/v1/sessions/{suid}/device` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceSocketQuery {
    /// Deliver controls with an id above this first (what a reconnecting device missed).
    pub after: Option<i64>,
}

/// `GET /api/v1/sessions/{suid}/controls` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ControlPollQuery {
    /// Controls with an id above this.
    pub after: Option<i64>,
    /// Seconds to wait for one to arrive (at most `max_long_poll`).
    pub wait: Option<u64>,
}

/// The next timeout that applies to a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DeadlineView {
    pub at: DateTime<Utc>,
    pub reason: EndReason,
}

/// A session as the API shows it: stored facts plus live figures.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    pub suid: Suid,
    pub kind: SessionKind,
    pub label: Option<String>,
    pub state: SessionState,
    pub end_reason: Option<EndReason>,
    /// The ticket (only while it can still be redeemed).
    pub ticket: Option<String>,
    pub ticket_expires_at: DateTime<Utc>,
    /// Opens the phone page with the ticket filled in (only while waiting).
    pub device_url: Option<String>,
    pub created_by: switchboard_core::UserId,
    pub created_at: DateTime<Utc>,
    pub live_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub device_id: Option<DeviceId>,
    pub device: Option<DeviceInfo>,
    pub viewers: u32,
    /// Usernames of those watching now.
    pub viewer_names: Vec<String>,
    pub peak_viewers: u32,
    pub fps: f64,
    pub frames: u64,
    pub bytes: u64,
    pub last_frame_at: Option<DateTime<Utc>>,
    /// When the session will end unless something happens, and why.
    pub deadline: Option<DeadlineView>,
    /// Whether the device publishes over WebRTC now: viewers may play it with WHEP.
    pub webrtc: bool,
    /// Frames and bytes in and out on each media path so far (as the CDR will have them; a
    /// session another node holds shows its last saved totals).
    pub traffic: Traffic,
}

/// `GET /api/v1/sessions` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// `POST /api/v1/devices/register`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRegisterRequest {
    pub ticket: String,
    #[serde(default)]
    pub device: DeviceInfo,
}

/// What a device needs to stream.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceRegistered {
    pub suid: Suid,
    pub device_id: DeviceId,
    pub device_token: String,
    pub token_expires_at: DateTime<Utc>,
    pub frames_url: String,
    pub stream_url: String,
    pub websocket_url: String,
    pub controls_url: String,
    pub max_frame_bytes: u64,
    /// Where to publish the camera and microphone over WebRTC (WHIP), when this node
    /// offers it; absent: use the JPEG paths.
    #[serde(default)]
    pub whip_url: Option<String>,
    /// JPEG frames a second to keep sending on the socket while publishing over WebRTC, so
    /// `frame.jpg`, MJPEG viewers and snapshots keep working.
    #[serde(default)]
    pub webrtc_jpeg_fps: f64,
    /// The ICE servers to give the peer connection before the WHIP offer (with TURN
    /// credentials for this device); `null` when the node offers no WebRTC.
    #[serde(default)]
    pub ice: Option<ice::IceConfig>,
}

/// `POST /api/v1/sessions/{suid}/controls`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    pub action: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

/// `GET /api/v1/sessions/{suid}/controls` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlList {
    pub controls: Vec<Control>,
}

/// `POST /api/v1/sessions/{suid}/frames` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrameAccepted {
    pub seq: u64,
    pub width: u16,
    pub height: u16,
}

/// `POST /api/v1/sessions/{suid}/stream` answer, when the device closes the stream.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamSummary {
    pub frames: u64,
    pub bytes: u64,
}

/// Text messages a viewer's watch WebSocket receives (frames arrive as binary messages).
/// These are also what a session publishes on its `events` bus subject.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchEvent {
    /// First message: where the session stands.
    Hello {
        suid: Suid,
        state: SessionState,
        viewers: u32,
    },
    /// The session changed state.
    State {
        state: SessionState,
        reason: Option<EndReason>,
    },
    /// Viewers joined or left: how many watch, and who.
    Viewers { count: u32, names: Vec<String> },
    /// Once a second while watching: rates and totals.
    Stats {
        fps: f64,
        frames: u64,
        bytes: u64,
        viewers: u32,
        seq: Option<u64>,
    },
    /// The device reported something about itself (camera, torch, battery…).
    Device { status: serde_json::Value },
    /// A control a viewer sent, so every viewer sees it.
    Control { control: Control },
    /// The device began (`true`) or stopped publishing over WebRTC: viewers that can switch
    /// to WHEP, or back to JPEG.
    Webrtc { publishing: bool },
}

/// Text messages the device WebSocket receives (the device sends frames as binary messages
/// and may send `{"type":"status", ...}` text messages that viewers see as `device` events).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// A control from a viewer, in the order sent.
    Control {
        id: i64,
        action: String,
        args: serde_json::Value,
        sent_at: DateTime<Utc>,
    },
    /// A frame was refused; the connection stays open.
    Error { error: String, message: String },
    /// The session ended; the server closes the connection next.
    Ended { reason: Option<EndReason> },
}

impl DeviceEvent {
    pub fn control(c: &Control) -> Self {
        DeviceEvent::Control {
            id: c.id,
            action: c.action.clone(),
            args: c.args.clone(),
            sent_at: c.sent_at,
        }
    }
}

/// A change to one of an account's sessions, published for live dashboards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AccountEvent {
    /// A session was created, changed state, or its viewers changed.
    Session {
        suid: Suid,
        state: SessionState,
        viewers: u32,
    },
    /// Events were lost (the client fell behind): reload the list.
    Resync,
}
