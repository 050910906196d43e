//! The CPU time of each account's kernels, added up per UTC day in the store for the
//! `kernel_cpu_seconds_per_day` limit. Every [`INTERVAL`] the processes of each kernel's
//! process group are read from `/proc` (their own time and that of the children they reaped),
//! and what grew since the last reading is added. What a kernel burns in its last interval
//! before it stops is not counted: the limit is exact to within [`INTERVAL`] per kernel.

use crate::kernels::KernelRegistry;
use crate::services::gatekeeper::day_of;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::AccountId;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;

/// How often kernels' CPU time is read (only while this node runs kernels: a read of every
/// process's `stat` costs a few milliseconds).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// `/proc` counts CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 for user
/// space on every architecture it runs on.
const TICKS_PER_SECOND: u64 = 100;

/// A process's group and CPU ticks (user + system, its own and its reaped children's), from
/// the text of `/proc/<pid>/stat`.
fn group_and_ticks(stat: &str) -> Option<(u32, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces: fields are counted
    // after its closing parenthesis.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15) cutime(16) cstime(17).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let pgrp = u32::try_from(field(5)?).ok()?;
    let ticks = field(14)? + field(15)? + field(16)? + field(17)?;
    Some((pgrp, ticks))
}

/// CPU ticks of every process group on the machine, by group id.
fn ticks_by_group() -> HashMap<u32, u64> {
    let mut groups = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return groups;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((pgrp, ticks)) = group_and_ticks(&stat) {
            *groups.entry(pgrp).or_insert(0) += ticks;
        }
    }
    groups
}

/// Reads the kernels' CPU time every [`INTERVAL`] and adds what grew to their accounts, until
/// `shutdown`.
pub async fn run(
    registry: Arc<KernelRegistry>,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) {
    // Last reading per kernel id and process generation (a restart starts from zero).
    let mut last: HashMap<(String, u64), u64> = HashMap::new();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let kernels = registry.all();
        if kernels.is_empty() {
            last.clear();
            continue;
        }
        let groups = match tokio::task::spawn_blocking(ticks_by_group).await {
            Ok(groups) => groups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the kernels' CPU time");
                continue;
            }
        };
        let mut used: HashMap<AccountId, u64> = HashMap::new();
        let mut seen = HashMap::new();
        for entry in kernels {
            let process = entry.kernel.process();
            let Some(&ticks) = groups.get(&process.pid) else {
                continue;
            };
            let key = (entry.id().to_owned(), process.generation);
            let before = last.get(&key).copied().unwrap_or(0);
            // Fewer ticks than before: processes of the group ended unreaped; count anew.
            let grown = ticks.saturating_sub(before);
            if grown > 0 {
                *used.entry(entry.account).or_insert(0) += grown;
            }
            seen.insert(key, ticks.max(before));
        }
        last = seen;
        let day = day_of(chrono::Utc::now());
        for (account, ticks) in used {
            let millis = ticks * 1000 / TICKS_PER_SECOND;
            if let Err(e) = store.add_kernel_cpu(account, &day, millis).await {
                tracing::warn!(%account, error = %e, "cannot record kernels' CPU time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_the_group_and_ticks() {
        let stat = "4242 (python3 -m ipy) S 1 4242 4242 0 -1 4194560 1 0 0 0 \
                    150 25 7 3 20 0 1 0 100 0 0";
        assert_eq!(group_and_ticks(stat), Some((4242, 185)));
        assert_eq!(group_and_ticks("garbage"), None);
        assert_eq!(group_and_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn this_process_has_a_group_with_ticks() {
        let me = std::process::id();
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let (group, _) = group_and_ticks(&stat).unwrap();
        assert!(ticks_by_group().contains_key(&group));
    }
}
