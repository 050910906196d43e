//! The detector: one loaded model and the steps around it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{
    BackendChoice, BackendKind, InferenceBackend, LibraryChoice, OnnxRuntimeBackend, TractBackend,
    locate_library,
};
use crate::builtin::{BUILTIN_MODEL, BUILTIN_MODEL_NAME};
use crate::model::{parse_proto, read_model_file};
use crate::{Detection, ModelInfo, Signature, VisionError, postprocess, preprocess};

/// How a detector is loaded and how picky it is.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorOptions {
    /// Which inference backend to use.
    pub backend: BackendChoice,
    /// ONNX Runtime's library (a file, or a folder holding `libonnxruntime.so*`); `None`
    /// means `ORT_DYLIB_PATH`, then the loader's search path.
    pub onnxruntime_library: Option<PathBuf>,
    /// Threads ONNX Runtime uses for one inference; `None` means every core.
    pub onnxruntime_threads: Option<usize>,
    /// Minimum class score for a detection, in `(0, 1]`.
    pub confidence: f32,
    /// Boxes of one class overlapping more than this (intersection over union) are merged.
    pub iou: f32,
    /// At most this many detections per picture, best first.
    pub max_detections: usize,
    /// Pictures declaring more pixels than this are refused
    /// ([`VisionError::TooLarge`](crate::VisionError::TooLarge)) before decoding.
    pub max_pixels: u64,
}

impl Default for DetectorOptions {
    /// Auto backend, confidence 0.25, IoU 0.45, at most 100 detections.
    fn default() -> Self {
        DetectorOptions {
            backend: BackendChoice::Auto,
            onnxruntime_library: None,
            onnxruntime_threads: None,
            confidence: 0.25,
            iou: 0.45,
            max_detections: 100,
            max_pixels: preprocess::MAX_PIXELS,
        }
    }
}

/// Time spent in each step of one detection.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// JPEG decoding, letterboxing and normalization.
    pub preprocess: Duration,
    /// The model itself.
    pub inference: Duration,
    /// Decoding the output, suppression and mapping boxes back.
    pub postprocess: Duration,
}

impl StageTimes {
    /// The whole detection.
    pub fn total(&self) -> Duration {
        self.preprocess + self.inference + self.postprocess
    }
}

/// A loaded object detector: a YOLO model on one inference backend.
///
/// Cloning is cheap and clones share the model; [`detect`](Self::detect) may run on
/// several threads at once. It is blocking, CPU-heavy work (tens to hundreds of
/// milliseconds): async code goes through [`DetectorPool`](crate::DetectorPool).
#[derive(Clone)]
pub struct Detector {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Box<dyn InferenceBackend>,
    info: ModelInfo,
    confidence: f32,
    iou: f32,
    max_detections: usize,
    max_pixels: u64,
    /// ONNX Runtime's library and how it was found, when it is the backend.
    library: Option<LibraryChoice>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("backend", &self.backend())
            .field("model", &self.inner.info.path)
            .field("classes", &self.inner.info.labels.len())
            .finish()
    }
}

impl Detector {
    /// Loads a model with the default options: ONNX Runtime if its library loads, tract
    /// otherwise (the log says which).
    pub fn load(path: impl AsRef<Path>) -> Result<Detector, VisionError> {
        Detector::load_with(path, &DetectorOptions::default())
    }

    /// Loads a model with the given options.
    ///
    /// Labels come from the model's `names` metadata (the COCO-80 list if it has none) and
    /// the input size from its input shape; see [`ModelInfo`].
    pub fn load_with(
        path: impl AsRef<Path>,
        options: &DetectorOptions,
    ) -> Result<Detector, VisionError> {
        let path = path.as_ref();
        let bytes = read_model_file(path)?;
        Detector::load_bytes(path, &bytes, options)
    }

