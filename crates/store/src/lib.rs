//! Persistence for Switchboard: the [`Store`] trait and its implementations.
//!
//! Everything that must survive a restart goes through `Store`: accounts, users, invites,
//! revoked tokens, sessions with their state and device info, controls and call-detail records,
//! cameras with their snapshots and taught objects, and the admission counts every node shares.
//! SQLite is the embedded default; PostgreSQL serves clusters of nodes. Both run the same
//! shared test suite (`tests/store_suite.rs`).
//!
//! Queries are checked at run time, not compile time: one suite run against both backends
//! proves them, and no offline query data has to be kept in step per backend.

mod admission;
mod admission_sql;
mod audit;
mod audit_sql;
mod cameras;
mod cameras_sql;
mod cells;
mod cells_sql;
mod convert;
mod dialect;
mod error;
mod keys;
mod keys_sql;
mod leases;
mod leases_sql;
mod ops;
mod ops_sql;
mod postgres;
mod rows;
mod security;
mod security_sql;
mod sqlite;
mod store_sql;
mod taught;
mod taught_sql;
mod types;
mod username_keys;

pub use admission::{Admission, AdmissionStore, Check, Counted, Slot, SlotKind, StoredUsage};
pub use audit::{AuditCursor, AuditQuery, AuditStore};
pub use cameras::{
    Camera, CameraAccess, CameraStore, Discard, NewSnapshot, PendingSnapshot, PreviousSnapshot,
    SearchHit, SnapshotInfo, SnapshotSearch, SnapshotState, StoredDetection,
};
pub use cells::{Cell, CellFile, CellStore};
pub use error::{Result, StoreError};
pub use keys::{CellFileBlob, KeyStore, KeyUsage, SnapshotBlobs, Stale, WrappedKey};
pub use leases::LeaseStore;
pub use ops::{EndCount, OpsStore, Pruned};
pub use postgres::PgStore;
pub use security::{SecondFactor, SecurityStore, SignIn};
pub use sqlite::SqliteStore;
pub use taught::{
    HistorySnapshot, NewTaughtMatch, NewTaughtObject, NormalizedBox, ScanProgress, Taught,
    TaughtBlob, TaughtHit, TaughtObject, TaughtSearch, TaughtStore, TaughtTemplate,
};
pub use types::{Invite, SessionFilter, StoredBlob};

use async_trait::async_trait;
use std::sync::Arc;
use switchboard_core::{
    Account, AccountId, Cdr, Control, DeviceId, DeviceInfo, Session, SessionStats, Suid,
    TicketCode, Timestamp, User, UserId,
};

/// Opens the store a database URL names and brings its schema up to date, so a node can be
/// pointed at either backend by configuration alone.
///
/// `sqlite:PATH` (e.g. `sqlite:///var/lib/switchboard/switchboard.db`, or `sqlite::memory:`
/// for tests) opens or creates an embedded database; `postgres://…` or `postgresql://…` connects
/// to a shared server. Migrations run every time and are a no-op when already applied. An
/// unreachable server is [`StoreError::Unavailable`]; an unknown scheme is [`StoreError::Other`].
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    Ok(match Backend::of(url)? {
        Backend::Sqlite => Arc::new(SqliteStore::connect(url).await?),
        Backend::Postgres => Arc::new(PgStore::connect(url).await?),
    })
}

/// Brings the schema at `url` up to date and disconnects: what `switchboard migrate` runs
/// before a deployment, so nodes need not be the first to touch a new schema.
pub async fn migrate(url: &str) -> Result<()> {
    match Backend::of(url)? {
        Backend::Sqlite => SqliteStore::connect(url).await?.close().await,
        Backend::Postgres => PgStore::connect(url).await?.close().await,
    }
    Ok(())
}

/// Which implementation a database URL asks for.
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Reads the URL's scheme. The error names only the scheme: the rest of a URL may hold a
    /// password.
    fn of(url: &str) -> Result<Backend> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Other(format!(
                "unsupported database URL scheme {scheme:?}: use sqlite:PATH or postgres://HOST/DATABASE"
            ))),
        }
    }
}

