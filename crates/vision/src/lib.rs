//! Switchboard vision: object detection for camera snapshots.
//!
//! A [`Detector`] runs a YOLO-family ONNX model (by default Ultralytics YOLOv12n, COCO-80,
//! shipped in `models/` and built into the program: [`Detector::load_builtin`]) in-process;
//! nothing is downloaded at build or run time. Two
//! inference backends sit behind [`InferenceBackend`]: ONNX Runtime, loaded from
//! `libonnxruntime.so` when present, and the pure-Rust tract, always available. A
//! [`DetectorPool`] keeps the CPU-heavy work off the async runtime with a bounded queue, and
//! [`annotate`] draws the results on thumbnails.
//!
//! [`teach`] finds objects COCO has no class for: a user draws a box around one on a
//! snapshot, the box becomes a [`Template`], and each later snapshot, prepared once as a
//! [`Scene`], is searched for every taught template. [`teach_bench`] measures it.
//!
//! The steps of a detection are small pure functions, each tested on its own:
//! [`preprocess`] (scaled JPEG decoding, Exif orientation, letterbox, normalization) and
//! [`postprocess`] (output decoding, confidence threshold, class-aware NMS, mapping boxes
//! back to the picture).
//!
//! ```no_run
//! # fn main() -> Result<(), switchboard_vision::VisionError> {
//! use switchboard_vision::Detector;
//! let detector = Detector::load("models/yolov12n.onnx")?;
//! let jpeg = std::fs::read("bus.jpg").map_err(|e| switchboard_vision::VisionError::Decode(e.to_string()))?;
//! for d in detector.detect(&jpeg)? {
//!     println!("{} {:.2} at {:?}", d.label, d.confidence, d.bbox);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Architecture invariant: this crate knows nothing of HTTP, accounts or storage. Its only
//! async surface is [`DetectorPool`]; everything else is blocking and synchronous.

#![warn(missing_docs)]

mod annotate;
pub mod backend;
pub mod bench;
mod builtin;
mod detection;
mod detector;
mod error;
pub mod labels;
mod model;
mod pool;
pub mod postprocess;
pub mod preprocess;
mod signature;
pub mod teach;
pub mod teach_bench;

pub use annotate::{annotate, annotate_limited, class_color, draw_detections};
pub use backend::{
    BackendChoice, BackendKind, InferenceBackend, LibraryChoice, RawOutput, locate_library,
};
pub use builtin::{BUILTIN_MODEL, BUILTIN_MODEL_NAME, BUILTIN_MODEL_NOTE};
pub use detection::{BBox, Detection};
pub use detector::{Analysis, Detector, DetectorOptions, StageTimes, available_cores};
pub use error::VisionError;
pub use model::ModelInfo;
pub use pool::{AfterDetection, DetectorPool};
pub use signature::{SIGNATURE_LEN, Signature};
pub use teach::{DEFAULT_MATCH_THRESHOLD, Scene, Template, TemplateMatch};
