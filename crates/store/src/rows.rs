//! Rows as both backends store them, and their conversions to and from domain types.
//!
//! Each row struct holds only plain column values (text, `i64`, `f64`, `bool`) so one
//! `sqlx::FromRow` derive decodes it from a SQLite or a PostgreSQL row alike; the column lists
//! and bind orders below are likewise shared, so the queries are written once for both
//! backends (the `*_sql.rs` modules; the `Dialect` trait names the two places they differ).

use crate::convert::{
    from_json, known, millis, millis_opt, parse, parse_opt, parse_with, timestamp, timestamp_opt,
    to_i64, to_json, to_u32, to_u64,
};
use crate::error::Result;
use switchboard_core::{
    Account, Cdr, Control, DeviceInfo, EndReason, PathTraffic, Role, Session, SessionKind,
    SessionState, SessionStats, TicketCode, Traffic, User,
};

/// Columns of [`AccountRow`], in its field order.
macro_rules! account_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use account_columns;

/// Columns of [`UserRow`], in its field order.
macro_rules! user_columns {
    () => {
        "id, account_id, username, password_hash, role, created_at, username_key"
    };
}
pub(crate) use user_columns;

/// Columns of [`SessionRow`], in its field order (and the order [`bind_session`] binds them).
macro_rules! session_columns {
    () => {
        "suid, account_id, created_by, kind, label, state, ticket, ticket_expires_at, \
         created_at, live_at, ended_at, end_reason, device_id, device, frames, bytes, \
         peak_viewers, viewer_seconds, last_frame_at, jpeg_bytes_out, webrtc_frames_in, \
         webrtc_bytes_in, webrtc_bytes_out"
    };
}
pub(crate) use session_columns;

/// Columns of [`CdrRow`], in its field order (and the order [`bind_cdr`] binds them).
macro_rules! cdr_columns {
    () => {
        "suid, account_id, created_by, kind, label, device_id, device, created_at, live_at, \
         ended_at, end_reason, duration_seconds, frames, bytes, peak_viewers, viewer_seconds, \
         incomplete, jpeg_bytes_out, webrtc_frames_in, webrtc_bytes_in, webrtc_bytes_out"
    };
}
pub(crate) use cdr_columns;

/// Columns of [`ControlRow`], in its field order.
macro_rules! control_columns {
    () => {
        "id, suid, action, args, sent_by, sent_at"
    };
}
pub(crate) use control_columns;

/// Binds every field of a [`SessionRow`] in [`session_columns`] order; a macro rather than a
/// function because the query types of the two backends differ.
macro_rules! bind_session {
    ($query:expr, $row:expr) => {{
        let row: &$crate::rows::SessionRow = $row;
        $query
            .bind(&row.suid)
            .bind(&row.account_id)
            .bind(&row.created_by)
            .bind(&row.kind)
            .bind(&row.label)
            .bind(&row.state)
            .bind(&row.ticket)
            .bind(row.ticket_expires_at)
            .bind(row.created_at)
            .bind(row.live_at)
            .bind(row.ended_at)
            .bind(&row.end_reason)
            .bind(&row.device_id)
            .bind(&row.device)
            .bind(row.frames)
            .bind(row.bytes)
            .bind(row.peak_viewers)
            .bind(row.viewer_seconds)
            .bind(row.last_frame_at)
            .bind(row.jpeg_bytes_out)
            .bind(row.webrtc_frames_in)
            .bind(row.webrtc_bytes_in)
            .bind(row.webrtc_bytes_out)
    }};
}
pub(crate) use bind_session;

/// Binds every field of a [`CdrRow`] in [`cdr_columns`] order.
macro_rules! bind_cdr {
    ($query:expr, $row:expr) => {{
        let row: &$crate::rows::CdrRow = $row;
        $query
            .bind(&row.suid)
            .bind(&row.account_id)
            .bind(&row.created_by)
            .bind(&row.kind)
            .bind(&row.label)
            .bind(&row.device_id)
            .bind(&row.device)
            .bind(row.created_at)
            .bind(row.live_at)
            .bind(row.ended_at)
            .bind(&row.end_reason)
            .bind(row.duration_seconds)
            .bind(row.frames)
            .bind(row.bytes)
            .bind(row.peak_viewers)
            .bind(row.viewer_seconds)
            .bind(row.incomplete)
            .bind(row.jpeg_bytes_out)
            .bind(row.webrtc_frames_in)
            .bind(row.webrtc_bytes_in)
            .bind(row.webrtc_bytes_out)
    }};
}
pub(crate) use bind_cdr;

