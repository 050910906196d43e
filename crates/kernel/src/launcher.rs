//! [`KernelLauncher`]: the node-wide entry point. It knows the node's configuration and
//! what the host can enforce, enforces `max_kernels`, and launches kernels.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::actor::Actor;
use crate::config::{KernelConfig, NodeConfig};
use crate::connection::KernelDir;
use crate::error::{KernelError, Result};
use crate::kernel::{Inner, Kernel, KernelState, ProcessInfo};
use crate::launch::{LaunchRequest, pid_file, start_generation};
use crate::rate::OutputGovernor;
use crate::replay::Replay;
use crate::sandbox::cgroup::KernelCgroup;
use crate::sandbox::user::{Identity, UidLease};
use crate::sandbox::{HostSupport, Layer, RunAs, Sandbox};
use crate::spec::KernelSpec;

/// Launches kernels for one node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KernelLauncher {
    inner: Arc<LauncherInner>,
}

#[derive(Debug)]
struct LauncherInner {
    node: Arc<NodeConfig>,
    host: Arc<HostSupport>,
    capacity: Arc<Semaphore>,
    reported: AtomicBool,
}

impl KernelLauncher {
    /// A launcher for `node`. Creates the runtime folder (0711) or checks that the existing
    /// one belongs to this user and is not writable by others; detects and logs what the
    /// host can enforce.
    pub fn new(mut node: NodeConfig) -> Result<Self> {
        prepare_runtime_dir(&node.runtime_dir)?;
        // Kernels start in folders of their own, and the helper reads its plan after that:
        // a relative runtime folder (the default data directory is `./data`) would not be
        // found from there.
        node.runtime_dir = std::fs::canonicalize(&node.runtime_dir).map_err(|e| {
            KernelError::io(
                format!("resolving runtime dir {}", node.runtime_dir.display()),
                e,
            )
        })?;
        let host = HostSupport::detect();
        tracing::info!(%host, totals = %host.totals(), runtime_dir = %node.runtime_dir.display(), max_kernels = node.max_kernels, "kernel launcher ready");
        if !host.root {
            tracing::warn!(
                "not running as root: kernels run as the server's user; the process limit \
                 counts all of that user's processes and no namespaces are used"
            );
        }
        Ok(KernelLauncher {
            inner: Arc::new(LauncherInner {
                capacity: Arc::new(Semaphore::new(node.max_kernels)),
                node: Arc::new(node),
                host: Arc::new(host),
                reported: AtomicBool::new(false),
            }),
        })
    }

    /// What the host supports.
    pub fn host(&self) -> &HostSupport {
        &self.inner.host
    }

    /// The node configuration.
    pub fn node(&self) -> &NodeConfig {
        &self.inner.node
    }

    /// Kernels running now (pooled ones included).
    pub fn running(&self) -> usize {
        self.inner.node.max_kernels - self.inner.capacity.available_permits()
    }

    /// The node's kernel limit.
    pub fn max_kernels(&self) -> usize {
        self.inner.node.max_kernels
    }