/// Durable state shared by every node.
///
/// Guarantees every implementation gives (and the shared suite checks):
/// - Each method is atomic: it either happens whole or not at all.
/// - Conditional writes (`mark_live`, `end_session`, `create_user_with_invite`) check their
///   condition and write in one transaction, so two nodes racing get one winner; the loser
///   gets [`StoreError::Conflict`].
/// - A missing row is [`StoreError::NotFound`], never an empty default.
/// - A database that cannot be reached is [`StoreError::Unavailable`]; callers may retry.
/// - Timestamps come back with millisecond precision.
#[async_trait]
pub trait Store:
    OpsStore
    + CameraStore
    + TaughtStore
    + CellStore
    + LeaseStore
    + AdmissionStore
    + SecurityStore
    + AuditStore
    + KeyStore
    + Send
    + Sync
    + 'static
{
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// Creates an account together with its first user (an admin).
    /// `Conflict` if the username is taken (or either id already exists).
    async fn create_account(&self, account: &Account, admin: &User) -> Result<()>;

    /// The account with this id.
    async fn account(&self, id: AccountId) -> Result<Account>;

    /// Redeems an unused, unexpired invite and creates `user` in the invite's account, which
    /// overrides `user.account_id`. `NotFound` if the invite is unknown, used or expired
    /// (`expires_at <= now`); `Conflict` if the username is taken (the invite then stays
    /// unused). Returns the user as stored.
    async fn create_user_with_invite(
        &self,
        code: &str,
        user: &User,
        now: Timestamp,
    ) -> Result<User>;

    /// The user with exactly this username, else the one whose
    /// [`username_key`](switchboard_core::account::username_key) it shares (another case,
    /// compatibility form or look-alike spelling of the name). Creating a user whose key is
    /// taken is a `Conflict`, like a taken username.
    async fn user_by_name(&self, username: &str) -> Result<User>;

    /// The user with this id.
    async fn user(&self, id: UserId) -> Result<User>;

    /// The users of an account, oldest first.
    async fn list_users(&self, account: AccountId) -> Result<Vec<User>>;

    /// Deletes a user. Their sessions and CDRs stay (they are the account's records).
    /// `NotFound` if there is no such user; `Conflict` if the user is their account's last
    /// admin while other users remain (an account with users always keeps an admin; checked
    /// and written atomically, so two admins deleting each other cannot both succeed).
    async fn delete_user(&self, id: UserId) -> Result<()>;

    /// Deletes an account and everything of it, in one transaction: its data keys first (so
    /// whatever was sealed with them, in this database or any copy of it, is unreadable
    /// from here on), then its users (with their sign-ins and second factors), invites,
    /// sessions with their controls and CDRs, cameras with their snapshots, taught
    /// objects with their matches, cells with their files, limits and admission counts. `NotFound` if there is no such account.
    async fn delete_account(&self, id: AccountId) -> Result<()>;

    /// Stores a new invite. `NotFound` if its account does not exist; `Conflict` if the code
    /// is already taken.
    async fn create_invite(&self, invite: &Invite) -> Result<()>;

    /// Records that the token with this id is revoked until it would have expired anyway.
    /// Revoking twice is not an error; the later of the two expiry times is kept.
    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<()>;

    /// The ids of revoked tokens that have not expired by `now`.
    async fn revoked_tokens(&self, now: Timestamp) -> Result<Vec<String>>;

    /// Stores a new session. `Conflict` if its ticket is already in use by an open session.
    async fn insert_session(&self, session: &Session) -> Result<()>;

    /// The session with this id.
    async fn session(&self, suid: Suid) -> Result<Session>;

    /// The session holding this ticket (in any state). Codes are only unique among open
    /// sessions, so if a code was reused this is the open session holding it, or else the
    /// newest ended one.
    async fn session_by_ticket(&self, ticket: &TicketCode) -> Result<Session>;

    /// An account's sessions, newest first.
    async fn list_sessions(
        &self,
        account: AccountId,
        filter: &SessionFilter,
    ) -> Result<Vec<Session>>;

    /// Every session not yet ended, of every account, oldest first: what a node restores on
    /// start.
    async fn open_sessions(&self) -> Result<Vec<Session>>;

    /// The ids of every session not yet ended, of every account (from the open sessions'
    /// index alone): what a node compares its own sessions with, to notice an end written by
    /// someone else (the admin CLI, another node) with one query rather than one per session.
    async fn open_session_ids(&self) -> Result<Vec<Suid>>;

    /// The device redeemed the ticket: the session goes live with this device.
    /// `Conflict` unless the session is `waiting`; `NotFound` if there is no such session.
    /// Ticket expiry is the caller's check ([`Session::check_redeemable`]).
    async fn mark_live(
        &self,
        suid: Suid,
        device_id: DeviceId,
        device: &DeviceInfo,
        at: Timestamp,
    ) -> Result<()>;

    /// Saves a session's running totals. Ignored for an ended session (its totals are final
    /// in its CDR); `NotFound` if there is no such session.
    async fn update_stats(&self, suid: Suid, stats: &SessionStats) -> Result<()>;

    /// Saves many sessions' running totals in one transaction: what a node with thousands
    /// of watched sessions writes every `stats_interval`, at the cost of one commit instead
    /// of one each. Ended sessions and unknown ones are skipped.
    async fn update_stats_many(&self, batch: &[(Suid, SessionStats)]) -> Result<()>;

    /// Ends a session and writes its CDR in one transaction. `session` must already be in
    /// its ended state (see [`Session::end`]). `Conflict` if the stored session had already
    /// ended: so exactly one CDR exists per session, whoever races to end it. `NotFound` if
    /// there is no such session.
    ///
    /// The stored row takes the given session's end, device and totals, so it agrees with the
    /// CDR. The CDR returned is the one stored (timestamps at millisecond precision), equal to
    /// what [`Store::cdrs`] later returns for it. A session not in its ended state is a bug in
    /// the caller: [`StoreError::Other`].
    async fn end_session(&self, session: &Session) -> Result<Cdr>;

    /// CDRs of sessions that ended in `[from, to)`, oldest first.
    async fn cdrs(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Cdr>>;

    /// Appends a control for a session's device and assigns its id; ids increase, so
    /// `controls_after` returns controls in the order they were sent. Ids become visible in
    /// increasing order too, so a reader that saw id `n` never later finds a smaller one.
    /// `NotFound` if there is no such session.
    async fn insert_control(
        &self,
        suid: Suid,
        action: &str,
        args: &serde_json::Value,
        sent_by: UserId,
        at: Timestamp,
    ) -> Result<Control>;

    /// Controls of a session with an id above `after`, oldest first, at most `limit`.
    async fn controls_after(&self, suid: Suid, after: i64, limit: u32) -> Result<Vec<Control>>;
}
