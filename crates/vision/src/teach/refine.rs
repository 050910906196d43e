//! Second look at the best candidates: each is described again exactly the way the template
//! was (its box resampled onto the template's own grid, turned if need be), and moved, sized
//! and turned in small steps while the correlation improves.
//!
//! The pyramid search places windows on whole cells of a few fixed scales, so a true match
//! can sit up to half a cell and 9 % of scale off, which costs much of its correlation; clutter
//! loses far less, having no single right place. Describing the candidate on the template's
//! grid gives the true match its full score back and lets the threshold sit well above what
//! clutter reaches.

use super::correlate::Probe;
use super::features::{CELL, CellGrid, ColourSums, describe_patch};
use super::plane::Plane;

/// A place, size and turn in the scene, in pixels of the scene's base picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pose {
    /// Centre, across.
    pub cx: f32,
    /// Centre, down.
    pub cy: f32,
    /// Width (before turning).
    pub w: f32,
    /// Height (before turning).
    pub h: f32,
    /// Turn in radians, clockwise on screen.
    pub angle: f32,
}

/// The largest turn tried, in radians (a little past the ±10° the measurement pastes with).
const MAX_ANGLE: f32 = 12.0 * std::f32::consts::PI / 180.0;

/// What a candidate is described from: the pyramid's grey levels and the colour sums.
pub(crate) struct Refiner<'a> {
    /// Grey levels of every scale, finest first.
    pub greys: &'a [Plane],
    /// Colour sums of the base picture.
    pub colour: &'a ColourSums,
    /// The base picture's size.
    pub base: (usize, usize),
}

impl Refiner<'_> {
    /// The correlation of the template with the scene described at `pose`.
    pub fn score(&self, probe: &Probe, pose: Pose) -> f32 {
        let cells = self.describe(probe.width, probe.height, pose);
        probe.score_cells(&cells)
    }

    /// The scene at `pose` on a `gw × gh` grid, as a template of that size is described:
    /// one cell of margin around the box, dropped after describing.
    fn describe(&self, gw: usize, gh: usize, pose: Pose) -> CellGrid {
        let (pw, ph) = ((gw + 2) * CELL, (gh + 2) * CELL);
        // Base pixels per patch pixel.
        let sx = pose.w / (gw * CELL) as f32;
        let sy = pose.h / (gh * CELL) as f32;
        // Sample the coarsest level that still has at least one pixel per patch pixel, so
        // bilinear sampling does not skip detail (the levels are area-averaged already).
        let base_w = self.base.0 as f32;
        let mut level = &self.greys[0];
        for g in self.greys {
            let s = g.width as f32 / base_w;
            if s * sx.min(sy) >= 1.0 {
                level = g;
            } else {
                break;
            }
        }
        let lx = level.width as f32 / base_w;
        let ly = level.height as f32 / self.base.1 as f32;
        let (sin, cos) = pose.angle.sin_cos();
        let mut data = Vec::with_capacity(pw * ph);
        for v in 0..ph {
            let dv = (v as f32 + 0.5 - ph as f32 / 2.0) * sy;
            for u in 0..pw {
                let du = (u as f32 + 0.5 - pw as f32 / 2.0) * sx;
                let x = pose.cx + du * cos - dv * sin;
                let y = pose.cy + du * sin + dv * cos;
                data.push(bilinear(level, x * lx - 0.5, y * ly - 0.5));
            }
        }
        let patch = Plane {
            width: pw,
            height: ph,
            data,
        };
        // Colour cells in the colour sums' own units.
        let kx = self.colour.width as f32 / base_w;
        let ky = self.colour.height as f32 / self.base.1 as f32;
        let x0 = (pose.cx - pw as f32 / 2.0 * sx) * kx;
        let y0 = (pose.cy - ph as f32 / 2.0 * sy) * ky;
        let (cw, ch) = (CELL as f32 * sx * kx, CELL as f32 * sy * ky);
        let grid = describe_patch(&patch, |cx, cy| {
            let (x, y) = (x0 + cx as f32 * cw, y0 + cy as f32 * ch);
            self.colour.chromaticity(x, y, x + cw, y + ch)
        });
        grid.crop(1, 1, gw, gh)
    }

    /// Climbs from `start` by trying steps of position (a cell, then half, then a quarter),
    /// size and turn one at a time, halving the steps after each round; returns the best pose
    /// and its score.
    pub fn climb(&self, probe: &Probe, start: Pose) -> (Pose, f32) {
        let mut best = start;
        let mut best_score = self.score(probe, start);
        let cell_w = start.w / probe.width as f32;
        let cell_h = start.h / probe.height as f32;
        let mut step_xy = 1.0;
        let mut step_scale = 2f32.powf(1.0 / 8.0);
        let mut step_angle = 5f32.to_radians();
        for round in 0..3 {
            for param in 0..4 {
                // Sizes and turns wait for the position to be about right.
                if round == 0 && param >= 2 {
                    continue;
                }
                let moved = |p: Pose, sign: f32| -> Pose {
                    let mut p = p;
                    match param {
                        0 => p.cx += sign * step_xy * cell_w,
                        1 => p.cy += sign * step_xy * cell_h,
                        2 => {
                            let f = step_scale.powf(sign);
                            p.w *= f;
                            p.h *= f;
                        }
                        _ => p.angle = (p.angle + sign * step_angle).clamp(-MAX_ANGLE, MAX_ANGLE),
                    }
                    p
                };
                for sign in [-1.0f32, 1.0] {
                    // Up to two steps while they improve; a direction that improved makes
                    // the other one pointless.
                    let mut improved = false;
                    for _ in 0..2 {
                        let p = moved(best, sign);
                        let s = self.score(probe, p);
                        if s > best_score {
                            best = p;
                            best_score = s;
                            improved = true;
                        } else {
                            break;
                        }
                    }
                    if improved {
                        break;
                    }
                }
            }
            if round > 0 {
                step_scale = step_scale.sqrt();
                step_angle /= 2.0;
            }
            step_xy /= 2.0;
        }
        (best, best_score)
    }
}

/// The plane sampled at `(x, y)` between its samples (edges repeat).
fn bilinear(plane: &Plane, x: f32, y: f32) -> f32 {
    let max_x = plane.width as f32 - 1.0;
    let max_y = plane.height as f32 - 1.0;
    let (x, y) = (x.clamp(0.0, max_x), y.clamp(0.0, max_y));
    let (x0, y0) = (x as usize, y as usize);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let x1 = (x0 + 1).min(plane.width - 1);
    let y1 = (y0 + 1).min(plane.height - 1);
    let w = plane.width;
    let d = &plane.data;
    let top = d[y0 * w + x0] * (1.0 - fx) + d[y0 * w + x1] * fx;
    let bottom = d[y1 * w + x0] * (1.0 - fx) + d[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_interpolates_and_clamps() {
        let p = Plane {
            width: 2,
            height: 2,
            data: vec![0.0, 10.0, 20.0, 30.0],
        };
        assert_eq!(bilinear(&p, 0.0, 0.0), 0.0);
        assert_eq!(bilinear(&p, 0.5, 0.0), 5.0);
        assert_eq!(bilinear(&p, 0.5, 0.5), 15.0);
        assert_eq!(bilinear(&p, -3.0, 9.0), 20.0);
    }
}
