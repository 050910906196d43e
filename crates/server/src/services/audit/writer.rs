//! The node's one chain writer: a task that numbers, links and stores records in batches,
//! signs checkpoints, and cuts what retention no longer keeps. One writer per node keeps the
//! chain a line: records are linked in the order they reach it.

use super::node_key::NodeKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard_core::Timestamp;
use switchboard_core::audit::{
    Action, Actor, AuditEvent, AuditRecord, Checkpoint, CheckpointKind, Link,
};
use switchboard_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// A record to write, stamped when it was asked for.
pub(super) struct Entry {
    pub at: Timestamp,
    pub event: AuditEvent,
    /// Told whether the record is stored, for actions answered only once it is.
    pub ack: Option<oneshot::Sender<bool>>,
}

pub(super) enum Message {
    Entry(Entry),
    /// Write everything queued, sign a last checkpoint, and stop.
    Close(oneshot::Sender<()>),
}

/// How often a writer that could not write tries again.
const RETRY: Duration = Duration::from_secs(1);
/// How often retention runs at most.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(super) struct Writer {
    pub store: Arc<dyn Store>,
    pub node: String,
    pub key: Arc<NodeKey>,
    pub head: Link,
    /// The newest record a checkpoint covers.
    pub signed: u64,
    pub batch: usize,
    pub checkpoint_every: Duration,
    pub retention: Duration,
    pub healthy: Arc<AtomicBool>,
    pub rx: mpsc::Receiver<Message>,
    /// Records not yet stored, oldest first.
    pub pending: Vec<Entry>,
}

impl Writer {
    pub async fn run(mut self) {
        let mut checkpoints = tokio::time::interval(self.checkpoint_every);
        checkpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let prune_every = (self.retention / 4).clamp(Duration::from_secs(1), PRUNE_EVERY);
        let mut prunes = tokio::time::interval(prune_every);
        prunes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retries = tokio::time::interval(RETRY);
        loop {
            tokio::select! {
                biased;
                message = self.rx.recv() => {
                    let mut closing = None;
                    match message {
                        None => break,
                        Some(Message::Close(done)) => closing = Some(done),
                        Some(Message::Entry(entry)) => self.pending.push(entry),
                    }
                    // Take what else is queued now, up to a batch, into the same transaction.
                    while closing.is_none() && self.pending.len() < self.batch {
                        match self.rx.try_recv() {
                            Ok(Message::Entry(entry)) => self.pending.push(entry),
                            Ok(Message::Close(done)) => closing = Some(done),
                            Err(_) => break,
                        }
                    }
                    self.flush().await;
                    if let Some(done) = closing {
                        self.close().await;
                        let _ = done.send(());
                        return;
                    }
                }
                _ = checkpoints.tick() => self.checkpoint().await,
                _ = prunes.tick() => self.prune().await,
                _ = retries.tick(), if !self.healthy.load(Ordering::Relaxed) || !self.pending.is_empty() => {
                    if self.pending.is_empty() {
                        self.probe().await;
                    } else {
                        self.flush().await;
                    }
                }
            }
        }
        self.flush().await;
        self.checkpoint().await;
    }

    /// Writes what is left in the queue, then a last checkpoint.
    async fn close(&mut self) {
        while let Ok(message) = self.rx.try_recv() {
            if let Message::Entry(entry) = message {
                self.pending.push(entry);
            }
        }
        self.flush().await;
        self.checkpoint().await;
    }

