//! Voice questions as this node has them: PocketSphinx found and loaded at start (or why
//! not), the phrases its grammar is built from, and the pool recognitions run in.
//!
//! The library is opened at start (cheap); the model is read by the first question, so a
//! node that is never asked pays nothing for it.

use crate::config::Config;
use crate::object_query;
use crate::protocol::cameras::VoiceView;
use std::sync::{Mutex, PoisonError};
use switchboard_voice::{
    INSTALL_HINT, Recognizer, VoiceError, VoicePlace, VoicePool, locate_library, locate_model,
};

/// This node's speech recognition, or why it has none.
#[derive(Debug)]
pub struct Voice {
    pool: Option<VoicePool>,
    /// Why there is no pool, or why it stopped working (a model that failed to load when
    /// first used), with what to install.
    off_because: Mutex<Option<String>>,
    library: Option<String>,
    model: Option<String>,
}

impl Voice {
    /// Finds and loads PocketSphinx as configured, with a grammar of what can be searched
    /// for (`known_labels`: the detector's classes). Missing parts are logged and leave
    /// voice questions off; nothing else depends on them.
    pub fn start(config: &Config, known_labels: &[String]) -> Voice {
        let cameras = &config.cameras;
        let model = match locate_model(cameras.voice_model.as_deref()) {
            Ok(model) => model,
            Err(why) => return Voice::off(format!("{why}; install it: {INSTALL_HINT}")),
        };
        let library = locate_library(cameras.voice_library.as_deref());
        let recognizer = match Recognizer::open(library, model, cameras.voice_workers) {
            Ok(recognizer) => recognizer,
            Err(e) => return Voice::off(e.to_string()),
        };
        let library = format!(
            "{} (found by: {})",
            recognizer.library().path.display(),
            recognizer.library().found_by
        );
        let model = format!(
            "{} (found by: {})",
            recognizer.model().folder().display(),
            recognizer.model().found_by
        );
        tracing::info!(%library, %model, "voice questions on");
        let pool = VoicePool::new(recognizer, cameras.voice_workers);
        pool.set_phrases(object_query::spoken_phrases(known_labels));
        Voice {
            pool: Some(pool),
            off_because: Mutex::new(None),
            library: Some(library),
            model: Some(model),
        }
    }

    fn off(why: String) -> Voice {
        tracing::warn!(reason = %why, "voice questions off");
        Voice {
            pool: None,
            off_because: Mutex::new(Some(why)),
            library: None,
            model: None,
        }
    }

    /// Why voice questions are off, with what to install; `None` while they work.
    pub fn off_because(&self) -> Option<String> {
        self.off_because
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `GET /api/v1/search/voice` shows, with the bounds of a recording.
    pub fn view(&self, max_seconds: f64, max_bytes: u64) -> VoiceView {
        let off_because = self.off_because();
        VoiceView {
            available: off_because.is_none(),
            library: self.library.clone(),
            model: self.model.clone(),
            off_because,
            max_seconds,
            max_bytes,
        }
    }

    /// A place for one recognition: `Unavailable` while voice is off, `Busy` when every
    /// worker is taken.
    pub fn place(&self) -> Result<VoicePlace, VoiceError> {
        if let Some(why) = self.off_because() {
            return Err(VoiceError::Unavailable(why));
        }
        match &self.pool {
            Some(pool) => pool.try_place(),
            None => Err(VoiceError::Unavailable(format!(
                "voice questions are off; install {INSTALL_HINT}"
            ))),
        }
    }

    /// The words heard in `samples` (16 kHz mono), `None` when nothing matched.
    pub async fn recognize(
        &self,
        place: VoicePlace,
        samples: Vec<i16>,
    ) -> Result<Option<String>, VoiceError> {
        let Some(pool) = &self.pool else {
            return Err(VoiceError::Unavailable(format!(
                "voice questions are off; install {INSTALL_HINT}"
            )));
        };
        let heard = pool.recognize(place, samples).await;
        if let Err(VoiceError::Unavailable(why)) = &heard {
            // The model failed to load: say so from now on rather than fail each question.
            tracing::error!(reason = %why, "voice questions off");
            *self
                .off_because
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
        }
        heard
    }

    /// Replaces what can be asked for by voice: the detector's classes and their synonyms,
    /// plus `extra` phrases (names people gave things). The grammar is rebuilt on the next
    /// question.
    pub fn set_searchable(&self, known_labels: &[String], extra: &[String]) {
        if let Some(pool) = &self.pool {
            let mut phrases = object_query::spoken_phrases(known_labels);
            phrases.extend(extra.iter().cloned());
            pool.set_phrases(phrases);
        }
    }
}
