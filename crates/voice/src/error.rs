//! The errors of this crate: what is wrong with a recording ([`WavError`]) and what kept
//! recognition from running ([`VoiceError`]).

/// Why a recording was refused. The server answers [`WavError::NotWav`] with 415,
/// [`WavError::Unsupported`] and [`WavError::TooLong`] with 422.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WavError {
    /// Not a RIFF/WAVE file, or one whose chunks are cut short or missing.
    #[error("not a WAV file: {0}")]
    NotWav(String),
    /// A WAV file, but not in the one format recognized.
    #[error("the recording is {found}; send {expected}")]
    Unsupported {
        /// What the file holds, e.g. `44100 Hz, 2 channels, 16-bit PCM`.
        found: String,
        /// What is accepted, e.g. `16000 Hz, mono (1 channel), 16-bit PCM`.
        expected: String,
    },
    /// Longer than the longest question taken.
    #[error("the recording lasts {seconds:.1} s, more than the {max_seconds:.1} s allowed")]
    TooLong {
        /// Its length.
        seconds: f64,
        /// The bound.
        max_seconds: f64,
    },
}

/// Why speech could not be recognized.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The library or the model is missing or does not load; the message says what to
    /// install.
    #[error("{0}")]
    Unavailable(String),
    /// Every recognizer is busy; try again shortly.
    #[error("every speech recognizer is busy")]
    Busy,
    /// No phrase of the list given could be put in a grammar (every word unknown to the
    /// dictionary), or none was given yet.
    #[error("no phrase to recognize: {0}")]
    NoGrammar(String),
    /// PocketSphinx refused a call (named) that should have worked.
    #[error("speech recognition failed: {0}")]
    Failed(String),
}