    /// Loads the model built into the program ([`BUILTIN_MODEL`]).
    pub fn load_builtin(options: &DetectorOptions) -> Result<Detector, VisionError> {
        Detector::load_bytes(Path::new(BUILTIN_MODEL_NAME), BUILTIN_MODEL, options)
    }

    /// Loads a model from the bytes of an ONNX file; `path` names it in logs and errors (the
    /// file's path, or [`BUILTIN_MODEL_NAME`]).
    pub fn load_bytes(
        path: &Path,
        bytes: &[u8],
        options: &DetectorOptions,
    ) -> Result<Detector, VisionError> {
        check_thresholds(options, path)?;
        let proto = parse_proto(path, bytes)?;
        let info = ModelInfo::from_proto(path, &proto)?;
        let choice = locate_library(options.onnxruntime_library.as_deref());
        let library = choice.path.clone();
        let threads = options.onnxruntime_threads.unwrap_or_else(available_cores);
        let backend: Box<dyn InferenceBackend> = match options.backend {
            BackendChoice::Tract => Box::new(TractBackend::load(&proto, &info)?),
            BackendChoice::OnnxRuntime => {
                Box::new(OnnxRuntimeBackend::load(&info, bytes, &library, threads)?)
            }
            BackendChoice::Auto => {
                match OnnxRuntimeBackend::load(&info, bytes, &library, threads) {
                    Ok(ort) => Box::new(ort),
                    Err(e) => {
                        tracing::info!(
                            reason = %e,
                            "ONNX Runtime is not available; using the pure-Rust tract backend"
                        );
                        Box::new(TractBackend::load(&proto, &info)?)
                    }
                }
            }
        };
        tracing::info!(
            backend = %backend.kind(),
            library = %if backend.kind() == BackendKind::OnnxRuntime {
                library.display().to_string()
            } else {
                "-".to_owned()
            },
            found_by = if backend.kind() == BackendKind::OnnxRuntime { choice.found_by } else { "-" },
            model = %path.display(),
            input = %format!("{}x{}", info.input_width, info.input_height),
            classes = info.labels.len(),
            "object detector loaded"
        );
        let on_ort = backend.kind() == BackendKind::OnnxRuntime;
        let mut detector = Detector::from_backend(backend, info, options)?;
        if on_ort && let Some(inner) = Arc::get_mut(&mut detector.inner) {
            inner.library = Some(choice);
        }
        Ok(detector)
    }

    /// Builds a detector around an already loaded backend (another engine, or a fake in
    /// tests). `info` must describe the model the backend runs.
    pub fn from_backend(
        backend: Box<dyn InferenceBackend>,
        info: ModelInfo,
        options: &DetectorOptions,
    ) -> Result<Detector, VisionError> {
        check_thresholds(options, &info.path)?;
        Ok(Detector {
            inner: Arc::new(Inner {
                backend,
                info,
                confidence: options.confidence,
                iou: options.iou,
                max_detections: options.max_detections,
                max_pixels: options.max_pixels,
                library: None,
            }),
        })
    }

    /// ONNX Runtime's library and how it was found, when that is the backend.
    pub fn library(&self) -> Option<&LibraryChoice> {
        self.inner.library.as_ref()
    }

    /// The model's interface: labels, input size.
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// The backend running the model.
    pub fn backend(&self) -> BackendKind {
        self.inner.backend.kind()
    }

    /// Finds objects in a JPEG. Blocking; see the type's documentation.
    pub fn detect(&self, jpeg: &[u8]) -> Result<Vec<Detection>, VisionError> {
        self.detect_timed(jpeg).map(|(d, _)| d)
    }

    /// Like [`detect`](Self::detect), and says where the time went.
    pub fn detect_timed(&self, jpeg: &[u8]) -> Result<(Vec<Detection>, StageTimes), VisionError> {
        self.analyze_timed(jpeg)
            .map(|(analysis, times)| (analysis.detections, times))
    }

