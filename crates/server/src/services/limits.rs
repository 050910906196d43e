//! The account limits as people see and change them: every user sees their account's limits
//! with what it uses; an account's admins see their account in the admin views; operators see
//! and change every account's.

use super::audit::AuditLog;
use super::failure::ServiceError;
use super::gatekeeper::Gatekeeper;
use crate::protocol::ErrorCode;
use crate::protocol::admission::{
    AccountLimits, AccountSummary, AccountSummaryList, LimitView, SetLimitsRequest,
};
use std::sync::Arc;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::limits::{Limit, LimitOverrides};
use switchboard_core::{AccountId, Role, User};
use switchboard_store::{Store, StoreError};

/// The least a bandwidth limit may be: below it a single frame would wait seconds.
pub const MIN_BANDWIDTH: u64 = 1024;

/// Why a limits request failed.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("the admin views are for account admins and operators")]
    NotAdmin,
    #[error("only operators change an account's limits")]
    NotOperator,
    /// Malformed, unknown, or (for an account admin) another account: one answer.
    #[error("no such account")]
    AccountNotFound,
    #[error("limits: {0:?} is not a limit (see GET /api/v1/account/limits for their names)")]
    UnknownLimit(String),
    #[error("limits: {0} must be at least {MIN_BANDWIDTH} bytes per second")]
    BandwidthTooLow(Limit),
    #[error(transparent)]
    Audit(#[from] crate::services::audit::AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for LimitsError {
    fn code(&self) -> ErrorCode {
        match self {
            LimitsError::NotAdmin | LimitsError::NotOperator => ErrorCode::Forbidden,
            LimitsError::AccountNotFound => ErrorCode::AccountNotFound,
            LimitsError::UnknownLimit(_) | LimitsError::BandwidthTooLow(_) => {
                ErrorCode::InvalidField
            }
            LimitsError::Audit(e) => e.code(),
            LimitsError::Store(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            LimitsError::Audit(e) => e.message(),
            LimitsError::Store(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            LimitsError::Audit(e) => e.retry_after(),
            LimitsError::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// What the limits routes call.
#[derive(Clone)]
pub struct LimitViews {
    store: Arc<dyn Store>,
    gate: Arc<Gatekeeper>,
    audit: AuditLog,
}

impl std::fmt::Debug for LimitViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitViews").finish_non_exhaustive()
    }
}

impl LimitViews {
    pub fn new(store: Arc<dyn Store>, gate: Arc<Gatekeeper>, audit: AuditLog) -> Self {
        LimitViews { store, gate, audit }
    }

    /// The limits of the caller's own account, with what it uses.
    pub async fn own(&self, user: &User) -> Result<AccountLimits, LimitsError> {
        self.view(user.account_id).await
    }

    /// The account `id` names, as far as `caller` may see it.
    fn reach(caller: &User, id: &str) -> Result<AccountId, LimitsError> {
        let id: AccountId = id.parse().map_err(|_| LimitsError::AccountNotFound)?;
        match caller.role {
            Role::Operator => Ok(id),
            Role::Admin if id == caller.account_id => Ok(id),
            Role::Admin => Err(LimitsError::AccountNotFound),
            Role::Member => Err(LimitsError::NotAdmin),
        }
    }

    /// An account's limits (operators: any; an account's admins: theirs).
    pub async fn of(&self, caller: &User, id: &str) -> Result<AccountLimits, LimitsError> {
        let account = Self::reach(caller, id)?;
        self.view(account).await
    }

    /// Replaces an account's own limits (operators).
    pub async fn set(
        &self,
        caller: &User,
        id: &str,
        req: SetLimitsRequest,
    ) -> Result<AccountLimits, LimitsError> {
        let account = Self::reach(caller, id)?;
        if caller.role != Role::Operator {
            return Err(LimitsError::NotOperator);
        }
        let mut own = LimitOverrides::new();
        for (name, max) in req.limits {
            let limit = Limit::parse(&name).ok_or(LimitsError::UnknownLimit(name))?;
            if limit.is_shaped() && max < MIN_BANDWIDTH {
                return Err(LimitsError::BandwidthTooLow(limit));
            }
            own.insert(limit, max);
        }
        self.audit.check()?;
        match self
            .gate
            .set_limits(account, &own, Some(&caller.id.to_string()))
            .await
        {
            Err(StoreError::NotFound) => return Err(LimitsError::AccountNotFound),
            other => other?,
        }
        tracing::info!(%account, by = %caller.id, ?own, "account limits changed");
        self.audit
            .record_durable(
                AuditEvent::new(Actor::user(caller.id), Action::LimitsChanged)
                    .account(account)
                    .target("account", account)
                    .detail(serde_json::json!({ "limits": own, "by_account": caller.account_id })),
            )
            .await?;
        self.view(account).await
    }

    /// The accounts the caller may see in the admin views.
    pub async fn accounts(&self, caller: &User) -> Result<AccountSummaryList, LimitsError> {
        let accounts = match caller.role {
            Role::Operator => self.store.accounts().await?,
            Role::Admin => vec![self.store.account(caller.account_id).await?],
            Role::Member => return Err(LimitsError::NotAdmin),
        };
        let own: std::collections::HashSet<AccountId> = self
            .store
            .accounts_with_own_limits()
            .await?
            .into_iter()
            .collect();
        Ok(AccountSummaryList {
            accounts: accounts
                .into_iter()
                .map(|a| AccountSummary {
                    own_limits: own.contains(&a.id),
                    id: a.id,
                    name: a.name,
                    created_at: a.created_at,
                })
                .collect(),
        })
    }

    async fn view(&self, account: AccountId) -> Result<AccountLimits, LimitsError> {
        let name = match self.store.account(account).await {
            Ok(a) => a.name,
            Err(StoreError::NotFound) => return Err(LimitsError::AccountNotFound),
            Err(e) => return Err(e.into()),
        };
        let uses = self.gate.usage(account).await?;
        Ok(AccountLimits {
            account_id: account,
            account_name: name,
            enforced: self.gate.enabled(),
            limits: uses
                .into_iter()
                .map(|u| LimitView {
                    limit: u.limit,
                    description: u.limit.describe().to_owned(),
                    unit: u.limit.unit().to_owned(),
                    shaped: u.limit.is_shaped(),
                    value: u.value,
                    max: u.max,
                    default: self.gate.defaults().max(u.limit),
                    overridden: u.overridden,
                })
                .collect(),
        })
    }
}