/// Binds every field of a [`UserRow`] in [`user_columns`] order.
macro_rules! bind_user {
    ($query:expr, $row:expr) => {{
        let row: &$crate::rows::UserRow = $row;
        $query
            .bind(&row.id)
            .bind(&row.account_id)
            .bind(&row.username)
            .bind(&row.password_hash)
            .bind(&row.role)
            .bind(row.created_at)
            .bind(&row.username_key)
    }};
}
pub(crate) use bind_user;

/// A row of `accounts`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl AccountRow {
    pub fn from_account(a: &Account) -> Self {
        AccountRow {
            id: a.id.to_string(),
            name: a.name.clone(),
            created_at: millis(a.created_at),
        }
    }

    pub fn into_account(self) -> Result<Account> {
        Ok(Account {
            id: parse(&self.id, "accounts.id")?,
            name: self.name,
            created_at: timestamp(self.created_at, "accounts.created_at")?,
        })
    }
}

/// A row of `users`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub account_id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    /// [`switchboard_core::account::username_key`] of `username`; NULL only on a row from
    /// before keys existed whose key another row already held.
    pub username_key: Option<String>,
}

impl UserRow {
    pub fn from_user(u: &User) -> Self {
        UserRow {
            id: u.id.to_string(),
            account_id: u.account_id.to_string(),
            username: u.username.clone(),
            password_hash: u.password_hash.clone(),
            role: u.role.as_str().to_owned(),
            created_at: millis(u.created_at),
            username_key: Some(switchboard_core::account::username_key(&u.username)),
        }
    }

    pub fn into_user(self) -> Result<User> {
        Ok(User {
            id: parse(&self.id, "users.id")?,
            account_id: parse(&self.account_id, "users.account_id")?,
            username: self.username,
            password_hash: self.password_hash,
            role: known(&self.role, "users.role", Role::parse)?,
            created_at: timestamp(self.created_at, "users.created_at")?,
        })
    }
}

/// A row of `sessions`: the session with its running totals flattened into columns.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub suid: String,
    pub account_id: String,
    pub created_by: String,
    pub kind: String,
    pub label: Option<String>,
    pub state: String,
    pub ticket: String,
    pub ticket_expires_at: i64,
    pub created_at: i64,
    pub live_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub device_id: Option<String>,
    /// [`DeviceInfo`] as JSON, so fields a device adds later survive without a migration.
    pub device: Option<String>,
    pub frames: i64,
    pub bytes: i64,
    pub peak_viewers: i64,
    pub viewer_seconds: f64,
    pub last_frame_at: Option<i64>,
    pub jpeg_bytes_out: i64,
    pub webrtc_frames_in: i64,
    pub webrtc_bytes_in: i64,
    pub webrtc_bytes_out: i64,
}

impl SessionRow {
    pub fn from_session(s: &Session) -> Result<Self> {
        let stats = StatsColumns::from_stats(&s.stats)?;
        Ok(SessionRow {
            suid: s.suid.to_string(),
            account_id: s.account_id.to_string(),
            created_by: s.created_by.to_string(),
            kind: s.kind.as_str().to_owned(),
            label: s.label.clone(),
            state: s.state.as_str().to_owned(),
            ticket: s.ticket.as_str().to_owned(),
            ticket_expires_at: millis(s.ticket_expires_at),
            created_at: millis(s.created_at),
            live_at: millis_opt(s.live_at),
            ended_at: millis_opt(s.ended_at),
            end_reason: s.end_reason.map(|r| r.as_str().to_owned()),
            device_id: s.device_id.map(|d| d.to_string()),
            device: device_json(s.device.as_ref())?,
            frames: stats.frames,
            bytes: stats.bytes,
            peak_viewers: stats.peak_viewers,
            viewer_seconds: stats.viewer_seconds,
            last_frame_at: stats.last_frame_at,
            jpeg_bytes_out: stats.jpeg_bytes_out,
            webrtc_frames_in: stats.webrtc_frames_in,
            webrtc_bytes_in: stats.webrtc_bytes_in,
            webrtc_bytes_out: stats.webrtc_bytes_out,
        })
    }

