//! The sandbox: what a kernel may touch.
//!
//! The server never runs user code in its own process. It starts the sandbox *helper* (this
//! crate's [`crate::helper`] mode of a binary) with a [`SandboxPlan`]; the helper, a fresh
//! single-threaded process already in its own process group, applies in order:
//!
//! 0. it joins the kernel's control groups, which bound the memory and tasks of all its
//!    processes together ([`cgroup`]; a memory watchdog in the server stands in for a
//!    missing memory controller, see [`memory_watch`]);
//! 1. namespaces (root only): a private mount namespace whose root is a minimal filesystem
//!    view (read-only binds of what the kernel needs plus its own folder; no `/run`, no host
//!    `/tmp`, no other kernel, so no Unix socket but its own kernel's is reachable), and an
//!    empty network namespace, which also isolates abstract Unix sockets ([`namespace`]);
//! 2. resource limits ([`rlimits`]);
//! 3. a new uid/gid (root only): one private uid per kernel by default ([`user`]);
//! 4. Landlock: read-only access to the interpreter, `/usr`, `/lib`, a few `/etc` files and
//!    `/proc/self`, read-write access to the kernel's own folder only; TCP denied; signals
//!    and abstract Unix sockets scoped to the kernel ([`landlock`]);
//! 5. seccomp: `socket()` only for `AF_UNIX` (IPC ZeroMQ), no io_uring, no new
//!    sessions/groups/namespaces, no ptrace/mount/bpf/keyring ([`seccomp`]);
//!
//! then reports what it enforced on its stderr's first line and `exec`s the kernel.
//! Each layer is [`Layer::Require`] (launch fails if it cannot be applied),
//! [`Layer::IfAvailable`] or [`Layer::Off`]; only [`Sandbox::Off`] runs unsandboxed.

pub mod cgroup;
pub mod landlock;
pub mod memory_watch;
pub mod namespace;
pub mod rlimits;
pub mod seccomp;
pub mod user;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Whether kernels are sandboxed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sandbox {
    /// No sandbox: the kernel runs as the server's user with full file and network access.
    /// Limits still apply. Must be chosen explicitly.
    Off,
    /// The sandbox as configured.
    Enforce(SandboxConfig),
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::Enforce(SandboxConfig::default())
    }
}

/// How much a sandbox layer is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Launch fails if the layer cannot be applied.
    Require,
    /// Applied when the host supports it; its absence is logged and reported.
    IfAvailable,
    /// Not applied.
    Off,
}

/// Which user the kernel runs as when the server runs as root (ignored otherwise: an
/// unprivileged server cannot change user, and its kernels run as itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    /// A private uid (and gid) per kernel from `first .. first + count`, leased with a lock
    /// file in `lock_dir`. Private uids make `RLIMIT_NPROC` per kernel and let the OS's own
    /// permissions separate kernels; at lease time any leftover process of the uid is killed.
    UidRange {
        /// First uid of the range (unused by any real account).
        first: u32,
        /// Size of the range (at least the node's `max_kernels`).
        count: u32,
        /// Where the lease locks live (root-only folder).
        lock_dir: PathBuf,
    },
    /// One fixed user for every kernel (e.g. `nobody`, 65534). Process limits are then
    /// shared by all kernels.
    User {
        /// The uid.
        uid: u32,
        /// The gid.
        gid: u32,
    },
    /// Stay root. Only for experiments: root ignores `RLIMIT_NPROC` and file permissions.
    Unchanged,
}

impl Default for RunAs {
    fn default() -> Self {
        RunAs::UidRange {
            first: 1_900_000_000,
            count: 65_536,
            lock_dir: PathBuf::from("/run/switchboard-kernel-uids"),
        }
    }
}

/// The sandbox's layers and extra paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Landlock file-system (and TCP, signal, abstract-socket) restrictions.
    pub landlock: Layer,
    /// The seccomp filter (no network sockets, no namespace or session escapes).
    pub seccomp: Layer,
    /// An empty network namespace and a private mount namespace with a minimal filesystem
    /// view (needs root). Required by default: without it a kernel can connect to every
    /// Unix socket of the host its uid may open (databases that trust local connections).
    pub namespaces: Layer,
    /// Control groups for the whole-kernel memory and task limits. `if_available` (the
    /// default) falls back to a memory watchdog and `RLIMIT_NPROC`; `off` always uses them.
    pub cgroups: Layer,
    /// The user kernels run as when the server is root.
    pub run_as: RunAs,
    /// More folders or files the kernel may read (e.g. a shared data set).
    pub extra_read_paths: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            landlock: Layer::Require,
            seccomp: Layer::Require,
            namespaces: Layer::Require,
            cgroups: Layer::IfAvailable,
            run_as: RunAs::default(),
            extra_read_paths: Vec::new(),
        }
    }
}

