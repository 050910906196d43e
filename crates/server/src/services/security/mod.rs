//! Account security: changing one's password (every other sign-in ends) and username, an
//! admin's reset to a one-time password, the account's rule that every user has a second
//! factor, second factors (TOTP with recovery codes) and the sign-ins a user controls.
//! Failed password and code checks count per user (`SignInFailures`), whatever the address.

mod error;
mod passwords;
mod second_factor;
mod sign_ins;

pub use error::SecurityError;
pub use passwords::{PasswordPolicy, WeakPassword};
pub(crate) use sign_ins::standing_view;
pub use sign_ins::{ClientInfo, LastUsedWriter, SignIns};

use super::audit::AuditLog;
use super::sign_in_failures::SignInFailures;
use crate::auth::revocations::{self, RevocationNotice};
use crate::auth::{Claims, PasswordHashing, TokenKind, TokenService};
use crate::config::Config;
use crate::protocol::accounts::{TokenResponse, UserView};
use crate::protocol::security::{
    AccountSecuritySettings, ChangePasswordRequest, ChangeUsernameRequest,
    ConfirmSecondFactorRequest, DisableSecondFactorRequest, RecoveryCodes, ResetPasswordRequest,
    SecondFactorEnrolment, SecondFactorRequest, SignInList, SignInsRevoked,
};
use serde_json::json;
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_core::account::{normalize_username, validate_username};
use switchboard_core::audit::{Action, AuditEvent, Outcome};
use switchboard_core::security::{Gate, Standing};
use switchboard_core::{Role, User, UserId};
use switchboard_store::{Store, StoreError};

/// How long an enrolment waits for its confirming code.
const ENROLMENT_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Where the QR code of a pending enrolment is drawn.
pub const ENROLMENT_QR_PATH: &str = "/api/v1/me/second-factor/qr.svg";

/// The account-security service (`App.security`).
pub struct AccountSecurity {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    tokens: Arc<TokenService>,
    sign_ins: Arc<SignIns>,
    /// Argon2 work, bounded together with the accounts service's.
    passwords: PasswordHashing,
    policy: PasswordPolicy,
    /// Failed password and code checks per user.
    failures: SignInFailures,
    audit: AuditLog,
}

impl std::fmt::Debug for AccountSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSecurity")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The key failures of a user are counted under.
fn failure_key(user: UserId) -> String {
    format!("user:{user}")
}

