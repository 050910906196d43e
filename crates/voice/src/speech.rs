//! Spoken questions made by a speech synthesizer, for benchmarks and tests: `espeak-ng`
//! speaks, `ffmpeg` resamples to 16 kHz mono 16-bit (both Debian packages), and the WAV
//! comes back as bytes, exactly as a client would send it.

use std::io::Read;
use std::process::{Command, Stdio};

/// Voices questions are spoken in: espeak-ng's US English, in its default male voice and
/// a female variant.
pub const VOICES: &[&str] = &["en-us", "en-us+f3"];

/// A question and the detector label it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// What is said.
    pub text: &'static str,
    /// The COCO label a right answer searches for.
    pub label: &'static str,
}

const fn q(text: &'static str, label: &'static str) -> Question {
    Question { text, label }
}

/// The benchmark's questions: every common way of asking, about twenty things, some said
/// alone.
pub const QUESTIONS: &[Question] = &[
    q("where is my phone", "cell phone"),
    q("where is my cup", "cup"),
    q("where did I leave my laptop", "laptop"),
    q("where is the dog", "dog"),
    q("find the cat", "cat"),
    q("where is my bottle", "bottle"),
    q("show me the book", "book"),
    q("where is the chair", "chair"),
    q("where is my car", "car"),
    q("show me the person", "person"),
    q("where is my umbrella", "umbrella"),
    q("where is the bus", "bus"),
    q("find my bicycle", "bicycle"),
    q("where is the television", "tv"),
    q("where is my backpack", "backpack"),
    q("where is the clock", "clock"),
    q("find the keyboard", "keyboard"),
    q("show me the couch", "couch"),
    q("where did I put my mug", "cup"),
    q("where is my suitcase", "suitcase"),
    q("have you seen my teddy bear", "teddy bear"),
    q("where is the remote", "remote"),
    q("cup", "cup"),
    q("dog", "dog"),
    q("phone", "cell phone"),
    q("scissors", "scissors"),
];

/// Why a question could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SynthesisError {
    /// A program is missing; the message names the package.
    #[error("{program} is not installed: apt-get install {package}")]
    Missing {
        /// The program.
        program: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A program ran and failed.
    #[error("{program} failed: {detail}")]
    Failed {
        /// The program.
        program: &'static str,
        /// Its exit status and error output.
        detail: String,
    },
}

fn spawn_error(program: &'static str, package: &'static str, e: std::io::Error) -> SynthesisError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SynthesisError::Missing { program, package }
    } else {
        SynthesisError::Failed {
            program,
            detail: e.to_string(),
        }
    }
}

/// `text` spoken by espeak-ng's `voice` (e.g. `en-us`), as a 16 kHz mono 16-bit WAV.
pub fn synthesize(text: &str, voice: &str) -> Result<Vec<u8>, SynthesisError> {
    let mut speaker = Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", text])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error("espeak-ng", "espeak-ng", e))?;
    let Some(spoken) = speaker.stdout.take() else {
        return Err(SynthesisError::Failed {
            program: "espeak-ng",
            detail: "no output".to_owned(),
        });
    };
    let resampled = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-ar",
            "16000",
            "-ac",
            "1",
            "-sample_fmt",
            "s16",
            "-f",
            "wav",
            "pipe:1",
        ])
        .stdin(Stdio::from(spoken))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let status = speaker.wait().map_err(|e| SynthesisError::Failed {
        program: "espeak-ng",
        detail: e.to_string(),
    })?;
    let resampled = resampled.map_err(|e| spawn_error("ffmpeg", "ffmpeg", e))?;
    if !status.success() {
        let mut detail = String::new();
        if let Some(mut err) = speaker.stderr.take() {
            let _ = err.read_to_string(&mut detail);
        }
        return Err(SynthesisError::Failed {
            program: "espeak-ng",
            detail: format!("{status}: {}", detail.trim()),
        });
    }
    if !resampled.status.success() || resampled.stdout.is_empty() {
        return Err(SynthesisError::Failed {
            program: "ffmpeg",
            detail: format!(
                "{}: {}",
                resampled.status,
                String::from_utf8_lossy(&resampled.stderr).trim()
            ),
        });
    }
    Ok(resampled.stdout)
}
