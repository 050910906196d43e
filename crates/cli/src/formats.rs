//! Formats the admin commands share: times as people type them, CSV fields.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

/// An RFC 3339 time, or a date (`YYYY-MM-DD`, midnight UTC).
pub fn parse_time(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"))?;
    Ok(d.and_hms_opt(0, 0, 0).context("bad date")?.and_utc())
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
