//! [`AuditLog`]: where services hand their events (see the module's doc for the three ways).

use super::context::RequestContext;
use super::error::AuditError;
use super::node_key::{NodeKey, NodeKeyError};
use super::writer::{Entry, Message, Writer};
use crate::config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard_core::audit::{AuditEvent, Link};
use switchboard_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// How long an action waits for its record to be stored before it is refused.
const DURABLE_WAIT: Duration = Duration::from_secs(10);

/// Why the trail could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditStartError {
    #[error(transparent)]
    Key(#[from] NodeKeyError),
    #[error("cannot read this node's audit chain: {0}")]
    Store(#[from] StoreError),
}

/// The node's audit log: where services hand their events.
#[derive(Clone)]
pub struct AuditLog {
    /// `None` when the trail is off (`audit_trail = false`): nothing is recorded or refused.
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<Message>,
    healthy: Arc<AtomicBool>,
    fail_closed: bool,
    node: String,
    key_fingerprint: String,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_struct("AuditLog")
                .field("node", &inner.node)
                .field("key", &inner.key_fingerprint)
                .finish_non_exhaustive(),
            None => f.write_str("AuditLog(off)"),
        }
    }
}

impl AuditLog {
    /// Loads (or makes) the node's key, registers its public key, finds the end of the
    /// node's chain and starts the writer.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
    ) -> Result<AuditLog, AuditStartError> {
        let settings = &config.audit;
        if !settings.audit_trail {
            tracing::warn!("the audit trail is off (audit_trail = false): nothing is recorded");
            return Ok(AuditLog { inner: None });
        }
        let key = Arc::new(NodeKey::load(
            settings.audit_key_file.as_deref(),
            &config.operations.data_dir,
        )?);
        let node = config.node_name();
        store
            .register_audit_key(&node, key.public_key(), chrono::Utc::now())
            .await?;
        let head = store.audit_head(&node).await?.unwrap_or(Link::GENESIS);
        tracing::info!(%node, key = %key.fingerprint(), records = head.seq, "audit trail open");
        let (tx, rx) = mpsc::channel(settings.audit_queue.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            store,
            node: node.clone(),
            key: key.clone(),
            head,
            // Not read back: at worst the first tick signs the end of the chain again.
            signed: 0,
            batch: settings.audit_batch.max(1),
            checkpoint_every: settings
                .audit_checkpoint_interval
                .max(Duration::from_millis(10)),
            retention: settings.audit_retention,
            healthy: healthy.clone(),
            rx,
            pending: Vec::new(),
        };
        let handle = tokio::spawn(writer.run());
        Ok(AuditLog {
            inner: Some(Arc::new(Inner {
                tx,
                healthy,
                fail_closed: settings.audit_fail_closed,
                node,
                key_fingerprint: key.fingerprint(),
                writer: std::sync::Mutex::new(Some(handle)),
            })),
        })
    }

    /// The fingerprint of the node's signing key (`None` while the trail is off).
    pub fn key_fingerprint(&self) -> Option<&str> {
        self.inner.as_ref().map(|i| i.key_fingerprint.as_str())
    }

    /// Whether records can be written now.
    pub fn is_healthy(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|i| i.healthy.load(Ordering::Relaxed))
    }

    /// Whether an audited action may begin: refused while records cannot be written and the
    /// node fails closed.
    pub fn check(&self) -> Result<(), AuditError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        if inner.fail_closed && !self.is_healthy() {
            metrics::counter!("switchboard_audit_refused_total").increment(1);
            return Err(AuditError::Unavailable);
        }
        Ok(())
    }

    /// Records reading something private, off the request path.
    pub fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.check()?;
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        match inner.tx.try_send(Message::Entry(entry(event, None))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(message)) => {
                if inner.fail_closed {
                    metrics::counter!("switchboard_audit_refused_total").increment(1);
                    return Err(AuditError::Unavailable);
                }
                self.send_later(message);
                Ok(())
            }
            // The writer has stopped: the node is shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => Err(AuditError::Unavailable),
        }
    }

    /// Records an action that changes data or grants access, and returns once the record is
    /// stored. Refused when it cannot be and the node fails closed.
    pub async fn record_durable(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.check()?;
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        if !inner.fail_closed {
            self.note(event);
            return Ok(());
        }
        let (ack, stored) = oneshot::channel();
        let sent = tokio::time::timeout(
            DURABLE_WAIT,
            inner.tx.send(Message::Entry(entry(event, Some(ack)))),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            metrics::counter!("switchboard_audit_refused_total").increment(1);
            return Err(AuditError::Unavailable);
        }
        match tokio::time::timeout(DURABLE_WAIT, stored).await {
            Ok(Ok(true)) => Ok(()),
            _ => {
                metrics::counter!("switchboard_audit_refused_total").increment(1);
                Err(AuditError::Unavailable)
            }
        }
    }

    /// Records what already happened; never refused, kept until it is written.
    pub fn note(&self, event: AuditEvent) {
        let Some(inner) = &self.inner else {
            return;
        };
        match inner.tx.try_send(Message::Entry(entry(event, None))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => self.send_later(message),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("an audit record came after the trail closed; it is lost");
            }
        }
    }

    fn send_later(&self, message: Message) {
        let Some(inner) = &self.inner else {
            return;
        };
        let tx = inner.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(message).await;
        });
    }

    /// Writes everything queued and a last checkpoint, then stops the writer (at shutdown,
    /// after every connection has closed and recorded its end).
    pub async fn close(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let (done, closed) = oneshot::channel();
        if inner.tx.send(Message::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
        let handle = inner
            .writer
            .lock()
            .ok()
            .and_then(|mut writer| writer.take());
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}

/// Stamps an event with the time and the request it belongs to.
fn entry(event: AuditEvent, ack: Option<oneshot::Sender<bool>>) -> Entry {
    let context = RequestContext::current();
    Entry {
        at: chrono::Utc::now(),
        event: event.request(context.request_id, context.client),
        ack,
    }
}
