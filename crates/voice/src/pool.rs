//! Recognition off the async workers, a bounded number at once.

use crate::error::VoiceError;
use crate::recognizer::Recognizer;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A [`Recognizer`] behind a fixed number of places: each recognition holds one while it
/// runs on a blocking thread, and a request that finds none is refused at once
/// ([`VoiceError::Busy`]) rather than queued, since a question waiting behind others is
/// worth less than an answer saying "try again".
#[derive(Debug, Clone)]
pub struct VoicePool {
    recognizer: Arc<Recognizer>,
    places: Arc<Semaphore>,
}

/// A place in the pool, taken before the recording is read.
#[derive(Debug)]
pub struct VoicePlace(#[allow(dead_code, reason = "held, never read")] OwnedSemaphorePermit);

impl VoicePool {
    /// A pool running at most `workers` recognitions at once (at least one).
    pub fn new(recognizer: Recognizer, workers: usize) -> VoicePool {
        VoicePool {
            recognizer: Arc::new(recognizer),
            places: Arc::new(Semaphore::new(workers.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// The recognizer (its library, model and grammar).
    pub fn recognizer(&self) -> &Arc<Recognizer> {
        &self.recognizer
    }

    /// A place for one recognition, or [`VoiceError::Busy`] when every one is taken.
    pub fn try_place(&self) -> Result<VoicePlace, VoiceError> {
        self.places
            .clone()
            .try_acquire_owned()
            .map(VoicePlace)
            .map_err(|_| VoiceError::Busy)
    }

    /// Recognizes `samples` on a blocking thread, holding `place` until it is done (also
    /// when the caller stops waiting, so the bound counts work that still runs).
    pub async fn recognize(
        &self,
        place: VoicePlace,
        samples: Vec<i16>,
    ) -> Result<Option<String>, VoiceError> {
        let recognizer = self.recognizer.clone();
        tokio::task::spawn_blocking(move || {
            let _place = place;
            recognizer.recognize(&samples)
        })
        .await
        .map_err(|e| VoiceError::Failed(format!("the recognition task failed: {e}")))?
    }

    /// Replaces the phrases that can be recognized; the grammar is rebuilt on next use.
    pub fn set_phrases(&self, phrases: Vec<String>) {
        self.recognizer.set_phrases(phrases);
    }
}