impl AccountSecurity {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        tokens: Arc<TokenService>,
        sign_ins: Arc<SignIns>,
        passwords: PasswordHashing,
        audit: AuditLog,
    ) -> Self {
        AccountSecurity {
            audit,
            store,
            bus,
            tokens,
            sign_ins,
            passwords,
            policy: PasswordPolicy::new(config.auth.min_password_score),
            failures: SignInFailures::new(
                config.auth.sign_in_failures_per_username,
                config.auth.sign_in_failure_window,
            ),
        }
    }

    /// Issues, records and ends sign-ins.
    pub fn sign_ins(&self) -> &SignIns {
        &self.sign_ins
    }

    /// Refuses a user over the limit of failed checks, before any work.
    fn throttle(&self, user: UserId) -> Result<(), SecurityError> {
        self.failures
            .allowed(&failure_key(user))
            .map_err(|wait| SecurityError::TooManyFailures {
                retry_after: wait.as_secs() + 1,
            })
    }

    /// Confirms a grave action (deleting the account) with the user's password, under the
    /// same limit of failed checks as password changes.
    pub(crate) async fn confirm_password(
        &self,
        user: &User,
        password: String,
    ) -> Result<(), SecurityError> {
        self.throttle(user.id)?;
        self.check_password(user, password).await
    }

    /// Checks `password` against the user's, counting a failure.
    async fn check_password(&self, user: &User, password: String) -> Result<(), SecurityError> {
        if self
            .passwords
            .verify(password, user.password_hash.clone())
            .await?
        {
            return Ok(());
        }
        self.failures.failed(&failure_key(user.id));
        tracing::info!(user = %user.id, "wrong current password");
        Err(SecurityError::WrongPassword)
    }

    /// The name of a user's account, as a hint the strength check counts as guessable.
    async fn account_name(&self, user: &User) -> String {
        self.store
            .account(user.account_id)
            .await
            .map(|a| a.name)
            .unwrap_or_default()
    }

    /// Checks a new password for `user` against the policy.
    async fn check_new_password(&self, user: &User, password: &str) -> Result<(), SecurityError> {
        let account = self.account_name(user).await;
        self.policy
            .check(password, &[&user.username, &account])
            .await
            .map_err(|WeakPassword(why)| SecurityError::WeakPassword(why))
    }

    /// Changes the caller's password after checking the current one; every other sign-in of
    /// theirs ends at once on every node, and a one-time password stops being one.
    pub async fn change_password(
        &self,
        user: &User,
        standing: Standing,
        claims: &Claims,
        req: ChangePasswordRequest,
    ) -> Result<(), SecurityError> {
        if standing.gate() == Gate::SecondFactorEnrolment {
            return Err(SecurityError::SecondFactorEnrolmentRequired);
        }
        self.throttle(user.id)?;
        self.audit.check()?;
        if standing.must_change_password && req.new_password == req.current_password {
            return Err(SecurityError::WeakPassword(
                "choose a password of your own, not the one-time password you were given".into(),
            ));
        }
        self.check_password(user, req.current_password).await?;
        self.failures.forget(&failure_key(user.id));
        self.check_new_password(user, &req.new_password).await?;
        let hash = self.passwords.hash(req.new_password).await?;
        self.store.set_password(user.id, &hash, false).await?;
        let ended = self.sign_ins.revoke_all(user.id, Some(&claims.jti)).await?;
        tracing::info!(user = %user.id, signed_out = ended, "password changed");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::PasswordChanged)
                    .target("user", user.id)
                    .detail(json!({ "sign_ins_ended": ended })),
            )
            .await?;
        Ok(())
    }

    /// Renames the caller. The new name must be free in every spelling; the old one is free
    /// at once. Sign-ins carry on (tokens name the user by id).
    pub async fn change_username(
        &self,
        user: &User,
        req: ChangeUsernameRequest,
    ) -> Result<UserView, SecurityError> {
        let username = normalize_username(&req.username);
        validate_username(&username).map_err(|e| SecurityError::InvalidUsername(e.to_string()))?;
        self.audit.check()?;
        match self.store.rename_user(user.id, &username).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SecurityError::UsernameTaken),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user = %user.id, "username changed");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::UsernameChanged)
                    .target("user", user.id)
                    .detail(json!({ "from": user.username, "to": username })),
            )
            .await?;
        let account = self.account_name(user).await;
        let renamed = User {
            username,
            ..user.clone()
        };
        Ok(UserView::of(&renamed, Some(account)))
    }

    /// Sets a one-time password for another user of `admin`'s account (named by `id` as
    /// written in a path): their sign-ins end, and their next one may only change it.
    pub async fn reset_password(
        &self,
        admin: &User,
        id: &str,
        req: ResetPasswordRequest,
    ) -> Result<(), SecurityError> {
        if admin.role != Role::Admin {
            return Err(SecurityError::NotAdmin("reset passwords"));
        }
        let id: UserId = id.parse().map_err(|_| SecurityError::UserNotFound)?;
        let user = match self.store.user(id).await {
            Ok(user) if user.account_id == admin.account_id => user,
            Ok(_) | Err(StoreError::NotFound) => return Err(SecurityError::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        if user.id == admin.id {
            return Err(SecurityError::ResetSelf);
        }
        self.check_new_password(&user, &req.password).await?;
        self.audit.check()?;
        let hash = self.passwords.hash(req.password).await?;
        match self.store.set_password(user.id, &hash, true).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(SecurityError::UserNotFound),
            Err(e) => return Err(e.into()),
        }
        let ended = self.sign_ins.revoke_all(user.id, None).await?;
        tracing::info!(user = %user.id, by = %admin.id, signed_out = ended, "password reset by an admin");
        self.audit
            .record_durable(
                AuditEvent::by(admin, Action::PasswordReset)
                    .target("user", user.id)
                    .detail(json!({ "sign_ins_ended": ended })),
            )
            .await?;
        Ok(())
    }

    /// The account's security settings.
    pub async fn settings(&self, user: &User) -> Result<AccountSecuritySettings, SecurityError> {
        Ok(AccountSecuritySettings {
            require_second_factor: self.store.second_factor_required(user.account_id).await?,
        })
    }

    /// Changes the account's security settings (admins). Requiring a second factor takes
    /// effect on the next request of each user who has none.
    pub async fn update_settings(
        &self,
        admin: &User,
        req: AccountSecuritySettings,
    ) -> Result<AccountSecuritySettings, SecurityError> {
        if admin.role != Role::Admin {
            return Err(SecurityError::NotAdmin(
                "change the account's security settings",
            ));
        }
        self.audit.check()?;
        self.store
            .set_second_factor_required(admin.account_id, req.require_second_factor)
            .await?;
        self.audit
            .record_durable(
                AuditEvent::by(admin, Action::SecurityRuleChanged)
                    .target("account", admin.account_id)
                    .detail(json!({ "require_second_factor": req.require_second_factor })),
            )
            .await?;
        tracing::info!(account = %admin.account_id, by = %admin.id, require_second_factor = req.require_second_factor, "account security settings changed");
        Ok(req)
    }

    /// Starts enrolling a second factor: a new secret, replacing any enrolment not yet
    /// confirmed.
    pub async fn begin_enrolment(
        &self,
        user: &User,
        standing: Standing,
    ) -> Result<SecondFactorEnrolment, SecurityError> {
        if standing.gate() == Gate::PasswordChange {
            return Err(SecurityError::PasswordChangeRequired);
        }
        if standing.second_factor_enabled {
            return Err(SecurityError::AlreadyEnabled);
        }
        let secret = second_factor::new_secret();
        let now = chrono::Utc::now();
        match self.store.begin_totp(user.id, &secret, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SecurityError::AlreadyEnabled),
            Err(e) => return Err(e.into()),
        }
        Ok(SecondFactorEnrolment {
            otpauth_url: second_factor::otpauth_url(&secret, &user.username)?,
            secret,
            qr_svg: ENROLMENT_QR_PATH.to_owned(),
            expires_at: now + ENROLMENT_TTL,
        })
    }

    /// The `otpauth://` URL of the caller's pending enrolment, for its QR code.
    pub async fn enrolment_url(&self, user: &User) -> Result<String, SecurityError> {
        let (secret, _) = self.pending_enrolment(user.id).await?;
        second_factor::otpauth_url(&secret, &user.username)
    }

    /// The pending enrolment's secret and start, unless it expired.
    async fn pending_enrolment(
        &self,
        user: UserId,
    ) -> Result<(String, chrono::DateTime<chrono::Utc>), SecurityError> {
        let factor = self.store.second_factor(user).await?;
        if factor.secret.is_some() {
            return Err(SecurityError::AlreadyEnabled);
        }
        factor
            .pending
            .filter(|(_, at)| *at + ENROLMENT_TTL > chrono::Utc::now())
            .ok_or(SecurityError::NotEnrolling)
    }

    /// Confirms the pending enrolment with a code from the app: the second factor is on,
    /// and the recovery codes are shown this once.
    pub async fn confirm_enrolment(
        &self,
        user: &User,
        standing: Standing,
        req: ConfirmSecondFactorRequest,
    ) -> Result<RecoveryCodes, SecurityError> {
        if standing.gate() == Gate::PasswordChange {
            return Err(SecurityError::PasswordChangeRequired);
        }
        self.throttle(user.id)?;
        let (secret, _) = self.pending_enrolment(user.id).await?;
        let Some(step) = second_factor::step_of(&secret, &req.code, unix_now())? else {
            self.failures.failed(&failure_key(user.id));
            return Err(SecurityError::InvalidCode);
        };
        let codes = second_factor::recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| second_factor::recovery_hash(c))
            .collect();
        match self
            .store
            .enable_totp(user.id, &secret, step, &hashes, chrono::Utc::now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SecurityError::NotEnrolling),
            Err(e) => return Err(e.into()),
        }
        self.failures.forget(&failure_key(user.id));
        tracing::info!(user = %user.id, "second factor enabled");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::SecondFactorEnrolled).target("user", user.id),
            )
            .await?;
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// Turns the caller's second factor off, given their password and a code (or a
    /// recovery code).
    pub async fn disable(
        &self,
        user: &User,
        req: DisableSecondFactorRequest,
    ) -> Result<(), SecurityError> {
        self.throttle(user.id)?;
        self.check_password(user, req.password).await?;
        let factor = self.store.second_factor(user.id).await?;
        let Some(secret) = factor.secret else {
            return Err(SecurityError::NotEnabled);
        };
        if !self
            .second_factor_passes(user.id, &secret, req.code, req.recovery_code)
            .await?
        {
            self.failures.failed(&failure_key(user.id));
            return Err(SecurityError::InvalidCode);
        }
        self.failures.forget(&failure_key(user.id));
        self.audit.check()?;
        self.store.disable_totp(user.id).await?;
        tracing::info!(user = %user.id, "second factor disabled");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::SecondFactorDisabled).target("user", user.id),
            )
            .await?;
        Ok(())
    }

    /// Whether a code (its time step accepted once, in the store) or a recovery code (used
    /// once) proves the second factor.
    async fn second_factor_passes(
        &self,
        user: UserId,
        secret: &str,
        code: Option<String>,
        recovery_code: Option<String>,
    ) -> Result<bool, SecurityError> {
        match (code, recovery_code) {
            (Some(code), None) => match second_factor::step_of(secret, &code, unix_now())? {
                Some(step) => Ok(self.store.accept_totp_step(user, step).await?),
                None => Ok(false),
            },
            (None, Some(recovery)) => match second_factor::recovery_hash(&recovery) {
                Some(hash) => Ok(self
                    .store
                    .use_recovery_code(user, &hash, chrono::Utc::now())
                    .await?),
                None => Ok(false),
            },
            _ => Err(SecurityError::CodeOrRecoveryCode),
        }
    }

    /// The second step of a sign-in: the challenge with a code or recovery code. Every
    /// failure of the challenge is one answer, whatever went wrong.
    pub async fn complete_sign_in(
        &self,
        req: SecondFactorRequest,
        client: &ClientInfo,
    ) -> Result<TokenResponse, SecurityError> {
        let claims = self
            .tokens
            .verify(&req.challenge)
            .map_err(|_| SecurityError::InvalidChallenge)?;
        if claims.kind != TokenKind::SecondFactor {
            return Err(SecurityError::InvalidChallenge);
        }
        let id: UserId = claims
            .sub
            .parse()
            .map_err(|_| SecurityError::InvalidChallenge)?;
        self.throttle(id)?;
        let (user, standing) = match self.store.user_standing(id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(SecurityError::InvalidChallenge),
            Err(e) => return Err(e.into()),
        };
        let Some(secret) = self.store.second_factor(id).await?.secret else {
            // Disabled since the password was checked: sign in again.
            return Err(SecurityError::InvalidChallenge);
        };
        if !self
            .second_factor_passes(id, &secret, req.code, req.recovery_code)
            .await?
        {
            self.failures.failed(&failure_key(id));
            tracing::info!(client = %client.addr, user = %id, "failed second factor");
            crate::metrics::login(false);
            self.audit.record(
                AuditEvent::by(&user, Action::SecondFactor)
                    .target("user", id)
                    .outcome(Outcome::Denied)
                    .detail(json!({ "reason": "wrong code" })),
            )?;
            return Err(SecurityError::InvalidCode);
        }
        self.failures.forget(&failure_key(id));
        // A challenge serves once.
        self.store
            .revoke_token(&claims.jti, claims.expires_at())
            .await?;
        let notice = RevocationNotice::of(&claims);
        self.tokens.revoked.insert(notice.jti.clone(), notice.exp);
        revocations::announce_notice(&*self.bus, &notice).await;
        crate::metrics::login(true);
        let token = self.sign_ins.open(&user, standing, client).await?;
        self.audit
            .record_durable(
                AuditEvent::by(&user, Action::SecondFactor)
                    .target("user", id)
                    .detail(json!({ "user_agent": client.user_agent })),
            )
            .await?;
        Ok(token)
    }

    /// The caller's sign-ins, newest first.
    pub async fn list_sign_ins(
        &self,
        user: &User,
        claims: &Claims,
    ) -> Result<SignInList, SecurityError> {
        Ok(SignInList {
            sign_ins: self.sign_ins.list(user.id, &claims.jti).await?,
        })
    }

    /// Ends one of the caller's sign-ins, everywhere.
    pub async fn revoke_sign_in(&self, user: &User, id: &str) -> Result<(), SecurityError> {
        self.audit.check()?;
        self.sign_ins.revoke(user.id, id).await?;
        tracing::info!(user = %user.id, "sign-in ended by its user");
        self.audit
            .record_durable(AuditEvent::by(user, Action::SignInEnded).target("sign_in", id))
            .await?;
        Ok(())
    }

    /// Ends every sign-in of the caller but the one making the request, everywhere.
    pub async fn revoke_other_sign_ins(
        &self,
        user: &User,
        claims: &Claims,
    ) -> Result<SignInsRevoked, SecurityError> {
        self.audit.check()?;
        let revoked = self.sign_ins.revoke_all(user.id, Some(&claims.jti)).await?;
        tracing::info!(user = %user.id, revoked, "other sign-ins ended by their user");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::SignInEnded)
                    .target("user", user.id)
                    .detail(json!({ "others": revoked })),
            )
            .await?;
        Ok(SignInsRevoked { revoked })
    }
}

/// Seconds since the Unix epoch, for TOTP steps.
fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}
