//! Inference backends: the one trait the detector runs models through, and its two
//! implementations.
//!
//! - [`OnnxRuntimeBackend`]: Microsoft's ONNX Runtime, loaded at run time from
//!   `libonnxruntime.so` (about five times faster than tract on YOLO models here);
//! - [`TractBackend`]: pure Rust, always compiled in, so a plain `cargo build` detects
//!   objects with no system library at all.
//!
//! [`BackendChoice::Auto`] takes ONNX Runtime when its library loads and tract otherwise.

mod interface;
mod onnx_runtime;
mod tract;

pub use interface::{BackendChoice, BackendKind, InferenceBackend, RawOutput};
pub use onnx_runtime::{LibraryChoice, OnnxRuntimeBackend, locate_library};
pub use tract::TractBackend;
