//! The gatekeeper: admission limits per account, counted across the cluster, and this node's
//! own limits.
//!
//! - **Places** (sessions, viewers, cameras, kernels, users) are counted in the store, which
//!   every node shares: an admission inserts its place and counts in one transaction that the
//!   account's other admissions wait for (`AdmissionStore::admit`), so the count is exact
//!   across nodes and two nodes racing for the last place get one winner. A node renews its
//!   places' lease; a dead node's places stop counting when the lease runs out.
//! - **Stored bytes and hourly uploads** are read from the store at most every
//!   [`USAGE_TTL`] per account and node, plus what this node admitted since: exact on one
//!   node, and on several within what the others took in that time.
//! - **Bandwidth** is shaped with token buckets on each node, O(1) per frame and no store
//!   access: each node gives an account an equal share of its limit (the limit divided by
//!   the live nodes).
//! - An account's own limits are read through a cache of [`LIMITS_TTL`]: a change reaches
//!   every node within that time. A limit lowered below what is in use cuts nothing that
//!   runs; new admissions wait until use drops below it.

mod bucket;
mod error;
mod node;
mod places;
mod refusals;

pub use bucket::{Bucket, pace};
pub use error::AdmissionError;
pub use node::{NodeBusy, NodeLimits, NodePermit, RouteClass};
pub use places::{Place, Reservation};

use crate::config::Config;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_core::limits::{Limit, LimitOverrides, LimitReached, Limits};
use switchboard_core::{AccountId, Timestamp};
use switchboard_store::{Admission, Check, Counted, Slot, SlotKind, Store, StoreError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long an account's own limits are cached on a node.
pub const LIMITS_TTL: Duration = Duration::from_secs(2);
/// How long stored byte and upload counts are reused before being read again.
pub const USAGE_TTL: Duration = Duration::from_secs(2);
/// How long a reservation for a row being created counts at most.
const RESERVATION_LEASE: Duration = Duration::from_secs(60);

/// What an account uses against one limit, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitUse {
    pub limit: Limit,
    pub value: u64,
    pub max: u64,
    /// Whether the account has its own value for this limit.
    pub overridden: bool,
}

/// Stored counts reused for [`USAGE_TTL`], with what this node added since.
#[derive(Debug, Clone, Copy)]
struct CachedUsage {
    read_at: Instant,
    snapshot_bytes: u64,
    uploads_last_hour: u64,
    cell_file_bytes: u64,
}

/// Admission control for one node (see the module doc).
pub struct Gatekeeper {
    enabled: bool,
    defaults: Limits,
    store: Arc<dyn Store>,
    node_name: String,
    lease: Duration,
    node: NodeLimits,
    limits: Mutex<HashMap<AccountId, (Instant, Limits, LimitOverrides)>>,
    usage: Mutex<HashMap<AccountId, CachedUsage>>,
    upload: Mutex<HashMap<AccountId, Arc<Bucket>>>,
    egress: Mutex<HashMap<AccountId, Arc<Bucket>>>,
    /// Live nodes sharing the bandwidth limits (at least 1).
    nodes: AtomicUsize,
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatekeeper")
            .field("enabled", &self.enabled)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The defaults of every limit, from the `[admission]` settings.
pub fn default_limits(config: &Config) -> Limits {
    let a = &config.admission;
    Limits::from_fn(|limit| match limit {
        Limit::Sessions => a.account_sessions,
        Limit::ViewersPerSession => a.account_viewers_per_session,
        Limit::Viewers => a.account_viewers,
        Limit::UploadBytesPerSecond => a.account_upload_bandwidth.as_u64(),
        Limit::EgressBytesPerSecond => a.account_egress_bandwidth.as_u64(),
        Limit::Cameras => a.account_cameras,
        Limit::SnapshotBytes => a.account_snapshot_storage.as_u64(),
        Limit::UploadsPerHour => a.account_uploads_per_hour,
        Limit::Kernels => a.account_kernels,
        Limit::KernelCpuSecondsPerDay => a.account_kernel_cpu_seconds_per_day,
        Limit::CellFileBytes => a.account_cell_file_storage.as_u64(),
        Limit::Users => a.account_users,
    })
}

/// An account's admission refused: counted in the metric, then answered.
fn refused(reached: LimitReached) -> AdmissionError {
    refusals::account(reached.limit);
    reached.into()
}

/// The UTC day of `at`, as the store keys kernel CPU time.
pub fn day_of(at: Timestamp) -> String {
    at.format("%Y-%m-%d").to_string()
}

impl Gatekeeper {
    /// The gatekeeper of a node named `node_name`; an invalid `node_requests` is an error.
    pub fn new(config: &Config, store: Arc<dyn Store>, node_name: String) -> Result<Self, String> {
        refusals::register();
        Ok(Gatekeeper {
            enabled: config.admission.gatekeeper,
            defaults: default_limits(config),
            store,
            node_name,
            lease: config.cluster.session_lease.max(Duration::from_secs(1)) * 3,
            node: NodeLimits::new(&config.admission)?,
            limits: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
            upload: Mutex::new(HashMap::new()),
            egress: Mutex::new(HashMap::new()),
            nodes: AtomicUsize::new(1),
        })
    }

