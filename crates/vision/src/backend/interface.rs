//! What every backend is: the [`InferenceBackend`] trait, which engine runs ([`BackendKind`]),
//! which one to pick ([`BackendChoice`]) and a model's output ([`RawOutput`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::VisionError;

/// Which inference engine runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// ONNX Runtime through the `ort` crate.
    OnnxRuntime,
    /// The pure-Rust `tract-onnx` engine.
    Tract,
}

impl BackendKind {
    /// The short name used in logs, configuration and reports: `onnxruntime` or `tract`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::OnnxRuntime => "onnxruntime",
            BackendKind::Tract => "tract",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which backend a detector should use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// ONNX Runtime if its library loads, else tract (the default).
    #[default]
    Auto,
    /// ONNX Runtime or an error.
    OnnxRuntime,
    /// Tract, even when ONNX Runtime is available.
    Tract,
}

impl FromStr for BackendChoice {
    type Err = String;

    /// Parses `auto`, `onnxruntime` (or `ort`) and `tract`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "onnxruntime" | "ort" => Ok(BackendChoice::OnnxRuntime),
            "tract" => Ok(BackendChoice::Tract),
            other => Err(format!(
                "unknown inference backend `{other}` (expected auto, onnxruntime or tract)"
            )),
        }
    }
}

/// A model's raw output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOutput {
    /// The tensor's shape, e.g. `[1, 84, 8400]`.
    pub shape: Vec<usize>,
    /// Its values in row-major order.
    pub data: Vec<f32>,
}

/// Runs one loaded model.
///
/// Guarantees: `run` may be called from several threads at once (implementations
/// serialize internally if their engine needs it); it has no side effects beyond the
/// call; an engine failure is returned as [`VisionError::Inference`], never a panic the
/// backend could have avoided.
pub trait InferenceBackend: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> BackendKind;

    /// Runs the model on one `[1, 3, H, W]` input and returns its first output.
    fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<RawOutput, VisionError>;
}