    pub fn into_session(self) -> Result<Session> {
        Ok(Session {
            suid: parse(&self.suid, "sessions.suid")?,
            account_id: parse(&self.account_id, "sessions.account_id")?,
            created_by: parse(&self.created_by, "sessions.created_by")?,
            kind: known(&self.kind, "sessions.kind", SessionKind::parse)?,
            label: self.label,
            state: known(&self.state, "sessions.state", SessionState::parse)?,
            ticket: parse_with(&self.ticket, "sessions.ticket", TicketCode::parse)?,
            ticket_expires_at: timestamp(self.ticket_expires_at, "sessions.ticket_expires_at")?,
            created_at: timestamp(self.created_at, "sessions.created_at")?,
            live_at: timestamp_opt(self.live_at, "sessions.live_at")?,
            ended_at: timestamp_opt(self.ended_at, "sessions.ended_at")?,
            end_reason: self
                .end_reason
                .as_deref()
                .map(|r| known(r, "sessions.end_reason", EndReason::parse))
                .transpose()?,
            device_id: parse_opt(self.device_id.as_deref(), "sessions.device_id")?,
            device: self
                .device
                .as_deref()
                .map(|d| from_json::<DeviceInfo>(d, "sessions.device"))
                .transpose()?,
            stats: SessionStats {
                frames: to_u64(self.frames, "sessions.frames")?,
                bytes: to_u64(self.bytes, "sessions.bytes")?,
                peak_viewers: to_u32(self.peak_viewers, "sessions.peak_viewers")?,
                viewer_seconds: self.viewer_seconds,
                last_frame_at: timestamp_opt(self.last_frame_at, "sessions.last_frame_at")?,
                jpeg_bytes_out: to_u64(self.jpeg_bytes_out, "sessions.jpeg_bytes_out")?,
                webrtc: PathTraffic {
                    frames_in: to_u64(self.webrtc_frames_in, "sessions.webrtc_frames_in")?,
                    bytes_in: to_u64(self.webrtc_bytes_in, "sessions.webrtc_bytes_in")?,
                    bytes_out: to_u64(self.webrtc_bytes_out, "sessions.webrtc_bytes_out")?,
                },
            },
        })
    }
}

/// [`SessionStats`] as the columns `update_stats` writes.
#[derive(Debug)]
pub(crate) struct StatsColumns {
    pub frames: i64,
    pub bytes: i64,
    pub peak_viewers: i64,
    pub viewer_seconds: f64,
    pub last_frame_at: Option<i64>,
    pub jpeg_bytes_out: i64,
    pub webrtc_frames_in: i64,
    pub webrtc_bytes_in: i64,
    pub webrtc_bytes_out: i64,
}

impl StatsColumns {
    pub fn from_stats(stats: &SessionStats) -> Result<Self> {
        Ok(StatsColumns {
            frames: to_i64(stats.frames, "frame count")?,
            bytes: to_i64(stats.bytes, "byte count")?,
            peak_viewers: i64::from(stats.peak_viewers),
            viewer_seconds: stats.viewer_seconds,
            last_frame_at: millis_opt(stats.last_frame_at),
            jpeg_bytes_out: to_i64(stats.jpeg_bytes_out, "byte count")?,
            webrtc_frames_in: to_i64(stats.webrtc.frames_in, "frame count")?,
            webrtc_bytes_in: to_i64(stats.webrtc.bytes_in, "byte count")?,
            webrtc_bytes_out: to_i64(stats.webrtc.bytes_out, "byte count")?,
        })
    }
}

/// The stored form of a device's self-description.
pub(crate) fn device_json(device: Option<&DeviceInfo>) -> Result<Option<String>> {
    device.map(|d| to_json(d, "device info")).transpose()
}

/// A row of `cdrs`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CdrRow {
    pub suid: String,
    pub account_id: String,
    pub created_by: String,
    pub kind: String,
    pub label: Option<String>,
    pub device_id: Option<String>,
    pub device: Option<String>,
    pub created_at: i64,
    pub live_at: Option<i64>,
    pub ended_at: i64,
    pub end_reason: String,
    pub duration_seconds: f64,
    pub frames: i64,
    pub bytes: i64,
    pub peak_viewers: i64,
    pub viewer_seconds: f64,
    pub incomplete: bool,
    pub jpeg_bytes_out: i64,
    pub webrtc_frames_in: i64,
    pub webrtc_bytes_in: i64,
    pub webrtc_bytes_out: i64,
}

