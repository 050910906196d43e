//! Sessions and their state machine: `waiting` → `live` → `ended`, or `waiting` → `ended`.

use crate::{AccountId, DeviceId, DeviceInfo, Suid, TicketCode, Timestamp, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a session carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A device streams JPEG frames to viewers.
    Video,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "video").then_some(SessionKind::Video)
    }
}

/// Where a session is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Created; the ticket has not been redeemed yet.
    Waiting,
    /// A device has registered.
    Live,
    /// Over, for the recorded reason. Terminal.
    Ended,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Waiting => "waiting",
            SessionState::Live => "live",
            SessionState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(SessionState::Waiting),
            "live" => Some(SessionState::Live),
            "ended" => Some(SessionState::Ended),
            _ => None,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended. Each end writes exactly one CDR carrying this.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A user of the account ended it.
    EndedByUser,
    /// Nobody redeemed the ticket in time: an incomplete attempt.
    TicketExpired,
    /// It reached the maximum lifetime.
    MaxLifetime,
    /// Nobody watched for the configured time.
    NoViewers,
    /// The device sent no frame for the configured time.
    DeviceIdle,
}

impl EndReason {
    /// Every reason, for metrics and reports.
    pub const ALL: [EndReason; 5] = [
        EndReason::EndedByUser,
        EndReason::TicketExpired,
        EndReason::MaxLifetime,
        EndReason::NoViewers,
        EndReason::DeviceIdle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::EndedByUser => "ended_by_user",
            EndReason::TicketExpired => "ticket_expired",
            EndReason::MaxLifetime => "max_lifetime",
            EndReason::NoViewers => "no_viewers",
            EndReason::DeviceIdle => "device_idle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the end came from a timer rather than a person.
    pub fn is_timeout(self) -> bool {
        !matches!(self, EndReason::EndedByUser)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Running totals of a session, persisted periodically and copied into its CDR.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// JPEG frames received from the device.
    pub frames: u64,
    /// Bytes of those JPEG frames.
    pub bytes: u64,
    pub peak_viewers: u32,
    pub viewer_seconds: f64,
    pub last_frame_at: Option<DateTime<Utc>>,
    /// Bytes of JPEG frames sent to viewers (WebSocket and MJPEG) by the node holding the
    /// session.
    #[serde(default)]
    pub jpeg_bytes_out: u64,
    /// The WebRTC path: the publisher's video frames, and datagram bytes from and to every
    /// WebRTC peer of the session (media, RTCP, ICE, DTLS).
    #[serde(default)]
    pub webrtc: PathTraffic,
}

impl SessionStats {
    /// The traffic on each media path.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            jpeg: PathTraffic {
                frames_in: self.frames,
                bytes_in: self.bytes,
                bytes_out: self.jpeg_bytes_out,
            },
            webrtc: self.webrtc,
        }
    }
}

/// What went over one media path of a session.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathTraffic {
    /// Video frames received from the device.
    pub frames_in: u64,
    /// Bytes received on the path.
    pub bytes_in: u64,
    /// Bytes sent on the path.
    pub bytes_out: u64,
}

impl PathTraffic {
    /// Whether anything went over the path.
    pub fn used(&self) -> bool {
        self.frames_in > 0 || self.bytes_in > 0 || self.bytes_out > 0
    }
}

impl std::ops::Add for PathTraffic {
    type Output = PathTraffic;

    fn add(self, other: PathTraffic) -> PathTraffic {
        PathTraffic {
            frames_in: self.frames_in.saturating_add(other.frames_in),
            bytes_in: self.bytes_in.saturating_add(other.bytes_in),
            bytes_out: self.bytes_out.saturating_add(other.bytes_out),
        }
    }
}

/// A session's media paths: JPEG (device socket, frame posts, MJPEG and WebSocket viewers)
/// and WebRTC (WHIP and WHEP).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaPath {
    Jpeg,
    Webrtc,
}

impl MediaPath {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaPath::Jpeg => "jpeg",
            MediaPath::Webrtc => "webrtc",
        }
    }
}

/// The traffic of a session on each of its media paths.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub jpeg: PathTraffic,
    pub webrtc: PathTraffic,
}

