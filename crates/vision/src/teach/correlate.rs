//! Normalized cross-correlation of a template's cells with every window of a scale level.
//!
//! The score of a window is the Pearson correlation between the template's values and the
//! window's: 1 for the same pattern whatever its contrast, near 0 for unrelated clutter. The
//! template is centred once, so a window only needs one dot product per row of cells; its own
//! mean and spread come from running sums in constant time.

use super::features::{CELL, CellGrid, DIMS};
use crate::detection::iou;

/// One scale of a scene: its cells and running sums for window statistics.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// The cell descriptors at this scale.
    pub grid: CellGrid,
    /// Level pixels per unit of the normalized picture (across, down): its size in pixels.
    pub scale: (f32, f32),
    /// `(width + 1) × (height + 1)` running sums of each cell's value sum and squared sum.
    sums: Vec<[f64; 2]>,
}

impl Level {
    /// A level from its cells and its size in pixels.
    pub fn new(grid: CellGrid, scale: (f32, f32)) -> Level {
        let (w, h) = (grid.width, grid.height);
        let stride = w + 1;
        let mut sums = vec![[0.0f64; 2]; stride * (h + 1)];
        for cy in 0..h {
            let mut row = [0.0f64; 2];
            for cx in 0..w {
                let cell = grid.cell(cx, cy);
                row[0] += cell.iter().map(|&v| f64::from(v)).sum::<f64>();
                row[1] += cell
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>();
                let above = sums[cy * stride + cx + 1];
                sums[(cy + 1) * stride + cx + 1] = [above[0] + row[0], above[1] + row[1]];
            }
        }
        Level { grid, scale, sums }
    }

    /// Sum and squared sum of the values in the `gw × gh` window at `(cx, cy)`.
    fn window_stats(&self, cx: usize, cy: usize, gw: usize, gh: usize) -> (f64, f64) {
        let s = self.grid.width + 1;
        let at = |x: usize, y: usize| self.sums[y * s + x];
        let (a, b, c, d) = (
            at(cx, cy),
            at(cx + gw, cy),
            at(cx, cy + gh),
            at(cx + gw, cy + gh),
        );
        (d[0] - b[0] - c[0] + a[0], d[1] - b[1] - c[1] + a[1])
    }

    /// Whether a `gw × gh` window fits.
    pub fn fits(&self, gw: usize, gh: usize) -> bool {
        self.grid.width >= gw && self.grid.height >= gh
    }
}

/// A template prepared for correlation: centred values and their norm.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// Cells across.
    pub width: usize,
    /// Cells down.
    pub height: usize,
    centred: Vec<f32>,
    norm: f64,
    count: f64,
}

impl Probe {
    /// Prepares a template's cells.
    pub fn new(cells: &CellGrid) -> Probe {
        let count = cells.data.len() as f64;
        let mean = cells.data.iter().map(|&v| f64::from(v)).sum::<f64>() / count.max(1.0);
        let centred: Vec<f32> = cells.data.iter().map(|&v| v - mean as f32).collect();
        let norm = centred
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        Probe {
            width: cells.width,
            height: cells.height,
            centred,
            norm,
            count,
        }
    }

    /// The correlation of the template with the window whose top-left cell is `(cx, cy)`;
    /// the window must fit.
    pub fn score_at(&self, level: &Level, cx: usize, cy: usize) -> f32 {
        let row_len = self.width * DIMS;
        let grid = &level.grid;
        let mut dot = 0.0f32;
        for r in 0..self.height {
            let start = ((cy + r) * grid.width + cx) * DIMS;
            dot += dot_product(
                &self.centred[r * row_len..(r + 1) * row_len],
                &grid.data[start..start + row_len],
            );
        }
        let (sum, squares) = level.window_stats(cx, cy, self.width, self.height);
        let variance = squares - sum * sum / self.count;
        // A flat window (a blank wall) has no pattern to correlate with.
        if variance <= 1e-6 || self.norm <= 1e-9 {
            return 0.0;
        }
        (f64::from(dot) / (self.norm * variance.sqrt())) as f32
    }

