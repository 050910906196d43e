//! The session actor: owns one open session's state and timers.
//!
//! It wakes for a command (viewer joined or left, device registered, end) or when the
//! earliest deadline of the timeout policy passes, and then asks the policy again with fresh
//! facts: a device that kept sending frames has moved its idle deadline, so waking early is
//! harmless. On shutdown it saves its totals and stops without ending the session, which the
//! next start restores.

use super::clock::now;
use super::cluster::{self, Presence, Remote, RemoteCommand, StatusMessage};
use super::command::Command;
use super::roster::Roster;
use super::{LiveStatus, SessionHandle};
use crate::protocol::{AccountEvent, WatchEvent};
use bytes::Bytes;
use chrono::Utc;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::subjects;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_core::{
    EndReason, Session, SessionClock, SessionState, SessionStats, Timestamp, ViewerLedger,
};
use switchboard_store::StoreError;
use tokio::sync::mpsc;

pub(super) struct SessionActor {
    session: Session,
    ledger: ViewerLedger,
    handle: SessionHandle,
    roster: Arc<Roster>,
    commands: mpsc::UnboundedReceiver<Command>,
    saved: SessionStats,
    /// Connections per viewer name on this node (one person may watch in two tabs).
    names: BTreeMap<String, u32>,
    /// Viewers on other nodes, by node, with when each last reported.
    remote: HashMap<String, (Presence, tokio::time::Instant)>,
}

/// What the periodic store work found.
enum Persisted {
    /// Someone else ended the session.
    EndedElsewhere(Box<Session>),
    /// These totals are stored.
    Saved(SessionStats),
    /// Nothing new to store, or the store failed (logged).
    Nothing,
}

