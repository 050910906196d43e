//! The ONNX Runtime backend, loaded at run time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use super::{BackendKind, InferenceBackend, RawOutput};
use crate::{ModelInfo, VisionError};

/// The library name the dynamic loader searches for when nothing is configured.
const DEFAULT_LIBRARY: &str = "libonnxruntime.so";

/// ONNX Runtime allows one environment per process; it is created on first success and
/// shared by every session after that. A failed load leaves it empty, so a later call with
/// another library path can still succeed.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Where ONNX Runtime's library is looked for: `configured` if given, else the
/// `ORT_DYLIB_PATH` environment variable, else `libonnxruntime.so` on the loader's search
/// path. A directory stands for the first `libonnxruntime.so*` file inside it (the
/// `onnxruntime/capi` folder of the PyPI wheel, for example).
pub fn resolve_library(configured: Option<&Path>) -> PathBuf {
    let path = match configured {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("ORT_DYLIB_PATH") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_LIBRARY),
        },
    };
    if path.is_dir()
        && let Ok(entries) = std::fs::read_dir(&path)
    {
        let mut libs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so"))
            })
            .collect();
        libs.sort();
        if let Some(first) = libs.into_iter().next() {
            return first;
        }
    }
    path
}

/// Loads the library (once per process) and returns the shared environment.
fn environment(library: &Path) -> Result<Environment, VisionError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let env = ort::init_from(library)
        .map_err(|e| VisionError::BackendUnavailable(format!("ONNX Runtime: {e}")))?
        .with_name("switchboard-vision")
        .build()
        .map_err(|e| VisionError::BackendUnavailable(format!("ONNX Runtime: {e}")))?;
    *slot = Some(env.clone());
    Ok(env)
}

/// Runs models with ONNX Runtime.
///
/// One session serves every caller: ONNX Runtime already spreads one inference over
/// `threads` cores, so calls are serialized on the session while pool workers decode the
/// next pictures in parallel.
pub struct OnnxRuntimeBackend {
    session: Mutex<Session>,
}

impl OnnxRuntimeBackend {
    /// Loads ONNX Runtime from `library` (see [`resolve_library`]) and the model into a
    /// session using `threads` intra-op threads, which do not spin while idle (this is a
    /// server: idle detectors must not burn the cores the sessions need).
    ///
    /// Fails with [`VisionError::BackendUnavailable`] when the library cannot be loaded
    /// or is older than ONNX Runtime 1.17.
    pub fn load(
        info: &ModelInfo,
        library: &Path,
        threads: usize,
    ) -> Result<OnnxRuntimeBackend, VisionError> {
        let env = environment(library)?;
        let model_err = |e: ort::Error| VisionError::Model {
            path: info.path.clone(),
            reason: format!("ONNX Runtime cannot load it: {e}"),
        };
        let session = Session::builder(&env)
            .map_err(model_err)?
            .with_intra_threads(threads.max(1))
            .map_err(|e| model_err(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| model_err(e.into()))?
            .with_intra_op_spinning(false)
            .map_err(|e| model_err(e.into()))?
            .with_inter_op_spinning(false)
            .map_err(|e| model_err(e.into()))?
            .commit_from_file(&info.path)
            .map_err(model_err)?;
        Ok(OnnxRuntimeBackend {
            session: Mutex::new(session),
        })
    }
}

impl InferenceBackend for OnnxRuntimeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::OnnxRuntime
    }

    fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<RawOutput, VisionError> {
        let err = |e: ort::Error| VisionError::Inference(e.to_string());
        let tensor = TensorRef::from_array_view((shape, input)).map_err(err)?;
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(ort::inputs![tensor]).map_err(err)?;
        if outputs.len() == 0 {
            return Err(VisionError::Output("the model has no output".into()));
        }
        let (out_shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(RawOutput {
            shape: out_shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect(),
            data: data.to_vec(),
        })
    }
}
