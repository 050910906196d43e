//! Admission limits on the wire (PROTOCOL.md §3.4): an account's limits with what it uses,
//! and an operator's change of them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchboard_core::AccountId;
use switchboard_core::limits::Limit;

/// One limit of an account with what it uses now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitView {
    pub limit: Limit,
    /// What the limit counts, for people.
    pub description: String,
    /// `bytes`, `bytes/s`, `seconds`, or empty for a count.
    pub unit: String,
    /// Past a shaped limit the account is slowed down, never refused.
    pub shaped: bool,
    /// Use now (bandwidth: bytes moved in the last second by the answering node).
    pub value: u64,
    /// The maximum in force.
    pub max: u64,
    /// The node's default for every account.
    pub default: u64,
    /// Whether the account has its own maximum.
    pub overridden: bool,
}

/// `GET /api/v1/account/limits` and `GET /api/v1/admin/accounts/{id}/limits`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountLimits {
    pub account_id: AccountId,
    pub account_name: String,
    /// Whether this node checks limits at all.
    pub enforced: bool,
    pub limits: Vec<LimitView>,
}

/// `PUT /api/v1/admin/accounts/{id}/limits` (operators): the account's own maximums, by limit
/// name, replacing the ones it had; limits not named follow the defaults again (`{}` clears
/// them all). A maximum below what the account uses cuts nothing that runs: new admissions
/// wait until use drops below it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimitsRequest {
    #[schema(value_type = BTreeMap<String, u64>)]
    pub limits: BTreeMap<String, u64>,
}

/// An account as the admin views list it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountSummary {
    pub id: AccountId,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the account has its own value for any limit.
    pub own_limits: bool,
}

/// `GET /api/v1/admin/accounts`: operators see every account, an account's admins their own.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountSummaryList {
    pub accounts: Vec<AccountSummary>,
}
