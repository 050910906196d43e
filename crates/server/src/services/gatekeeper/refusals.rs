//! `switchboard_admission_refused_total{limit,scope}`: admissions refused, by limit, for an
//! account (`scope="account"`, 429) or this node (`scope="node"`, 503). Every label value comes
//! from the closed set of limit names.

use switchboard_core::limits::Limit;

const REFUSED: &str = "switchboard_admission_refused_total";

/// The node's limit names, for the zero-valued series registered at start.
const NODE_LIMITS: [&str; 9] = [
    "node_sessions",
    "node_viewers",
    "node_websockets",
    "node_uploads",
    "node_kernel_starts",
    "node_requests_auth",
    "node_requests_api",
    "node_requests_media",
    "node_requests_kernels",
];

/// Registers every series at zero, so dashboards and alerts see them before the first refusal.
pub(super) fn register() {
    metrics::describe_counter!(
        REFUSED,
        "Admissions refused by the gatekeeper, by limit and scope (account: 429, node: 503)"
    );
    for limit in Limit::ALL.into_iter().filter(|l| !l.is_shaped()) {
        metrics::counter!(REFUSED, "limit" => limit.name(), "scope" => "account").increment(0);
    }
    for limit in NODE_LIMITS {
        metrics::counter!(REFUSED, "limit" => limit, "scope" => "node").increment(0);
    }
}

/// Counts an account's admission refused at `limit`.
pub(super) fn account(limit: Limit) {
    metrics::counter!(REFUSED, "limit" => limit.name(), "scope" => "account").increment(1);
}

/// Counts a request refused at one of the node's limits.
pub(super) fn node(limit: &'static str) {
    metrics::counter!(REFUSED, "limit" => limit, "scope" => "node").increment(1);
}