    /// Launches a kernel of `spec` and waits until it answers `kernel_info_request`.
    /// Fails at once with [`KernelError::Capacity`] when the node is full.
    ///
    /// The kernel is killed if the thread that launched it exits, so call this from a
    /// runtime worker (any async task), never from a short-lived thread.
    pub async fn launch(&self, spec: &KernelSpec, config: &KernelConfig) -> Result<Kernel> {
        let max = self.inner.node.max_kernels;
        let permit = Arc::clone(&self.inner.capacity)
            .try_acquire_owned()
            .map_err(|_| KernelError::Capacity { max })?;
        self.inner
            .host
            .check(&config.sandbox)
            .and_then(|()| self.inner.host.check_limits(&config.limits))
            .map_err(KernelError::Sandbox)?;
        if spec.argv.is_empty() {
            return Err(KernelError::InvalidSpec {
                path: spec.resource_dir.clone().unwrap_or_default(),
                reason: "argv is empty".into(),
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (identity, uid_lease) = self.identity(&config.sandbox)?;
        let runtime_dir = &self.inner.node.runtime_dir;
        let cgroup = self.cgroup(&id, config)?;
        let dir = KernelDir::create(
            runtime_dir,
            &id,
            identity.map(|i| (i.uid, i.gid)),
            config.limits.folder_bytes,
        )?;
        let session = uuid::Uuid::new_v4().to_string();
        let pid_file = pid_file(runtime_dir, &id);
        let (events_tx, mut events_rx) = mpsc::channel(1024);
        let started = {
            let request = LaunchRequest {
                node: &self.inner.node,
                host: &self.inner.host,
                spec,
                config,
                dir: &dir,
                identity,
                private_uid: uid_lease.is_some(),
                session: &session,
                pid_file: &pid_file,
                cgroup: cgroup.as_ref(),
            };
            start_generation(&request, 1, &events_tx, &mut events_rx).await
        };
        let generation = match started {
            Ok(generation) => generation,
            Err(e) => {
                let _ = std::fs::remove_file(&pid_file);
                let _ = std::fs::remove_file(pid_file.with_extension("plan.json"));
                return Err(e);
            }
        };
        match &generation.sandbox {
            Some(report) if !self.inner.reported.swap(true, Ordering::Relaxed) => {
                tracing::info!(kernel = %id, %report, "kernel sandbox enforced");
            }
            Some(report) => tracing::debug!(kernel = %id, %report, "kernel sandbox enforced"),
            None => tracing::warn!(kernel = %id, "kernel runs WITHOUT a sandbox (sandbox = off)"),
        }

        let process = ProcessInfo {
            pid: generation.group.pgid(),
            connection: generation.connection.clone(),
            kernel_info: generation.kernel_info.clone(),
            sandbox: generation.sandbox.clone(),
            generation: 1,
        };
        let (state_tx, state_rx) = watch::channel(KernelState::Idle);
        let (process_tx, process_rx) = watch::channel(process);
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let replay = Arc::new(Replay::new(config.replay.clone()));
        let spec = Arc::new(spec.clone());
        let kernel = Kernel {
            inner: Arc::new(Inner {
                id: id.clone(),
                spec: Arc::clone(&spec),
                session: session.clone(),
                dir: dir.path().to_path_buf(),
                config: config.clone(),
                commands: commands_tx,
                replay: Arc::clone(&replay),
                state: state_rx,
                process: process_rx,
            }),
        };
        let now = Instant::now();
        let actor = Actor {
            id,
            node: Arc::clone(&self.inner.node),
            host: Arc::clone(&self.inner.host),
            spec,
            config: config.clone(),
            dir,
            identity,
            uid_lease,
            cgroup,
            _permit: permit,
            session,
            pid_file,
            generation: Some(generation),
            events_tx,
            events_rx,
            commands: commands_rx,
            replay,
            state: state_tx,
            process: process_tx,
            governor: OutputGovernor::new(config.limits.output.clone(), std::time::Instant::now()),
            last_activity: now,
            lifetime_start: now,
            busy_parent: serde_json::Map::new(),
            after_run: None,
            held: None,
        };
        tokio::spawn(actor.run());
        Ok(kernel)
    }

    /// The control groups of kernel `id`, when the host has usable controllers and the
    /// configuration does not turn them off.
    fn cgroup(&self, id: &str, config: &KernelConfig) -> Result<Option<Arc<KernelCgroup>>> {
        if let Sandbox::Enforce(sandbox) = &config.sandbox
            && sandbox.cgroups == Layer::Off
        {
            return Ok(None);
        }
        let limits = &config.limits;
        Ok(KernelCgroup::create(
            &self.inner.host.cgroups,
            id,
            limits.total_memory_bytes,
            limits.processes,
        )?
        .map(Arc::new))
    }

    /// The identity a kernel runs as, and its uid lease if the uid is private.
    fn identity(&self, sandbox: &Sandbox) -> Result<(Option<Identity>, Option<UidLease>)> {
        let Sandbox::Enforce(config) = sandbox else {
            return Ok((None, None));
        };
        if !self.inner.host.root {
            return Ok((None, None));
        }
        match &config.run_as {
            RunAs::UidRange {
                first,
                count,
                lock_dir,
            } => {
                let lease = UidLease::acquire(*first, *count, lock_dir)?;
                Ok((Some(lease.identity()), Some(lease)))
            }
            RunAs::User { uid, gid } => Ok((
                Some(Identity {
                    uid: *uid,
                    gid: *gid,
                }),
                None,
            )),
            RunAs::Unchanged => Ok((None, None)),
        }
    }

    /// Kills kernels left behind by a server of this node that was killed, and removes
    /// their folders. Call once at start, before launching. Returns how many processes
    /// were killed.
    pub fn reap_orphans(&self, sandbox: &Sandbox) -> usize {
        crate::orphans::reap(&self.inner.node.runtime_dir, sandbox, &self.inner.host)
    }
}

/// Creates `dir` (0711) or checks an existing one: owned by us, not writable by others (a
/// folder someone else controls could redirect kernel files).
fn prepare_runtime_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(dir)
            .map_err(|e| KernelError::io(format!("creating runtime dir {}", dir.display()), e))?;
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| KernelError::io(format!("checking runtime dir {}", dir.display()), e))?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(KernelError::Launch(format!(
            "runtime dir {} must be a folder owned by uid {me} and writable only by it",
            dir.display()
        )));
    }
    Ok(())
}
