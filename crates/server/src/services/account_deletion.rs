//! Deleting a whole account: by one of its admins (confirming with their password) or by an
//! operator. Its data keys go first, in the same transaction as everything else of it, so
//! every picture and cell file it stored is unreadable from then on, in the database and in
//! any copy of it (crypto-shredding). Its open sessions end first (devices and viewers are
//! closed), and its users are signed out on every node.

use super::account_error::AccountError;
use super::audit::AuditLog;
use super::security::AccountSecurity;
use super::sessions::LiveSessions;
use crate::auth::{TokenService, revocations};
use crate::taught::TaughtMatcher;
use crate::vault::Vault;
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::{AccountId, EndReason, Role, SessionState, User};
use switchboard_store::{SessionFilter, Store, StoreError};

/// The most open sessions of one account ended on its deletion (the account's own limit is
/// far below).
const MAX_OPEN_SESSIONS: u32 = 100_000;

/// The account deletion service (`App.deletions`).
pub struct AccountDeletion {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    tokens: Arc<TokenService>,
    vault: Arc<Vault>,
    live: LiveSessions,
    security: Arc<AccountSecurity>,
    audit: AuditLog,
    /// Holds the account's templates decoded in memory; they go with its keys.
    taught: Arc<TaughtMatcher>,
}

impl std::fmt::Debug for AccountDeletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountDeletion").finish_non_exhaustive()
    }
}

impl AccountDeletion {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        tokens: Arc<TokenService>,
        vault: Arc<Vault>,
        live: LiveSessions,
        security: Arc<AccountSecurity>,
        audit: AuditLog,
        taught: Arc<TaughtMatcher>,
    ) -> Self {
        AccountDeletion {
            store,
            bus,
            tokens,
            vault,
            live,
            security,
            audit,
            taught,
        }
    }

    /// An admin deletes their own account, confirming with their password (a wrong one
    /// counts towards the user's failed checks).
    pub async fn delete_own(&self, caller: &User, password: String) -> Result<(), AccountError> {
        if caller.role != Role::Admin {
            return Err(AccountError::NotAdmin("delete the account"));
        }
        self.security.confirm_password(caller, password).await?;
        self.delete(caller.account_id, caller).await
    }

    /// An operator deletes the account `id` names (as written in a path).
    pub async fn delete_any(&self, caller: &User, id: &str) -> Result<(), AccountError> {
        if caller.role != Role::Operator {
            return Err(AccountError::NotOperator);
        }
        let id: AccountId = id.parse().map_err(|_| AccountError::AccountNotFound)?;
        self.delete(id, caller).await
    }

    async fn delete(&self, account: AccountId, by: &User) -> Result<(), AccountError> {
        match self.store.account(account).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(AccountError::AccountNotFound),
            Err(e) => return Err(e.into()),
        }
        // Deleting is answered only once it is on record.
        self.audit.check()?;
        let users = self.store.list_users(account).await?;
        // Ended first, so devices and viewers are closed and the CDRs written while the
        // sessions still exist; a session that will not end is deleted with the rest.
        let open = self
            .store
            .list_sessions(
                account,
                &SessionFilter {
                    states: vec![SessionState::Waiting, SessionState::Live],
                    limit: MAX_OPEN_SESSIONS,
                },
            )
            .await?;
        for session in &open {
            let suid = session.suid.to_string();
            if let Err(e) = self
                .live
                .end(by, Some(account), &suid, EndReason::EndedByUser)
                .await
            {
                tracing::warn!(%suid, error = %e, "cannot end a session of an account being deleted");
            }
        }
        match self.store.delete_account(account).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AccountError::AccountNotFound),
            Err(e) => return Err(e.into()),
        }
        self.vault.forget(account);
        self.taught.forget(account);
        // Stored first: a node that misses an announcement finds the user gone anyway.
        for user in &users {
            revocations::user_deleted(&*self.bus, &self.tokens, user.id).await;
        }
        tracing::info!(%account, by = %by.id, users = users.len(), sessions = open.len(), "account deleted; its data keys are destroyed");
        // The record outlives the account: audit records name what they name, without
        // foreign keys.
        self.audit
            .record_durable(
                AuditEvent::new(Actor::user(by.id), Action::AccountDeleted)
                    .account(account)
                    .target("account", account)
                    .detail(serde_json::json!({
                        "users": users.len(),
                        "sessions_ended": open.len(),
                        "by_operator": by.account_id != account,
                    })),
            )
            .await?;
        Ok(())
    }
}
