//! What looking for three taught objects costs against detecting objects in the same
//! snapshot, on each inference backend.

use std::time::Instant;

use image::RgbImage;
use image::imageops::FilterType;
use serde::Serialize;

use super::composite::encode_jpeg;
use crate::bench::BenchSetup;
use crate::preprocess::{MAX_PIXELS, fit_size};
use crate::{BackendChoice, Detector, DetectorOptions, Scene, Template, VisionError};

/// Detection time on one backend, and the matcher's cost against it.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionTiming {
    /// The backend and its threads, e.g. `onnxruntime, 1 thread`.
    pub backend: String,
    /// Why it could not be measured; the figures are zero then.
    pub unavailable: Option<String>,
    /// Mean time of one detection (decode to boxes), in milliseconds.
    pub detect_ms: f64,
    /// Matcher time with three templates divided by detection time.
    pub ratio: f64,
}

/// Timing for one picture size.
#[derive(Debug, Clone, Serialize)]
pub struct TeachTiming {
    /// The pictures' size, e.g. `640x480`.
    pub size: String,
    /// Pictures timed.
    pub pictures: usize,
    /// Mean time to prepare a scene (decode, pyramid, descriptors), in milliseconds.
    pub scene_ms: f64,
    /// Mean time of one template's search in a prepared scene, in milliseconds.
    pub find_ms: f64,
    /// A scene and three searches: what a snapshot costs with three taught objects.
    pub three_templates_ms: f64,
    /// Detection on each backend.
    pub detection: Vec<DetectionTiming>,
}

/// Times the matcher (one scene and three templates per picture) and detection on every
/// backend that loads, on the pictures as given and again enlarged to a 1920-pixel long
/// side (a 1080p camera).
pub(crate) fn run_timing(
    pictures: &[RgbImage],
    templates: &[&Template],
    setup: Option<&BenchSetup>,
    iterations: usize,
) -> Result<Vec<TeachTiming>, VisionError> {
    let iterations = iterations.max(1);
    let detectors = load_detectors(setup)?;
    let mut out = Vec::new();
    for long_side in [None, Some(1920)] {
        let mut jpegs = Vec::new();
        for p in pictures {
            let image = match long_side {
                Some(side) => {
                    let (w, h) = fit_size(p.width(), p.height(), side, side);
                    image::imageops::resize(p, w, h, FilterType::Triangle)
                }
                None => p.clone(),
            };
            jpegs.push((image.dimensions(), encode_jpeg(&image, 85)?));
        }
        let size = jpegs
            .first()
            .map(|((w, h), _)| format!("{w}x{h}"))
            .unwrap_or_default();
        let runs = (iterations * jpegs.len()).max(1) as f64;

        // Warm up, then time scenes and searches separately.
        for (_, jpeg) in &jpegs {
            Scene::from_jpeg(jpeg, MAX_PIXELS)?;
        }
        let (mut scene_s, mut find_s) = (0.0, 0.0);
        for _ in 0..iterations {
            for (_, jpeg) in &jpegs {
                let start = Instant::now();
                let scene = Scene::from_jpeg(jpeg, MAX_PIXELS)?;
                scene_s += start.elapsed().as_secs_f64();
                let start = Instant::now();
                for t in templates {
                    std::hint::black_box(scene.find(t, -1.0));
                }
                find_s += start.elapsed().as_secs_f64();
            }
        }
        let scene_ms = scene_s * 1000.0 / runs;
        let find_ms = find_s * 1000.0 / runs / templates.len().max(1) as f64;
        let three_templates_ms = scene_ms + 3.0 * find_ms;

        let mut detection = Vec::new();
        for (label, detector) in &detectors {
            let detector = match detector {
                Ok(d) => d,
                Err(reason) => {
                    detection.push(DetectionTiming {
                        backend: label.clone(),
                        unavailable: Some(reason.clone()),
                        detect_ms: 0.0,
                        ratio: 0.0,
                    });
                    continue;
                }
            };
            for (_, jpeg) in &jpegs {
                detector.detect(jpeg)?;
            }
            let start = Instant::now();
            for _ in 0..iterations {
                for (_, jpeg) in &jpegs {
                    std::hint::black_box(detector.detect(jpeg)?);
                }
            }
            let detect_ms = start.elapsed().as_secs_f64() * 1000.0 / runs;
            detection.push(DetectionTiming {
                backend: label.clone(),
                unavailable: None,
                detect_ms,
                ratio: if detect_ms > 0.0 {
                    three_templates_ms / detect_ms
                } else {
                    0.0
                },
            });
        }
        out.push(TeachTiming {
            size,
            pictures: jpegs.len(),
            scene_ms,
            find_ms,
            three_templates_ms,
            detection,
        });
    }
    Ok(out)
}

type Loaded = (String, Result<Detector, String>);

/// ONNX Runtime on every core and on one (the matcher uses one), and tract; a backend that
/// does not load is kept with the reason.
fn load_detectors(setup: Option<&BenchSetup>) -> Result<Vec<Loaded>, VisionError> {
    let Some(setup) = setup else {
        return Ok(Vec::new());
    };
    let variants = [
        ("onnxruntime, all cores", BackendChoice::OnnxRuntime, None),
        ("onnxruntime, 1 thread", BackendChoice::OnnxRuntime, Some(1)),
        ("tract, 1 thread", BackendChoice::Tract, None),
    ];
    let mut out = Vec::new();
    for (label, backend, threads) in variants {
        let options = DetectorOptions {
            backend,
            onnxruntime_library: setup.onnxruntime_library.clone(),
            onnxruntime_threads: threads,
            ..DetectorOptions::default()
        };
        match Detector::load_with(&setup.model, &options) {
            Ok(d) => out.push((label.to_string(), Ok(d))),
            Err(e @ VisionError::BackendUnavailable(_)) => {
                out.push((label.to_string(), Err(e.to_string())));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
