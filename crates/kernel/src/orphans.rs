//! Cleaning up after a server that was killed: its kernels may still run (the parent-death
//! signal and ipykernel's parent poller usually end them, but children of a kernel can
//! survive). At start the server reaps them: each `<id>.pid` file names a process group
//! to kill (if that process still works in the kernel's folder), each kernel's control
//! groups are emptied and removed, each private kernel uid whose lease is free is swept, and
//! the stale folders are unmounted and removed.

use std::fs::OpenOptions;
use std::path::Path;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::sandbox::{HostSupport, RunAs, Sandbox};

/// Reaps what a previous server on `runtime_dir` left. Returns processes killed.
pub(crate) fn reap(runtime_dir: &Path, sandbox: &Sandbox, host: &HostSupport) -> usize {
    let root = host.root;
    let remove_kernel_dir = |dir: &Path| {
        crate::connection::unmount(dir);
        let _ = std::fs::remove_dir_all(dir);
    };
    let mut killed = 0;
    if let Ok(entries) = std::fs::read_dir(runtime_dir) {
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if let Some(id) = name.strip_suffix(".pid") {
                let kernel_dir = runtime_dir.join(id);
                if let Some(pid) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .filter(|pid| *pid > 1)
                    && works_in(pid, &kernel_dir)
                    && killpg(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
                {
                    killed += 1;
                }
                killed += crate::sandbox::cgroup::reap(&host.cgroups, id);
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(path.with_extension("plan.json"));
                remove_kernel_dir(&kernel_dir);
            } else if name.ends_with(".plan.json") {
                let _ = std::fs::remove_file(&path);
            } else if uuid::Uuid::parse_str(&name).is_ok() && path.is_dir() {
                killed += crate::sandbox::cgroup::reap(&host.cgroups, &name);
                remove_kernel_dir(&path);
            }
        }
    }
    if let (true, Sandbox::Enforce(config)) = (root, sandbox)
        && let RunAs::UidRange {
            first,
            count,
            lock_dir,
        } = &config.run_as
    {
        killed += sweep_uids(*first, *count, lock_dir);
    }
    if killed > 0 {
        tracing::warn!(
            killed,
            "killed processes of kernels left by a previous server"
        );
    }
    killed
}

/// Whether process `pid` has its working directory inside `dir`.
fn works_in(pid: i32, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
}

/// Kills the processes of every uid in the range whose lease nobody holds.
fn sweep_uids(first: u32, count: u32, lock_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut uids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            line.split_whitespace().next()?.parse::<u32>().ok()
        })
        .filter(|uid| (first..first.saturating_add(count)).contains(uid))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    let mut killed = 0;
    for uid in uids {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_dir.join(format!("{uid}.lock")));
        if let Ok(file) = lock
            && file.try_lock().is_ok()
        {
            killed += crate::process_group::kill_uid(uid);
        }
    }
    killed
}
