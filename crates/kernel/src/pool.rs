//! [`KernelPool`]: warm kernels of one spec, ready to hand out at once.
//!
//! A background task keeps `target` started kernels waiting. [`KernelPool::take`] hands one
//! out without waiting (and wakes the task to replace it), or launches one cold when the
//! pool is empty. Pooled kernels count against the node's `max_kernels`; when the node is
//! full the pool stops refilling and a cold launch fails with
//! [`KernelError::Capacity`](crate::KernelError::Capacity).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::KernelConfig;
use crate::error::{KernelError, Result};
use crate::kernel::{Kernel, KernelState};
use crate::launcher::KernelLauncher;
use crate::spec::KernelSpec;

/// Warm kernels of one spec and config. Cheap to clone; the refill task stops and the
/// waiting kernels are shut down when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct KernelPool {
    inner: Arc<PoolInner>,
    _stop: Arc<DropGuard>,
}

#[derive(Debug)]
struct PoolInner {
    launcher: KernelLauncher,
    spec: KernelSpec,
    config: KernelConfig,
    target: usize,
    ready: Mutex<VecDeque<Kernel>>,
    wake: Notify,
    changed: Notify,
}

impl KernelPool {
    /// Starts a pool keeping `target` kernels of `spec` warm. Must be called inside a
    /// tokio runtime.
    pub fn new(
        launcher: KernelLauncher,
        spec: KernelSpec,
        config: KernelConfig,
        target: usize,
    ) -> Self {
        let inner = Arc::new(PoolInner {
            launcher,
            spec,
            config,
            target,
            ready: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            changed: Notify::new(),
        });
        let cancel = CancellationToken::new();
        tokio::spawn(refill(Arc::clone(&inner), cancel.clone()));
        KernelPool {
            inner,
            _stop: Arc::new(cancel.drop_guard()),
        }
    }

    /// The spec this pool launches.
    pub fn spec(&self) -> &KernelSpec {
        &self.inner.spec
    }

    /// How many warm kernels wait now.
    pub fn ready(&self) -> usize {
        self.inner.lock().len()
    }

    /// A warm kernel if one waits, without launching.
    pub fn try_take(&self) -> Option<Kernel> {
        let kernel = loop {
            let kernel = self.inner.lock().pop_front()?;
            if !matches!(kernel.state(), KernelState::Dead(_)) {
                break kernel;
            }
        };
        self.inner.wake.notify_one();
        kernel.claim();
        Some(kernel)
    }

    /// A warm kernel at once, or a cold launch when none waits.
    pub async fn take(&self) -> Result<Kernel> {
        if let Some(kernel) = self.try_take() {
            return Ok(kernel);
        }
        self.inner.wake.notify_one();
        self.inner
            .launcher
            .launch(&self.inner.spec, &self.inner.config)
            .await
    }

    /// Waits until at least `n` kernels are warm, or `timeout` passes. Returns whether
    /// they are.
    pub async fn wait_ready(&self, n: usize, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.inner.changed.notified();
                if self.ready() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Shuts down the waiting kernels (the refill task stops when the pool is dropped).
    pub async fn drain(&self) {
        let kernels: Vec<Kernel> = self.inner.lock().drain(..).collect();
        for kernel in kernels {
            let _ = kernel.shutdown().await;
        }
    }
}

impl PoolInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Kernel>> {
        self.ready
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Keeps the pool at its target, one launch at a time, backing off on errors.
async fn refill(pool: Arc<PoolInner>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        pool.lock()
            .retain(|k| !matches!(k.state(), KernelState::Dead(_)));
        if pool.lock().len() >= pool.target {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = pool.wake.notified() => continue,
            }
        }
        let launched = tokio::select! {
            _ = cancel.cancelled() => break,
            launched = pool.launcher.launch(&pool.spec, &pool.config) => launched,
        };
        match launched {
            Ok(kernel) => {
                pool.lock().push_back(kernel);
                pool.changed.notify_waiters();
                backoff = Duration::from_millis(100);
                continue;
            }
            Err(KernelError::Capacity { .. }) => {
                tracing::debug!(spec = %pool.spec.name, "pool refill waits: node at capacity");
            }
            Err(e) => {
                tracing::warn!(spec = %pool.spec.name, error = %e, "pool refill failed");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
            _ = pool.wake.notified() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    let kernels: Vec<Kernel> = pool.lock().drain(..).collect();
    for kernel in kernels {
        let _ = kernel.shutdown().await;
    }
}
