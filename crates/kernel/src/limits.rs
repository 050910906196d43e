//! What one kernel may use: CPU, memory, processes, disk, files, time, and its output rate.
//! The sandbox enforces these (`sandbox`), the launcher applies them (`launch`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

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
