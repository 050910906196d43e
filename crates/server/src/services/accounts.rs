//! Accounts: signing up (a new account, or joining one with an invite), signing in and out,
//! the signed-in user, invites, and the account's users. Every account with users keeps an
//! admin (the store decides, atomically: `last_admin`).

use super::account_error::AccountError;
use super::audit::AuditLog;
use super::gatekeeper::Gatekeeper;
use super::security::{ClientInfo, PasswordPolicy, SignIns, WeakPassword, standing_view};
use super::sign_in_failures::SignInFailures;
use crate::auth::{Claims, PasswordHashing, TokenService, revocations};
use crate::config::Config;
use crate::live::now;
use crate::protocol::accounts::{
    InviteResponse, LoginRequest, LoginResponse, RegisterRequest, TokenResponse, UserList, UserView,
};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_core::account::{normalize_username, username_key, validate_username};
use switchboard_core::audit::{Action, Actor, AuditEvent, Outcome};
use switchboard_core::security::Standing;
use switchboard_core::{Account, AccountId, Role, User, UserId};
use switchboard_store::{Invite, Store, StoreError};

/// How long an invite stays valid.
const INVITE_TTL: chrono::Duration = chrono::Duration::days(7);
/// The symbols of an invite code: no look-alikes.
const INVITE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Symbols in an invite code.
const INVITE_LEN: usize = 20;
/// Longest account name, in characters.
const MAX_ACCOUNT_NAME_CHARS: usize = 100;

