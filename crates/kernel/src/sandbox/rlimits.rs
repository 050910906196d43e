//! Resource limits set by the helper on itself before `exec` (they are inherited by the
//! kernel and everything it starts).

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// Seconds between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
pub const CPU_GRACE_SECONDS: u64 = 2;

/// The limits to set. `None` leaves a limit as inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitPlan {
    /// `RLIMIT_CPU` soft limit in seconds (hard = soft + [`CPU_GRACE_SECONDS`]).
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_AS` in bytes.
    pub address_space: Option<u64>,
    /// `RLIMIT_NPROC` for the kernel's own uid.
    pub processes: Option<u64>,
    /// Add the number of tasks the uid already runs to `processes` (when the kernel
    /// shares its uid with the server).
    pub processes_relative: bool,
    /// `RLIMIT_FSIZE` in bytes.
    pub file_size: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub open_files: Option<u64>,
}

impl RlimitPlan {
    /// The plan for `limits`. `shared_uid`: the kernel runs as the server's own user.
    pub fn from_limits(limits: &Limits, shared_uid: bool) -> Self {
        RlimitPlan {
            cpu_seconds: limits.cpu_seconds,
            address_space: limits.memory_bytes,
            processes: limits.processes,
            processes_relative: shared_uid,
            file_size: limits.file_size_bytes,
            open_files: limits.open_files,
        }
    }

    /// Applies the limits to the calling process; core dumps are always disabled. Returns a
    /// description of each limit set. Call after changing uid when `processes_relative`.
    pub fn apply(&self, uid: u32) -> Result<Vec<String>, String> {
        let mut applied = Vec::new();
        set(Resource::RLIMIT_CORE, 0, 0)?;
        if let Some(cpu) = self.cpu_seconds {
            set(
                Resource::RLIMIT_CPU,
                cpu,
                cpu.saturating_add(CPU_GRACE_SECONDS),
            )?;
            applied.push(format!("cpu={cpu}s"));
        }
        if let Some(bytes) = self.address_space {
            set(Resource::RLIMIT_AS, bytes, bytes)?;
            applied.push(format!("as={}MiB", bytes >> 20));
        }
        if let Some(n) = self.processes {
            let n = if self.processes_relative {
                n.saturating_add(crate::process_group::task_count_of_uid(uid))
            } else {
                n
            };
            set(Resource::RLIMIT_NPROC, n, n)?;
            applied.push(format!("nproc={n}"));
        }
        if let Some(bytes) = self.file_size {
            set(Resource::RLIMIT_FSIZE, bytes, bytes)?;
            applied.push(format!("fsize={}MiB", bytes >> 20));
        }
        if let Some(n) = self.open_files {
            set(Resource::RLIMIT_NOFILE, n, n)?;
            applied.push(format!("nofile={n}"));
        }
        Ok(applied)
    }
}

/// Sets a limit, never above the current hard limit when we may not raise it.
fn set(resource: Resource, soft: u64, hard: u64) -> Result<(), String> {
    let (_, current_hard) =
        getrlimit(resource).map_err(|e| format!("getrlimit {resource:?}: {e}"))?;
    let privileged = nix::unistd::geteuid().is_root();
    let hard = if privileged {
        hard
    } else {
        hard.min(current_hard)
    };
    let soft = soft.min(hard);
    setrlimit(resource, soft, hard).map_err(|e| format!("setrlimit {resource:?}: {e}"))
}
