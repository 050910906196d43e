//! Configuration: node-wide settings ([`NodeConfig`]) and per-kernel settings
//! ([`KernelConfig`]: limits, sandbox, timeouts, replay buffer).
//!
//! Every struct has working defaults, reads from TOML/JSON with serde (durations in humantime
//! form, `"30s"`), and rejects unknown keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
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
    /// Variables a client asked for (a gateway's `KERNEL_USERNAME`, …), already filtered by
    /// the caller: each is set only where neither the launcher, the kernelspec nor
    /// [`KernelConfig::env`] sets that name, so a client never changes the kernel's `PATH`,
    /// `HOME` or anything else its confinement relies on.
    pub client_env: std::collections::BTreeMap<String, String>,
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