    /// Whether limits are checked at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// This node's own limits.
    pub fn node(&self) -> &NodeLimits {
        &self.node
    }

    /// The defaults every account has unless it has its own.
    pub fn defaults(&self) -> &Limits {
        &self.defaults
    }

    /// The account's limits in force, and its own values.
    pub async fn limits(&self, account: AccountId) -> Result<(Limits, LimitOverrides), StoreError> {
        if let Some((at, limits, own)) = lock(&self.limits).get(&account)
            && at.elapsed() < LIMITS_TTL
        {
            return Ok((limits.clone(), own.clone()));
        }
        let own = self.store.account_limits(account).await?;
        let limits = self.defaults.with(&own);
        let mut cache = lock(&self.limits);
        if cache.len() > 100_000 {
            cache.retain(|_, (at, _, _)| at.elapsed() < LIMITS_TTL);
        }
        cache.insert(account, (Instant::now(), limits.clone(), own.clone()));
        drop(cache);
        self.rerate(account, &limits);
        Ok((limits, own))
    }

    /// Replaces the account's own limits (empty: the defaults again).
    pub async fn set_limits(
        &self,
        account: AccountId,
        own: &LimitOverrides,
        by: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store
            .set_account_limits(account, own, by, chrono::Utc::now())
            .await?;
        lock(&self.limits).remove(&account);
        self.limits(account).await.map(drop)
    }

