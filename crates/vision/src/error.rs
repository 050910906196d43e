//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or detecting objects.
///
/// The server maps [`VisionError::Busy`] to `503 Service Unavailable` with `Retry-After`,
/// [`VisionError::Decode`] to `422` (the upload is not a usable JPEG), [`VisionError::TooLarge`]
/// to `413`, [`VisionError::BadBox`] and [`VisionError::BadTemplate`] to `422` (what the
/// caller sent cannot be taught or read back), and the rest to `500`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisionError {
    /// The input is not a JPEG this crate can decode (corrupt, truncated, unsupported coding).
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// The picture declares more pixels than the caller allows decoding (a decompression
    /// bomb: a small file whose header claims a huge picture).
    #[error("the picture is {width}x{height}, more than the {max_pixels} pixels allowed")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The bound it is over.
        max_pixels: u64,
    },
    /// The model file could not be read or is not a detector this crate understands.
    #[error("cannot load model {path}: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The requested inference backend is not available (e.g. ONNX Runtime's library is
    /// missing or too old).
    #[error("inference backend unavailable: {0}")]
    BackendUnavailable(String),
    /// The inference backend failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The model produced an output this crate cannot interpret.
    #[error("unexpected model output: {0}")]
    Output(String),
    /// The detection queue is full; the caller should retry later.
    #[error("the detector is busy, try again later")]
    Busy,
    /// The detector pool has shut down (its workers are gone).
    #[error("the detector pool has shut down")]
    Closed,
    /// The pool's worker threads could not be started.
    #[error("cannot start detector workers: {0}")]
    Spawn(#[source] std::io::Error),
    /// Encoding an output image failed.
    #[error("cannot encode image: {0}")]
    Encode(String),
    /// A box to teach an object from is outside the picture, empty, or too small or too
    /// plain to describe.
    #[error("bad box: {0}")]
    BadBox(String),
    /// Bytes given as a stored template are not one this version can read.
    #[error("not a usable template: {0}")]
    BadTemplate(String),
}
