//! Switchboard voice: short spoken questions ("where is my phone") as text, offline.
//!
//! CMU PocketSphinx (Debian's `libpocketsphinx3`, the 0.8 API) is loaded at run time with
//! `dlopen` ([`locate_library`]), with its US-English model ([`locate_model`]): a machine
//! without them runs everything else and says what to install. Recognition is held to a
//! JSGF [`grammar`] built from the phrases the caller can search for, which gets most short
//! questions right where a free-form language model gets most wrong.
//!
//! - [`wav::parse`] checks a recording (16 kHz, mono, 16-bit PCM, bounded duration) and
//!   reads its samples;
//! - [`Recognizer`] turns samples into words (blocking; decoders made on first use);
//! - [`VoicePool`] runs it on blocking threads, a fixed number at once;
//! - [`speech`] makes spoken questions with espeak-ng and ffmpeg, for benchmarks and tests.
//!
//! Architecture invariant: this crate knows nothing of HTTP, accounts or storage, and its
//! unsafe code is confined to `ffi.rs`.

#![warn(missing_docs)]

mod error;
mod ffi;
pub mod grammar;
pub mod locate;
mod pool;
mod recognizer;
pub mod speech;
pub mod wav;

pub use error::{VoiceError, WavError};
pub use grammar::{Grammar, LeftOut};
pub use locate::{INSTALL_HINT, LibraryChoice, ModelChoice, locate_library, locate_model};
pub use pool::{VoicePlace, VoicePool};
pub use recognizer::{Recognizer, dithered};
