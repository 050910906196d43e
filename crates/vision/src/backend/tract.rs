//! The pure-Rust backend.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::{BackendKind, InferenceBackend, RawOutput};
use crate::{ModelInfo, VisionError};

/// Runs models with `tract-onnx`: no system library needed, single-threaded per call.
///
/// The optimized plan is shared; each call gets its own execution state, so calls from
/// several pool workers run in parallel.
pub struct TractBackend {
    plan: Arc<TypedRunnableModel>,
}

impl TractBackend {
    /// Builds and optimizes the model for a fixed `[1, 3, H, W]` input taken from `info`.
    pub fn load(proto: &pb::ModelProto, info: &ModelInfo) -> Result<TractBackend, VisionError> {
        let err = |e: TractError| VisionError::Model {
            path: info.path.clone(),
            reason: format!("tract cannot load it: {e:#}"),
        };
        let shape = [1, 3, info.input_height as usize, info.input_width as usize];
        let plan = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(err)?
            .with_input_fact(0, f32::fact(shape).into())
            .map_err(err)?
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(TractBackend { plan })
    }
}

impl InferenceBackend for TractBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Tract
    }

    fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<RawOutput, VisionError> {
        let err = |e: TractError| VisionError::Inference(format!("{e:#}"));
        let tensor = Tensor::from_shape(&shape, input).map_err(err)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(err)?;
        let first = outputs
            .first()
            .ok_or_else(|| VisionError::Output("the model has no output".into()))?;
        let view = first.to_plain_array_view::<f32>().map_err(err)?;
        Ok(RawOutput {
            shape: view.shape().to_vec(),
            data: view.iter().copied().collect(),
        })
    }
}
