//! The admin views on the wire (PROTOCOL.md §8): account admins see their account, operators
//! every account and node.

use super::SessionView;
use super::cameras::DetectorView;
use serde::{Deserialize, Serialize};
use switchboard_core::{AccountId, Cdr, EndReason, Service, ServiceStatus};

/// Who the caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One account (its admins).
    Account,
    /// Everything (operators).
    All,
}

/// Totals at a glance.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Totals {
    pub open_sessions: u32,
    pub live: u32,
    pub waiting: u32,
    pub viewers: u32,
    /// Live sessions whose device sent a frame in the last 10 s.
    pub devices: u32,
    /// Users signed in on this node.
    pub signed_in_users: u32,
    /// Mean fps over live sessions.
    pub average_fps: f64,
}

/// Ends by reason over a period, and how many were incomplete attempts.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ends {
    pub by_reason: Vec<ReasonCount>,
    /// Ends for any reason but `ended_by_user`.
    pub timeouts: u64,
    /// Sessions that ended without a device.
    pub incomplete_attempts: u64,
}

/// How many sessions ended for one reason.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: EndReason,
    pub count: u64,
}

/// A node and its newest status (null for a stopped one).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeView {
    pub service: Service,
    pub status: Option<ServiceStatus>,
}

/// A session with the account it belongs to.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminSession {
    pub account_id: AccountId,
    pub account_name: Option<String>,
    #[serde(flatten)]
    pub session: SessionView,
}

/// `GET /api/v1/admin/overview` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Overview {
    pub scope: Scope,
    pub totals: Totals,
    /// The open sessions the caller may see.
    pub sessions: Vec<AdminSession>,
    pub last_hour: Ends,
    pub last_day: Ends,
    /// Every node (operators only; empty for account admins).
    pub nodes: Vec<NodeView>,
    /// The 20 newest CDRs of the last day, newest first.
    pub recent_cdrs: Vec<Cdr>,
    /// The object detector of the node that answered: model, backend and ONNX Runtime's
    /// library, or why detection is off.
    pub detector: DetectorView,
}

/// `GET /api/v1/admin/nodes` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
    /// The node new work should go to, if any is fresh.
    pub least_loaded: Option<String>,
}

/// `GET /api/v1/admin/history` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The service's id from `/admin/nodes` (ids contain slashes, so they travel as a
    /// parameter).
    pub service: String,
    /// Minutes of history, 1 to 1440 (clamped); default 60.
    pub minutes: Option<i64>,
}

/// `GET /api/v1/admin/history` answer: the service's status samples, oldest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeHistory {
    pub service_id: String,
    pub samples: Vec<ServiceStatus>,
}
