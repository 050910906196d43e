//! Why a voice question failed.

use super::camera_error::CameraError;
use super::failure::ServiceError;
use crate::protocol::ErrorCode;
use switchboard_voice::{VoiceError, WavError, wav};

/// A failure of a voice question: the recording, the recognizer, or the search it asked for.
#[derive(Debug, thiserror::Error)]
pub enum VoiceSearchError {
    /// Speech recognition is not installed here, or failed to load; says what to install.
    #[error("{0}")]
    Unavailable(String),
    /// Every recognizer of this node is busy.
    #[error("every speech recognizer on this node is busy; try again shortly")]
    Busy,
    /// The body is not declared as WAV audio.
    #[error("send the question as Content-Type: audio/wav (16000 Hz, mono, 16-bit PCM)")]
    NotAudio,
    #[error("a voice question may be at most {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the recording was cut short")]
    BodyCut,
    /// The recording is not a WAV, or not in the format recognized, or too long.
    #[error(transparent)]
    Recording(#[from] WavError),
    /// PocketSphinx failed on a recording it should have taken (logged).
    #[error("speech recognition failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Camera(#[from] CameraError),
}

impl From<VoiceError> for VoiceSearchError {
    fn from(e: VoiceError) -> Self {
        match e {
            VoiceError::Unavailable(why) => VoiceSearchError::Unavailable(why),
            VoiceError::Busy => VoiceSearchError::Busy,
            // No phrase to build a grammar from is the model's or the configuration's
            // problem, not the question's.
            VoiceError::NoGrammar(why) => {
                VoiceSearchError::Unavailable(format!("voice questions are off: {why}"))
            }
            VoiceError::Failed(why) => VoiceSearchError::Failed(why),
        }
    }
}

impl ServiceError for VoiceSearchError {
    fn code(&self) -> ErrorCode {
        match self {
            VoiceSearchError::Unavailable(_) => ErrorCode::VoiceUnavailable,
            VoiceSearchError::Busy => ErrorCode::Busy,
            VoiceSearchError::NotAudio => ErrorCode::UnsupportedMediaType,
            VoiceSearchError::TooLarge { .. } => ErrorCode::AudioTooLarge,
            VoiceSearchError::BodyCut => ErrorCode::BodyReadFailed,
            VoiceSearchError::Recording(WavError::NotWav(_)) => ErrorCode::UnsupportedMediaType,
            VoiceSearchError::Recording(WavError::Unsupported { .. }) => {
                ErrorCode::UnsupportedAudio
            }
            VoiceSearchError::Recording(WavError::TooLong { .. }) => ErrorCode::AudioTooLong,
            VoiceSearchError::Failed(_) => ErrorCode::Internal,
            VoiceSearchError::Camera(e) => e.code(),
        }
    }

    fn message(&self) -> String {
        match self {
            VoiceSearchError::Recording(WavError::NotWav(why)) => {
                format!("not a WAV file ({why}); send {}", wav::expected_format())
            }
            VoiceSearchError::Failed(_) => "speech recognition failed".to_owned(),
            VoiceSearchError::Camera(e) => e.message(),
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            VoiceSearchError::Busy => Some(1),
            VoiceSearchError::Camera(e) => e.retry_after(),
            _ => None,
        }
    }

    fn extra(&self) -> Option<serde_json::Value> {
        match self {
            VoiceSearchError::Camera(e) => e.extra(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_code_and_the_recording_ones_say_what_is_expected() {
        let not_wav = VoiceSearchError::Recording(WavError::NotWav("no RIFF header".into()));
        assert_eq!(not_wav.code(), ErrorCode::UnsupportedMediaType);
        assert!(not_wav.message().contains("16000 Hz, mono, 16-bit PCM"));
        let stereo = VoiceSearchError::Recording(WavError::Unsupported {
            found: "16000 Hz, stereo, 16-bit PCM".into(),
            expected: "16000 Hz, mono (1 channel), 16-bit PCM".into(),
        });
        assert_eq!(stereo.code(), ErrorCode::UnsupportedAudio);
        assert!(stereo.message().contains("stereo"), "{}", stereo.message());
        let long = VoiceSearchError::Recording(WavError::TooLong {
            seconds: 12.0,
            max_seconds: 10.0,
        });
        assert_eq!(long.code(), ErrorCode::AudioTooLong);
        assert_eq!(VoiceSearchError::Busy.retry_after(), Some(1));
        assert_eq!(VoiceSearchError::Busy.code().status(), 503);
        let off = VoiceSearchError::from(VoiceError::Unavailable("install it".into()));
        assert_eq!(off.code(), ErrorCode::VoiceUnavailable);
        assert_eq!(off.retry_after(), None);
        // Details of a failure stay in the log.
        let failed = VoiceSearchError::Failed("ps_process_raw returned -1".into());
        assert_eq!(failed.code(), ErrorCode::Internal);
        assert!(!failed.message().contains("ps_process_raw"));
    }
}
