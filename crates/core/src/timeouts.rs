//! The timeout policy: given what is known about a session, when does it end and why.
//!
//! Pure: the session actor feeds it facts and the current time, sleeps until the returned
//! deadline, and asks again. Restoring after a restart uses the same function, so deadlines
//! survive restarts by construction.

use crate::{EndReason, SessionState, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long each phase of a session may last. All configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutPolicy {
    /// A ticket not redeemed within this ends the session `ticket_expired`.
    #[serde(with = "humantime_compat")]
    pub ticket_ttl: Duration,
    /// No session lives longer than this (`max_lifetime`).
    #[serde(with = "humantime_compat")]
    pub max_lifetime: Duration,
    /// A live session nobody has watched for this long ends `no_viewers`.
    #[serde(with = "humantime_compat")]
    pub no_viewers: Duration,
    /// A live session without a frame for this long ends `device_idle`.
    #[serde(with = "humantime_compat")]
    pub device_idle: Duration,
}

impl Default for TimeoutPolicy {
    fn default() -> Self {
        TimeoutPolicy {
            ticket_ttl: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(24 * 60 * 60),
            no_viewers: Duration::from_secs(5 * 60),
            device_idle: Duration::from_secs(5 * 60),
        }
    }
}

/// Durations serialize as milliseconds in this crate; the config layer speaks humantime.
mod humantime_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// What the policy needs to know about a session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionClock {
    pub state: SessionState,
    pub created_at: Timestamp,
    pub ticket_expires_at: Timestamp,
    pub live_at: Option<Timestamp>,
    pub last_frame_at: Option<Timestamp>,
    /// Since when nobody has watched; `None` while someone watches.
    pub viewers_zero_since: Option<Timestamp>,
}

/// The next moment a session ends unless something happens first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Timestamp,
    pub reason: EndReason,
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

impl TimeoutPolicy {
    /// The earliest deadline that applies, or `None` for an ended session.
    ///
    /// Ties go to the reason listed first: max lifetime, then ticket expiry, device idle,
    /// no viewers.
    pub fn next_deadline(&self, c: &SessionClock) -> Option<Deadline> {
        let lifetime = Deadline {
            at: plus(c.created_at, self.max_lifetime),
            reason: EndReason::MaxLifetime,
        };
        let mut candidates = vec![lifetime];
        match c.state {
            SessionState::Ended => return None,
            SessionState::Waiting => candidates.push(Deadline {
                at: c.ticket_expires_at,
                reason: EndReason::TicketExpired,
            }),
            SessionState::Live => {
                let live_at = c.live_at.unwrap_or(c.created_at);
                let last_sign_of_life = c.last_frame_at.map_or(live_at, |f| f.max(live_at));
                candidates.push(Deadline {
                    at: plus(last_sign_of_life, self.device_idle),
                    reason: EndReason::DeviceIdle,
                });
                if let Some(zero) = c.viewers_zero_since {
                    candidates.push(Deadline {
                        at: plus(zero.max(live_at), self.no_viewers),
                        reason: EndReason::NoViewers,
                    });
                }
            }
        }
        // min_by_key keeps the first of equal keys: the priority order above.
        candidates.into_iter().min_by_key(|d| d.at)
    }

    /// The reason the session must end at `now`, if a deadline has passed.
    pub fn expired(&self, c: &SessionClock, now: Timestamp) -> Option<EndReason> {
        self.next_deadline(c)
            .filter(|d| d.at <= now)
            .map(|d| d.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration as D, TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn waiting() -> SessionClock {
        SessionClock {
            state: SessionState::Waiting,
            created_at: t0(),
            ticket_expires_at: t0() + D::minutes(10),
            live_at: None,
            last_frame_at: None,
            viewers_zero_since: Some(t0()),
        }
    }

    fn live(at: Timestamp) -> SessionClock {
        SessionClock {
            state: SessionState::Live,
            live_at: Some(at),
            last_frame_at: Some(at),
            viewers_zero_since: None,
            ..waiting()
        }
    }

    #[test]
    fn unredeemed_ticket_expires() {
        let p = TimeoutPolicy::default();
        let c = waiting();
        assert_eq!(
            p.next_deadline(&c),
            Some(Deadline {
                at: t0() + D::minutes(10),
                reason: EndReason::TicketExpired
            })
        );
        assert_eq!(p.expired(&c, t0() + D::minutes(9)), None);
        assert_eq!(
            p.expired(&c, t0() + D::minutes(10)),
            Some(EndReason::TicketExpired)
        );
    }

    #[test]
    fn waiting_sessions_do_not_time_out_for_lack_of_viewers() {
        let p = TimeoutPolicy::default();
        assert_eq!(p.expired(&waiting(), t0() + D::minutes(6)), None);
    }

    #[test]
    fn device_idle_counts_from_the_last_frame() {
        let p = TimeoutPolicy::default();
        let mut c = live(t0() + D::minutes(1));
        c.last_frame_at = Some(t0() + D::minutes(3));
        assert_eq!(p.expired(&c, t0() + D::minutes(7)), None);
        assert_eq!(
            p.expired(&c, t0() + D::minutes(8)),
            Some(EndReason::DeviceIdle)
        );
    }

    #[test]
    fn no_viewers_starts_when_the_last_viewer_leaves_and_stops_when_one_returns() {
        let p = TimeoutPolicy {
            device_idle: std::time::Duration::from_secs(3600),
            ..TimeoutPolicy::default()
        };
        let mut c = live(t0());
        assert_eq!(p.expired(&c, t0() + D::minutes(50)), None);
        c.viewers_zero_since = Some(t0() + D::minutes(2));
        assert_eq!(p.expired(&c, t0() + D::minutes(6)), None);
        assert_eq!(
            p.expired(&c, t0() + D::minutes(7)),
            Some(EndReason::NoViewers)
        );
        c.viewers_zero_since = None;
        assert_eq!(p.expired(&c, t0() + D::minutes(7)), None);
    }

    #[test]
    fn max_lifetime_caps_everything() {
        let p = TimeoutPolicy::default();
        let mut c = live(t0());
        c.last_frame_at = Some(t0() + D::hours(24));
        assert_eq!(
            p.next_deadline(&c).unwrap(),
            Deadline {
                at: t0() + D::hours(24),
                reason: EndReason::MaxLifetime
            }
        );
    }

    #[test]
    fn ended_sessions_have_no_deadline() {
        let p = TimeoutPolicy::default();
        let c = SessionClock {
            state: SessionState::Ended,
            ..waiting()
        };
        assert_eq!(p.next_deadline(&c), None);
    }
}
