//! Detector benchmark: both backends side by side on the same pictures, and what
//! scaled JPEG decoding saves on a 12-megapixel photo. Entry point of
//! `switchboard bench detect`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use serde::Serialize;

use crate::backend::{BackendChoice, BackendKind};
use crate::preprocess::{decode_full, fit_size, prepare};
use crate::{Detector, DetectorOptions, VisionError, available_cores};

/// A picture to benchmark on.
#[derive(Debug, Clone)]
pub struct NamedImage {
    /// A name for reports (e.g. the file name).
    pub name: String,
    /// The JPEG bytes.
    pub jpeg: Bytes,
}

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct BenchSetup {
    /// The ONNX model file, or [`BUILTIN_MODEL_NAME`](crate::BUILTIN_MODEL_NAME) for the
    /// model built into the program.
    pub model: PathBuf,
    /// ONNX Runtime's library, as in [`DetectorOptions::onnxruntime_library`].
    pub onnxruntime_library: Option<PathBuf>,
}

/// Figures for one backend.
#[derive(Debug, Clone, Serialize)]
pub struct BackendFigures {
    /// The backend.
    pub backend: BackendKind,
    /// Why it could not be measured (e.g. ONNX Runtime's library is missing); the figures
    /// are zero then.
    pub unavailable: Option<String>,
    /// Loading and optimizing the model, in milliseconds.
    pub load_ms: f64,
    /// Mean time of one whole detection (decode to boxes) on one thread, in milliseconds.
    pub ms_per_image: f64,
    /// `1000 / ms_per_image`: pictures per second on one thread.
    pub images_per_second: f64,
    /// Pictures per second with one detecting thread per core (the pool's throughput).
    pub parallel_images_per_second: f64,
    /// Mean decode + letterbox time, in milliseconds.
    pub preprocess_ms: f64,
    /// Mean model time, in milliseconds.
    pub inference_ms: f64,
    /// Mean output decoding + suppression time, in milliseconds.
    pub postprocess_ms: f64,
    /// Detections found in each picture (first run), to check both backends agree.
    pub detections: Vec<usize>,
}

/// Decoding figures for one large photo.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeFigures {
    /// The photo's width.
    pub width: u32,
    /// The photo's height.
    pub height: u32,
    /// Its size in bytes.
    pub bytes: usize,
    /// Decode with DCT scaling, letterbox and normalize (what the detector does), ms.
    pub scaled_ms: f64,
    /// Full-size decode (zune-jpeg via `image`), ms.
    pub full_decode_ms: f64,
    /// Full-size decode, resize and letterbox (the naive way), ms.
    pub full_decode_and_resize_ms: f64,
}

/// The benchmark's results.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The model file.
    pub model: PathBuf,
    /// The model's input width and height.
    pub input: (u32, u32),
    /// The pictures' names.
    pub images: Vec<String>,
    /// How many times each picture was detected per backend.
    pub iterations: usize,
    /// Cores available (threads in the parallel figure).
    pub cores: usize,
    /// One entry per backend, ONNX Runtime first.
    pub backends: Vec<BackendFigures>,
    /// A 12-megapixel photo made from the first picture.
    pub decode_12mp: Option<DecodeFigures>,
}

