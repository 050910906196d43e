//! The node's live sessions by SUID, and what their actors need.

use super::actor::SessionActor;
use super::{CdrLog, LiveStats, SessionHandle};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use switchboard_bus::Bus;
use switchboard_core::{Session, Suid, TimeoutPolicy, ViewerLedger};
use switchboard_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a session actor uses besides its own state.
#[derive(Clone)]
pub struct ActorDeps {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub policy: TimeoutPolicy,
    pub cdr_log: CdrLog,
    pub stats_interval: std::time::Duration,
    pub max_viewers: u32,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// The open sessions this node runs. Lookups take a read lock for a map access only; the
/// lock is never held across an await.
#[derive(Clone)]
pub struct SessionRegistry {
    map: Arc<RwLock<HashMap<Suid, SessionHandle>>>,
    deps: ActorDeps,
}

impl std::fmt::Debug for SessionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRegistry")
            .field("len", &self.len())
            .finish()
    }
}

impl SessionRegistry {
    pub fn new(deps: ActorDeps) -> Self {
        SessionRegistry {
            map: Arc::new(RwLock::new(HashMap::new())),
            deps,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Suid, SessionHandle>> {
        // Only single map operations run under the lock, so poisoning leaves it consistent.
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Suid, SessionHandle>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live session with this id, if this node runs it.
    pub fn get(&self, suid: Suid) -> Option<SessionHandle> {
        self.read().get(&suid).cloned()
    }

    /// Number of open sessions on this node.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Handles of every open session (for stats and shutdown).
    pub fn all(&self) -> Vec<SessionHandle> {
        self.read().values().cloned().collect()
    }

    pub(super) fn remove(&self, suid: Suid) {
        self.write().remove(&suid);
    }

    /// Starts the actor of an open session (new, or restored from the store) and returns its
    /// handle. Totals stored with the session carry on.
    pub fn start(&self, session: Session) -> SessionHandle {
        let now = chrono::Utc::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = LiveStats::new(
            session.stats.frames,
            session.stats.bytes,
            session.stats.last_frame_at.map(|t| t.timestamp_millis()),
        );
        let handle = SessionHandle::new(&session, tx, stats, self.deps.max_viewers);
        let ledger = ViewerLedger::new(
            now,
            session.stats.peak_viewers,
            session.stats.viewer_seconds,
        );
        self.write().insert(session.suid, handle.clone());
        let actor = SessionActor::new(session, ledger, handle.clone(), self.clone(), rx);
        self.deps.tracker.spawn(actor.run());
        handle
    }

    pub(super) fn deps(&self) -> &ActorDeps {
        &self.deps
    }

    /// Restores every open session from the store, as after a restart. Deadlines come from the
    /// stored facts, so a session whose deadline passed while the node was down ends at once
    /// with the reason that applied. The no-viewers clock starts at restore, giving viewers
    /// the full timeout to reconnect.
    pub async fn restore(&self) -> Result<usize, switchboard_store::StoreError> {
        let sessions = self.deps.store.open_sessions().await?;
        let n = sessions.len();
        for s in sessions {
            if self.get(s.suid).is_none() {
                tracing::info!(suid = %s.suid, state = %s.state, "restoring session");
                self.start(s);
            }
        }
        Ok(n)
    }
}