    fn slot(&self, account: AccountId, kind: SlotKind, scope: String, lease: Duration) -> Slot {
        Slot {
            id: uuid::Uuid::new_v4().to_string(),
            account,
            kind,
            scope,
            node: self.node_name.clone(),
            lease_until: chrono::Utc::now()
                + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Inserts `slot` under `checks` (each naming its limit), or the limit that was full.
    async fn admit(
        &self,
        slot: Slot,
        checks: Vec<(Limit, Counted)>,
        limits: &Limits,
    ) -> Result<Slot, AdmissionError> {
        let store_checks: Vec<Check> = checks
            .iter()
            .map(|(limit, counted)| Check {
                counted: counted.clone(),
                max: limits.max(*limit),
            })
            .collect();
        match self
            .store
            .admit(&slot, &store_checks, chrono::Utc::now())
            .await?
        {
            Admission::Admitted => Ok(slot),
            Admission::Refused { index, in_use } => {
                let limit = checks.get(index).map_or(Limit::Sessions, |(l, _)| *l);
                Err(refused(LimitReached {
                    limit,
                    value: in_use,
                    max: limits.max(limit),
                }))
            }
        }
    }

    /// A reservation for a new session `suid` of the account, with this node running
    /// `running_here` sessions. Release it once the session is stored.
    pub async fn admit_session(
        &self,
        account: AccountId,
        suid: &str,
        running_here: usize,
    ) -> Result<Reservation, AdmissionError> {
        if !self.enabled {
            return Ok(Reservation::free());
        }
        self.node.session(running_here)?;
        let (limits, _) = self.limits(account).await?;
        let slot = self.slot(
            account,
            SlotKind::Session,
            suid.to_owned(),
            RESERVATION_LEASE,
        );
        let slot = self
            .admit(
                slot,
                vec![(Limit::Sessions, Counted::OpenSessions)],
                &limits,
            )
            .await?;
        Ok(Reservation::held(slot.id, self.store.clone()))
    }

    /// A reservation for a new camera `id` of the account.
    pub async fn admit_camera(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<Reservation, AdmissionError> {
        self.reserve(
            account,
            SlotKind::Camera,
            id,
            Limit::Cameras,
            Counted::Cameras,
        )
        .await
    }

    /// A reservation for a new user `id` of the account.
    pub async fn admit_user(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<Reservation, AdmissionError> {
        self.reserve(account, SlotKind::User, id, Limit::Users, Counted::Users)
            .await
    }

    async fn reserve(
        &self,
        account: AccountId,
        kind: SlotKind,
        id: &str,
        limit: Limit,
        counted: Counted,
    ) -> Result<Reservation, AdmissionError> {
        if !self.enabled {
            return Ok(Reservation::free());
        }
        let (limits, _) = self.limits(account).await?;
        let slot = self.slot(account, kind, id.to_owned(), RESERVATION_LEASE);
        let slot = self.admit(slot, vec![(limit, counted)], &limits).await?;
        Ok(Reservation::held(slot.id, self.store.clone()))
    }

    /// A viewer's place in session `suid` of the account, held while they watch.
    pub async fn admit_viewer(
        &self,
        account: AccountId,
        suid: &str,
    ) -> Result<Place, AdmissionError> {
        if !self.enabled {
            return Ok(Place::free());
        }
        let permit = self.node.viewer()?;
        let (limits, _) = self.limits(account).await?;
        let slot = self.slot(account, SlotKind::Viewer, suid.to_owned(), self.lease);
        let checks = vec![
            (
                Limit::ViewersPerSession,
                Counted::HeldIn(SlotKind::Viewer, suid.to_owned()),
            ),
            (Limit::Viewers, Counted::Held(SlotKind::Viewer)),
        ];
        let slot = self.admit(slot, checks, &limits).await?;
        Ok(Place::held(slot.id, permit, self.store.clone()))
    }

    /// A place for a kernel of the account, held while it runs; refused also once the
    /// account's kernels used their CPU seconds of the day.
    pub async fn admit_kernel(&self, account: AccountId) -> Result<Place, AdmissionError> {
        if !self.enabled {
            return Ok(Place::free());
        }
        let (limits, _) = self.limits(account).await?;
        self.check_kernel_cpu(account, &limits).await?;
        let slot = self.slot(
            account,
            SlotKind::Kernel,
            uuid::Uuid::new_v4().to_string(),
            self.lease,
        );
        let slot = self
            .admit(
                slot,
                vec![(Limit::Kernels, Counted::Held(SlotKind::Kernel))],
                &limits,
            )
            .await?;
        Ok(Place::held(slot.id, NodePermit::free(), self.store.clone()))
    }

    /// Refuses new work for the account's kernels once they used their CPU seconds today.
    pub async fn check_kernel_cpu(
        &self,
        account: AccountId,
        limits: &Limits,
    ) -> Result<(), AdmissionError> {
        let used = self
            .store
            .kernel_cpu_seconds(account, &day_of(chrono::Utc::now()))
            .await?;
        limits
            .check(Limit::KernelCpuSecondsPerDay, used)
            .map_err(refused)
    }

    /// Before a run: refuses once the account's kernels used their CPU seconds today, or its
    /// cells' stored files reached their limit.
    pub async fn admit_run(&self, account: AccountId) -> Result<(), AdmissionError> {
        if !self.enabled {
            return Ok(());
        }
        let (limits, _) = self.limits(account).await?;
        self.check_kernel_cpu(account, &limits).await?;
        let usage = self.cached_usage(account).await?;
        limits
            .check(Limit::CellFileBytes, usage.cell_file_bytes)
            .map_err(refused)
    }

    async fn cached_usage(&self, account: AccountId) -> Result<CachedUsage, StoreError> {
        if let Some(cached) = lock(&self.usage).get(&account)
            && cached.read_at.elapsed() < USAGE_TTL
        {
            return Ok(*cached);
        }
        let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
        let (snapshot_bytes, uploads_last_hour) =
            self.store.snapshot_usage(account, hour_ago).await?;
        let cell_file_bytes = self.store.cell_file_bytes(account).await?;
        let fresh = CachedUsage {
            read_at: Instant::now(),
            snapshot_bytes,
            uploads_last_hour,
            cell_file_bytes,
        };
        let mut cache = lock(&self.usage);
        if cache.len() > 100_000 {
            cache.retain(|_, c| c.read_at.elapsed() < USAGE_TTL);
        }
        cache.insert(account, fresh);
        Ok(fresh)
    }

    /// Before storing a snapshot of `bytes`: its storage and the hourly uploads, and this
    /// node's uploads at once (the permit is held while the upload is handled).
    pub async fn admit_snapshot(
        &self,
        account: AccountId,
        bytes: u64,
    ) -> Result<NodePermit, AdmissionError> {
        if !self.enabled {
            return Ok(NodePermit::free());
        }
        let permit = self.node.upload()?;
        let (limits, _) = self.limits(account).await?;
        let usage = self.cached_usage(account).await?;
        let checked = limits
            .check(Limit::UploadsPerHour, usage.uploads_last_hour)
            .and_then(|()| limits.check_adding(Limit::SnapshotBytes, usage.snapshot_bytes, bytes));
        checked.map_err(refused)?;
        if let Some(cached) = lock(&self.usage).get_mut(&account) {
            cached.uploads_last_hour += 1;
            cached.snapshot_bytes = cached.snapshot_bytes.saturating_add(bytes);
        }
        Ok(permit)
    }

    /// A place for one WebSocket on this node, held while it is open.
    pub fn admit_websocket(&self) -> Result<NodePermit, AdmissionError> {
        if !self.enabled {
            return Ok(NodePermit::free());
        }
        Ok(self.node.websocket()?)
    }

    /// A place for one kernel start on this node (queued briefly when all are taken).
    pub async fn admit_kernel_start(&self) -> Result<NodePermit, AdmissionError> {
        if !self.enabled {
            return Ok(NodePermit::free());
        }
        Ok(self.node.kernel_start().await?)
    }

    /// A place for one request of `class` in flight on this node.
    pub fn admit_request(&self, class: RouteClass) -> Result<NodePermit, AdmissionError> {
        if !self.enabled {
            return Ok(NodePermit::free());
        }
        Ok(self.node.request(class)?)
    }

    fn share(&self, max: u64) -> u64 {
        let nodes = self.nodes.load(Ordering::Relaxed).max(1) as u64;
        (max / nodes).max(1)
    }

    fn bucket(
        &self,
        map: &Mutex<HashMap<AccountId, Arc<Bucket>>>,
        account: AccountId,
        max: u64,
    ) -> Arc<Bucket> {
        let rate = self.share(max);
        lock(map)
            .entry(account)
            .or_insert_with(|| Arc::new(Bucket::new(rate)))
            .clone()
    }

    /// Keeps the account's buckets at its limits' shares.
    fn rerate(&self, account: AccountId, limits: &Limits) {
        if let Some(b) = lock(&self.upload).get(&account) {
            b.set_rate(self.share(limits.max(Limit::UploadBytesPerSecond)));
        }
        if let Some(b) = lock(&self.egress).get(&account) {
            b.set_rate(self.share(limits.max(Limit::EgressBytesPerSecond)));
        }
    }

    /// The bucket shaping the account's device uploads on this node (`None`: not shaped).
    pub async fn upload_bucket(&self, account: AccountId) -> Option<Arc<Bucket>> {
        if !self.enabled {
            return None;
        }
        let max = match self.limits(account).await {
            Ok((limits, _)) => limits.max(Limit::UploadBytesPerSecond),
            Err(_) => self.defaults.max(Limit::UploadBytesPerSecond),
        };
        Some(self.bucket(&self.upload, account, max))
    }

    /// The bucket shaping what the account's viewers receive from this node.
    pub async fn egress_bucket(&self, account: AccountId) -> Option<Arc<Bucket>> {
        if !self.enabled {
            return None;
        }
        let max = match self.limits(account).await {
            Ok((limits, _)) => limits.max(Limit::EgressBytesPerSecond),
            Err(_) => self.defaults.max(Limit::EgressBytesPerSecond),
        };
        Some(self.bucket(&self.egress, account, max))
    }

    /// What the account uses against each of its limits. Bandwidth is what this node moved
    /// for it over the last second.
    pub async fn usage(&self, account: AccountId) -> Result<Vec<LimitUse>, StoreError> {
        let (limits, own) = self.limits(account).await?;
        let now = chrono::Utc::now();
        let day_start = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        let stored = self.store.usage(account, now, day_start).await?;
        let rate = |map: &Mutex<HashMap<AccountId, Arc<Bucket>>>| {
            lock(map).get(&account).map_or(0, |b| b.used_per_second())
        };
        Ok(Limit::ALL
            .into_iter()
            .map(|limit| LimitUse {
                limit,
                value: match limit {
                    Limit::Sessions => stored.sessions,
                    Limit::ViewersPerSession => stored.busiest_session_viewers,
                    Limit::Viewers => stored.viewers,
                    Limit::UploadBytesPerSecond => rate(&self.upload),
                    Limit::EgressBytesPerSecond => rate(&self.egress),
                    Limit::Cameras => stored.cameras,
                    Limit::SnapshotBytes => stored.snapshot_bytes,
                    Limit::UploadsPerHour => stored.uploads_last_hour,
                    Limit::Kernels => stored.kernels,
                    Limit::KernelCpuSecondsPerDay => stored.kernel_cpu_seconds_today,
                    Limit::CellFileBytes => stored.cell_file_bytes,
                    Limit::Users => stored.users,
                },
                max: limits.max(limit),
                overridden: own.contains_key(&limit),
            })
            .collect())
    }

    /// Keeps this node's places alive and the bandwidth shares in step with the live nodes
    /// (`live_nodes` counts them), until `shutdown`; then gives the places back. Places
    /// left by an earlier run of this node are given back first.
    pub async fn run(
        self: Arc<Self>,
        live_nodes: impl Fn() -> usize + Send + 'static,
        shutdown: CancellationToken,
    ) {
        if !self.enabled {
            return;
        }
        if let Err(e) = self
            .store
            .release_node_slots(&self.node_name, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %e, "cannot give back the places of this node's last run");
        }
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let until =
                chrono::Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or_default();
            if let Err(e) = self.store.renew_slots(&self.node_name, until).await {
                tracing::warn!(error = %e, "cannot renew this node's admission places");
            }
            // Buckets follow the live nodes and changes made on other nodes: the accounts
            // shaped here have their limits read again once the cache lapsed.
            self.nodes.store(live_nodes().max(1), Ordering::Relaxed);
            let shaped: std::collections::HashSet<AccountId> = lock(&self.upload)
                .keys()
                .chain(lock(&self.egress).keys())
                .copied()
                .collect();
            for account in shaped {
                match self.limits(account).await {
                    Ok((limits, _)) => self.rerate(account, &limits),
                    Err(e) => tracing::debug!(%account, error = %e, "cannot read limits"),
                }
            }
        }
        if let Err(e) = self
            .store
            .release_node_slots(&self.node_name, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %e, "cannot give back this node's admission places");
        }
    }
}
