//! Voice questions: a recording checked and recognized, then searched for like a typed
//! question. Recognition itself is `crate::voice::Voice`'s.

use super::cameras::CameraService;
use super::voice_error::VoiceSearchError;
use crate::config::Config;
use crate::protocol::cameras::{
    SearchQuery, SearchView, VoiceSearchQuery, VoiceSearchView, VoiceView,
};
use crate::voice::Voice;
use bytes::Bytes;
use std::sync::Arc;
use switchboard_core::User;
use switchboard_voice::wav::{self, WavLimits};

/// What a question that was not understood answers with.
const NOTHING_HEARD: &str = "no question was heard: hold the button, say what you are \
                             looking for (\"where is my phone\"), then let go";

/// The voice question service.
#[derive(Debug, Clone)]
pub struct VoiceSearch {
    voice: Arc<Voice>,
    cameras: CameraService,
    limits: WavLimits,
    max_bytes: u64,
}

impl VoiceSearch {
    pub fn new(config: &Config, voice: Arc<Voice>, cameras: CameraService) -> Self {
        VoiceSearch {
            voice,
            cameras,
            limits: WavLimits {
                max_duration: config.cameras.voice_max_duration,
            },
            max_bytes: config.cameras.voice_max_bytes.as_u64(),
        }
    }

    /// Whether this node takes voice questions, and with what (or why not).
    pub fn status(&self) -> VoiceView {
        self.voice
            .view(self.limits.max_duration.as_secs_f64(), self.max_bytes)
    }

    /// The node's recognition (its places, and the phrases it listens for).
    pub fn engine(&self) -> &Arc<Voice> {
        &self.voice
    }

    /// The largest recording taken (`voice_max_bytes`).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Refuses at once, before a recording is read, when voice questions are off here.
    pub fn check_available(&self) -> Result<(), VoiceSearchError> {
        match self.voice.off_because() {
            Some(why) => Err(VoiceSearchError::Unavailable(why)),
            None => Ok(()),
        }
    }

    /// Recognizes the question in `recording` (a WAV) and searches the caller's account for
    /// it. Silence, or speech matching no phrase, answers an empty transcript with a
    /// message and no search.
    pub async fn search(
        &self,
        caller: &User,
        recording: Bytes,
        bounds: VoiceSearchQuery,
    ) -> Result<VoiceSearchView, VoiceSearchError> {
        // Checked before a recognizer is taken: a bad recording costs no place.
        let pcm = wav::parse(&recording, &self.limits)?;
        drop(recording);
        if pcm.is_silent() {
            return Ok(self.nothing_heard());
        }
        let place = self.voice.place()?;
        let heard = self.voice.recognize(place, pcm.samples).await;
        let transcript = match heard {
            Ok(Some(transcript)) => transcript,
            Ok(None) => return Ok(self.nothing_heard()),
            Err(e) => {
                let e = VoiceSearchError::from(e);
                if let VoiceSearchError::Failed(why) = &e {
                    tracing::error!(error = %why, "speech recognition failed");
                }
                return Err(e);
            }
        };
        let search = self
            .cameras
            .search_spoken(
                caller,
                SearchQuery {
                    q: Some(transcript.clone()),
                    label: None,
                    camera: bounds.camera,
                    since: bounds.since,
                    until: bounds.until,
                    limit: bounds.limit,
                },
            )
            .await?;
        Ok(VoiceSearchView {
            transcript,
            message: None,
            search,
        })
    }

    fn nothing_heard(&self) -> VoiceSearchView {
        VoiceSearchView {
            transcript: String::new(),
            message: Some(NOTHING_HEARD.to_owned()),
            search: SearchView {
                labels: Vec::new(),
                taught: Vec::new(),
                unknown: Vec::new(),
                known_labels: self.cameras.known_labels(),
                results: Vec::new(),
            },
        }
    }
}
