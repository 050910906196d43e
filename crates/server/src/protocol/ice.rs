//! The ICE servers a browser gives its peer connection (`RTCConfiguration`), as the API hands
//! them out.

use crate::config::IceTransportPolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/webrtc/ice-servers` answer, and `ice` in a device's registration: what to pass
/// to `new RTCPeerConnection({iceServers, iceTransportPolicy})`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IceConfig {
    /// STUN servers without credentials, TURN servers with this caller's.
    pub ice_servers: Vec<IceServer>,
    /// `all`, or `relay` (only relayed candidates; media goes through TURN).
    pub ice_transport_policy: IceTransportPolicy,
    /// When the TURN credentials stop working (ask again before then); `null` without TURN.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One entry of `iceServers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}