    /// Finds objects in a JPEG and takes its [`Signature`] from the same decode.
    pub fn analyze(&self, jpeg: &[u8]) -> Result<Analysis, VisionError> {
        self.analyze_timed(jpeg).map(|(analysis, _)| analysis)
    }

    fn analyze_timed(&self, jpeg: &[u8]) -> Result<(Analysis, StageTimes), VisionError> {
        let info = &self.inner.info;
        let start = Instant::now();
        let decoded = preprocess::decode_jpeg_limited(
            jpeg,
            info.input_width,
            info.input_height,
            self.inner.max_pixels,
        )?;
        let signature = Signature::of(&decoded.image);
        let input = preprocess::letterbox_image(
            &decoded.image,
            decoded.display_width,
            decoded.display_height,
            info.input_width,
            info.input_height,
        );
        let prepared = Instant::now();
        let output = self.inner.backend.run(&input.data, input.shape)?;
        let inferred = Instant::now();
        let candidates = postprocess::decode_output(
            &output.data,
            &output.shape,
            info.labels.len(),
            self.inner.confidence,
        )?;
        let kept = postprocess::nms(candidates, self.inner.iou, self.inner.max_detections);
        let detections = postprocess::to_detections(&kept, &input.letterbox, &info.labels);
        let times = StageTimes {
            preprocess: prepared - start,
            inference: inferred - prepared,
            postprocess: inferred.elapsed(),
        };
        Ok((
            Analysis {
                detections,
                signature,
            },
            times,
        ))
    }
}

/// What [`Detector::analyze`] finds in a picture.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The objects, most confident first.
    pub detections: Vec<Detection>,
    /// The picture's signature, for spotting near-duplicates.
    pub signature: Signature,
}

/// Refuses thresholds that would make every picture empty or every box survive.
fn check_thresholds(options: &DetectorOptions, path: &Path) -> Result<(), VisionError> {
    let reason = if !(options.confidence > 0.0 && options.confidence <= 1.0) {
        format!("confidence {} is not in (0, 1]", options.confidence)
    } else if !(0.0..=1.0).contains(&options.iou) {
        format!("IoU threshold {} is not in [0, 1]", options.iou)
    } else {
        return Ok(());
    };
    Err(VisionError::Model {
        path: path.to_path_buf(),
        reason,
    })
}

/// The number of cores this process may use (1 if unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/yolov12n.onnx")
    }

    // This test binary never loads ONNX Runtime (the integration tests do), so a missing
    // library really is missing here.
    #[test]
    fn auto_falls_back_to_tract_when_onnxruntime_is_missing() {
        let options = DetectorOptions {
            onnxruntime_library: Some("/nonexistent/libonnxruntime.so".into()),
            ..DetectorOptions::default()
        };
        let detector = Detector::load_with(model(), &options).unwrap();
        assert_eq!(detector.backend(), BackendKind::Tract);
        assert_eq!(detector.info().labels.len(), 80);

        let forced = DetectorOptions {
            backend: BackendChoice::OnnxRuntime,
            ..options
        };
        assert!(matches!(
            Detector::load_with(model(), &forced),
            Err(VisionError::BackendUnavailable(_))
        ));
    }

    #[test]
    fn the_built_in_model_loads_without_any_file() {
        let options = DetectorOptions {
            backend: BackendChoice::Tract,
            ..DetectorOptions::default()
        };
        let detector = Detector::load_builtin(&options).unwrap();
        assert_eq!(detector.info().path, Path::new(BUILTIN_MODEL_NAME));
        assert_eq!(detector.info().labels.len(), 80);
        assert_eq!(detector.info().input_width, 640);
    }

    #[test]
    fn thresholds_are_checked() {
        let bad = DetectorOptions {
            backend: BackendChoice::Tract,
            confidence: 0.0,
            ..DetectorOptions::default()
        };
        assert!(matches!(
            Detector::load_with(model(), &bad),
            Err(VisionError::Model { .. })
        ));
    }
}
