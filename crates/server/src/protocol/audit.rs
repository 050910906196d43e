//! The audit trail on the wire (PROTOCOL.md "Audit trail"): a page of records and the
//! filters that choose them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::AccountId;
use switchboard_core::audit::{ActorKind, AuditRecord};

/// `GET /api/v1/audit` filters. All optional; records come newest first.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Who acted: a user id, SUID (devices) or camera id.
    pub actor: Option<String>,
    /// What was acted on: a session's SUID, a user id, a snapshot id, a cell id…
    pub target: Option<String>,
    /// One action by name (`session.watched`; see PROTOCOL.md for all).
    pub action: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// One account's records: any for operators; for an account admin only their own
    /// (another is `404 account_not_found`).
    pub account: Option<AccountId>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Records per page, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// Who acted.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditActor {
    pub kind: ActorKind,
    /// The user id, SUID or camera id; absent for anonymous and system actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What was acted on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditTarget {
    pub kind: String,
    pub id: String,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecordView {
    /// The node whose chain holds it.
    pub node: String,
    /// Its number in that chain.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountId>,
    /// `area.verb`, e.g. `auth.sign_in`, `session.watched`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<AuditTarget>,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// What else was recorded (a reason, a question, a code hash, a viewing's span).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The record's hash in its chain (hex).
    pub hash: String,
}

impl From<AuditRecord> for AuditRecordView {
    fn from(r: AuditRecord) -> AuditRecordView {
        AuditRecordView {
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail)),
            hash: r.hash.to_hex(),
            node: r.node,
            seq: r.seq,
            at: r.at,
            actor: AuditActor {
                kind: r.actor.kind,
                id: r.actor.id,
            },
            account: r.account,
            action: r.action,
            target: r.target.map(|t| AuditTarget {
                kind: t.kind,
                id: t.id,
            }),
            outcome: r.outcome,
            request_id: r.request_id,
            client: r.client,
        }
    }
}

/// `GET /api/v1/audit`: a page of records, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPageView {
    pub records: Vec<AuditRecordView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
