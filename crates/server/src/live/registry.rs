//! The node's live sessions by SUID, and what their actors need.

use super::actor::SessionActor;
use super::deps::ActorDeps;
use super::roster::Roster;
use super::{LiveStats, SessionHandle};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use switchboard_core::{Session, Suid, ViewerLedger};
use tokio::sync::mpsc;

/// The newest status of sessions other nodes own, as their owners publish it.
type StatusBoard = HashMap<Suid, (super::cluster::StatusMessage, std::time::Instant)>;

/// How long a published status counts as current (owners repeat it every second).
const STATUS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The open sessions this node runs. Lookups take a read lock for a map access only; the
/// lock is never held across an await.
#[derive(Clone)]
pub struct SessionRegistry {
    roster: Arc<Roster>,
    board: Arc<RwLock<StatusBoard>>,
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
            roster: Arc::new(Roster::new(deps)),
            board: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Suid, SessionHandle>> {
        self.roster.read()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Suid, SessionHandle>> {
        self.roster.write()
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

    /// Handles of every open session this node owns (for stats and shutdown).
    pub fn all(&self) -> Vec<SessionHandle> {
        self.read()
            .values()
            .filter(|h| !h.is_follower())
            .cloned()
            .collect()
    }

    /// The handle of an open session: this node's own, or a follower of the node that owns
    /// it (created on first use).
    pub fn follow(&self, session: &Session) -> SessionHandle {
        if let Some(h) = self.get(session.suid) {
            return h;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = LiveStats::new(&switchboard_core::SessionStats::default());
        let handle = SessionHandle::new_follower(session, tx, stats, self.deps().max_viewers);
        {
            let mut map = self.write();
            if let Some(h) = map.get(&session.suid) {
                return h.clone();
            }
            map.insert(session.suid, handle.clone());
        }
        tracing::debug!(suid = %session.suid, "following a session another node owns");
        self.deps().tracker.spawn(super::cluster::run_follower(
            handle.clone(),
            session.clone(),
            self.roster.clone(),
            rx,
        ));
        handle
    }

    /// Starts the actor of an open session (new, or restored from the store) and returns its
    /// handle. Totals stored with the session carry on.
    pub fn start(&self, session: Session) -> SessionHandle {
        let now = chrono::Utc::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = LiveStats::new(&session.stats);
        let handle = SessionHandle::new(&session, tx, stats, self.deps().max_viewers);
        let ledger = ViewerLedger::new(
            now,
            session.stats.peak_viewers,
            session.stats.viewer_seconds,
        );
        self.write().insert(session.suid, handle.clone());
        let actor = SessionActor::new(session, ledger, handle.clone(), self.roster.clone(), rx);
        self.deps().tracker.spawn(actor.run());
        handle
    }

    fn deps(&self) -> &ActorDeps {
        self.roster.deps()
    }

    /// Renews this node's leases and takes over open sessions whose owner stopped renewing
    /// (or that have none), starting their actors from the stored facts: deadlines included,
    /// so a session whose deadline passed meanwhile ends at once with the reason that
    /// applied; the no-viewers clock starts now, giving viewers the full timeout to
    /// reconnect. Actors of sessions another node took stop. Returns how many sessions were
    /// started.
    pub async fn claim(&self) -> Result<usize, switchboard_store::StoreError> {
        let (now, until) = self.lease_from_now();
        let owned = self
            .deps()
            .store
            .claim_sessions(&self.deps().node, now, until)
            .await?;
        for h in self.all() {
            if owned.contains(&h.suid()) || !h.is_open() {
                continue;
            }
            // Created (and claimed) here after the claim above read the table, or ended.
            match self.deps().store.session_owner(h.suid()).await {
                Ok(Some((node, _))) if node == self.deps().node => {}
                Ok(None) => {}
                Ok(Some((node, _))) => {
                    tracing::warn!(suid = %h.suid(), owner = %node, "lost the session's lease");
                    h.stop();
                }
                Err(e) => tracing::warn!(suid = %h.suid(), error = %e, "cannot check a lease"),
            }
        }
        let to_start: std::collections::HashSet<Suid> = owned
            .into_iter()
            .filter(|&suid| self.get(suid).is_none_or(|h| h.is_follower()))
            .collect();
        if to_start.is_empty() {
            return Ok(0);
        }
        // One query for all of them: at a start with 10,000 open sessions, a read per
        // session took seconds.
        let mut started = 0;
        for s in self.deps().store.open_sessions().await? {
            if to_start.contains(&s.suid) {
                tracing::debug!(suid = %s.suid, state = %s.state, "taking the session");
                self.start(s);
                started += 1;
            }
        }
        if started > 0 {
            tracing::info!(sessions = started, "took open sessions");
        }
        Ok(started)
    }

    /// Now, and when a lease taken now runs out.
    fn lease_from_now(&self) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        let now = chrono::Utc::now();
        // `lease_ttl` is validated to be above zero and is seconds long: it always converts.
        let ttl = chrono::Duration::from_std(self.deps().lease_ttl)
            .unwrap_or_else(|_| chrono::Duration::seconds(10));
        (now, now + ttl)
    }

    /// Claims sessions every third of the lease until the node stops, in a cluster. A lone
    /// node (no NATS) has nobody to hand its sessions to or take them from: its claim at
    /// start is enough, and renewing would rewrite every open session's row every third of
    /// a lease (10,000 rows every 1.3 s, for nothing).
    pub async fn run_leases(self) {
        if !self.deps().clustered {
            return;
        }
        let every = self.deps().lease_ttl / 3;
        loop {
            tokio::select! {
                () = self.deps().shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.claim().await {
                tracing::warn!(error = %e, "renewing session leases failed");
            }
        }
    }

    /// The owner's newest status of a session this node neither owns nor follows (in a
    /// cluster), so every node shows the same figures.
    pub fn remote_status(&self, suid: Suid) -> Option<super::cluster::StatusMessage> {
        let board = self
            .board
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        board
            .get(&suid)
            .filter(|(_, at)| at.elapsed() < STATUS_FRESH)
            .map(|(msg, _)| msg.clone())
    }

    /// Every `stats_interval`, until the node stops: asks the store which sessions are open
    /// (one query) and has each session of this node that is no longer among them read its
    /// stored end (the admin CLI's `end`, or another node's), rather than each session
    /// reading its own row every interval.
    pub async fn run_end_watch(self) {
        let deps = self.deps().clone();
        let mut sweep = tokio::time::interval(deps.stats_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await;
        loop {
            tokio::select! {
                () = deps.shutdown.cancelled() => return,
                _ = sweep.tick() => {}
            }
            let owned: Vec<SessionHandle> = self
                .roster
                .read()
                .values()
                .filter(|h| !h.is_follower())
                .cloned()
                .collect();
            if owned.is_empty() {
                continue;
            }
            let open: std::collections::HashSet<Suid> = match deps.store.open_session_ids().await {
                Ok(ids) => ids.into_iter().collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot list open sessions; checking again later");
                    continue;
                }
            };
            for handle in owned.iter().filter(|h| !open.contains(&h.suid())) {
                handle.check_stored();
            }
        }
    }

    /// Follows every session's status on the bus (in a cluster), until the node stops.
    pub async fn run_status_board(self) {
        use futures::StreamExt;
        if !self.deps().clustered {
            return;
        }
        let mut resubscribe = self.deps().resubscribe.clone();
        let mut sub = match self
            .deps()
            .bus
            .subscribe(switchboard_bus::subjects::ALL_STATUS)
            .await
        {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow session status; views show stored figures");
                return;
            }
        };
        let mut sweep = tokio::time::interval(STATUS_FRESH);
        loop {
            tokio::select! {
                () = self.deps().shutdown.cancelled() => return,
                () = resubscribe.requested() => {
                    match self.deps().bus.subscribe(switchboard_bus::subjects::ALL_STATUS).await {
                        Ok(new) => sub = new,
                        Err(e) => tracing::warn!(error = %e, "cannot follow session status again"),
                    }
                }
                next = sub.next() => match next {
                    Some(switchboard_bus::Delivery::Message(payload)) => {
                        let Ok(msg) = serde_json::from_slice::<super::cluster::StatusMessage>(&payload) else {
                            continue;
                        };
                        let mut board = self.board.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if msg.state == switchboard_core::SessionState::Ended {
                            board.remove(&msg.suid);
                        } else {
                            board.insert(msg.suid, (msg, std::time::Instant::now()));
                        }
                    }
                    Some(switchboard_bus::Delivery::Lagged(_)) => {}
                    None => return,
                },
                _ = sweep.tick() => {
                    let mut board = self.board.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                    board.retain(|_, (_, at)| at.elapsed() < STATUS_FRESH);
                }
            }
        }
    }

    /// Gives up this node's leases (after its actors saved their state on shutdown).
    pub async fn release(&self) {
        match self.deps().store.release_sessions(&self.deps().node).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "handed session leases over"),
            Err(e) => tracing::warn!(error = %e, "cannot hand session leases over"),
        }
    }

    /// Takes a session this node just created.
    pub async fn own(
        &self,
        session: Session,
    ) -> Result<SessionHandle, switchboard_store::StoreError> {
        let (now, until) = self.lease_from_now();
        let mine = self
            .deps()
            .store
            .claim_session(session.suid, &self.deps().node, now, until)
            .await?;
        // Another node's claim loop may have been quicker; then it runs the session.
        Ok(if mine {
            self.start(session)
        } else {
            self.follow(&session)
        })
    }
}
