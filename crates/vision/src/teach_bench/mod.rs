//! Measurement of the taught-object matcher ([`crate::teach`]) on pictures made from real
//! photographs, and of its cost against detection. Entry point of `switchboard bench teach`.
//!
//! Each object of [`OBJECTS`] is taught from the box drawn on its original photograph, then
//! its crop is pasted onto every other photograph of [`PHOTOS`] (all brought to a 640-pixel
//! long side) at a random place, scale 0.7–1.4, rotation ±10°, brightness gain 0.6–1.4 and
//! offset ±25, and re-encoded as a JPEG of quality 60–92. Every picture is searched for every
//! template: the pasted one must be found with IoU ≥ 0.5 (recall); the others, and every
//! plain photograph, must not match (false matches).

mod accuracy;
mod composite;
mod photos;
mod report;
mod run;
mod timing;

pub use accuracy::{NegativeTrial, PositiveTrial};
pub use composite::{Rng, SNAPSHOT_SIDE, Variation, encode_jpeg, paste, snapshot_size};
pub use photos::{OBJECTS, ObjectSpec, PHOTOS, load_photos};
pub use report::{
    GroupRecall, MIN_IOU, SUGGESTION_FALSE_MATCHES, TeachReport, ThresholdRow, WorstNegative,
};
pub use run::{TeachBenchSetup, run};
pub use timing::{DetectionTiming, TeachTiming};