    /// The correlation of the template with a grid of its own size.
    pub fn score_cells(&self, cells: &CellGrid) -> f32 {
        debug_assert_eq!(cells.data.len(), self.centred.len());
        let dot = dot_product(&self.centred, &cells.data);
        let (sum, squares) = cells.data.iter().fold((0.0f64, 0.0f64), |(s, q), &v| {
            (s + f64::from(v), q + f64::from(v) * f64::from(v))
        });
        let variance = squares - sum * sum / self.count;
        if variance <= 1e-6 || self.norm <= 1e-9 {
            return 0.0;
        }
        (f64::from(dot) / (self.norm * variance.sqrt())) as f32
    }

    /// Scores the windows of a level and offers the good ones to `candidates` as level
    /// `index`: every second window across and down, and the three between a window and its
    /// next neighbours whenever that window comes within [`NEIGHBOUR_MARGIN`] of the
    /// candidates' floor (a true match one cell off still scores well; clutter mostly does
    /// not, so most of the skipped windows stay skipped).
    pub fn scan(&self, level: &Level, index: usize, candidates: &mut Candidates) {
        if !level.fits(self.width, self.height) {
            return;
        }
        let (max_x, max_y) = (
            level.grid.width - self.width,
            level.grid.height - self.height,
        );
        let offer = |cx: usize, cy: usize, candidates: &mut Candidates| -> f32 {
            let score = self.score_at(level, cx, cy);
            if score > candidates.floor() {
                let bbox = [
                    (cx * CELL) as f32 / level.scale.0,
                    (cy * CELL) as f32 / level.scale.1,
                    ((cx + self.width) * CELL) as f32 / level.scale.0,
                    ((cy + self.height) * CELL) as f32 / level.scale.1,
                ];
                candidates.offer(Candidate {
                    level: index,
                    cx,
                    cy,
                    score,
                    bbox,
                });
            }
            score
        };
        for cy in (0..=max_y).step_by(2) {
            for cx in (0..=max_x).step_by(2) {
                let score = offer(cx, cy, candidates);
                if score > candidates.floor() - NEIGHBOUR_MARGIN {
                    for (dx, dy) in [(1, 0), (0, 1), (1, 1)] {
                        if cx + dx <= max_x && cy + dy <= max_y {
                            offer(cx + dx, cy + dy, candidates);
                        }
                    }
                }
            }
        }
    }
}

/// How far below the candidates' floor a window may score and still have its skipped
/// neighbours scored.
const NEIGHBOUR_MARGIN: f32 = 0.15;

/// A window worth a second look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// The level it is on.
    pub level: usize,
    /// Its left cell.
    pub cx: usize,
    /// Its top cell.
    pub cy: usize,
    /// Its correlation.
    pub score: f32,
    /// Its box, normalized `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
}

/// The best few windows, no two overlapping much (the same place at neighbouring positions
/// or scales counts once, by its best window).
#[derive(Debug, Clone)]
pub(crate) struct Candidates {
    keep: usize,
    /// Best first.
    list: Vec<Candidate>,
}

/// Windows overlapping more than this are the same place.
const SAME_PLACE_IOU: f32 = 0.3;

impl Candidates {
    /// Room for `keep` candidates.
    pub fn new(keep: usize) -> Candidates {
        Candidates {
            keep: keep.max(1),
            list: Vec::with_capacity(keep + 1),
        }
    }

    /// A score a window must beat to be offered.
    pub fn floor(&self) -> f32 {
        if self.list.len() < self.keep {
            f32::NEG_INFINITY
        } else {
            self.list.last().map_or(f32::NEG_INFINITY, |c| c.score)
        }
    }

    /// Keeps `c` if it is among the best and no better window covers the same place.
    pub fn offer(&mut self, c: Candidate) {
        if self
            .list
            .iter()
            .any(|k| k.score >= c.score && iou(k.bbox, c.bbox) > SAME_PLACE_IOU)
        {
            return;
        }
        self.list
            .retain(|k| !(k.score < c.score && iou(k.bbox, c.bbox) > SAME_PLACE_IOU));
        let at = self.list.partition_point(|k| k.score >= c.score);
        self.list.insert(at, c);
        self.list.truncate(self.keep);
    }

