//! Account-event sockets (`GET /api/v1/events`) held open, each noting when the first
//! message after the bench arms them arrives: one event sent to every one of them then
//! shows how long the server takes to reach the last listener.

use super::loopback::{self, Socket};
use futures::StreamExt;
use reqwest::Url;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Every account-event socket of a stage.
#[derive(Debug, Default)]
pub struct Listeners {
    tasks: JoinSet<()>,
    stop: CancellationToken,
    shared: Arc<Shared>,
}

/// What the sockets' tasks share with the stage.
#[derive(Debug, Default)]
struct Shared {
    /// Whether arrivals count now.
    armed: AtomicBool,
    /// When each socket got its first message after arming.
    arrivals: Mutex<Vec<Instant>>,
    /// Sockets the server closed or broke while they should have stayed open.
    failures: AtomicU64,
}

impl Listeners {
    /// Opens an account-event socket from `local`'s loopback slot and keeps it open.
    pub async fn open(&mut self, base: &Url, token: &str, slot: usize) -> anyhow::Result<()> {
        let url = loopback::ws_url(base, "api/v1/events")?;
        let socket = loopback::connect(&url, token, loopback::socket_address(slot)).await?;
        self.tasks
            .spawn(listen(socket, self.shared.clone(), self.stop.clone()));
        Ok(())
    }

    /// Sockets held open now.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// From now on, each socket notes its next message's arrival.
    pub fn arm(&self) {
        lock(&self.shared.arrivals).clear();
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// Arrivals noted since [`Listeners::arm`].
    pub fn arrivals(&self) -> Vec<Instant> {
        lock(&self.shared.arrivals).clone()
    }

    /// Sockets that failed so far.
    pub fn failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Closes every socket and waits for their tasks.
    pub async fn close(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The arrivals list, even if a task panicked while holding it (it only ever pushes).
fn lock(arrivals: &Mutex<Vec<Instant>>) -> std::sync::MutexGuard<'_, Vec<Instant>> {
    arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads one socket until `stop`, noting the first message after arming.
async fn listen(mut socket: Socket, shared: Arc<Shared>, stop: CancellationToken) {
    let mut noted = false;
    loop {
        let message = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            message = socket.next() => message,
        };
        match message {
            Some(Ok(m)) if m.is_text() => {
                if !noted && shared.armed.load(Ordering::SeqCst) {
                    noted = true;
                    lock(&shared.arrivals).push(Instant::now());
                }
            }
            Some(Ok(m)) if !m.is_close() => {}
            _ => {
                shared.failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
    let _ = socket.close(None).await;
}
