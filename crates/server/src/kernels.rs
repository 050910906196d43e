//! The node's Jupyter kernels: one [`KernelLauncher`], a warm [`KernelPool`] per configured
//! kernelspec, and the running kernels by id with the user and account that own them.
//!
//! Kernels are counted per user and per account when handed out, so a caller past its
//! share is refused (`too_many_kernels`) before anything is launched; the node-wide maximum
//! is the launcher's (`kernel_capacity`). A kernel leaves the registry when it is deleted or
//! when its state becomes `dead` (crashed, idle timeout, lifetime); dropping the last handle
//! kills its process group.

use crate::cell_link::CellLink;
use crate::config::{Config, KernelSandboxMode};
use crate::kernel_id::{KernelId, NodeTag};
use crate::kernelspec_resources::SpecResources;
use crate::protocol::jupyter::{ExecutionState, KernelModel};
use crate::services::compute::{ComputeError, KernelShare};
use crate::services::gatekeeper::Place;
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use switchboard_core::{AccountId, UserId};
use switchboard_kernel::{
    HelperCommand, Kernel, KernelConfig, KernelLauncher, KernelPool, KernelSpecs, KernelState,
    Layer, Limits, NodeConfig, Sandbox, SandboxConfig, WireMessage,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One running kernel and who owns it.
#[derive(Debug)]
pub struct KernelEntry {
    /// The kernel itself.
    pub kernel: Kernel,
    /// The user who started it.
    pub owner: UserId,
    /// The owner's account: everyone in it may use the kernel.
    pub account: AccountId,
    /// When it was handed out.
    pub started: DateTime<Utc>,
    /// The stored cell it was handed out for, whose files its runs write.
    pub cell: Option<Arc<CellLink>>,
    /// The id clients use: a UUID that names this node ([`crate::kernel_id`]).
    public_id: String,
    last_activity: Mutex<DateTime<Utc>>,
    connections: Mutex<HashMap<String, u64>>,
    open_sockets: std::sync::atomic::AtomicUsize,
    /// The kernel's place in its account's admission counts, given back with the entry.
    _admitted: Place,
}

impl KernelEntry {
    /// The kernel's id.
    pub fn id(&self) -> &str {
        &self.public_id
    }

    /// Notes that a client used the kernel now.
    pub fn touch(&self) {
        *lock(&self.last_activity) = Utc::now();
    }

    /// When a client last used the kernel.
    pub fn last_activity(&self) -> DateTime<Utc> {
        *lock(&self.last_activity)
    }

    /// The last message number a channels client with this session id saw, so a
    /// reconnecting client resumes where it left off.
    pub fn resume_point(&self, client: &str) -> Option<u64> {
        lock(&self.connections).get(client).copied()
    }

    /// Records the last message number `client` saw.
    pub fn seen(&self, client: &str, seq: u64) {
        lock(&self.connections).insert(client.to_owned(), seq);
    }

    /// Open channels sockets.
    pub fn open_sockets(&self) -> usize {
        self.open_sockets.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts an open channels socket until the returned guard drops.
    pub fn socket_opened(self: &Arc<Self>) -> SocketGuard {
        self.open_sockets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SocketGuard(self.clone())
    }

    /// The Jupyter Server kernel model, plus `owner` (nodes count each other's kernels by it).
    pub fn model(&self) -> KernelModel {
        KernelModel {
            id: self.id().to_owned(),
            name: self.kernel.spec().name.clone(),
            // Milliseconds, as every time the API shows.
            last_activity: self.last_activity().trunc_subsecs(3),
            execution_state: ExecutionState::from(&self.kernel.state()),
            connections: u64::try_from(self.open_sockets()).unwrap_or(u64::MAX),
            owner: self.owner,
        }
    }

    /// Sends a client's message to the kernel. An `execute_request` to a cell's kernel first
    /// passes the cell's run gate, so its files are never announced as the previous run's.
    pub async fn send(&self, msg: WireMessage) -> Result<(), ComputeError> {
        self.touch();
        if msg.msg_type() == "execute_request"
            && let Some(link) = &self.cell
        {
            link.before_execute().await;
        }
        Ok(self.kernel.send(msg).await?)
    }
}

/// What a kernel is handed out for, besides who asks.
#[derive(Debug, Default)]
pub struct KernelRequest<'a> {
    /// The kernelspec; the default one when `None` or empty.
    pub spec: Option<&'a str>,
    /// The stored cell it is handed out for, whose files its runs write.
    pub cell: Option<Arc<CellLink>>,
    /// Variables the client asked for, already sorted by the node's allow-list.
    pub env: BTreeMap<String, String>,
}

/// Kernels a user and their account run on other nodes (counted against their shares).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    pub user: usize,
    pub account: usize,
}