    /// The candidates, best first.
    pub fn into_vec(self) -> Vec<Candidate> {
        self.list
    }
}

/// Dot product in eight independent lanes, which the compiler turns into vector code.
fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((lane, a), b) in lanes.iter_mut().zip(x).zip(y) {
            *lane += a * b;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> f32) -> CellGrid {
        let mut data = Vec::with_capacity(w * h * DIMS);
        for y in 0..h {
            for x in 0..w {
                for d in 0..DIMS {
                    data.push(f(x, y, d));
                }
            }
        }
        CellGrid {
            width: w,
            height: h,
            data,
        }
    }

    /// Hash-like values without any period a window could line up with.
    fn pattern(x: usize, y: usize, d: usize) -> f32 {
        let h = (x as u32)
            .wrapping_mul(0x9E37_79B1)
            .wrapping_add((y as u32).wrapping_mul(0x85EB_CA77))
            .wrapping_add((d as u32).wrapping_mul(0xC2B2_AE3D));
        let h = (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
        ((h ^ (h >> 12)) % 1000) as f32 / 1000.0
    }

    #[test]
    fn finds_the_pattern_where_it_is_and_scores_it_one() {
        // A scene of noise-like values with the template's pattern at (9, 4).
        let template = grid(5, 4, |x, y, d| pattern(x + 100, y + 50, d));
        let scene = grid(20, 12, |x, y, d| {
            if (9..14).contains(&x) && (4..8).contains(&y) {
                // Brighter and with more contrast: correlation does not mind.
                2.0 * pattern(x - 9 + 100, y - 4 + 50, d) + 0.3
            } else {
                pattern(x, y, d)
            }
        });
        let level = Level::new(scene, (1.0, 1.0));
        let probe = Probe::new(&template);
        let mut candidates = Candidates::new(3);
        probe.scan(&level, 0, &mut candidates);
        let found = candidates.into_vec();
        assert_eq!((found[0].cx, found[0].cy), (9, 4));
        assert!((found[0].score - 1.0).abs() < 1e-4, "{found:?}");
        // The others are other places.
        assert!(found.len() >= 2 && found[1].score < 0.9, "{found:?}");
        assert!(iou(found[0].bbox, found[1].bbox) <= SAME_PLACE_IOU);
        // Elsewhere the correlation is low.
        assert!(probe.score_at(&level, 0, 0) < 0.5);
    }

    #[test]
    fn flat_windows_and_too_small_levels() {
        let template = grid(3, 3, pattern);
        let flat = Level::new(grid(6, 6, |_, _, _| 0.5), (1.0, 1.0));
        let probe = Probe::new(&template);
        assert_eq!(probe.score_at(&flat, 1, 1), 0.0);
        let small = Level::new(grid(2, 6, pattern), (1.0, 1.0));
        let mut candidates = Candidates::new(3);
        probe.scan(&small, 0, &mut candidates);
        assert!(candidates.into_vec().is_empty());
    }

    #[test]
    fn candidates_keep_the_best_of_each_place() {
        let c = |score: f32, x: f32| Candidate {
            level: 0,
            cx: 0,
            cy: 0,
            score,
            bbox: [x, 0.0, x + 0.1, 0.1],
        };
        let mut top = Candidates::new(2);
        assert_eq!(top.floor(), f32::NEG_INFINITY);
        top.offer(c(0.5, 0.0));
        top.offer(c(0.6, 0.01)); // same place, better: replaces it
        top.offer(c(0.4, 0.5));
        top.offer(c(0.55, 0.02)); // same place, worse: dropped
        top.offer(c(0.45, 0.8)); // better than the 0.4 elsewhere: pushes it out
        let kept: Vec<f32> = top.clone().into_vec().iter().map(|k| k.score).collect();
        assert_eq!(kept, vec![0.6, 0.45]);
        assert_eq!(top.floor(), 0.45);
    }

    #[test]
    fn dot_product_matches_the_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_product(&a, &b) - plain).abs() < 1e-3);
    }
}
