//! `switchboard bench voice`: how well and how fast spoken questions are understood on this
//! machine. Every question of `switchboard_voice::speech::QUESTIONS` is spoken in each voice
//! by espeak-ng (resampled by ffmpeg, as a client's WAV), recognized with the grammar the
//! server builds, and read back into labels the way the search reads a typed question; a
//! question is right when it asks for exactly the label meant.

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use switchboard_voice::speech::{QUESTIONS, VOICES, synthesize};
use switchboard_voice::wav::{self, WavLimits};
use switchboard_voice::{Recognizer, locate_library, locate_model};

/// Flags of `switchboard bench voice`.
#[derive(Debug, Clone, Args)]
pub struct VoiceArgs {
    /// PocketSphinx's library, a file or folder (default: as the server looks for it).
    #[arg(long, env = "SWITCHBOARD_VOICE_LIBRARY")]
    pub voice_library: Option<PathBuf>,
    /// The speech model folder (default: as the server looks for it).
    #[arg(long, env = "SWITCHBOARD_VOICE_MODEL")]
    pub voice_model: Option<PathBuf>,
    /// Times each recording is recognized for the timings (the answer is the same each time).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

/// One question that was not understood as meant.
#[derive(Debug, Serialize)]
pub struct Miss {
    pub voice: &'static str,
    pub said: &'static str,
    pub heard: String,
    pub labels: Vec<String>,
}

/// Figures of one voice.
#[derive(Debug, Serialize)]
pub struct VoiceFigures {
    pub voice: &'static str,
    pub questions: usize,
    pub right: usize,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct VoiceReport {
    pub library: String,
    pub model: String,
    /// Phrases in the grammar (things and their synonyms).
    pub grammar_phrases: usize,
    /// Making the first decoder and building the grammar.
    pub load_ms: f64,
    pub questions: usize,
    /// Questions asking for exactly the label meant.
    pub right: usize,
    pub accuracy: f64,
    /// Questions whose transcript is word for word what was said.
    pub verbatim: usize,
    pub per_voice: Vec<VoiceFigures>,
    /// Milliseconds to recognize one question (samples in, words out).
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_audio_seconds: f64,
    pub misses: Vec<Miss>,
}

/// Runs the benchmark off the async workers and prints its report as JSON.
pub async fn run(args: VoiceArgs) -> anyhow::Result<()> {
    let report = tokio::task::spawn_blocking(move || measure(&args))
        .await
        .context("the benchmark panicked")??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn measure(args: &VoiceArgs) -> anyhow::Result<VoiceReport> {
    let model = locate_model(args.voice_model.as_deref())
        .map_err(|why| anyhow::anyhow!("{why}; install it: {}", switchboard_voice::INSTALL_HINT))?;
    let library = locate_library(args.voice_library.as_deref());
    let recognizer = Recognizer::open(library, model, 1)?;
    let labels = switchboard_vision::labels::coco80();
    recognizer.set_phrases(switchboard_server::object_query::spoken_phrases(&labels));
    let started = Instant::now();
    let grammar = recognizer.grammar()?;
    let load = started.elapsed();
    let limits = WavLimits {
        max_duration: Duration::from_secs(60),
    };
    let mut times = Vec::new();
    let mut per_voice = Vec::new();
    let mut misses = Vec::new();
    let (mut right, mut verbatim, mut audio_seconds) = (0, 0, 0.0);
    for voice in VOICES {
        let mut voice_right = 0;
        for question in QUESTIONS {
            let recording = synthesize(question.text, voice)
                .with_context(|| format!("cannot speak {:?}", question.text))?;
            let pcm = wav::parse(&recording, &limits)
                .with_context(|| format!("the recording of {:?}", question.text))?;
            audio_seconds += pcm.duration().as_secs_f64();
            let mut heard = None;
            for _ in 0..args.repeat.max(1) {
                let t = Instant::now();
                heard = recognizer.recognize(&pcm.samples)?;
                times.push(t.elapsed());
            }
            let heard = heard.unwrap_or_default();
            let asked = switchboard_server::object_query::parse(&heard, &labels);
            if asked.labels == [question.label] {
                voice_right += 1;
            } else {
                misses.push(Miss {
                    voice,
                    said: question.text,
                    heard: heard.clone(),
                    labels: asked.labels,
                });
            }
            if heard == question.text.to_lowercase() {
                verbatim += 1;
            }
        }
        right += voice_right;
        per_voice.push(VoiceFigures {
            voice,
            questions: QUESTIONS.len(),
            right: voice_right,
        });
    }
    times.sort_unstable();
    let questions = QUESTIONS.len() * VOICES.len();
    Ok(VoiceReport {
        library: recognizer.library().path.display().to_string(),
        model: recognizer.model().folder().display().to_string(),
        grammar_phrases: grammar.phrases.len(),
        load_ms: millis(load),
        questions,
        right,
        accuracy: right as f64 / questions as f64,
        verbatim,
        per_voice,
        p50_ms: millis(percentile(&times, 0.50)),
        p99_ms: millis(percentile(&times, 0.99)),
        mean_audio_seconds: audio_seconds / questions as f64,
        misses,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
