//! Reading the audit trail: account admins their account's records, operators everyone's,
//! filtered and paged by a cursor (newest first). Reading it is itself recorded.

use super::error::AuditError;
use super::log::AuditLog;
use crate::protocol::ErrorCode;
use crate::protocol::audit::{AuditFilter, AuditPageView, AuditRecordView};
use crate::services::failure::ServiceError;
use base64::Engine;
use std::sync::Arc;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::{Role, User};
use switchboard_store::{AuditCursor, AuditQuery, Store, StoreError};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditViewError {
    #[error("only account admins and operators may read the audit trail")]
    Forbidden,
    #[error("{0}")]
    InvalidFilter(String),
    /// An account admin named another account: it is not theirs to see.
    #[error("no such account")]
    AccountNotFound,
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for AuditViewError {
    fn code(&self) -> ErrorCode {
        match self {
            AuditViewError::Forbidden => ErrorCode::Forbidden,
            AuditViewError::InvalidFilter(_) => ErrorCode::InvalidFilter,
            AuditViewError::AccountNotFound => ErrorCode::AccountNotFound,
            AuditViewError::Audit(e) => e.code(),
            AuditViewError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            AuditViewError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AuditViewError::Audit(e) => e.retry_after(),
            AuditViewError::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// The audit trail as people read it.
#[derive(Clone)]
pub struct AuditViews {
    store: Arc<dyn Store>,
    log: AuditLog,
}

impl AuditViews {
    pub fn new(store: Arc<dyn Store>, log: AuditLog) -> AuditViews {
        AuditViews { store, log }
    }

    /// The records `caller` may read that match `filter`, newest first.
    pub async fn page(
        &self,
        caller: &User,
        filter: AuditFilter,
    ) -> Result<AuditPageView, AuditViewError> {
        let account = match caller.role {
            Role::Operator => filter.account,
            Role::Admin => match filter.account {
                Some(other) if other != caller.account_id => {
                    return Err(AuditViewError::AccountNotFound);
                }
                _ => Some(caller.account_id),
            },
            Role::Member => return Err(AuditViewError::Forbidden),
        };
        let query = query_of(account, &filter)?;
        let records = self.store.audit_records(&query).await?;
        let next = (records.len() == query.limit as usize)
            .then(|| records.last().map(cursor_of))
            .flatten();
        self.log.record(
            AuditEvent::new(Actor::user(caller.id), Action::AuditRead)
                .account(caller.account_id)
                .detail(serde_json::json!({
                    "account": account,
                    "actor": filter.actor,
                    "target": filter.target,
                    "action": filter.action,
                    "from": filter.from,
                    "to": filter.to,
                    "records": records.len(),
                })),
        )?;
        Ok(AuditPageView {
            records: records.into_iter().map(AuditRecordView::from).collect(),
            next,
        })
    }
}

/// The store query for a filter, checked.
pub fn query_of(
    account: Option<switchboard_core::AccountId>,
    filter: &AuditFilter,
) -> Result<AuditQuery, AuditViewError> {
    if let Some(action) = &filter.action
        && action.parse::<Action>().is_err()
    {
        return Err(AuditViewError::InvalidFilter(format!(
            "unknown audit action {action:?}; PROTOCOL.md lists them"
        )));
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(AuditViewError::InvalidFilter(
            "the time range ends before it starts: `to` must be after `from`".into(),
        ));
    }
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AuditViewError::InvalidFilter(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let after = filter
        .cursor
        .as_deref()
        .map(|c| {
            parse_cursor(c).ok_or_else(|| {
                AuditViewError::InvalidFilter("the cursor is not one this server made".into())
            })
        })
        .transpose()?;
    Ok(AuditQuery {
        account,
        actor: filter.actor.clone(),
        target: filter.target.clone(),
        action: filter.action.clone(),
        from: filter.from,
        to: filter.to,
        after,
        limit,
    })
}

/// An opaque cursor: the last record's time, number and node.
fn cursor_of(record: &switchboard_core::audit::AuditRecord) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}",
        record.at.timestamp_millis(),
        record.seq,
        record.node
    ))
}

fn parse_cursor(text: &str) -> Option<AuditCursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.splitn(3, ':');
    let at = chrono::DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
    let seq = parts.next()?.parse().ok()?;
    let node = parts.next()?.to_owned();
    Some(AuditCursor { at, node, seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let cursor = AuditCursor {
            at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("time"),
            node: "node:a".into(),
            seq: 42,
        };
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}:{}:{}",
            cursor.at.timestamp_millis(),
            cursor.seq,
            cursor.node
        ));
        assert_eq!(parse_cursor(&text), Some(cursor));
        assert_eq!(parse_cursor("!!"), None);
        assert_eq!(parse_cursor("bm90OmE"), None);
    }

    #[test]
    fn bad_filters_are_refused() {
        let unknown = AuditFilter {
            action: Some("session.teleported".into()),
            ..AuditFilter::default()
        };
        assert!(matches!(
            query_of(None, &unknown),
            Err(AuditViewError::InvalidFilter(_))
        ));
        let now = chrono::Utc::now();
        let backwards = AuditFilter {
            from: Some(now),
            to: Some(now - chrono::Duration::hours(1)),
            ..AuditFilter::default()
        };
        assert!(matches!(
            query_of(None, &backwards),
            Err(AuditViewError::InvalidFilter(_))
        ));
        let fine = AuditFilter {
            action: Some("session.watched".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            query_of(None, &fine).map(|q| q.limit).ok(),
            Some(DEFAULT_PAGE)
        );
    }
}
