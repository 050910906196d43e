//! Recall and false matches: every object pasted onto every other photograph a few times,
//! every template looked for in every picture.

use image::RgbImage;
use serde::Serialize;

use super::composite::{Rng, Variation, encode_jpeg, paste, snapshot_size};
use super::photos::ObjectSpec;
use crate::bench::NamedImage;
use crate::preprocess::{MAX_PIXELS, decode_full};
use crate::{BBox, Scene, Template, VisionError};

/// One search for an object that is in the picture.
#[derive(Debug, Clone, Serialize)]
pub struct PositiveTrial {
    /// Index into the objects.
    pub object: usize,
    /// Index into the photographs (the background).
    pub background: usize,
    /// How the pasted copy differs.
    pub variation: Variation,
    /// The best score found (-1 when the scene was too small to search).
    pub score: f32,
    /// Overlap of the best place with the pasted box.
    pub iou: f32,
}

/// One search for an object that is not in the picture.
#[derive(Debug, Clone, Serialize)]
pub struct NegativeTrial {
    /// Index into the objects.
    pub object: usize,
    /// Index into the photographs (the background).
    pub background: usize,
    /// The object pasted on it, if any (otherwise it is the plain photograph).
    pub pasted: Option<usize>,
    /// The best score found.
    pub score: f32,
}

/// All trials of one run.
#[derive(Debug, Clone, Default)]
pub struct Trials {
    /// Searches where the object is present.
    pub positives: Vec<PositiveTrial>,
    /// Searches where it is not.
    pub negatives: Vec<NegativeTrial>,
}

/// Photographs decoded and brought to the snapshot size, with their templates.
pub(crate) struct Prepared {
    pub snapshots: Vec<RgbImage>,
    pub templates: Vec<Option<Template>>,
    pub sources: Vec<Option<usize>>,
    /// The photographs' original sizes (what object boxes are given in).
    pub sizes: Vec<(u32, u32)>,
}

/// Decodes the photographs and teaches every object from its original photograph.
pub(crate) fn prepare(
    photos: &[NamedImage],
    objects: &[ObjectSpec],
    refused: &mut Vec<String>,
) -> Result<Prepared, VisionError> {
    let mut snapshots = Vec::new();
    let mut sizes = Vec::new();
    for photo in photos {
        let full = decode_full(&photo.jpeg)?;
        sizes.push(full.dimensions());
        snapshots.push(snapshot_size(&full));
    }
    let mut templates = Vec::new();
    let mut sources = Vec::new();
    for spec in objects {
        let source = photos.iter().position(|p| p.name == spec.photo);
        sources.push(source);
        let template = match source {
            Some(i) => {
                let (w, h) = sizes[i];
                match Template::from_jpeg(&photos[i].jpeg, spec.bbox(w, h), MAX_PIXELS) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        refused.push(format!("{}: {e}", spec.name));
                        None
                    }
                }
            }
            None => {
                refused.push(format!("{}: photo {} not loaded", spec.name, spec.photo));
                None
            }
        };
        templates.push(template);
    }
    Ok(Prepared {
        snapshots,
        templates,
        sources,
        sizes,
    })
}

/// Runs every trial: `variations` pastes of each object on each photograph but its own,
/// each composite searched for every template (the pasted one is a positive, the others
/// whose photograph is not the background are negatives), and every plain photograph
/// searched for every template taught elsewhere.
pub(crate) fn run_trials(
    prepared: &Prepared,
    objects: &[ObjectSpec],
    variations: usize,
    seed: u64,
) -> Result<Trials, VisionError> {
    let mut trials = Trials::default();
    let mut rng = Rng::new(seed);

    for (b, background) in prepared.snapshots.iter().enumerate() {
        let jpeg = encode_jpeg(background, 85)?;
        let scene = Scene::from_jpeg(&jpeg, MAX_PIXELS)?;
        for (o, template) in prepared.templates.iter().enumerate() {
            let Some(template) = template else { continue };
            if prepared.sources[o] == Some(b) {
                continue;
            }
            trials.negatives.push(NegativeTrial {
                object: o,
                background: b,
                pasted: None,
                score: best(&scene, template).0,
            });
        }
    }

    for (o, spec) in objects.iter().enumerate() {
        let (Some(source), Some(_)) = (prepared.sources[o], &prepared.templates[o]) else {
            continue;
        };
        let source_image = &prepared.snapshots[source];
        let (w, h) = prepared.sizes[source];
        let object_box = spec.bbox(w, h);
        for (b, background) in prepared.snapshots.iter().enumerate() {
            if b == source {
                continue;
            }
            for _ in 0..variations {
                let variation = Variation::random(&mut rng);
                let (composite, truth) =
                    paste(background, source_image, object_box, &variation, &mut rng);
                let jpeg = encode_jpeg(&composite, variation.quality)?;
                let scene = Scene::from_jpeg(&jpeg, MAX_PIXELS)?;
                for (p, template) in prepared.templates.iter().enumerate() {
                    let Some(template) = template else { continue };
                    let (score, place) = best(&scene, template);
                    if p == o {
                        trials.positives.push(PositiveTrial {
                            object: o,
                            background: b,
                            variation,
                            score,
                            iou: place.map_or(0.0, |bbox| bbox.iou(&truth)),
                        });
                    } else if prepared.sources[p] != Some(b) && prepared.sources[p] != Some(source)
                    {
                        // Objects taught from the background's or the pasted crop's own
                        // photograph may really be there: neither counts.
                        trials.negatives.push(NegativeTrial {
                            object: p,
                            background: b,
                            pasted: Some(o),
                            score,
                        });
                    }
                }
            }
        }
    }
    Ok(trials)
}

fn best(scene: &Scene, template: &Template) -> (f32, Option<BBox>) {
    match scene.find(template, -1.0) {
        Some(m) => (m.score, Some(m.bbox)),
        None => (-1.0, None),
    }
}
