//! The measurement's entry point.

use super::accuracy::{prepare, run_trials};
use super::photos::ObjectSpec;
use super::report::TeachReport;
use super::timing::run_timing;
use crate::bench::{BenchSetup, NamedImage};
use crate::{DEFAULT_MATCH_THRESHOLD, Template, VisionError};

/// What to measure.
#[derive(Debug, Clone)]
pub struct TeachBenchSetup {
    /// The photographs ([`super::PHOTOS`], see [`super::load_photos`]).
    pub photos: Vec<NamedImage>,
    /// The objects to teach ([`super::OBJECTS`]).
    pub objects: Vec<ObjectSpec>,
    /// Pastes of each object on each other photograph.
    pub variations: usize,
    /// Seed of the random pastes.
    pub seed: u64,
    /// The detector to compare time with; `None` times the matcher alone.
    pub detector: Option<BenchSetup>,
    /// Passes over the pictures when timing.
    pub timing_iterations: usize,
}

/// Runs the measurement: teaches every object from its photograph, pastes it
/// `variations` times on every other photograph (scale 0.7–1.4, ±10°, brightness, JPEG
/// quality), searches every picture for every template, and times a snapshot with three
/// templates against detection on each backend.
pub fn run(setup: &TeachBenchSetup) -> Result<TeachReport, VisionError> {
    let mut refused = Vec::new();
    let prepared = prepare(&setup.photos, &setup.objects, &mut refused)?;
    let trials = run_trials(&prepared, &setup.objects, setup.variations, setup.seed)?;
    let mut report = TeachReport::new(
        setup.photos.iter().map(|p| p.name.clone()).collect(),
        setup.objects.iter().map(|o| o.name.to_string()).collect(),
        setup.variations,
        setup.seed,
        &trials,
        DEFAULT_MATCH_THRESHOLD,
    );
    report.refused = refused;
    let templates: Vec<&Template> = prepared.templates.iter().flatten().collect();
    report.template_bytes = templates
        .iter()
        .map(|t| t.to_bytes().len())
        .max()
        .unwrap_or(0);
    let three: Vec<&Template> = templates.iter().take(3).copied().collect();
    report.timing = run_timing(
        &prepared.snapshots,
        &three,
        setup.detector.as_ref(),
        setup.timing_iterations,
    )?;
    Ok(report)
}
