//! Admission counts shared by every node: each account's own limits, the places held under
//! them, and what the account uses now.
//!
//! A place ([`Slot`]) is a row held by one node under a lease it renews, like a session's
//! lease: a viewer watching or a kernel running holds one until it is released; a session,
//! camera or user being created holds a reservation that counts only until the row it stands
//! for exists. [`AdmissionStore::admit`] inserts the place and counts in one transaction that
//! the account's other admissions wait for, so two nodes racing for an account's last place
//! get one winner. A dead node's places stop counting when their lease runs out.

use crate::error::Result;
use async_trait::async_trait;
use switchboard_core::limits::LimitOverrides;
use switchboard_core::{AccountId, Timestamp};

/// What a place is held for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// A session being created (scope: its SUID).
    Session,
    /// A camera being created (scope: its id).
    Camera,
    /// A user being created (scope: their id).
    User,
    /// A viewer watching (scope: the session's SUID).
    Viewer,
    /// A kernel running (scope: its id).
    Kernel,
}

impl SlotKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SlotKind::Session => "session",
            SlotKind::Camera => "camera",
            SlotKind::User => "user",
            SlotKind::Viewer => "viewer",
            SlotKind::Kernel => "kernel",
        }
    }
}

/// A place to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Unique id (a UUID), to release it by.
    pub id: String,
    pub account: AccountId,
    pub kind: SlotKind,
    pub scope: String,
    /// The node holding it, which renews its lease.
    pub node: String,
    pub lease_until: Timestamp,
}

/// What one admission check counts, for the account of the slot being admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Open sessions, and sessions being created.
    OpenSessions,
    /// Cameras, and cameras being created.
    Cameras,
    /// Users, and users being created.
    Users,
    /// Live places of this kind in the account.
    Held(SlotKind),
    /// Live places of this kind with this scope (the viewers of one session).
    HeldIn(SlotKind, String),
}

/// A check made before a place is taken: what is counted, and the most allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub counted: Counted,
    pub max: u64,
}

/// How an admission went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The place is held.
    Admitted,
    /// The check at `index` was full: `in_use` counted without the place asked for. Nothing
    /// was written.
    Refused { index: usize, in_use: u64 },
}

/// What an account uses now, as the stored counts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredUsage {
    pub sessions: u64,
    /// Viewers across the account.
    pub viewers: u64,
    /// Viewers of the account's most watched session.
    pub busiest_session_viewers: u64,
    pub cameras: u64,
    pub snapshot_bytes: u64,
    pub uploads_last_hour: u64,
    pub kernels: u64,
    pub kernel_cpu_seconds_today: u64,
    pub cell_file_bytes: u64,
    pub users: u64,
}

/// Admission counts, part of every [`crate::Store`].
#[async_trait]
pub trait AdmissionStore: Send + Sync {
    /// The account's own limits (empty when it has none). `NotFound` for an unknown account.
    async fn account_limits(&self, account: AccountId) -> Result<LimitOverrides>;

    /// Replaces the account's own limits (empty: the defaults again). `NotFound` for an
    /// unknown account.
    async fn set_account_limits(
        &self,
        account: AccountId,
        limits: &LimitOverrides,
        by: Option<&str>,
        at: Timestamp,
    ) -> Result<()>;

    /// The accounts that have their own value for any limit.
    async fn accounts_with_own_limits(&self) -> Result<Vec<AccountId>>;

    /// Takes `slot` unless one of `checks` is full with it counted (places whose lease ended
    /// before `now` do not count); atomic with the account's other admissions.
    async fn admit(&self, slot: &Slot, checks: &[Check], now: Timestamp) -> Result<Admission>;

    /// Gives a place back (nothing when it is gone already).
    async fn release_slot(&self, id: &str) -> Result<()>;

    /// Renews every place `node` holds until `until`; returns how many.
    async fn renew_slots(&self, node: &str, until: Timestamp) -> Result<u64>;

    /// Gives back every place `node` holds (it starts, or stops gracefully), and deletes
    /// every place whose lease ended before `now`.
    async fn release_node_slots(&self, node: &str, now: Timestamp) -> Result<u64>;

    /// What the account uses now; `day_start` begins the UTC day of the CPU count.
    async fn usage(
        &self,
        account: AccountId,
        now: Timestamp,
        day_start: Timestamp,
    ) -> Result<StoredUsage>;

    /// Adds CPU time used by the account's kernels on `day` (`YYYY-MM-DD`, UTC).
    async fn add_kernel_cpu(&self, account: AccountId, day: &str, millis: u64) -> Result<()>;

    /// Bytes of snapshot images the account stores, and its snapshots received since `since`.
    async fn snapshot_usage(&self, account: AccountId, since: Timestamp) -> Result<(u64, u64)>;

    /// Bytes of files stored from the account's cells.
    async fn cell_file_bytes(&self, account: AccountId) -> Result<u64>;

    /// CPU seconds the account's kernels used on `day` (`YYYY-MM-DD`, UTC).
    async fn kernel_cpu_seconds(&self, account: AccountId, day: &str) -> Result<u64>;

    /// The account an unused, unexpired invite is for (`NotFound` otherwise), so a new user's
    /// place can be taken before the invite is redeemed.
    async fn invite_account(&self, code: &str, now: Timestamp) -> Result<AccountId>;
}