/// The accounts service: what routes for sign-up, sign-in, the signed-in user, invites and
/// the account's users call.
pub struct Accounts {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    tokens: Arc<TokenService>,
    /// Argon2 work for sign-ins and sign-ups, bounded.
    passwords: PasswordHashing,
    /// Failed sign-ins per username, checked before any hashing.
    failures: SignInFailures,
    /// What a new password must be.
    policy: PasswordPolicy,
    /// Issues and records user tokens.
    sign_ins: Arc<SignIns>,
    /// The account's `users` limit for someone joining with an invite.
    gate: Arc<Gatekeeper>,
    audit: AuditLog,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("passwords", &self.passwords)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        tokens: Arc<TokenService>,
        sign_ins: Arc<SignIns>,
        gate: Arc<Gatekeeper>,
        audit: AuditLog,
    ) -> Self {
        let passwords = PasswordHashing::new(
            config
                .auth
                .password_hash_workers
                .unwrap_or_else(PasswordHashing::default_workers),
            config.auth.password_hash_queue_wait,
        );
        let failures = SignInFailures::new(
            config.auth.sign_in_failures_per_username,
            config.auth.sign_in_failure_window,
        );
        Accounts {
            policy: PasswordPolicy::new(config.auth.min_password_score),
            store,
            bus,
            tokens,
            passwords,
            failures,
            sign_ins,
            gate,
            audit,
        }
    }

    /// The bounded password hashing, to share with other services.
    pub fn hashing(&self) -> PasswordHashing {
        self.passwords.clone()
    }

    /// Signs up: a new account with `req.username` as its first admin (`account_name`), or a
    /// member of the account an invite names (`invite`). Answers the new user's token.
    pub async fn register(
        &self,
        req: RegisterRequest,
        client: &ClientInfo,
    ) -> Result<TokenResponse, AccountError> {
        // Kept in NFKC form; the store refuses a name whose key (case and look-alike letters
        // folded) another user holds, as `username_taken`.
        let username = normalize_username(&req.username);
        validate_username(&username).map_err(|e| AccountError::InvalidUsername(e.to_string()))?;
        // The user's own names are an attacker's first guesses. (An invite's account name is
        // not known before it is redeemed.)
        let account_hint = req.account_name.as_deref().unwrap_or_default();
        self.policy
            .check(&req.password, &[&username, account_hint])
            .await
            .map_err(|WeakPassword(why)| AccountError::WeakPassword(why))?;
        self.audit.check()?;
        let created_at = now();
        let password_hash = self.passwords.hash(req.password).await?;
        let user = match (req.account_name, req.invite) {
            (Some(name), None) => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > MAX_ACCOUNT_NAME_CHARS {
                    return Err(AccountError::InvalidAccountName);
                }
                let account = Account {
                    id: AccountId::new(),
                    name,
                    created_at,
                };
                let user = User {
                    id: UserId::new(),
                    account_id: account.id,
                    username,
                    password_hash,
                    role: Role::Admin,
                    created_at,
                };
                self.store
                    .create_account(&account, &user)
                    .await
                    .map_err(taken)?;
                tracing::info!(account = %account.id, user = %user.id, "account created");
                self.audit
                    .record_durable(
                        AuditEvent::by(&user, Action::SignUp)
                            .target("account", account.id)
                            .detail(
                                json!({ "username": user.username, "account_name": account.name }),
                            ),
                    )
                    .await?;
                user
            }
            (None, Some(code)) => {
                let user = User {
                    id: UserId::new(),
                    // The store puts the invite's account here.
                    account_id: AccountId::new(),
                    username,
                    password_hash,
                    role: Role::Member,
                    created_at,
                };
                // The invite's account must have room for one more user (its `users` limit).
                let account = match self.store.invite_account(code.trim(), created_at).await {
                    Err(StoreError::NotFound) => return Err(AccountError::InvalidInvite),
                    other => other?,
                };
                let reservation = self.gate.admit_user(account, &user.id.to_string()).await?;
                let created = self
                    .store
                    .create_user_with_invite(code.trim(), &user, created_at)
                    .await;
                reservation.done().await;
                let user = match created {
                    Err(StoreError::NotFound) => return Err(AccountError::InvalidInvite),
                    other => other.map_err(taken)?,
                };
                tracing::info!(account = %user.account_id, user = %user.id, "user joined with invite");
                self.audit
                    .record_durable(
                        AuditEvent::by(&user, Action::UserCreated)
                            .target("user", user.id)
                            .detail(json!({ "username": user.username, "invite": invite_id(code.trim()) })),
                    )
                    .await?;
                user
            }
            _ => return Err(AccountError::AccountOrInvite),
        };
        // Someone joining an account that requires a second factor must enrol first.
        let standing = Standing {
            second_factor_required: self.store.second_factor_required(user.account_id).await?,
            ..Standing::default()
        };
        Ok(self.sign_ins.open(&user, standing, client).await?)
    }

    /// Signs in. The username's failed sign-ins are checked first, before any hashing: a
    /// guesser rotating addresses still meets that limit. A user with a second factor gets a
    /// challenge to complete with it instead of a token.
    pub async fn login(
        &self,
        req: LoginRequest,
        client: &ClientInfo,
    ) -> Result<LoginResponse, AccountError> {
        let client_addr = client.addr;
        // What was typed, bounded and quoted (`?`) in logs, so a hostile name cannot forge log
        // lines; never the password.
        let typed: String = req.username.chars().take(64).collect();
        // Counted per name as the server knows it, so `ALICE` and a look-alike `аlice` are the
        // same guesser's target as `alice`.
        let name_key = username_key(&req.username);
        self.audit.check()?;
        self.failures
            .allowed(&name_key)
            .map_err(|wait| AccountError::TooManyFailures {
                retry_after: wait.as_secs() + 1,
            })?;
        let user = match self.store.user_by_name(&req.username).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => {
                // Hash anyway so timing does not tell which usernames exist, and count the
                // failure like any other so a refusal does not tell it either.
                self.passwords.hash(req.password).await?;
                self.failures.failed(&name_key);
                tracing::info!(client = %client_addr, username = ?typed, reason = "unknown user", "failed sign-in");
                crate::metrics::login(false);
                self.audit.record(
                    AuditEvent::new(Actor::anonymous(), Action::SignIn)
                        .outcome(Outcome::Denied)
                        .detail(json!({ "reason": "unknown user", "username": typed })),
                )?;
                return Err(AccountError::WrongPassword);
            }
            Err(e) => return Err(e.into()),
        };
        // The user row is in hand and its database connection returned before hashing waits.
        if !self
            .passwords
            .verify(req.password, user.password_hash.clone())
            .await?
        {
            self.failures.failed(&name_key);
            tracing::info!(client = %client_addr, username = ?typed, user = %user.id, reason = "wrong password", "failed sign-in");
            crate::metrics::login(false);
            self.audit.record(
                AuditEvent::new(Actor::anonymous(), Action::SignIn)
                    .account(user.account_id)
                    .target("user", user.id)
                    .outcome(Outcome::Denied)
                    .detail(json!({ "reason": "wrong password", "username": typed })),
            )?;
            return Err(AccountError::WrongPassword);
        }
        self.failures.forget(&name_key);
        // Read after the password checked out, so an unknown name and a wrong password
        // still cost the same.
        let (user, standing) = self.store.user_standing(user.id).await?;
        if standing.second_factor_enabled {
            tracing::info!(client = %client_addr, user = %user.id, "password checked; second factor asked");
            self.audit
                .record_durable(
                    AuditEvent::by(&user, Action::SignIn)
                        .target("user", user.id)
                        .detail(json!({ "second_factor": "asked" })),
                )
                .await?;
            return Ok(LoginResponse::SecondFactor(self.sign_ins.challenge(&user)?));
        }
        crate::metrics::login(true);
        let token = self.sign_ins.open(&user, standing, client).await?;
        self.audit
            .record_durable(
                AuditEvent::by(&user, Action::SignIn)
                    .target("user", user.id)
                    .detail(json!({ "user_agent": client.user_agent })),
            )
            .await?;
        Ok(LoginResponse::Token(token))
    }

    /// Signs out: the token of `claims` stops working everywhere, now and after restarts,
    /// and leaves the user's sign-ins.
    pub async fn logout(&self, user: &User, claims: &Claims) -> Result<(), AccountError> {
        self.sign_ins.sign_out(claims, user.id).await?;
        self.audit
            .record_durable(AuditEvent::by(user, Action::SignOut).target("user", user.id))
            .await?;
        Ok(())
    }

    /// The signed-in user, with their account's name and their standing.
    pub async fn me(&self, user: &User, standing: Standing) -> Result<UserView, AccountError> {
        let account = self.store.account(user.account_id).await?;
        let mut view = UserView::of(user, Some(account.name));
        view.security = Some(standing_view(standing));
        Ok(view)
    }

    /// Deletes the signed-in user (their sessions and CDRs stay) and signs them out; every
    /// other token of theirs fails at once on every node.
    pub async fn delete_me(&self, user: &User, claims: &Claims) -> Result<(), AccountError> {
        self.audit.check()?;
        self.store.delete_user(user.id).await.map_err(last_admin)?;
        // The user's sign-ins went with them; the token is revoked as any other.
        self.store
            .revoke_token(&claims.jti, claims.expires_at())
            .await?;
        self.tokens.revoked.insert(claims.jti.clone(), claims.exp);
        self.tokens.forget(&claims.jti);
        revocations::announce(&*self.bus, claims).await;
        // Stored first: a node that misses the announcement finds the user gone when it catches up.
        revocations::user_deleted(&*self.bus, &self.tokens, user.id).await;
        tracing::info!(user = %user.id, "user deleted");
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::UserDeleted)
                    .target("user", user.id)
                    .detail(json!({ "username": user.username, "self": true })),
            )
            .await?;
        Ok(())
    }

    /// A single-use code for a new user of `caller`'s account (admins).
    pub async fn create_invite(&self, caller: &User) -> Result<InviteResponse, AccountError> {
        if caller.role != Role::Admin {
            return Err(AccountError::NotAdmin("invite users"));
        }
        let code: String = {
            let mut rng = rand::rng();
            (0..INVITE_LEN)
                .map(|_| INVITE_ALPHABET[rng.random_range(0..INVITE_ALPHABET.len())] as char)
                .collect()
        };
        let created_at = now();
        let invite = Invite {
            code: code.clone(),
            account_id: caller.account_id,
            created_by: caller.id,
            created_at,
            expires_at: created_at + INVITE_TTL,
        };
        self.audit.check()?;
        self.store.create_invite(&invite).await?;
        self.audit
            .record_durable(
                AuditEvent::by(caller, Action::InviteCreated)
                    .target("invite", invite_id(&code))
                    .detail(json!({ "expires_at": invite.expires_at })),
            )
            .await?;
        Ok(InviteResponse {
            invite: code,
            expires_at: invite.expires_at,
        })
    }

    /// Every user of the account.
    pub async fn users(&self, account: AccountId) -> Result<UserList, AccountError> {
        let users = self.store.list_users(account).await?;
        Ok(UserList {
            users: users.iter().map(|u| UserView::of(u, None)).collect(),
        })
    }

    /// Deletes another user of `caller`'s account (admins), named by `id` as written in a
    /// path. Their tokens fail at once on every node (each request looks the user up), and
    /// their open streams and sockets close.
    pub async fn delete_user(&self, caller: &User, id: &str) -> Result<(), AccountError> {
        if caller.role != Role::Admin {
            return Err(AccountError::NotAdmin("delete users"));
        }
        let id: UserId = id.parse().map_err(|_| AccountError::UserNotFound)?;
        if id == caller.id {
            return Err(AccountError::DeleteSelf);
        }
        match self.store.user(id).await {
            Ok(user) if user.account_id == caller.account_id => {}
            Ok(_) | Err(StoreError::NotFound) => return Err(AccountError::UserNotFound),
            Err(e) => return Err(e.into()),
        }
        self.audit.check()?;
        match self.store.delete_user(id).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AccountError::UserNotFound),
            Err(e) => return Err(last_admin(e)),
        }
        revocations::user_deleted(&*self.bus, &self.tokens, id).await;
        tracing::info!(user = %id, by = %caller.id, "user deleted by an admin");
        self.audit
            .record_durable(AuditEvent::by(caller, Action::UserDeleted).target("user", id))
            .await?;
        Ok(())
    }
}

/// An invite as the audit trail names it: a digest of its code, never the code itself,
/// which would let a reader of the trail join the account.
fn invite_id(code: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(code.as_bytes());
    switchboard_core::audit::Hash(digest.into()).to_hex()[..16].to_owned()
}

/// A name the store refused because its key is another user's.
fn taken(e: StoreError) -> AccountError {
    match e {
        StoreError::Conflict(_) => AccountError::UsernameTaken,
        other => other.into(),
    }
}

/// A deletion the store refused because it would leave the account's other users without
/// an admin (of two admins deleting each other at once, the second).
fn last_admin(e: StoreError) -> AccountError {
    match e {
        StoreError::Conflict(_) => AccountError::LastAdmin,
        other => other.into(),
    }
}