/// Runs the benchmark: for each backend, loads the model, warms up with one pass, then
/// detects every picture `iterations` times on one thread and again on one thread per
/// core; then times decoding a 12-megapixel upscale of the first picture (made here, in
/// memory) with and without DCT scaling.
///
/// A backend that cannot load is reported as unavailable, not as an error; an error is a
/// picture that fails to decode or a model that loads on neither backend.
pub fn run(
    setup: &BenchSetup,
    images: &[NamedImage],
    iterations: usize,
) -> Result<BenchReport, VisionError> {
    let iterations = iterations.max(1);
    let cores = available_cores();
    let mut backends = Vec::new();
    let mut input = (0, 0);
    for choice in [BackendChoice::OnnxRuntime, BackendChoice::Tract] {
        let kind = match choice {
            BackendChoice::Tract => BackendKind::Tract,
            _ => BackendKind::OnnxRuntime,
        };
        let options = DetectorOptions {
            backend: choice,
            onnxruntime_library: setup.onnxruntime_library.clone(),
            ..DetectorOptions::default()
        };
        let start = Instant::now();
        // The built-in model stands for itself by name (nothing of that name is on disk).
        let loaded = if setup.model == Path::new(crate::BUILTIN_MODEL_NAME) {
            Detector::load_builtin(&options)
        } else {
            Detector::load_with(&setup.model, &options)
        };
        let detector = match loaded {
            Ok(d) => d,
            Err(e @ VisionError::BackendUnavailable(_)) => {
                backends.push(unavailable(kind, e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        let load = start.elapsed();
        input = (detector.info().input_width, detector.info().input_height);
        backends.push(measure(&detector, load, images, iterations, cores)?);
    }
    let decode_12mp = match images.first() {
        Some(first) => Some(decode_figures(&first.jpeg, input, iterations)?),
        None => None,
    };
    Ok(BenchReport {
        model: setup.model.clone(),
        input,
        images: images.iter().map(|i| i.name.clone()).collect(),
        iterations,
        cores,
        backends,
        decode_12mp,
    })
}

fn unavailable(backend: BackendKind, reason: String) -> BackendFigures {
    BackendFigures {
        backend,
        unavailable: Some(reason),
        load_ms: 0.0,
        ms_per_image: 0.0,
        images_per_second: 0.0,
        parallel_images_per_second: 0.0,
        preprocess_ms: 0.0,
        inference_ms: 0.0,
        postprocess_ms: 0.0,
        detections: Vec::new(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn measure(
    detector: &Detector,
    load: Duration,
    images: &[NamedImage],
    iterations: usize,
    cores: usize,
) -> Result<BackendFigures, VisionError> {
    let mut detections = Vec::new();
    for image in images {
        detections.push(detector.detect(&image.jpeg)?.len());
    }
    let (mut pre, mut inf, mut post) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let start = Instant::now();
    for _ in 0..iterations {
        for image in images {
            let (_, t) = detector.detect_timed(&image.jpeg)?;
            pre += t.preprocess;
            inf += t.inference;
            post += t.postprocess;
        }
    }
    let sequential = start.elapsed();
    let runs = (iterations * images.len()).max(1) as f64;

    // One thread per core, each detecting every picture `iterations` times.
    let start = Instant::now();
    let results: Vec<Result<(), VisionError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..iterations {
                        for image in images {
                            detector.detect(&image.jpeg)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(VisionError::Inference("a benchmark thread panicked".into()))
                })
            })
            .collect()
    });
    let parallel = start.elapsed();
    results.into_iter().collect::<Result<Vec<()>, _>>()?;

    let ms_per_image = ms(sequential) / runs;
    Ok(BackendFigures {
        backend: detector.backend(),
        unavailable: None,
        load_ms: ms(load),
        ms_per_image,
        images_per_second: if ms_per_image > 0.0 {
            1000.0 / ms_per_image
        } else {
            0.0
        },
        parallel_images_per_second: runs * cores as f64 / parallel.as_secs_f64().max(1e-9),
        preprocess_ms: ms(pre) / runs,
        inference_ms: ms(inf) / runs,
        postprocess_ms: ms(post) / runs,
        detections,
    })
}

/// Makes a 12-megapixel JPEG from `jpeg` (long side 4000, short side 3000) and times the
/// two ways to get it into the model.
fn decode_figures(
    jpeg: &[u8],
    (input_w, input_h): (u32, u32),
    iterations: usize,
) -> Result<DecodeFigures, VisionError> {
    let (input_w, input_h) = if input_w == 0 {
        (640, 640)
    } else {
        (input_w, input_h)
    };
    let source = decode_full(jpeg)?;
    let (w, h) = if source.width() >= source.height() {
        (4000, 3000)
    } else {
        (3000, 4000)
    };
    let big = image::imageops::resize(&source, w, h, FilterType::Triangle);
    let mut big_jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut big_jpeg, 90)
        .encode_image(&big)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    drop(big);

    let time = |f: &dyn Fn() -> Result<(), VisionError>| -> Result<f64, VisionError> {
        f()?;
        let start = Instant::now();
        for _ in 0..iterations {
            f()?;
        }
        Ok(ms(start.elapsed()) / iterations as f64)
    };
    let scaled_ms = time(&|| prepare(&big_jpeg, input_w, input_h).map(drop))?;
    let full_decode_ms = time(&|| decode_full(&big_jpeg).map(drop))?;
    let full_decode_and_resize_ms = time(&|| {
        let full = decode_full(&big_jpeg)?;
        let (cw, ch) = fit_size(full.width(), full.height(), input_w, input_h);
        let small = image::imageops::resize(&full, cw, ch, FilterType::Triangle);
        crate::preprocess::letterbox_image(&small, full.width(), full.height(), input_w, input_h);
        Ok(())
    })?;
    Ok(DecodeFigures {
        width: w,
        height: h,
        bytes: big_jpeg.len(),
        scaled_ms,
        full_decode_ms,
        full_decode_and_resize_ms,
    })
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "model {} ({}x{}), {} picture(s) x {} iteration(s), {} core(s)",
            self.model.display(),
            self.input.0,
            self.input.1,
            self.images.len(),
            self.iterations,
            self.cores
        )?;
        writeln!(
            f,
            "{:<12} {:>9} {:>9} {:>9} {:>12} {:>9} {:>9} {:>9}  detections",
            "backend", "load ms", "ms/img", "img/s", "img/s (all)", "pre ms", "model ms", "post ms"
        )?;
        for b in &self.backends {
            match &b.unavailable {
                Some(reason) => writeln!(f, "{:<12} unavailable: {reason}", b.backend.name())?,
                None => writeln!(
                    f,
                    "{:<12} {:>9.0} {:>9.1} {:>9.2} {:>12.2} {:>9.1} {:>9.1} {:>9.2}  {:?}",
                    b.backend.name(),
                    b.load_ms,
                    b.ms_per_image,
                    b.images_per_second,
                    b.parallel_images_per_second,
                    b.preprocess_ms,
                    b.inference_ms,
                    b.postprocess_ms,
                    b.detections
                )?,
            }
        }
        if let Some(d) = &self.decode_12mp {
            writeln!(
                f,
                "{}x{} JPEG ({} KiB): DCT-scaled decode + letterbox {:.1} ms; full decode {:.1} ms, + resize + letterbox {:.1} ms",
                d.width,
                d.height,
                d.bytes / 1024,
                d.scaled_ms,
                d.full_decode_ms,
                d.full_decode_and_resize_ms
            )?;
        }
        Ok(())
    }
}
