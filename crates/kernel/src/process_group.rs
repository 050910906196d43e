//! The kernel's process group: everything the kernel starts stays in it (the sandbox forbids
//! `setsid`/`setpgid`), so one `killpg` ends it all. When the kernel runs as its own uid,
//! every process of that uid is killed too, which also catches anything that escaped.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Owns a process group; kills it (and the kernel's uid, if private) on drop.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Pid,
    private_uid: Option<u32>,
    cgroup: Option<std::sync::Arc<crate::sandbox::cgroup::KernelCgroup>>,
    killed: AtomicBool,
}

impl ProcessGroup {
    /// Takes charge of the group led by `pid` (spawned with `process_group(0)`).
    /// `private_uid` is a uid used by this kernel alone; `cgroup` holds this kernel alone.
    pub(crate) fn new(
        pid: u32,
        private_uid: Option<u32>,
        cgroup: Option<std::sync::Arc<crate::sandbox::cgroup::KernelCgroup>>,
    ) -> Self {
        ProcessGroup {
            pgid: Pid::from_raw(pid as i32),
            private_uid,
            cgroup,
            killed: AtomicBool::new(false),
        }
    }

    /// The group's id (= the kernel's pid).
    pub(crate) fn pgid(&self) -> u32 {
        self.pgid.as_raw() as u32
    }

    /// Sends `signal` to every process of the group.
    pub(crate) fn signal(&self, signal: Signal) -> std::io::Result<()> {
        match signal::killpg(self.pgid, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(std::io::Error::from(e)),
        }
    }

    /// Whether we killed the group ourselves (so a SIGKILL death is ours, not a limit's).
    pub(crate) fn was_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// SIGKILLs the group and, for a private uid, every process of that uid, and everything
    /// in the kernel's control groups.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        let _ = self.signal(Signal::SIGKILL);
        if let Some(uid) = self.private_uid {
            kill_uid(uid);
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill();
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILLs every process whose real or effective uid is `uid`, repeating until none is
/// left (a process may fork between scan and kill; killed ones cannot). Returns how many
/// were killed. Never call it with a uid that is not private to one kernel.
pub(crate) fn kill_uid(uid: u32) -> usize {
    let mut total = 0;
    for _ in 0..100 {
        let pids = processes_of_uid(uid);
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            let _ = signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        total += pids.len();
    }
    total
}

/// Pids (not threads) whose real or effective uid is `uid`.
pub(crate) fn processes_of_uid(uid: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Some((real, effective)) = uids_of(*pid) else {
                return false;
            };
            (real == uid || effective == uid) && !is_zombie(*pid)
        })
        .collect()
}

/// Number of tasks (threads included, as `RLIMIT_NPROC` counts) of the real uid `uid`.
pub(crate) fn task_count_of_uid(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let real = field(&status, "Uid:")?
                .split_whitespace()
                .next()?
                .parse::<u32>()
                .ok()?;
            if real != uid {
                return None;
            }
            field(&status, "Threads:")?.trim().parse::<u64>().ok()
        })
        .sum()
}

fn uids_of(pid: i32) -> Option<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut ids = field(&status, "Uid:")?.split_whitespace();
    let real = ids.next()?.parse().ok()?;
    let effective = ids.next()?.parse().ok()?;
    Some((real, effective))
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| field(&s, "State:").map(|v| v.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| line.strip_prefix(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn killing_the_group_ends_children_too() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 60 & sleep 60 & wait")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait until both sleeps run in the group.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while members(pid) < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(members(pid), 3);
        let group = ProcessGroup::new(pid, None, None);
        drop(group);
        let status = child.wait().unwrap();
        assert!(!status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while members(pid) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(members(pid), 0, "orphaned sleeps were killed");
    }

    /// Live processes whose process group is `pgid`.
    fn members(pgid: u32) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                    return false;
                };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
            })
            .count()
    }
}
