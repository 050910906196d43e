//! The fallback bound on a kernel's total memory where no memory cgroup is usable: the
//! server sums the resident memory of every process in the kernel's process group (which
//! the sandbox forbids leaving) a few times a second and kills the group once the sum
//! passes the limit. It is coarser than a cgroup (a burst between two samples goes
//! unseen, shared pages count once per process) but still bounds the kernel as a whole,
//! which per-process `RLIMIT_AS` does not.

use std::time::Duration;

/// How often the watchdog samples.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Resident bytes of all live processes whose process group is `pgid`.
pub fn group_rss(pgid: u32) -> u64 {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| group_of(*pid) == Some(pgid))
        .filter_map(|pid| {
            let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
            statm.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|pages| pages * page)
        .sum()
}

/// The process group of `pid` (`None`: gone, or a zombie).
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, ppid, pgrp.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    if state == "Z" {
        return None;
    }
    fields.nth(1)?.parse().ok()
}

/// Samples the group `pgid` every [`INTERVAL`] until its resident memory passes `limit`,
/// then returns the sum seen.
pub async fn until_over(pgid: u32, limit: u64) -> u64 {
    loop {
        tokio::time::sleep(INTERVAL).await;
        let rss = tokio::task::spawn_blocking(move || group_rss(pgid))
            .await
            .unwrap_or(0);
        if rss > limit {
            return rss;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_group_uses_memory() {
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_rss(pgid) > 1 << 20);
        assert_eq!(group_of(std::process::id()), Some(pgid));
    }
}
