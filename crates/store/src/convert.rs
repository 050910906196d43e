//! Conversions between domain values and the plain column values both backends store:
//! timestamps as Unix milliseconds, ids as UUID strings, counters as `BIGINT`, JSON as text.
//!
//! Reading never panics: a value the domain cannot hold (a negative frame count, an unknown
//! state, malformed JSON) is corrupt data and becomes [`StoreError::Other`] naming the column.

use crate::error::{Result, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::str::FromStr;
use switchboard_core::{Cdr, Session, SessionState, Timestamp};

/// The stored form of a timestamp: whole milliseconds since the Unix epoch (sub-millisecond
/// precision is dropped, which is what the `Store` contract promises).
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

/// [`millis`] for an optional timestamp.
pub(crate) fn millis_opt(at: Option<Timestamp>) -> Option<i64> {
    at.map(millis)
}

/// Reads a stored timestamp back.
pub(crate) fn timestamp(ms: i64, column: &str) -> Result<Timestamp> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(column, format!("{ms} ms is out of range")))
}

/// [`timestamp`] for a nullable column.
pub(crate) fn timestamp_opt(ms: Option<i64>, column: &str) -> Result<Option<Timestamp>> {
    ms.map(|ms| timestamp(ms, column)).transpose()
}

/// Truncates a timestamp to what the store keeps, so values handed back from a write equal
/// the ones a later read returns.
pub(crate) fn truncate(at: Timestamp) -> Result<Timestamp> {
    timestamp(millis(at), "timestamp")
}

/// Parses a stored id (or any other value stored by its `Display` form).
pub(crate) fn parse<T>(text: &str, column: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse()
        .map_err(|e| corrupt(column, format!("{text:?}: {e}")))
}

/// Parses a stored value with a domain type's own checked constructor.
pub(crate) fn parse_with<T, E: Display>(
    text: &str,
    column: &str,
    parse: fn(&str) -> std::result::Result<T, E>,
) -> Result<T> {
    parse(text).map_err(|e| corrupt(column, format!("{text:?}: {e}")))
}

/// [`parse`] for a nullable column.
pub(crate) fn parse_opt<T>(text: Option<&str>, column: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    text.map(|t| parse(t, column)).transpose()
}

/// Parses a stored enum through its own `parse` function, which returns `None` when unknown.
pub(crate) fn known<T>(text: &str, column: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| corrupt(column, format!("unknown value {text:?}")))
}

/// A counter as `BIGINT`. Counters that outgrow `i64` are refused rather than wrapped.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Other(format!("{what} {value} is too large to store")))
}

/// A stored counter back as `u64`; negative means corrupt.
pub(crate) fn to_u64(value: i64, column: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(column, format!("{value} is negative")))
}

/// A stored counter back as `u32`.
pub(crate) fn to_u32(value: i64, column: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt(column, format!("{value} does not fit in u32")))
}

/// A stored data key version (`NULL`: the row is stored plain).
pub(crate) fn key_version(value: Option<i64>, column: &str) -> Result<Option<u32>> {
    value.map(|v| to_u32(v, column)).transpose()
}

/// Serializes a value into a JSON text column.
pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Other(format!("cannot encode {what} as JSON: {e}")))
}

/// Parses a JSON text column.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, column: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(column, format!("invalid JSON: {e}")))
}

/// The error for a stored value the domain cannot hold.
fn corrupt(column: &str, detail: String) -> StoreError {
    StoreError::Other(format!("corrupt value in column {column}: {detail}"))
}

/// The CDR of a session handed to `end_session`, which must already be in its ended state:
/// anything else is a bug in the caller, not a state of the database.
pub(crate) fn cdr_of_ended(session: &Session) -> Result<Cdr> {
    Cdr::for_session(session)
        .filter(|_| session.state == SessionState::Ended)
        .ok_or_else(|| {
            StoreError::Other(format!(
                "end_session was given session {} in state {}; end it first with Session::end",
                session.suid, session.state
            ))
        })
}

/// The three values bound to `state IN (?, ?, ?)` for a list filter, so the query text stays
/// fixed: every state when the filter is empty, otherwise the wanted ones with the first
/// repeated to fill the slots (there are only three states, so three slots always suffice).
pub(crate) fn state_binds(states: &[SessionState]) -> [&'static str; 3] {
    let all = [
        SessionState::Waiting,
        SessionState::Live,
        SessionState::Ended,
    ];
    let wanted: Vec<&'static str> = all
        .into_iter()
        .filter(|s| states.is_empty() || states.contains(s))
        .map(SessionState::as_str)
        .collect();
    match wanted[..] {
        [a] => [a, a, a],
        [a, b] => [a, b, b],
        [a, b, c, ..] => [a, b, c],
        // Cannot happen (every state is one of the three), but an impossible filter should
        // still match something rather than panic.
        [] => [SessionState::Ended.as_str(); 3],
    }
}
