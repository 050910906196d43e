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
    /// Median time of one detection (decode to boxes), in milliseconds.
    pub detect_ms: f64,
    /// Matcher time with three templates divided by detection time.
    pub ratio: f64,
}

/// Timing for one picture size.
#[derive(Debug, Clone, Serialize)]
pub struct TeachTiming {
    /// The pictures' size, e.g. `long side 640`.
    pub size: String,
    /// Pictures timed.
    pub pictures: usize,
    /// Median time to prepare a scene (decode, pyramid, descriptors), in milliseconds.
    pub scene_ms: f64,
    /// Median time of one template's search in a prepared scene, in milliseconds.
    pub find_ms: f64,
    /// A scene and three searches (median): what a snapshot costs with three taught
    /// objects.
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
        let long = jpegs.iter().map(|((w, h), _)| *w.max(h)).max().unwrap_or(0);
        let size = format!("long side {long}");
        // Warm up, then time each picture with the matcher and every detector in turn, so
        // that whatever else the machine is doing weighs on all of them alike; medians, so
        // that a moment of contention does not decide the figure.
        for (_, jpeg) in &jpegs {
            Scene::from_jpeg(jpeg, MAX_PIXELS)?;
            for (_, d) in &detectors {
                if let Ok(d) = d {
                    d.detect(jpeg)?;
                }
            }
        }
        let (mut scenes, mut finds, mut matcher) = (Vec::new(), Vec::new(), Vec::new());
        let mut detect: Vec<Vec<f64>> = vec![Vec::new(); detectors.len()];
        for _ in 0..iterations {
            for (_, jpeg) in &jpegs {
                let start = Instant::now();
                let scene = Scene::from_jpeg(jpeg, MAX_PIXELS)?;
                let scene_s = start.elapsed().as_secs_f64();
                let start = Instant::now();
                for t in templates {
                    std::hint::black_box(scene.find(t, -1.0));
                }
                let find_s = start.elapsed().as_secs_f64() / templates.len().max(1) as f64;
                scenes.push(scene_s);
                finds.push(find_s);
                matcher.push(scene_s + 3.0 * find_s);
                for (i, (_, d)) in detectors.iter().enumerate() {
                    if let Ok(d) = d {
                        let start = Instant::now();
                        std::hint::black_box(d.detect(jpeg)?);
                        detect[i].push(start.elapsed().as_secs_f64());
                    }
                }
            }
        }
        let scene_ms = median_ms(&mut scenes);
        let find_ms = median_ms(&mut finds);
        let three_templates_ms = median_ms(&mut matcher);
        let mut detection = Vec::new();
        for ((label, d), times) in detectors.iter().zip(&mut detect) {
            let detect_ms = median_ms(times);
            detection.push(DetectionTiming {
                backend: label.clone(),
                unavailable: d.as_ref().err().cloned(),
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

/// The median of durations in seconds, in milliseconds (0 when there are none).
fn median_ms(seconds: &mut [f64]) -> f64 {
    if seconds.is_empty() {
        return 0.0;
    }
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2] * 1000.0
}

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
