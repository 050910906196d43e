//! The crate's error type and the reasons a kernel can stop.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while finding, launching or talking to a kernel.
///
/// Callers at the HTTP edge map these to statuses: [`KernelError::Capacity`] is a 503,
/// [`KernelError::NoSuchSpec`] a 404, [`KernelError::Timeout`] a 504, [`KernelError::Died`]
/// and [`KernelError::Stopped`] a 409 or 410, the rest 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// No kernelspec has this name.
    #[error("no kernelspec named {name:?} (available: {available:?})")]
    NoSuchSpec {
        /// The name that was asked for.
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },
    /// A `kernel.json` could not be read or makes no sense.
    #[error("invalid kernelspec at {path}: {reason}")]
    InvalidSpec {
        /// The kernelspec folder or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The node already runs its maximum number of kernels.
    #[error("this node already runs its maximum of {max} kernels; try again later")]
    Capacity {
        /// The configured `max_kernels`.
        max: usize,
    },
    /// A wait had a deadline and the deadline passed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for (`"kernel_info_reply"`, `"execute"`, …).
        what: &'static str,
        /// How long was waited.
        after: Duration,
    },
    /// The kernel process died (or was killed) while in use.
    #[error("kernel died: {0}")]
    Died(DeathReason),
    /// The kernel was shut down on purpose and cannot be used any more.
    #[error("kernel is stopped: {0}")]
    Stopped(DeathReason),
    /// The sandbox could not be set up as configured.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The kernel process could not be started or did not come up.
    #[error("kernel launch failed: {0}")]
    Launch(String),
    /// A message from a client or from the kernel was not a valid Jupyter message.
    #[error("invalid Jupyter message: {0}")]
    InvalidMessage(String),
    /// A ZeroMQ socket failed.
    #[error("ZeroMQ: {0}")]
    Zmq(String),
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl KernelError {
    /// Wraps an I/O error with a sentence saying what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        KernelError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// Why a kernel stopped. Shown to users, so every variant reads as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeathReason {
    /// Someone asked for the kernel to be shut down.
    Shutdown,
    /// The kernel used up its CPU-seconds limit (`RLIMIT_CPU`) and the OS killed it.
    CpuLimit {
        /// The limit in seconds.
        seconds: u64,
    },
    /// The kernel's processes together used more memory than its total memory limit.
    MemoryLimit {
        /// The limit in bytes.
        bytes: u64,
    },
    /// The kernel was idle for longer than its idle timeout.
    IdleTimeout {
        /// The configured idle timeout, in seconds.
        seconds: u64,
    },
    /// The kernel reached its maximum lifetime.
    Lifetime {
        /// The configured lifetime, in seconds.
        seconds: u64,
    },
    /// The kernel stopped answering heartbeats.
    HeartbeatLost,
    /// The kernel process exited by itself.
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// The kernel process was killed by a signal we did not send.
    Signaled {
        /// The signal's name, e.g. `SIGKILL`.
        signal: String,
    },
    /// The kernel did not come back after a restart.
    RestartFailed {
        /// Why.
        message: String,
    },
}

impl fmt::Display for DeathReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeathReason::Shutdown => write!(f, "shut down on request"),
            DeathReason::CpuLimit { seconds } => {
                write!(
                    f,
                    "CPU time limit of {seconds} s exceeded; the kernel was killed"
                )
            }
            DeathReason::MemoryLimit { bytes } => write!(
                f,
                "memory limit of {} MiB for the kernel's processes together exceeded; the \
                 kernel was killed",
                bytes >> 20
            ),
            DeathReason::IdleTimeout { seconds } => {
                write!(f, "idle for more than {seconds} s; the kernel was stopped")
            }
            DeathReason::Lifetime { seconds } => {
                write!(
                    f,
                    "maximum lifetime of {seconds} s reached; the kernel was stopped"
                )
            }
            DeathReason::HeartbeatLost => write!(f, "the kernel stopped answering heartbeats"),
            DeathReason::Exited { code } => write!(f, "the kernel process exited with code {code}"),
            DeathReason::Signaled { signal } => {
                write!(f, "the kernel process was killed by {signal}")
            }
            DeathReason::RestartFailed { message } => write!(f, "restart failed: {message}"),
        }
    }
}