/// The next message from the owner links, if there are any (never ready on a lone node).
async fn next_remote(
    remote: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Remote>>,
) -> Option<Remote> {
    match remote {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The result of a store task in flight (`None` if it panicked); never ready when there is
/// none.
async fn finished<T>(task: &mut Option<tokio::task::JoinHandle<T>>) -> Option<T> {
    match task {
        Some(task) => task.await.ok(),
        None => std::future::pending().await,
    }
}

impl SessionActor {
    pub(super) fn new(
        session: Session,
        mut ledger: ViewerLedger,
        handle: SessionHandle,
        roster: Arc<Roster>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        if session.state == SessionState::Live {
            ledger.reset_idle_clock(now());
        }
        let saved = session.stats.clone();
        SessionActor {
            session,
            ledger,
            handle,
            roster,
            commands,
            saved,
            names: BTreeMap::new(),
            remote: HashMap::new(),
        }
    }

    fn clock(&self) -> SessionClock {
        let last_frame = self
            .handle
            .stats()
            .last_frame_ms()
            .and_then(chrono::DateTime::from_timestamp_millis);
        SessionClock {
            state: self.session.state,
            created_at: self.session.created_at,
            ticket_expires_at: self.session.ticket_expires_at,
            live_at: self.session.live_at,
            last_frame_at: last_frame.or(self.session.stats.last_frame_at),
            viewers_zero_since: self.ledger.zero_since(),
        }
    }

    /// Whether the totals can differ from the stored ones. Not while the session waits and
    /// nobody has watched it: nothing was counted, so such sessions (10,000 of them woke
    /// 2,000 times a second for nothing) sleep until something happens.
    fn may_have_unsaved(&self) -> bool {
        self.session.state != SessionState::Waiting || self.ledger.peak() > 0
    }

    fn current_stats(&self, at: Timestamp) -> SessionStats {
        let s = self.handle.stats();
        SessionStats {
            frames: s.frames(),
            bytes: s.bytes(),
            peak_viewers: self.ledger.peak(),
            viewer_seconds: self.ledger.viewer_seconds(at),
            last_frame_at: s
                .last_frame_ms()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .or(self.session.stats.last_frame_at),
            jpeg_bytes_out: s.jpeg_bytes_out(),
            webrtc: s.webrtc(),
        }
    }

    pub(super) async fn run(mut self) {
        let deps = self.roster.deps().clone();
        let mut persist = tokio::time::interval(deps.stats_interval);
        persist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        persist.tick().await;
        let mut cluster_tick = tokio::time::interval(cluster::PRESENCE_EVERY);
        cluster_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let links = deps.shutdown.child_token();
        // Only other nodes send ingest, presence and commands, and read the status: a lone
        // node spares each open session three bus channels, a task, a channel (whose first
        // block is allocated with it) and a tick every second.
        let mut remote_rx = None;
        if deps.clustered {
            let (remote_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            remote_rx = Some(rx);
            deps.tracker.spawn(cluster::run_owner_links(
                self.handle.clone(),
                deps.bus.clone(),
                remote_tx,
                links.clone(),
                deps.resubscribe.clone(),
            ));
        }
        let _stop_links = links.drop_guard();
        // Announces the new (or restored) session to dashboards.
        self.publish_state().await;
        let mut persisting: Option<tokio::task::JoinHandle<Persisted>> = None;
        let mut checking: Option<tokio::task::JoinHandle<Option<Box<Session>>>> = None;
        loop {
            let deadline = deps.policy.next_deadline(&self.clock());
            let sleep_for = deadline
                .map(|d| (d.at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Command::End { reason, reply }) => {
                        let ended = self.finish(reason).await;
                        let _ = reply.send(ended);
                        return;
                    }
                    Some(Command::CheckStored) => {
                        // A check already under way reads the store too; the registry asks
                        // again at its next sweep while the store still disagrees.
                        if persisting.is_none() {
                            persisting = self.start_persist(true);
                        }
                    }
                    Some(Command::Stop) => {
                        tracing::info!(suid = %self.session.suid, "another node owns the session now");
                        self.save_stats().await;
                        self.roster.remove_if_same(self.session.suid, &self.handle);
                        self.handle.detach();
                        return;
                    }
                    Some(cmd) => self.apply(cmd).await,
                    // Every handle is gone: only happens when the registry dropped us.
                    None => return,
                },
                Some(remote) = next_remote(&mut remote_rx) => match remote {
                    Remote::Presence(p) => self.remote_presence(p).await,
                    Remote::Command(RemoteCommand::DeviceRegistered { device_id, info, at }) => {
                        self.apply(Command::DeviceRegistered { device_id, info: Box::new(info), at }).await;
                    }
                    Remote::Command(RemoteCommand::End { reason }) => {
                        self.finish(reason).await;
                        return;
                    }
                },
                () = tokio::time::sleep(sleep_for) => {
                    if let Some(reason) = deps.policy.expired(&self.clock(), now()) {
                        self.finish(reason).await;
                        return;
                    }
                }
                _ = cluster_tick.tick(), if deps.clustered => {
                    if deps.clustered
                        && self.session.state == SessionState::Waiting
                        && checking.is_none()
                    {
                        checking = Some(self.start_live_check());
                    }
                    self.expire_presence().await;
                    self.publish_status().await;
                }
                // The store is read and written off this loop: while the database is slow or
                // gone, viewers, presence and deadlines must not wait for it.
                _ = persist.tick(), if persisting.is_none() && self.may_have_unsaved() => {
                    persisting = self.start_persist(false);
                }
                done = finished(&mut persisting), if persisting.is_some() => {
                    persisting = None;
                    match done {
                        Some(Persisted::EndedElsewhere(stored)) => {
                            self.adopt_end(*stored).await;
                            return;
                        }
                        Some(Persisted::Saved(stats)) => self.saved = stats,
                        Some(Persisted::Nothing) | None => {}
                    }
                }
                found = finished(&mut checking), if checking.is_some() => {
                    checking = None;
                    if let Some(Some(stored)) = found {
                        self.adopt_registration(*stored).await;
                    }
                }
                () = deps.shutdown.cancelled() => {
                    self.save_stats().await;
                    return;
                }
            }
        }
    }

    /// A node's report of its viewers: the ledger follows the change in the total.
    async fn remote_presence(&mut self, p: Presence) {
        let before = self.remote.get(&p.node).map_or(0, |(old, _)| old.viewers());
        let after = p.viewers();
        if p.names.is_empty() {
            self.remote.remove(&p.node);
        } else {
            self.remote
                .insert(p.node.clone(), (p, tokio::time::Instant::now()));
        }
        if before != after {
            self.count_remote(before, after);
            self.publish_viewers().await;
        }
    }

    /// Forgets nodes that stopped reporting (they died or lost the bus).
    async fn expire_presence(&mut self) {
        let stale: Vec<String> = self
            .remote
            .iter()
            .filter(|(_, (_, seen))| seen.elapsed() > cluster::PRESENCE_TTL)
            .map(|(node, _)| node.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        for node in stale {
            if let Some((p, _)) = self.remote.remove(&node) {
                tracing::info!(suid = %self.session.suid, %node, viewers = p.viewers(), "a node's viewers stopped reporting");
                self.count_remote(p.viewers(), 0);
            }
        }
        self.publish_viewers().await;
    }

    fn count_remote(&mut self, before: u32, after: u32) {
        let at = now();
        for _ in after..before {
            self.ledger.leave(at);
        }
        for _ in before..after {
            self.ledger.join(at);
        }
        let total: u32 = self.remote.values().map(|(p, _)| p.viewers()).sum();
        self.handle.set_remote_viewers(total);
    }

    /// Everyone's viewer names: this node's and those other nodes report.
    fn all_names(&self) -> Vec<String> {
        let mut names: std::collections::BTreeSet<String> = self.names.keys().cloned().collect();
        for (p, _) in self.remote.values() {
            names.extend(p.names.keys().cloned());
        }
        names.into_iter().collect()
    }

    /// Tells following nodes how the session stands.
    async fn publish_status(&self) {
        let stats = self.handle.stats();
        let msg = StatusMessage {
            suid: self.session.suid,
            node: self.roster.deps().node.clone(),
            state: self.session.state,
            end_reason: self.session.end_reason,
            viewers: self.ledger.current(),
            viewer_names: self.all_names(),
            viewers_zero_since: self.ledger.zero_since(),
            frames: stats.frames(),
            bytes: stats.bytes(),
            fps: stats.fps(),
            last_frame_ms: stats.last_frame_ms(),
        };
        let Ok(payload) = serde_json::to_vec(&msg) else {
            return;
        };
        let bus = &self.roster.deps().bus;
        if let Err(e) = bus
            .publish(&subjects::status(self.session.suid), Bytes::from(payload))
            .await
        {
            tracing::debug!(suid = %self.session.suid, error = %e, "publishing the status failed");
        }
    }

    async fn apply(&mut self, cmd: Command) {
        let at = now();
        match cmd {
            Command::ViewerJoined { name } => {
                self.ledger.join(at);
                *self.names.entry(name).or_default() += 1;
                self.publish_viewers().await;
            }
            Command::ViewerLeft { name } => {
                self.ledger.leave(at);
                if let Some(n) = self.names.get_mut(&name) {
                    *n -= 1;
                    if *n == 0 {
                        self.names.remove(&name);
                    }
                }
                self.publish_viewers().await;
            }
            Command::DeviceRegistered {
                device_id,
                info,
                at,
            } => {
                // Adopted from the store already; the forwarded message came late.
                if self.session.device_id == Some(device_id) {
                    return;
                }
                if let Err(e) = self.session.go_live(device_id, *info, at) {
                    tracing::warn!(suid = %self.session.suid, error = %e, "device registration out of order");
                    return;
                }
                self.ledger.reset_idle_clock(at);
                tracing::info!(suid = %self.session.suid, %device_id, "session live");
                self.publish_state().await;
            }
            Command::End { .. } | Command::Stop | Command::CheckStored => {}
        }
    }

    /// Reads the stored session, as a task: it is live when the device registered through
    /// another node and this actor missed the message (sent before its links had subscribed,
    /// or during a bus outage). The store is the record; the bus only hurries.
    fn start_live_check(&self) -> tokio::task::JoinHandle<Option<Box<Session>>> {
        let deps = self.roster.deps();
        let store = deps.store.clone();
        let suid = self.session.suid;
        deps.tracker.spawn(async move {
            match store.session(suid).await {
                Ok(s) if s.state == SessionState::Live => Some(Box::new(s)),
                _ => None,
            }
        })
    }

    /// Adopts a registration the store has but this actor missed.
    async fn adopt_registration(&mut self, stored: Session) {
        if self.session.state != SessionState::Waiting {
            return;
        }
        if let (Some(device_id), Some(at)) = (stored.device_id, stored.live_at) {
            tracing::info!(suid = %stored.suid, "the device registered through another node");
            let info = Box::new(stored.device.clone().unwrap_or_default());
            self.apply(Command::DeviceRegistered {
                device_id,
                info,
                at,
            })
            .await;
        }
    }

    /// The periodic store work, as a task: whether someone else ended the session
    /// (`switchboard admin end` on the database, or another node), else save the totals.
    /// Saves the session's totals when they changed, reading the stored session first when
    /// `check_stored` (the registry found it no longer open there). Nothing to do is no task:
    /// a waiting session costs nothing per tick.
    fn start_persist(&self, check_stored: bool) -> Option<tokio::task::JoinHandle<Persisted>> {
        let deps = self.roster.deps();
        let store = deps.store.clone();
        let suid = self.session.suid;
        let stats = self.current_stats(now());
        let saved = self.saved.clone();
        if !check_stored && stats == saved {
            return None;
        }
        let saver = deps.stats_saver.clone();
        Some(deps.tracker.spawn(async move {
            if check_stored
                && let Ok(stored) = store.session(suid).await
                && stored.state == SessionState::Ended
            {
                return Persisted::EndedElsewhere(Box::new(stored));
            }
            if stats == saved {
                return Persisted::Nothing;
            }
            // Stored only while the session is open, so a save that lands after the end
            // cannot change the final totals; with other sessions' saves, in one commit.
            if saver.save(suid, stats.clone()).await {
                Persisted::Saved(stats)
            } else {
                Persisted::Nothing
            }
        }))
    }

    /// Adopts an end written by someone else, and stops.
    async fn adopt_end(&mut self, stored: Session) {
        tracing::info!(suid = %stored.suid, reason = ?stored.end_reason, "session was ended elsewhere");
        self.session = stored;
        self.roster.remove_if_same(self.session.suid, &self.handle);
        self.publish_state().await;
    }

    async fn save_stats(&mut self) {
        let stats = self.current_stats(now());
        if stats == self.saved {
            return;
        }
        let deps = self.roster.deps();
        match deps.store.update_stats(self.session.suid, &stats).await {
            Ok(()) => self.saved = stats,
            Err(e) => {
                tracing::warn!(suid = %self.session.suid, error = %e, "saving session totals failed")
            }
        }
    }

    /// Ends the session: records it and its CDR, tells everyone, leaves the registry.
    async fn finish(&mut self, reason: EndReason) -> Session {
        let at = now();
        self.session.stats = self.current_stats(at);
        if self.session.end(reason, at).is_err() {
            return self.session.clone();
        }
        let deps = self.roster.deps().clone();
        // The end must be recorded: retry while the database is unreachable, unless the node
        // is stopping (then the session stays open in the store and is restored later).
        let mut backoff = Duration::from_millis(100);
        loop {
            match deps.store.end_session(&self.session).await {
                Ok(cdr) => {
                    // A user's end is recorded by whoever asked; the node's own ends here.
                    if reason != EndReason::EndedByUser {
                        deps.audit.note(
                            AuditEvent::new(Actor::system(), Action::SessionEnded)
                                .account(self.session.account_id)
                                .target("session", self.session.suid)
                                .detail(serde_json::json!({
                                    "reason": reason.as_str(),
                                    "viewer_seconds": cdr.viewer_seconds,
                                })),
                        );
                    }
                    if let Err(e) = deps.cdr_log.append(&cdr).await {
                        tracing::error!(suid = %cdr.suid, error = %e, "writing the CDR file failed; the database keeps the record");
                    }
                    break;
                }
                Err(StoreError::Conflict(_)) => {
                    tracing::info!(suid = %self.session.suid, "session was already ended elsewhere");
                    break;
                }
                Err(e) if deps.shutdown.is_cancelled() => {
                    tracing::error!(suid = %self.session.suid, error = %e, "could not record the end before shutdown");
                    break;
                }
                Err(e) => {
                    tracing::warn!(suid = %self.session.suid, error = %e, "recording the end failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::info!(suid = %self.session.suid, reason = %reason, frames = self.session.stats.frames, "session ended");
        crate::metrics::session_ended(reason, self.session.live_at.is_none());
        self.roster.remove_if_same(self.session.suid, &self.handle);
        self.publish_state().await;
        self.session.clone()
    }

    fn status(&self) -> LiveStatus {
        LiveStatus {
            state: self.session.state,
            end_reason: self.session.end_reason,
            viewers: self.ledger.current(),
            viewer_names: self.all_names(),
            viewers_zero_since: self.ledger.zero_since(),
        }
    }

    async fn publish_viewers(&self) {
        self.handle.set_status(self.status());
        self.publish_status().await;
        self.publish(WatchEvent::Viewers {
            count: self.ledger.current(),
            names: self.all_names(),
        })
        .await;
    }

    async fn publish_state(&self) {
        self.handle.set_status(self.status());
        self.publish_status().await;
        self.publish(WatchEvent::State {
            state: self.session.state,
            reason: self.session.end_reason,
        })
        .await;
    }

    /// Publishes a session event and the matching account event for dashboards.
    async fn publish(&self, event: WatchEvent) {
        let bus = &self.roster.deps().bus;
        let suid = self.session.suid;
        let account_event = AccountEvent::Session {
            suid,
            state: self.session.state,
            viewers: self.ledger.current(),
        };
        for (subject, payload) in [
            (subjects::events(suid), serde_json::to_vec(&event)),
            (
                subjects::account_events(self.session.account_id),
                serde_json::to_vec(&account_event),
            ),
        ] {
            let Ok(payload) = payload else { continue };
            if let Err(e) = bus.publish(&subject, Bytes::from(payload)).await {
                tracing::warn!(%suid, error = %e, "publishing a session event failed");
            }
        }
    }
}
