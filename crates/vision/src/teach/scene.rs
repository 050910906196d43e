//! A picture prepared once to look for taught objects in it: a scale pyramid of cell
//! descriptors, and the grey levels and colours to describe candidates again.

use image::RgbImage;

use super::correlate::{Candidates, Level, Probe};
use super::features::{CELL, ColourSums, Picture};
use super::plane::Plane;
use super::refine::{Pose, Refiner};
use super::template::{MIN_SIDE_CELLS, Template};
use super::template_match::TemplateMatch;
use crate::preprocess::{decode_jpeg_limited, fit_size};
use crate::{BBox, VisionError};

/// The scene is described from a copy whose long side is at most this many pixels: an
/// object must be about 32 pixels of it (5 % of the long side) to fill a template's 8×8
/// cells at the finest scale.
pub const SCENE_SIDE: u32 = 640;
/// Scales per octave of the pyramid: a step of 19 %, so an object is never more than about
/// 9 % off a scale that is tried (the second look closes the rest).
const LEVELS_PER_OCTAVE: usize = 3;
/// Windows given a second look per template.
const CANDIDATES: usize = 4;

/// A picture prepared once (decoded, scaled, features computed) to look for several
/// templates in it.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Finest first; the first is the base picture's size.
    levels: Vec<Level>,
    /// The grey levels of each level, for second looks.
    greys: Vec<Plane>,
    /// Colour sums of the base picture.
    colour: ColourSums,
    /// The base picture's size.
    base: (usize, usize),
}

impl Scene {
    /// Decodes a JPEG (shrunk while decoding when it is large) and prepares it.
    ///
    /// Errors: not a JPEG / undecodable ([`VisionError::Decode`]), more than `max_pixels`
    /// pixels ([`VisionError::TooLarge`]).
    pub fn from_jpeg(jpeg: &[u8], max_pixels: u64) -> Result<Scene, VisionError> {
        let decoded = decode_jpeg_limited(jpeg, SCENE_SIDE, SCENE_SIDE, max_pixels)?;
        Ok(Scene::from_image(&decoded.image))
    }

    /// Prepares an upright, decoded picture.
    pub fn from_image(image: &RgbImage) -> Scene {
        let (iw, ih) = (image.width(), image.height());
        let (bw, bh) = if iw.max(ih) > SCENE_SIDE {
            fit_size(iw, ih, SCENE_SIDE, SCENE_SIDE)
        } else {
            (iw, ih)
        };
        let (bw, bh) = (bw as usize, bh as usize);
        let picture = Picture::from_rgb_resized(image, bw, bh);
        let mut levels = Vec::new();
        let mut greys: Vec<Plane> = Vec::new();
        for k in 0.. {
            let s = 0.5f32.powf(k as f32 / LEVELS_PER_OCTAVE as f32);
            let (lw, lh) = (
                (bw as f32 * s).round() as usize,
                (bh as f32 * s).round() as usize,
            );
            if lw / CELL < MIN_SIDE_CELLS || lh / CELL < MIN_SIDE_CELLS {
                break;
            }
            // Each level is resampled from the one an octave finer (or the base), which
            // costs a quarter of resampling the base every time and averages the same pixels.
            let source = if k >= LEVELS_PER_OCTAVE {
                &greys[k - LEVELS_PER_OCTAVE]
            } else {
                &picture.grey
            };
            let grey = source.resized(lw, lh);
            let grid = picture.describe_scaled(&grey);
            // Scale as level pixels per unit of the normalized picture: boxes need no other
            // size.
            levels.push(Level::new(grid, (lw as f32, lh as f32)));
            greys.push(grey);
        }
        Scene {
            levels,
            greys,
            colour: picture.colour,
            base: (bw, bh),
        }
    }

