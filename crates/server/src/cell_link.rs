//! The link between a kernel and the stored cell it was handed out for: the kernel's entry
//! carries it (`crate::kernels`), and the collection of a run's files uses it
//! (`crate::cells`). It holds the run gate (a new execution waits until the previous one's
//! files are collected) and what was collected last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// What identifies one version of a file, to tell whether it changed since it was
/// collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub ino: u64,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// Files as last collected, by name.
pub type Stamps = HashMap<String, FileStamp>;

/// Longest an execution waits for the previous one's files to be collected (a kernel that
/// died mid-run never finishes its count).
const COLLECTION_WAIT: Duration = Duration::from_secs(5);

/// The link between a kernel and the cell it was handed out for.
#[derive(Debug)]
pub struct CellLink {
    /// The cell's id.
    pub id: Uuid,
    /// Files as last collected. Its lock is a collection's turn: held by one collection of
    /// this cell across its scan and store writes, so two never interleave.
    collected: tokio::sync::Mutex<Stamps>,
    /// Executions sent to the kernel, and executions whose files were collected: a new
    /// execution waits until the two agree, so its files are never counted as the previous
    /// run's (the scan after a run would otherwise race the next run's writes).
    sent: AtomicU64,
    done: tokio::sync::watch::Sender<u64>,
}

impl CellLink {
    /// A link to cell `id`, nothing collected yet.
    pub fn new(id: Uuid) -> CellLink {
        CellLink {
            id,
            collected: tokio::sync::Mutex::new(HashMap::new()),
            sent: AtomicU64::new(0),
            done: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The run gate, called before an `execute_request` goes to the kernel: waits (bounded)
    /// until the files of every earlier execution are collected, then counts this one.
    pub async fn before_execute(&self) {
        let sent = self.sent.load(Ordering::Acquire);
        let mut done = self.done.subscribe();
        let caught_up = done.wait_for(|n| *n >= sent);
        if tokio::time::timeout(COLLECTION_WAIT, caught_up)
            .await
            .is_err()
        {
            tracing::debug!(cell = %self.id, "the previous run's files were not collected in time");
            self.done.send_replace(sent);
        }
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    /// Called once an execution's files were collected: opens the gate for the next.
    pub fn executed(&self) {
        self.done.send_modify(|n| *n += 1);
    }

    /// This cell's collection turn: waits for any collection under way, then holds what was
    /// collected last until dropped.
    pub async fn collection_turn(&self) -> tokio::sync::MutexGuard<'_, Stamps> {
        self.collected.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_execution_waits_for_the_previous_runs_files() {
        let link = std::sync::Arc::new(CellLink::new(Uuid::nil()));
        // Nothing ran yet: the first execution passes at once.
        link.before_execute().await;
        let second = tokio::spawn({
            let link = link.clone();
            async move { link.before_execute().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!second.is_finished(), "waits for the first run's files");
        link.executed();
        tokio::time::timeout(Duration::from_millis(10), second)
            .await
            .expect("passes once they are collected")
            .expect("no panic");
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_opens_after_its_deadline_when_files_never_come() {
        let link = CellLink::new(Uuid::nil());
        link.before_execute().await;
        let started = tokio::time::Instant::now();
        link.before_execute().await;
        assert_eq!(started.elapsed(), COLLECTION_WAIT);
    }
}