/// Counts one open channels socket of a kernel.
#[derive(Debug)]
pub struct SocketGuard(Arc<KernelEntry>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0
            .open_sockets
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether kernels can be used on this node.
#[derive(Debug, Clone)]
enum Availability {
    /// Kernels run.
    Enabled,
    /// Kernels are off, for this reason.
    Disabled(String),
}

/// The node's kernels.
#[derive(Debug)]
pub struct KernelRegistry {
    availability: Availability,
    launcher: Option<KernelLauncher>,
    specs: KernelSpecs,
    resources: SpecResources,
    config: KernelConfig,
    pools: HashMap<String, KernelPool>,
    kernels: Mutex<Running>,
    per_user: usize,
    per_account: usize,
    /// This node's tag, at the start of its kernel ids.
    node_tag: NodeTag,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Debug, Default)]
struct Running {
    by_id: HashMap<String, Arc<KernelEntry>>,
    /// Launches under way, counted so concurrent requests cannot exceed a share.
    pending: Vec<(UserId, AccountId)>,
}

impl Running {
    fn count(&self, user: Option<UserId>, account: AccountId) -> usize {
        let live = self
            .by_id
            .values()
            .filter(|e| e.account == account && user.is_none_or(|u| e.owner == u))
            .count();
        let pending = self
            .pending
            .iter()
            .filter(|(u, a)| *a == account && user.is_none_or(|x| x == *u))
            .count();
        live + pending
    }
}