impl Traffic {
    /// The paths something went over, JPEG first.
    pub fn paths(&self) -> Vec<MediaPath> {
        [
            (MediaPath::Jpeg, self.jpeg),
            (MediaPath::Webrtc, self.webrtc),
        ]
        .into_iter()
        .filter(|(_, t)| t.used())
        .map(|(p, _)| p)
        .collect()
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub suid: Suid,
    pub account_id: AccountId,
    pub created_by: UserId,
    pub kind: SessionKind,
    pub label: Option<String>,
    pub state: SessionState,
    pub ticket: TicketCode,
    pub ticket_expires_at: Timestamp,
    pub created_at: Timestamp,
    pub live_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
    pub device_id: Option<DeviceId>,
    pub device: Option<DeviceInfo>,
    pub stats: SessionStats,
}

/// A change the state machine refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transition {
    #[error("the ticket has already been used")]
    TicketUsed,
    #[error("the ticket has expired")]
    TicketExpired,
    #[error("the session has ended")]
    Ended,
}

impl Session {
    /// A new session waiting for its device.
    pub fn new(
        account_id: AccountId,
        created_by: UserId,
        kind: SessionKind,
        label: Option<String>,
        ticket: TicketCode,
        now: Timestamp,
        ticket_ttl: std::time::Duration,
    ) -> Self {
        let ttl = chrono::Duration::from_std(ticket_ttl).unwrap_or(chrono::Duration::MAX);
        Session {
            suid: Suid::new(),
            account_id,
            created_by,
            kind,
            label,
            state: SessionState::Waiting,
            ticket,
            ticket_expires_at: now.checked_add_signed(ttl).unwrap_or(now),
            created_at: now,
            live_at: None,
            ended_at: None,
            end_reason: None,
            device_id: None,
            device: None,
            stats: SessionStats::default(),
        }
    }

    /// Checks that the ticket may be redeemed at `now`.
    pub fn check_redeemable(&self, now: Timestamp) -> Result<(), Transition> {
        match self.state {
            SessionState::Ended if self.end_reason == Some(EndReason::TicketExpired) => {
                Err(Transition::TicketExpired)
            }
            SessionState::Ended => Err(Transition::Ended),
            SessionState::Live => Err(Transition::TicketUsed),
            SessionState::Waiting if now >= self.ticket_expires_at => {
                Err(Transition::TicketExpired)
            }
            SessionState::Waiting => Ok(()),
        }
    }

    /// Redeems the ticket: the device joins and the session goes live.
    pub fn go_live(
        &mut self,
        device_id: DeviceId,
        info: DeviceInfo,
        now: Timestamp,
    ) -> Result<(), Transition> {
        self.check_redeemable(now)?;
        self.state = SessionState::Live;
        self.live_at = Some(now);
        self.device_id = Some(device_id);
        self.device = Some(info);
        Ok(())
    }

    /// Ends the session. Ending an ended session is refused so a reason is never overwritten.
    pub fn end(&mut self, reason: EndReason, now: Timestamp) -> Result<(), Transition> {
        if self.state == SessionState::Ended {
            return Err(Transition::Ended);
        }
        self.state = SessionState::Ended;
        self.ended_at = Some(now);
        self.end_reason = Some(reason);
        Ok(())
    }

    /// Whether the session may still receive frames and viewers.
    pub fn is_open(&self) -> bool {
        self.state != SessionState::Ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn session(now: Timestamp) -> Session {
        Session::new(
            AccountId::new(),
            UserId::new(),
            SessionKind::Video,
            None,
            TicketCode::parse("ABCD-EFGH").unwrap(),
            now,
            std::time::Duration::from_secs(600),
        )
    }

    #[test]
    fn waiting_live_ended() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let mut s = session(t0);
        assert_eq!(s.ticket_expires_at, t0 + Duration::minutes(10));
        s.go_live(
            DeviceId::new(),
            DeviceInfo::default(),
            t0 + Duration::minutes(1),
        )
        .unwrap();
        assert_eq!(s.state, SessionState::Live);
        assert_eq!(
            s.go_live(DeviceId::new(), DeviceInfo::default(), t0),
            Err(Transition::TicketUsed)
        );
        s.end(EndReason::NoViewers, t0 + Duration::minutes(9))
            .unwrap();
        assert_eq!(s.end(EndReason::EndedByUser, t0), Err(Transition::Ended));
        assert_eq!(s.end_reason, Some(EndReason::NoViewers));
    }

    #[test]
    fn expired_ticket_is_refused() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let mut s = session(t0);
        assert_eq!(
            s.check_redeemable(t0 + Duration::minutes(10)),
            Err(Transition::TicketExpired)
        );
        s.end(EndReason::TicketExpired, t0 + Duration::minutes(10))
            .unwrap();
        assert_eq!(s.check_redeemable(t0), Err(Transition::TicketExpired));
    }

    #[test]
    fn reasons_round_trip() {
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
