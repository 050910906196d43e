//! Configuration: node-wide settings ([`NodeConfig`]) and per-kernel settings
//! ([`KernelConfig`]: limits, sandbox, timeouts, replay buffer).
//!
//! Every struct has working defaults, reads from TOML/JSON with serde (durations in humantime
//! form, `"30s"`), and rejects unknown keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::Sandbox;

/// The argument that puts a binary into sandbox-helper mode (see [`crate::helper`]).
pub const HELPER_ARG: &str = "__switchboard_kernel_helper";

/// Settings shared by every kernel of a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where each kernel gets its private folder (`<runtime_dir>/<kernel id>/`). The path
    /// must be short: Unix socket paths inside it are limited to 107 bytes.
    pub runtime_dir: PathBuf,
    /// The most kernels this node runs at once, warm pool included. Past it, launches fail
    /// with [`crate::KernelError::Capacity`].
    pub max_kernels: usize,
    /// How to start the sandbox helper that sets limits and the sandbox up before it
    /// executes the kernel. The server never runs user code in its own process.
    pub helper: HelperCommand,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            runtime_dir: std::env::temp_dir().join("switchboard-kernels"),
            max_kernels: 64,
            helper: HelperCommand::default(),
        }
    }
}

/// The program (and leading arguments) that runs the sandbox helper. The kernel launcher
/// appends the path of the sandbox plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelperCommand {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the plan path.
    #[serde(default)]
    pub args: Vec<String>,
}

impl HelperCommand {
    /// This very executable, in helper mode: its `main` must call
    /// [`crate::helper::run_if_requested`] first thing.
    pub fn current_exe() -> Self {
        HelperCommand {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            args: vec![HELPER_ARG.to_owned()],
        }
    }

    /// A dedicated helper binary such as `switchboard-kernel-helper`.
    pub fn program(path: impl Into<PathBuf>) -> Self {
        HelperCommand {
            program: path.into(),
            args: Vec::new(),
        }
    }
}

impl Default for HelperCommand {
    fn default() -> Self {
        HelperCommand::current_exe()
    }
}

/// Settings of one kernel: what it may use, how it is confined, how long we wait for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelConfig {
    /// Resource limits.
    pub limits: Limits,
    /// The sandbox; [`Sandbox::Off`] must be chosen explicitly.
    pub sandbox: Sandbox,
    /// Deadlines of every wait.
    pub timeouts: Timeouts,
    /// The per-kernel buffer that lets reconnecting clients catch up.
    pub replay: ReplayLimits,
    /// Extra environment variables for the kernel (after the kernelspec's own).
    pub env: std::collections::BTreeMap<String, String>,
}

/// Resource limits of one kernel. `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU seconds (`RLIMIT_CPU`); past it the OS kills the kernel and we report it.
    pub cpu_seconds: Option<u64>,
    /// Address-space bytes of each process (`RLIMIT_AS`); allocations past it fail
    /// (`MemoryError`).
    pub memory_bytes: Option<u64>,
    /// Memory of all the kernel's processes together (its files in its folder included,
    /// which live in memory): a memory cgroup where the host has one (past it the OOM killer
    /// ends a process of the kernel), else a watchdog that kills the kernel's process group
    /// once their resident memory passes it.
    pub total_memory_bytes: Option<u64>,
    /// Processes and threads of the kernel together: a pids cgroup where the host has one,
    /// and `RLIMIT_NPROC`, exact when each kernel runs as its own uid (the default when the
    /// server runs as root); otherwise it counts every process of the server's user, so it
    /// is added to the count found at launch.
    pub processes: Option<u64>,
    /// Size of the kernel's folder (its home, temporary files and sockets together): a
    /// tmpfs of this size is mounted as the folder (root only), so writes past it fail with
    /// `ENOSPC`. Its inodes are bounded too (one per 4 KiB).
    pub folder_bytes: Option<u64>,
    /// Largest file the kernel may write (`RLIMIT_FSIZE`).
    pub file_size_bytes: Option<u64>,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
    /// Stop the kernel after this long without activity (no request, not busy).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// Stop the kernel this long after it was handed out, whatever it is doing.
    #[serde(with = "humantime_serde")]
    pub lifetime: Option<Duration>,
    /// Output rate limits; output past them is dropped with a visible notice.
    pub output: OutputRate,
    /// Largest message accepted from the kernel; bigger ones are dropped with a notice.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: Some(600),
            memory_bytes: Some(2 << 30),
            total_memory_bytes: Some(2 << 30),
            processes: Some(128),
            folder_bytes: Some(512 << 20),
            file_size_bytes: Some(256 << 20),
            open_files: Some(1024),
            idle_timeout: Some(Duration::from_secs(15 * 60)),
            lifetime: Some(Duration::from_secs(24 * 3600)),
            output: OutputRate::default(),
            max_message_bytes: 16 << 20,
        }
    }
}

impl Limits {
    /// No limits at all (for benchmarks and trusted kernels).
    pub fn unlimited() -> Self {
        Limits {
            cpu_seconds: None,
            memory_bytes: None,
            total_memory_bytes: None,
            processes: None,
            folder_bytes: None,
            file_size_bytes: None,
            open_files: None,
            idle_timeout: None,
            lifetime: None,
            output: OutputRate::unlimited(),
            max_message_bytes: usize::MAX,
        }
    }
}

/// Output rate limits, applied to IOPub output (streams, displays, results, comm messages).
/// Status messages, errors and replies always pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputRate {
    /// Sustained messages per second.
    pub messages_per_second: u32,
    /// Sustained bytes per second.
    pub bytes_per_second: u64,
    /// How many seconds of the sustained rate may arrive at once.
    pub burst_seconds: u32,
}

impl Default for OutputRate {
    fn default() -> Self {
        OutputRate {
            messages_per_second: 1000,
            bytes_per_second: 8 << 20,
            burst_seconds: 2,
        }
    }
}

impl OutputRate {
    /// No output limit.
    pub fn unlimited() -> Self {
        OutputRate {
            messages_per_second: u32::MAX,
            bytes_per_second: u64::MAX,
            burst_seconds: 1,
        }
    }
}

/// Deadlines. Every wait in this crate has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// From spawn to the first `kernel_info_reply`.
    #[serde(with = "humantime_serde")]
    pub start: Duration,
    /// Default deadline of an execution (from request to final idle status).
    #[serde(with = "humantime_serde")]
    pub execute: Duration,
    /// Other request/reply pairs (`kernel_info`, interrupt by message, …).
    #[serde(with = "humantime_serde")]
    pub request: Duration,
    /// From `shutdown_request` to the process exit; then the group is killed.
    #[serde(with = "humantime_serde")]
    pub shutdown: Duration,
    /// Time between heartbeats.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How long one heartbeat may take.
    #[serde(with = "humantime_serde")]
    pub heartbeat_timeout: Duration,
    /// Consecutive missed heartbeats after which the kernel is declared dead.
    pub heartbeat_misses: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            start: Duration::from_secs(60),
            execute: Duration::from_secs(600),
            request: Duration::from_secs(10),
            shutdown: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(5),
            heartbeat_misses: 3,
        }
    }
}

/// Bounds of the per-kernel replay buffer (whichever is reached first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayLimits {
    /// Messages kept.
    pub messages: usize,
    /// Bytes kept (JSON parts and buffers).
    pub bytes: usize,
}

impl Default for ReplayLimits {
    fn default() -> Self {
        ReplayLimits {
            messages: 10_000,
            bytes: 32 << 20,
        }
    }
}
