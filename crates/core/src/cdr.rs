//! Call-detail records: one per ended session, for billing and reports.

use crate::{
    AccountId, DeviceId, DeviceInfo, EndReason, MediaPath, Session, SessionKind, Suid, Traffic,
    UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One ended session. Written exactly once; the database row is the source of truth and the
/// daily JSON Lines files are written from it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cdr {
    pub suid: Suid,
    pub account_id: AccountId,
    pub created_by: UserId,
    pub kind: SessionKind,
    pub label: Option<String>,
    pub device_id: Option<DeviceId>,
    pub device: Option<DeviceInfo>,
    pub created_at: DateTime<Utc>,
    pub live_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub end_reason: EndReason,
    /// Seconds from going live to the end; zero if the device never came.
    pub duration_seconds: f64,
    /// JPEG frames received from the device (`traffic.jpeg.frames_in`).
    pub frames: u64,
    /// Their bytes (`traffic.jpeg.bytes_in`).
    pub bytes: u64,
    pub peak_viewers: u32,
    pub viewer_seconds: f64,
    /// The ticket was never redeemed.
    pub incomplete: bool,
    /// The media paths the call used.
    #[serde(default)]
    pub paths: Vec<MediaPath>,
    /// Frames and bytes received and sent on each path.
    #[serde(default)]
    pub traffic: Traffic,
}

impl Cdr {
    /// The record for an ended session; `None` while it is still open.
    pub fn for_session(s: &Session) -> Option<Cdr> {
        let ended_at = s.ended_at?;
        let end_reason = s.end_reason?;
        let duration_seconds = s
            .live_at
            .map(|l| (ended_at - l).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        Some(Cdr {
            suid: s.suid,
            account_id: s.account_id,
            created_by: s.created_by,
            kind: s.kind,
            label: s.label.clone(),
            device_id: s.device_id,
            device: s.device.clone(),
            created_at: s.created_at,
            live_at: s.live_at,
            ended_at,
            end_reason,
            duration_seconds,
            frames: s.stats.frames,
            bytes: s.stats.bytes,
            peak_viewers: s.stats.peak_viewers,
            viewer_seconds: s.stats.viewer_seconds,
            incomplete: s.live_at.is_none(),
            paths: s.stats.traffic().paths(),
            traffic: s.stats.traffic(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TicketCode;
    use chrono::{Duration, TimeZone};

    #[test]
    fn cdr_of_a_call() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = Session::new(
            AccountId::new(),
            UserId::new(),
            SessionKind::Video,
            Some("Room 4".into()),
            TicketCode::parse("ABCDEFGH").unwrap(),
            t0,
            std::time::Duration::from_secs(600),
        );
        assert!(Cdr::for_session(&s).is_none());
        s.go_live(
            DeviceId::new(),
            DeviceInfo::default(),
            t0 + Duration::seconds(30),
        )
        .unwrap();
        s.stats.frames = 900;
        s.end(EndReason::EndedByUser, t0 + Duration::seconds(90))
            .unwrap();
        let cdr = Cdr::for_session(&s).unwrap();
        assert_eq!(cdr.duration_seconds, 60.0);
        assert_eq!(cdr.frames, 900);
        assert!(!cdr.incomplete);
        assert_eq!(cdr.paths, vec![MediaPath::Jpeg]);
        assert_eq!(cdr.traffic.jpeg.frames_in, 900);
    }

    #[test]
    fn a_call_names_each_path_it_used_with_its_bytes() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = Session::new(
            AccountId::new(),
            UserId::new(),
            SessionKind::Video,
            None,
            TicketCode::parse("ABCDEFGH").unwrap(),
            t0,
            std::time::Duration::from_secs(600),
        );
        s.go_live(DeviceId::new(), DeviceInfo::default(), t0)
            .unwrap();
        // WebRTC only: the device published, nobody watched over JPEG.
        s.stats.webrtc = crate::PathTraffic {
            frames_in: 450,
            bytes_in: 2_000_000,
            bytes_out: 6_000_000,
        };
        let cdr_of = |s: &Session| {
            let mut ended = s.clone();
            ended
                .end(EndReason::EndedByUser, t0 + Duration::seconds(30))
                .unwrap();
            Cdr::for_session(&ended).unwrap()
        };
        let cdr = cdr_of(&s);
        assert_eq!(cdr.paths, vec![MediaPath::Webrtc]);
        assert_eq!(cdr.traffic.webrtc.bytes_out, 6_000_000);
        assert_eq!(cdr.traffic.jpeg, crate::PathTraffic::default());
        // And JPEG beside it: both, JPEG first.
        s.stats.frames = 30;
        s.stats.bytes = 900_000;
        s.stats.jpeg_bytes_out = 1_800_000;
        let cdr = cdr_of(&s);
        assert_eq!(cdr.paths, vec![MediaPath::Jpeg, MediaPath::Webrtc]);
        assert_eq!(cdr.traffic.jpeg.bytes_out, 1_800_000);
        let json = serde_json::to_value(&cdr).unwrap();
        assert_eq!(json["paths"], serde_json::json!(["jpeg", "webrtc"]));
        assert_eq!(json["traffic"]["webrtc"]["frames_in"], 450);
    }

    #[test]
    fn an_expired_ticket_is_an_incomplete_attempt() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = Session::new(
            AccountId::new(),
            UserId::new(),
            SessionKind::Video,
            None,
            TicketCode::parse("ABCDEFGH").unwrap(),
            t0,
            std::time::Duration::from_secs(600),
        );
        s.end(EndReason::TicketExpired, t0 + Duration::minutes(10))
            .unwrap();
        let cdr = Cdr::for_session(&s).unwrap();
        assert!(cdr.incomplete);
        assert_eq!(cdr.duration_seconds, 0.0);
    }
}