/// Locks a mutex, recovering from a poisoned one (a panicked handler must not take every
/// later request down with it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KernelRegistry {
    /// Finds kernelspecs, prepares the launcher (killing kernels a killed predecessor left
    /// behind) and starts the warm pools. Never fails: a node that cannot run kernels
    /// serves everything else and answers the kernel routes with 503.
    pub async fn start(
        config: &Config,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> KernelRegistry {
        let kernel_config = kernel_config(config);
        let disabled = |reason: String| KernelRegistry {
            availability: Availability::Disabled(reason),
            launcher: None,
            specs: KernelSpecs::default(),
            resources: SpecResources::default(),
            config: kernel_config.clone(),
            pools: HashMap::new(),
            kernels: Mutex::new(Running::default()),
            per_user: config.kernels.kernels_per_user,
            per_account: config.kernels_per_account_here(),
            node_tag: NodeTag::of(&config.node_name()),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        };
        if config.kernels.kernels_enabled == Some(false) {
            return disabled("kernels are turned off on this node (kernels_enabled)".into());
        }
        let specs = match KernelSpecs::discover().await {
            Ok(specs) => specs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for kernelspecs; kernels are off");
                return disabled("this node found no Jupyter kernels".into());
            }
        };
        if config.kernels.kernels_enabled.is_none() && specs.get("python3").is_err() {
            tracing::info!(
                "no python3 kernelspec (python3 with ipykernel); kernels are off. \
                 Install ipykernel or set kernels_enabled = true with another kernelspec"
            );
            return disabled("this node has no python3 kernel".into());
        }
        let helper = match &config.kernels.kernel_helper {
            Some(path) => HelperCommand::program(path),
            None => HelperCommand::current_exe(),
        };
        let launcher = match KernelLauncher::new(NodeConfig {
            // Short on purpose: Unix socket paths below it are limited to 107 bytes.
            runtime_dir: config.operations.data_dir.join("k"),
            max_kernels: config.kernels.max_kernels,
            helper,
        }) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot prepare the kernel launcher; kernels are off");
                return disabled("this node cannot launch kernels".into());
            }
        };
        let mut kernel_config = kernel_config.clone();
        if config.kernels.kernel_sandbox != KernelSandboxMode::Enforce
            && launcher.host().check_limits(&kernel_config.limits).is_err()
        {
            tracing::warn!("not root: kernel folders are not size-limited (kernel_disk)");
            kernel_config.limits.folder_bytes = None;
        }
        // Never fall back silently: a sandbox or limit this host cannot enforce turns kernels
        // off (503 with the reason) unless the operator asked for less.
        if let Err(why) = launcher
            .host()
            .check(&kernel_config.sandbox)
            .and_then(|()| launcher.host().check_limits(&kernel_config.limits))
        {
            tracing::error!(host = %launcher.host(), "kernels are off: {why}");
            return disabled(format!(
                "this node cannot enforce the kernel sandbox: {why}"
            ));
        }
        tracing::info!(
            sandbox = ?config.kernels.kernel_sandbox,
            host = %launcher.host(),
            totals = %launcher.host().totals(),
            per_account = config.kernels_per_account_here(),
            "kernels enabled"
        );
        let reaped = launcher.reap_orphans(&kernel_config.sandbox);
        if reaped > 0 {
            tracing::warn!(reaped, "killed kernels left behind by a previous run");
        }
        let mut pools = HashMap::new();
        // Validated at start, so parsing cannot fail here.
        for (name, target) in config.kernel_pool_targets().unwrap_or_default() {
            match specs.get(&name) {
                Ok(spec) if target > 0 => {
                    pools.insert(
                        name,
                        KernelPool::new(
                            launcher.clone(),
                            spec.clone(),
                            kernel_config.clone(),
                            target,
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "kernel_pool names an unknown kernelspec"),
            }
        }
        KernelRegistry {
            availability: Availability::Enabled,
            launcher: Some(launcher),
            resources: SpecResources::find(&specs),
            specs,
            config: kernel_config,
            pools,
            kernels: Mutex::new(Running::default()),
            per_user: config.kernels.kernels_per_user,
            per_account: config.kernels_per_account_here(),
            node_tag: NodeTag::of(&config.node_name()),
            shutdown,
            tracker,
        }
    }

    /// The kernelspecs, or `KernelsUnavailable` when kernels are off.
    pub fn specs(&self) -> Result<&KernelSpecs, ComputeError> {
        self.launcher()?;
        Ok(&self.specs)
    }

    /// The kernelspecs' resources (logos, `kernel.js`, `kernel.css`).
    pub fn resources(&self) -> Result<&SpecResources, ComputeError> {
        self.launcher()?;
        Ok(&self.resources)
    }

    fn launcher(&self) -> Result<&KernelLauncher, ComputeError> {
        match (&self.availability, &self.launcher) {
            (Availability::Enabled, Some(l)) => Ok(l),
            (Availability::Disabled(reason), _) => {
                Err(ComputeError::KernelsUnavailable(reason.clone()))
            }
            (_, None) => Err(ComputeError::KernelsUnavailable("kernels are off".into())),
        }
    }

    /// Hands out a kernel of `spec` (the default spec when `None`) to `user`: from the warm
    /// pool when one is ready, else freshly launched. A kernel for a stored cell carries the
    /// link to it; the caller's kernels on other nodes (`elsewhere`) count against their
    /// shares.
    pub async fn launch(
        self: &Arc<Self>,
        user: UserId,
        account: AccountId,
        request: KernelRequest<'_>,
        elsewhere: KernelCounts,
        admitted: Place,
    ) -> Result<Arc<KernelEntry>, ComputeError> {
        let launcher = self.launcher()?;
        let KernelRequest { spec, cell, env } = request;
        let name = match spec {
            Some(name) if !name.is_empty() => name.to_lowercase(),
            _ => self
                .specs
                .default_name()
                .ok_or_else(|| {
                    ComputeError::KernelsUnavailable("this node has no kernelspecs".into())
                })?
                .to_owned(),
        };
        let spec = self.specs.get(&name)?.clone();
        let reservation = self.reserve(user, account, elsewhere)?;
        // The pool's kernels run already, without the client's variables: a request with
        // some gets a kernel of its own.
        let pooled = if env.is_empty() {
            self.pools.get(&name).and_then(KernelPool::try_take)
        } else {
            None
        };
        let kernel = match pooled {
            Some(k) => k,
            None if env.is_empty() => launcher.launch(&spec, &self.config).await?,
            None => {
                let config = KernelConfig {
                    client_env: env,
                    ..self.config.clone()
                };
                launcher.launch(&spec, &config).await?
            }
        };
        let now = Utc::now();
        let public_id = self.node_tag.new_kernel_id();
        let entry = Arc::new(KernelEntry {
            kernel,
            owner: user,
            account,
            started: now,
            cell,
            public_id,
            last_activity: Mutex::new(now),
            connections: Mutex::new(HashMap::new()),
            open_sockets: Default::default(),
            _admitted: admitted,
        });
        {
            let mut running = lock(&self.kernels);
            running
                .by_id
                .insert(entry.id().to_owned(), Arc::clone(&entry));
            drop(reservation.release(&mut running));
        }
        self.watch(&entry);
        Ok(entry)
    }

    /// Counts a launch under way against the caller's shares (with their kernels on other
    /// nodes), or `TooManyKernels`.
    fn reserve(
        &self,
        user: UserId,
        account: AccountId,
        elsewhere: KernelCounts,
    ) -> Result<Reservation<'_>, ComputeError> {
        let mut running = lock(&self.kernels);
        if running.count(Some(user), account) + elsewhere.user >= self.per_user {
            return Err(ComputeError::TooManyKernels {
                share: KernelShare::User,
                limit: self.per_user,
            });
        }
        if running.count(None, account) + elsewhere.account >= self.per_account {
            return Err(ComputeError::TooManyKernels {
                share: KernelShare::Account,
                limit: self.per_account,
            });
        }
        running.pending.push((user, account));
        Ok(Reservation {
            registry: self,
            who: Some((user, account)),
        })
    }

    /// Removes the kernel from the registry once it is dead, and notes its activity.
    /// Every change of its state (busy, idle, …) is activity, as in Jupyter Server, so a
    /// long run that just ended does not look idle since it began to a culler in front.
    fn watch(self: &Arc<Self>, entry: &Arc<KernelEntry>) {
        let mut state = entry.kernel.watch_state();
        let id = entry.id().to_owned();
        let registry = Arc::downgrade(self);
        let watched = Arc::downgrade(entry);
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            loop {
                if matches!(*state.borrow_and_update(), KernelState::Dead(_)) {
                    break;
                }
                tokio::select! {
                    changed = state.changed() => if changed.is_err() { break },
                    () = shutdown.cancelled() => return,
                }
                if let Some(entry) = watched.upgrade() {
                    entry.touch();
                }
            }
            if let Some(registry) = registry.upgrade() {
                lock(&registry.kernels).by_id.remove(&id);
                tracing::info!(kernel = %id, "kernel is dead; removed");
            }
        });
    }

    /// The kernel `id` if the caller's account owns it; `KernelNotFound` otherwise (also for
    /// other accounts' kernels, so nobody learns which ids exist).
    pub fn get(&self, id: &str, account: AccountId) -> Result<Arc<KernelEntry>, ComputeError> {
        self.launcher()?;
        let id = KernelId::parse(id).ok_or(ComputeError::KernelNotFound)?;
        lock(&self.kernels)
            .by_id
            .get(id.as_str())
            .filter(|e| e.account == account)
            .cloned()
            .ok_or(ComputeError::KernelNotFound)
    }

    /// The account's kernels, oldest first.
    /// Every kernel handed out on this node.
    pub fn all(&self) -> Vec<Arc<KernelEntry>> {
        lock(&self.kernels).by_id.values().cloned().collect()
    }

    pub fn list(&self, account: AccountId) -> Result<Vec<Arc<KernelEntry>>, ComputeError> {
        self.launcher()?;
        let mut list: Vec<_> = lock(&self.kernels)
            .by_id
            .values()
            .filter(|e| e.account == account)
            .cloned()
            .collect();
        list.sort_by_key(|e| e.started);
        Ok(list)
    }

    /// Shuts the kernel down and forgets it.
    pub async fn remove(&self, id: &str, account: AccountId) -> Result<(), ComputeError> {
        let entry = self.get(id, account)?;
        lock(&self.kernels).by_id.remove(entry.id());
        shut_down(&entry).await;
        Ok(())
    }

    /// Forgets the kernel at once (it no longer counts against any share) and shuts it down
    /// in a task the node tracks, so the caller does not wait for it and node shutdown does.
    pub fn retire(&self, entry: Arc<KernelEntry>) {
        lock(&self.kernels).by_id.remove(entry.id());
        self.tracker.spawn(async move { shut_down(&entry).await });
    }

    /// Kernels running on this node (handed out; warm ones not included).
    pub fn running(&self) -> usize {
        lock(&self.kernels).by_id.len()
    }

    /// Warm kernels waiting in the pools, ready to be handed out.
    pub fn warm(&self) -> usize {
        self.pools.values().map(KernelPool::ready).sum()
    }

    /// Shuts every kernel down (each within its shutdown deadline) and empties the pools.
    pub async fn shutdown_all(&self) {
        let entries: Vec<_> = lock(&self.kernels).by_id.drain().map(|(_, e)| e).collect();
        let stops = entries.iter().map(|e| e.kernel.shutdown());
        let _ = futures::future::join_all(stops).await;
        for pool in self.pools.values() {
            pool.drain().await;
        }
    }
}