/// System folders and files every kernel may read (missing ones are skipped).
pub const SYSTEM_READ_PATHS: &[&str] = &[
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/mime.types",
    "/etc/fonts",
    "/etc/ssl/certs",
    "/etc/alternatives",
    "/etc/matplotlibrc",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/proc/self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/sys/devices/system/cpu",
];

/// Files every kernel may read and write.
pub const SYSTEM_READ_WRITE_PATHS: &[&str] = &["/dev/null", "/dev/full"];

/// What the host can enforce, detected once at start and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSupport {
    /// The server runs as root (can change user and create namespaces).
    pub root: bool,
    /// The highest Landlock ABI this host and the `landlock` crate both support
    /// (`None`: Landlock unavailable).
    pub landlock_abi: Option<u32>,
    /// seccomp filters are available.
    pub seccomp: bool,
    /// The cgroup controllers kernels are put under.
    pub cgroups: cgroup::CgroupSupport,
}

impl HostSupport {
    /// Probes the host.
    pub fn detect() -> Self {
        HostSupport {
            root: nix::unistd::geteuid().is_root(),
            landlock_abi: landlock::probe_abi(),
            seccomp: seccomp::available(),
            cgroups: cgroup::CgroupSupport::detect(),
        }
    }

    /// Checks that `limits` can be enforced here: the folder limit is a tmpfs mounted per
    /// kernel, which needs root.
    pub fn check_limits(&self, limits: &crate::limits::Limits) -> Result<(), String> {
        if limits.folder_bytes.is_some() && !self.root {
            return Err("the kernel folder size limit mounts a tmpfs per kernel, which needs                  root; run the server as root or set the folder limit to 0 (unlimited)"
                .into());
        }
        Ok(())
    }

    /// How the whole-kernel limits are enforced here, for the start-up log.
    pub fn totals(&self) -> String {
        let memory = if self.cgroups.memory.is_some() {
            "memory cgroup"
        } else {
            "watchdog summing the kernel's RSS"
        };
        let tasks = if self.cgroups.pids.is_some() {
            "pids cgroup"
        } else if self.root {
            "RLIMIT_NPROC of a private uid"
        } else {
            "RLIMIT_NPROC of the server's uid (shared)"
        };
        let folder = if self.root {
            "size-limited tmpfs"
        } else {
            "not bounded (needs root)"
        };
        format!("total memory: {memory}; tasks: {tasks}; folder: {folder}")
    }

    /// Checks that every [`Layer::Require`] layer of `config` can be enforced here.
    pub fn check(&self, sandbox: &Sandbox) -> Result<(), String> {
        let Sandbox::Enforce(config) = sandbox else {
            return Ok(());
        };
        if config.landlock == Layer::Require && self.landlock_abi.is_none() {
            return Err(
                "Landlock is required but this kernel does not support it (Linux ≥ 5.13 \
                 with lsm=landlock); set sandbox.landlock = \"if_available\" to run without"
                    .into(),
            );
        }
        if config.seccomp == Layer::Require && !self.seccomp {
            return Err("seccomp is required but unavailable on this host; set \
                 sandbox.seccomp = \"if_available\" to run without"
                .into());
        }
        if config.namespaces == Layer::Require && !self.root {
            return Err(
                "the kernel's namespaces and filesystem view are required but need root \
                 (without them kernels can reach the host's Unix sockets); run the server as \
                 root, or set sandbox.namespaces = \"if_available\" to run without"
                    .into(),
            );
        }
        let cgroups = &self.cgroups;
        if config.cgroups == Layer::Require && (cgroups.memory.is_none() || cgroups.pids.is_none())
        {
            return Err(format!(
                "cgroups are required but this host offers {cgroups} ({}); set \
                 sandbox.cgroups = \"if_available\" to bound kernels with a memory watchdog \
                 and RLIMIT_NPROC instead",
                cgroups.notes.join("; ")
            ));
        }
        Ok(())
    }
}

