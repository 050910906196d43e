//! The embedded bus: a broadcast channel per subject inside one process.

use crate::{Bus, BusError, Delivery, Subscription};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Past this many subjects, a new subscription first forgets those without subscribers.
const PRUNE_ABOVE: usize = 4096;

/// Delivers within the process. Payloads are `Bytes`, so a message reaches every subscriber
/// without a copy.
#[derive(Debug)]
pub struct InProcessBus {
    subjects: Mutex<HashMap<String, broadcast::Sender<Bytes>>>,
    capacity: usize,
}

impl InProcessBus {
    /// A bus whose subscribers may fall `capacity` messages behind before losing the oldest.
    pub fn new(capacity: usize) -> Self {
        InProcessBus {
            subjects: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Number of subjects with at least one live subscriber (for tests and metrics).
    pub fn active_subjects(&self) -> usize {
        self.lock()
            .values()
            .filter(|s| s.receiver_count() > 0)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Bytes>>> {
        // A panic while holding this lock cannot leave the map inconsistent (each operation
        // is a single insert, lookup or retain), so a poisoned lock is safe to reuse.
        self.subjects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        InProcessBus::new(1024)
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        let mut subjects = self.lock();
        if let Some(tx) = subjects.get(subject)
            && tx.send(payload).is_err()
        {
            // Every subscriber went away: forget the subject so the map stays small.
            subjects.remove(subject);
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        let mut subjects = self.lock();
        if !subjects.contains_key(subject) && subjects.len() >= PRUNE_ABOVE {
            // Subjects nobody publishes on any more (a session's, after it ended) are only
            // forgotten on publish; sweep them before the map grows.
            subjects.retain(|_, tx| tx.receiver_count() > 0);
        }
        let rx = subjects
            .entry(subject.to_owned())
            .or_insert_with(|| {
                broadcast::channel(crate::subjects::capacity(subject, self.capacity)).0
            })
            .subscribe();
        drop(subjects);
        Ok(BroadcastStream::new(rx)
            .map(|item| match item {
                Ok(b) => Delivery::Message(b),
                Err(BroadcastStreamRecvError::Lagged(n)) => Delivery::Lagged(n),
            })
            .boxed())
    }
}
