//! The node's bound on pictures decoded outside the detector's threads (thumbnails, teaching
//! an object, matching taught objects when no detector runs, looks through the history):
//! each decode holds a picture's pixels, so they are bounded in number as well as in size
//! (`max_image_pixels`).

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why [`DecodeSlots::run`] did not give the work's answer.
#[derive(Debug, thiserror::Error)]
pub enum DecodeSlotError {
    /// Every slot stayed taken for the wait asked for.
    #[error("every decoding slot is taken")]
    Busy,
    /// The blocking task failed (it panicked, or the runtime is stopping).
    #[error("decoding task: {0}")]
    Failed(String),
}

/// `max_concurrent_decodes` slots; blocking work runs on a blocking thread while it holds one.
#[derive(Debug, Clone)]
pub struct DecodeSlots {
    slots: Arc<Semaphore>,
}

impl DecodeSlots {
    /// `slots` decodes at once (at least one).
    pub fn new(slots: usize) -> DecodeSlots {
        DecodeSlots {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free, waiting at most `wait` for one
    /// (`None`: as long as it takes, for background work).
    pub async fn run<T, F>(&self, wait: Option<Duration>, work: F) -> Result<T, DecodeSlotError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let acquire = self.slots.clone().acquire_owned();
        let permit = match wait {
            Some(wait) => match tokio::time::timeout(wait, acquire).await {
                Ok(permit) => permit,
                Err(_) => return Err(DecodeSlotError::Busy),
            },
            None => acquire.await,
        }
        .map_err(|closed| DecodeSlotError::Failed(closed.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|e| DecodeSlotError::Failed(e.to_string()))
    }
}
