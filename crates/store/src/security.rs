//! Account security: passwords and usernames a user changes, passwords an admin resets, second
//! factors (TOTP secrets, the last accepted time step, recovery codes), the account's rule
//! that every user needs a second factor, and the sign-ins a user can list and end.

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::security::Standing;
use switchboard_core::{AccountId, Timestamp, User, UserId};

/// A user token issued by sign-up or sign-in, while it is neither expired nor revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The token's id (`jti`).
    pub id: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    /// When a request last used it; written at most about once a minute.
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    /// The client's address when it signed in.
    pub client_addr: Option<String>,
    /// The client's `User-Agent` when it signed in (bounded by the caller).
    pub user_agent: Option<String>,
}

/// A user's second factor as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecondFactor {
    /// The confirmed TOTP secret (base32); `None`: no second factor.
    pub secret: Option<String>,
    /// A secret made by an enrolment not yet confirmed, and when it was made.
    pub pending: Option<(String, Timestamp)>,
    /// The newest time step a code was accepted for.
    pub last_step: Option<i64>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

/// Account security, part of every [`crate::Store`]. Every method is atomic; the
/// conditional ones (`enable_totp`, `accept_totp_step`, `use_recovery_code`, `rename_user`)
/// have one winner when nodes race.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// The user with this id and their standing (a password to change, a second factor
    /// enrolled or required), in one read: what every signed-in request checks.
    async fn user_standing(&self, id: UserId) -> Result<(User, Standing)>;

    /// Replaces a user's password hash; `must_change` marks it one-time (an admin's reset)
    /// or clears that mark. `NotFound` if there is no such user.
    async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        must_change: bool,
    ) -> Result<()>;

    /// Renames a user: the name and its key change together, so the old name is free at
    /// once. `Conflict` if another user holds the new name's key; `NotFound` if there is no
    /// such user.
    async fn rename_user(&self, user: UserId, username: &str) -> Result<()>;

    /// Whether the account requires a second factor of every user.
    async fn second_factor_required(&self, account: AccountId) -> Result<bool>;

    /// Sets whether the account requires a second factor. `NotFound` if there is no such
    /// account.
    async fn set_second_factor_required(&self, account: AccountId, required: bool) -> Result<()>;

    /// The user's second factor (the default, all empty, when they never had one).
    async fn second_factor(&self, user: UserId) -> Result<SecondFactor>;

    /// Keeps `secret` as the user's pending enrolment, replacing an earlier one. `Conflict`
    /// if a second factor is already enabled; `NotFound` if there is no such user.
    async fn begin_totp(&self, user: UserId, secret: &str, at: Timestamp) -> Result<()>;

    /// Confirms the pending enrolment whose secret is `secret`: it becomes the user's second
    /// factor with `step` as the last accepted step, and `recovery_hashes` replace any
    /// recovery codes. `Conflict` if the pending secret is no longer `secret` or a second
    /// factor is already enabled (a racing confirmation won).
    async fn enable_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        recovery_hashes: &[String],
        at: Timestamp,
    ) -> Result<()>;

    /// Accepts a code's time step: true if it is newer than the last accepted one (which it
    /// then becomes), false if that step or a later one was accepted already. Two nodes
    /// accepting the same code: one gets true.
    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool>;

    /// Removes the user's second factor and recovery codes (the last accepted step stays).
    async fn disable_totp(&self, user: UserId) -> Result<()>;

    /// Uses a recovery code by its hash: true the first time, false if it was used or is
    /// not the user's.
    async fn use_recovery_code(&self, user: UserId, code_hash: &str, at: Timestamp)
    -> Result<bool>;

    /// Records a new sign-in, and forgets the user's sign-ins that expired by its creation.
    /// `NotFound` if there is no such user.
    async fn record_sign_in(&self, sign_in: &SignIn) -> Result<()>;

    /// The user's sign-ins that have not expired by `now`, newest first.
    async fn sign_ins(&self, user: UserId, now: Timestamp) -> Result<Vec<SignIn>>;

    /// Notes that a sign-in was used at `at` (never moving it back).
    async fn touch_sign_in(&self, id: &str, at: Timestamp) -> Result<()>;

    /// Ends one of the user's sign-ins: its row goes and its token id is stored as revoked,
    /// together. `NotFound` if the user has no sign-in with this id.
    async fn revoke_sign_in(&self, user: UserId, id: &str) -> Result<SignIn>;

    /// Ends every sign-in of the user but `keep` (all of them when `None`), as
    /// [`revoke_sign_in`](Self::revoke_sign_in) does, in one transaction. Returns those ended.
    async fn revoke_sign_ins(&self, user: UserId, keep: Option<&str>) -> Result<Vec<SignIn>>;
}