impl CdrRow {
    pub fn from_cdr(c: &Cdr) -> Result<Self> {
        Ok(CdrRow {
            suid: c.suid.to_string(),
            account_id: c.account_id.to_string(),
            created_by: c.created_by.to_string(),
            kind: c.kind.as_str().to_owned(),
            label: c.label.clone(),
            device_id: c.device_id.map(|d| d.to_string()),
            device: device_json(c.device.as_ref())?,
            created_at: millis(c.created_at),
            live_at: millis_opt(c.live_at),
            ended_at: millis(c.ended_at),
            end_reason: c.end_reason.as_str().to_owned(),
            duration_seconds: c.duration_seconds,
            frames: to_i64(c.frames, "frame count")?,
            bytes: to_i64(c.bytes, "byte count")?,
            peak_viewers: i64::from(c.peak_viewers),
            viewer_seconds: c.viewer_seconds,
            incomplete: c.incomplete,
            jpeg_bytes_out: to_i64(c.traffic.jpeg.bytes_out, "byte count")?,
            webrtc_frames_in: to_i64(c.traffic.webrtc.frames_in, "frame count")?,
            webrtc_bytes_in: to_i64(c.traffic.webrtc.bytes_in, "byte count")?,
            webrtc_bytes_out: to_i64(c.traffic.webrtc.bytes_out, "byte count")?,
        })
    }

    pub fn into_cdr(self) -> Result<Cdr> {
        let frames = to_u64(self.frames, "cdrs.frames")?;
        let bytes = to_u64(self.bytes, "cdrs.bytes")?;
        let traffic = Traffic {
            jpeg: PathTraffic {
                frames_in: frames,
                bytes_in: bytes,
                bytes_out: to_u64(self.jpeg_bytes_out, "cdrs.jpeg_bytes_out")?,
            },
            webrtc: PathTraffic {
                frames_in: to_u64(self.webrtc_frames_in, "cdrs.webrtc_frames_in")?,
                bytes_in: to_u64(self.webrtc_bytes_in, "cdrs.webrtc_bytes_in")?,
                bytes_out: to_u64(self.webrtc_bytes_out, "cdrs.webrtc_bytes_out")?,
            },
        };
        Ok(Cdr {
            suid: parse(&self.suid, "cdrs.suid")?,
            account_id: parse(&self.account_id, "cdrs.account_id")?,
            created_by: parse(&self.created_by, "cdrs.created_by")?,
            kind: known(&self.kind, "cdrs.kind", SessionKind::parse)?,
            label: self.label,
            device_id: parse_opt(self.device_id.as_deref(), "cdrs.device_id")?,
            device: self
                .device
                .as_deref()
                .map(|d| from_json::<DeviceInfo>(d, "cdrs.device"))
                .transpose()?,
            created_at: timestamp(self.created_at, "cdrs.created_at")?,
            live_at: timestamp_opt(self.live_at, "cdrs.live_at")?,
            ended_at: timestamp(self.ended_at, "cdrs.ended_at")?,
            end_reason: known(&self.end_reason, "cdrs.end_reason", EndReason::parse)?,
            duration_seconds: self.duration_seconds,
            frames,
            bytes,
            peak_viewers: to_u32(self.peak_viewers, "cdrs.peak_viewers")?,
            viewer_seconds: self.viewer_seconds,
            incomplete: self.incomplete,
            paths: traffic.paths(),
            traffic,
        })
    }
}

/// A row of `controls`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ControlRow {
    pub id: i64,
    pub suid: String,
    pub action: String,
    pub args: String,
    pub sent_by: String,
    pub sent_at: i64,
}

impl ControlRow {
    pub fn into_control(self) -> Result<Control> {
        Ok(Control {
            id: self.id,
            suid: parse(&self.suid, "controls.suid")?,
            action: self.action,
            args: from_json(&self.args, "controls.args")?,
            sent_by: parse(&self.sent_by, "controls.sent_by")?,
            sent_at: timestamp(self.sent_at, "controls.sent_at")?,
        })
    }
}