impl fmt::Display for HostSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "root={} landlock={} seccomp={} cgroups=[{}]",
            self.root,
            self.landlock_abi
                .map_or_else(|| "unavailable".to_owned(), |abi| format!("ABI>={abi}")),
            if self.seccomp { "yes" } else { "no" },
            self.cgroups,
        )?;
        for note in &self.cgroups.notes {
            write!(f, "; cgroup {note}")?;
        }
        Ok(())
    }
}

/// Everything the helper needs, written by the launcher as JSON into the kernel folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxPlan {
    /// The kernel command to `exec` at the end.
    pub argv: Vec<String>,
    /// Working directory of the kernel.
    pub workdir: PathBuf,
    /// Resource limits.
    pub rlimits: rlimits::RlimitPlan,
    /// Namespaces to create (`None`: none).
    pub namespaces: Option<namespace::NamespacePlan>,
    /// User to become (`None`: stay).
    pub user: Option<user::Identity>,
    /// Landlock rules (`None`: no Landlock).
    pub landlock: Option<landlock::LandlockPlan>,
    /// Install the seccomp filter.
    pub seccomp: bool,
    /// Layers that must succeed.
    pub required: RequiredLayers,
    /// Ask the OS to SIGKILL the kernel when the server's thread that started it dies.
    pub die_with_parent: bool,
    /// The server's pid (the helper exits if its parent is already another process).
    pub parent_pid: u32,
    /// The `cgroup.procs` files of the kernel's groups, joined before anything else.
    #[serde(default)]
    pub cgroup_procs: Vec<PathBuf>,
}

/// Which layers must be enforced for the launch to proceed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredLayers {
    /// Landlock must be at least partly enforced.
    pub landlock: bool,
    /// The seccomp filter must be installed.
    pub seccomp: bool,
    /// Namespaces must be created.
    pub namespaces: bool,
}

/// What the helper enforced for one kernel, as it reported before `exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxReport {
    /// `"full"`, `"partial"`, `"none"` or `"off"`.
    pub landlock: String,
    /// The Landlock ABI in effect, if any.
    pub landlock_abi: Option<u32>,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
    /// Whether the kernel has its own (empty) network namespace.
    pub network_namespace: bool,
    /// What the kernel's filesystem view holds (empty: the host's file system).
    pub view: Vec<PathBuf>,
    /// The control groups the kernel runs in.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The kernel's uid and gid.
    pub uid: u32,
    /// The kernel's gid.
    pub gid: u32,
    /// The limits that were set, e.g. `cpu=600s`.
    pub rlimits: Vec<String>,
    /// Notes about anything not enforced.
    pub notes: Vec<String>,
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "uid={} landlock={}{} seccomp={} netns={} rlimits=[{}]",
            self.uid,
            self.landlock,
            self.landlock_abi
                .map(|a| format!("(ABI {a})"))
                .unwrap_or_default(),
            self.seccomp,
            self.network_namespace,
            self.rlimits.join(" "),
        )?;
        if self.view.is_empty() {
            write!(f, " view=host")?;
        } else {
            write!(f, " view={:?}", self.view)?;
        }
        if !self.cgroups.is_empty() {
            write!(f, " cgroups={:?}", self.cgroups)?;
        }
        for note in &self.notes {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// The prefix of the helper's report line on stderr.
pub const REPORT_PREFIX: &str = "SWITCHBOARD-SANDBOX-REPORT ";
/// The prefix of the helper's failure line on stderr.
pub const FAILURE_PREFIX: &str = "SWITCHBOARD-SANDBOX-FAILED ";

/// Read and read-write paths for a kernel: system paths, the spec's runtime paths, the
/// configured extras, and its own folder. Missing paths are dropped.
pub(crate) fn access_paths(
    runtime_paths: &[PathBuf],
    extra: &[PathBuf],
    kernel_dir: &Path,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut read: Vec<PathBuf> = SYSTEM_READ_PATHS.iter().map(PathBuf::from).collect();
    read.extend(runtime_paths.iter().cloned());
    read.extend(extra.iter().cloned());
    let read = crate::spec::minimal_cover(read.into_iter().filter(|p| p.exists()).collect());
    let mut write: Vec<PathBuf> = SYSTEM_READ_WRITE_PATHS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    write.push(kernel_dir.to_path_buf());
    (read, write)
}