    /// The best place of `template` in the picture, if its similarity reaches `threshold`.
    ///
    /// Every window of every scale is scored; the few best places are described again on
    /// the template's own grid and nudged in position, size and turn while the score
    /// improves. The score is that of the best place after this second look.
    pub fn find(&self, template: &Template, threshold: f32) -> Option<TemplateMatch> {
        let probe = Probe::new(template.cells());
        let mut candidates = Candidates::new(CANDIDATES);
        for (k, level) in self.levels.iter().enumerate() {
            probe.scan(level, k, &mut candidates);
        }
        let refiner = Refiner {
            greys: &self.greys,
            colour: &self.colour,
            base: self.base,
        };
        let (bw, bh) = (self.base.0 as f32, self.base.1 as f32);
        let (pose, score) = candidates
            .into_vec()
            .into_iter()
            .map(|c| {
                let [x1, y1, x2, y2] = c.bbox;
                let start = Pose {
                    cx: (x1 + x2) / 2.0 * bw,
                    cy: (y1 + y2) / 2.0 * bh,
                    w: (x2 - x1) * bw,
                    h: (y2 - y1) * bh,
                    angle: 0.0,
                };
                refiner.climb(&probe, start)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        // A NaN threshold or score is no match.
        if score.partial_cmp(&threshold).is_none_or(|o| o.is_lt()) {
            return None;
        }
        Some(TemplateMatch {
            bbox: clamp_box(
                (pose.cx - pose.w / 2.0) / bw,
                (pose.cy - pose.h / 2.0) / bh,
                pose.w / bw,
                pose.h / bh,
            ),
            score,
        })
    }
}

/// The box cut to the picture.
fn clamp_box(x: f32, y: f32, w: f32, h: f32) -> BBox {
    let (x0, y0) = (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0));
    let (x1, y1) = ((x + w).clamp(0.0, 1.0), (y + h).clamp(0.0, 1.0));
    BBox {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use image::imageops::FilterType;

    /// A textured background (no repeating pattern a template could latch onto).
    fn background(w: u32, h: u32, seed: u32) -> RgbImage {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut blobs = Vec::new();
        for _ in 0..40 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let cx = (state >> 8) % w;
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let cy = (state >> 8) % h;
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let r = 5 + (state >> 8) % 40;
            let c = [(state >> 3) as u8, (state >> 11) as u8, (state >> 19) as u8];
            blobs.push((cx, cy, r, c));
        }
        RgbImage::from_fn(w, h, |x, y| {
            let mut p = Rgb([120, 110, 100]);
            for &(cx, cy, r, c) in &blobs {
                let (dx, dy) = (x.abs_diff(cx), y.abs_diff(cy));
                if dx * dx + dy * dy < r * r {
                    p = Rgb(c);
                }
            }
            p
        })
    }

    /// An object: a red disc and a dark bar on a yellow card.
    fn object(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let (dx, dy) = (fx - 0.35, fy - 0.4);
            if dx * dx + dy * dy < 0.05 {
                Rgb([210, 30, 30])
            } else if (0.6..0.8).contains(&fx) && (0.2..0.9).contains(&fy) {
                Rgb([30, 30, 60])
            } else {
                Rgb([230, 200, 60])
            }
        })
    }

    fn paste(onto: &mut RgbImage, what: &RgbImage, x: u32, y: u32) {
        image::imageops::replace(onto, what, i64::from(x), i64::from(y));
    }

    #[test]
    fn finds_a_pasted_object_at_another_place_and_size() {
        let mut source = background(400, 300, 1);
        paste(&mut source, &object(80, 60), 50, 40);
        let template = Template::from_image(
            &source,
            BBox {
                x: 50.0 / 400.0,
                y: 40.0 / 300.0,
                w: 80.0 / 400.0,
                h: 60.0 / 300.0,
            },
        )
        .unwrap();

        let mut scene_image = background(500, 400, 2);
        let bigger = image::imageops::resize(&object(80, 60), 104, 78, FilterType::Triangle);
        paste(&mut scene_image, &bigger, 300, 250);
        let scene = Scene::from_image(&scene_image);
        let found = scene.find(&template, 0.3).expect("found");
        let truth = BBox {
            x: 300.0 / 500.0,
            y: 250.0 / 400.0,
            w: 104.0 / 500.0,
            h: 78.0 / 400.0,
        };
        assert!(found.bbox.iou(&truth) > 0.6, "{found:?}");
        assert!(found.score > 0.7, "{found:?}");

        // Not in a picture without it (at a threshold that keeps the true match).
        let empty = Scene::from_image(&background(500, 400, 3));
        let threshold = found.score - 0.15;
        assert!(empty.find(&template, threshold).is_none());
        // A threshold above 1 never matches, a NaN one neither.
        assert!(scene.find(&template, 1.01).is_none());
        assert!(scene.find(&template, f32::NAN).is_none());
    }

    #[test]
    fn tiny_and_odd_pictures_do_not_panic() {
        let template = Template::from_image(
            &object(60, 60),
            BBox {
                x: 0.0,
                y: 0.0,
                w: 1.0,
                h: 1.0,
            },
        )
        .unwrap();
        for (w, h) in [(1, 1), (5, 300), (300, 5), (12, 12), (40, 13)] {
            let scene = Scene::from_image(&RgbImage::from_pixel(w, h, Rgb([9, 9, 9])));
            assert!(scene.find(&template, -1.0).is_none_or(|m| m.bbox.w <= 1.0));
        }
    }

    #[test]
    fn large_pictures_are_described_at_the_scene_side() {
        let scene = Scene::from_image(&background(1600, 1200, 4));
        let finest = &scene.levels[0];
        assert_eq!(finest.grid.width, SCENE_SIDE as usize / CELL);
        assert_eq!(finest.grid.height, 480 / CELL);
    }
}