/// Shuts a kernel down within its deadline; dropping the handle kills the process group
/// anyway, so a failure is only worth a debug line.
async fn shut_down(entry: &KernelEntry) {
    if let Err(e) = entry.kernel.shutdown().await {
        tracing::debug!(kernel = %entry.id(), error = %e, "kernel shutdown");
    }
}

/// A launch counted against a user's and account's shares until it is released.
struct Reservation<'a> {
    registry: &'a KernelRegistry,
    who: Option<(UserId, AccountId)>,
}

impl Reservation<'_> {
    fn release(mut self, running: &mut Running) -> Self {
        if let Some(who) = self.who.take()
            && let Some(i) = running.pending.iter().position(|p| *p == who)
        {
            running.pending.swap_remove(i);
        }
        self
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(who) = self.who.take() {
            let mut running = lock(&self.registry.kernels);
            if let Some(i) = running.pending.iter().position(|p| *p == who) {
                running.pending.swap_remove(i);
            }
        }
    }
}

/// The kernel settings the node's configuration asks for.
pub fn kernel_config(config: &Config) -> KernelConfig {
    let positive = |n: u64| (n > 0).then_some(n);
    let limits = Limits {
        cpu_seconds: positive(config.kernels.kernel_cpu_seconds),
        memory_bytes: Some(config.kernels.kernel_memory.as_u64()),
        total_memory_bytes: positive(config.kernels.kernel_memory_total.as_u64()),
        processes: positive(config.kernels.kernel_processes),
        folder_bytes: positive(config.kernels.kernel_disk.as_u64()),
        idle_timeout: Some(config.kernels.kernel_idle_timeout),
        lifetime: Some(config.kernels.kernel_lifetime),
        ..Limits::default()
    };
    KernelConfig {
        limits,
        sandbox: match config.kernels.kernel_sandbox {
            KernelSandboxMode::Enforce => Sandbox::default(),
            KernelSandboxMode::BestEffort => Sandbox::Enforce(SandboxConfig {
                landlock: Layer::IfAvailable,
                seccomp: Layer::IfAvailable,
                namespaces: Layer::IfAvailable,
                cgroups: Layer::IfAvailable,
                ..SandboxConfig::default()
            }),
            KernelSandboxMode::Off => Sandbox::Off,
        },
        ..KernelConfig::default()
    }
}

/// How long to wait for a kernel to stop at node shutdown.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