    /// Stores the pending records in batches. A record whose action was already refused
    /// (its waiter gave up) is dropped: what it would record did not happen.
    async fn flush(&mut self) {
        let mut conflicts = 0;
        while !self.pending.is_empty() {
            self.pending
                .retain(|e| e.ack.as_ref().is_none_or(|ack| !ack.is_closed()));
            let take = self.pending.len().min(self.batch);
            if take == 0 {
                return;
            }
            let mut link = self.head;
            let records: Vec<AuditRecord> = self.pending[..take]
                .iter()
                .map(|e| {
                    let record = AuditRecord::next(&self.node, &link, e.at, e.event.clone());
                    link = record.link();
                    record
                })
                .collect();
            match self.store.append_audit(&records).await {
                Ok(()) => {
                    self.head = link;
                    metrics::counter!("switchboard_audit_records_total").increment(take as u64);
                    for entry in self.pending.drain(..take) {
                        if let Some(ack) = entry.ack {
                            let _ = ack.send(true);
                        }
                    }
                    if !self.healthy.swap(true, Ordering::Relaxed) {
                        tracing::info!(node = %self.node, "audit trail writable again");
                    }
                }
                Err(StoreError::Conflict(why)) if conflicts < 3 => {
                    // Another process appended to this node's chain (two processes with one
                    // node name): continue from its end rather than fork the chain.
                    conflicts += 1;
                    tracing::error!(node = %self.node, %why, "audit chain was extended elsewhere; two processes share this node name");
                    if let Ok(Some(head)) = self.store.audit_head(&self.node).await {
                        self.head = head;
                    }
                }
                Err(e) => {
                    metrics::counter!("switchboard_audit_write_failures_total").increment(1);
                    if self.healthy.swap(false, Ordering::Relaxed) {
                        tracing::error!(node = %self.node, error = %e, queued = self.pending.len(), "cannot write audit records; audited actions are refused until it can");
                    }
                    // Actions waiting on their record are refused now; the rest stay queued.
                    self.pending.retain_mut(|entry| match entry.ack.take() {
                        Some(ack) => {
                            let _ = ack.send(false);
                            false
                        }
                        None => true,
                    });
                    return;
                }
            }
        }
    }

    /// Whether the database takes writes again, when nothing is queued to try with.
    async fn probe(&mut self) {
        if self.store.audit_head(&self.node).await.is_ok() {
            self.healthy.store(true, Ordering::Relaxed);
            tracing::info!(node = %self.node, "audit trail writable again");
        }
    }

    fn signed(
        &self,
        seq: u64,
        hash: switchboard_core::audit::Hash,
        kind: CheckpointKind,
    ) -> Checkpoint {
        let at = chrono::Utc::now();
        let message = Checkpoint::message(&self.node, seq, &hash, at, kind);
        Checkpoint {
            node: self.node.clone(),
            seq,
            hash,
            at,
            kind,
            public_key: self.key.public_key().to_vec(),
            signature: self.key.sign(&message),
        }
    }

    /// Signs the end of the chain if it grew since the last checkpoint.
    async fn checkpoint(&mut self) {
        if self.head.seq <= self.signed {
            return;
        }
        let checkpoint = self.signed(self.head.seq, self.head.hash, CheckpointKind::Regular);
        match self.store.add_audit_checkpoint(&checkpoint).await {
            Ok(()) => self.signed = checkpoint.seq,
            Err(e) => {
                tracing::warn!(node = %self.node, error = %e, "cannot store an audit checkpoint; will try again")
            }
        }
    }

    /// Deletes the records older than the retention, leaving a signed prune checkpoint where
    /// the chain now starts, and records that it did.
    async fn prune(&mut self) {
        let Some(before) = chrono::Duration::from_std(self.retention)
            .ok()
            .and_then(|keep| chrono::Utc::now().checked_sub_signed(keep))
        else {
            return;
        };
        let point = match self.store.audit_prune_point(&self.node, before).await {
            Ok(Some(point)) => point,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(node = %self.node, error = %e, "cannot read where audit retention cuts");
                return;
            }
        };
        let checkpoint = self.signed(point.seq, point.hash, CheckpointKind::Prune);
        match self.store.prune_audit(&checkpoint).await {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(node = %self.node, deleted, through = point.seq, "audit records past their retention deleted");
                self.pending.push(Entry {
                    at: chrono::Utc::now(),
                    event: AuditEvent::new(Actor::system(), Action::AuditPruned)
                        .target("audit", &self.node)
                        .detail(serde_json::json!({
                            "through_seq": point.seq,
                            "deleted": deleted,
                            "before": before,
                        })),
                    ack: None,
                });
                self.flush().await;
            }
            Err(e) => tracing::warn!(node = %self.node, error = %e, "cannot prune audit records"),
        }
    }
}
