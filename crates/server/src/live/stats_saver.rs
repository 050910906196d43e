//! Saves the running totals of this node's sessions in batches. Every watched session's
//! totals change each `stats_interval`; saved one transaction each, 5,000 watched sessions
//! were 1,000 commits a second, which SQLite served more than a second late while the node
//! spent 40% of a core on them (`bench scale`). One task takes whatever saves are waiting,
//! writes them in one transaction and tells each actor whether its save landed; while one
//! batch is written the next gathers, so the batches grow with the load.

use std::sync::Arc;
use switchboard_core::{SessionStats, Suid};
use switchboard_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most saves written in one transaction, so one never holds the database for long.
const MAX_BATCH: usize = 1_000;

struct Save {
    suid: Suid,
    stats: SessionStats,
    done: oneshot::Sender<bool>,
}

/// Where actors send their totals to be saved.
#[derive(Clone, Debug)]
pub struct StatsSaver {
    tx: mpsc::UnboundedSender<Save>,
}

impl StatsSaver {
    /// Starts the saving task, which stops with `shutdown` (actors then save their totals
    /// themselves as they stop).
    pub fn start(
        store: Arc<dyn Store>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> StatsSaver {
        let (tx, rx) = mpsc::unbounded_channel();
        tracker.spawn(run(store, rx, shutdown));
        StatsSaver { tx }
    }

    /// Saves a session's totals with the next batch; whether they are stored.
    pub async fn save(&self, suid: Suid, stats: SessionStats) -> bool {
        let (done, landed) = oneshot::channel();
        if self.tx.send(Save { suid, stats, done }).is_err() {
            return false;
        }
        landed.await.unwrap_or(false)
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Save>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            next = rx.recv() => match next {
                Some(save) => save,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(save) => batch.push(save),
                Err(_) => break,
            }
        }
        let rows: Vec<(Suid, SessionStats)> = batch
            .iter()
            .map(|save| (save.suid, save.stats.clone()))
            .collect();
        let stored = match store.update_stats_many(&rows).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(sessions = rows.len(), error = %e, "saving session totals failed");
                false
            }
        };
        for save in batch {
            let _ = save.done.send(stored);
        }
    }
}
