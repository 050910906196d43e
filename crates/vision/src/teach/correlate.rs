//! Normalized cross-correlation of a template's cells with every window of a scale level.
//!
//! The score of a window is the Pearson correlation between the template's values and the
//! window's: 1 for the same pattern whatever its contrast, near 0 for unrelated clutter. The
//! template is centred once, so a window only needs one dot product per row of cells; its own
//! mean and spread come from running sums in constant time.

use super::features::{CellGrid, DIMS};

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

    /// The best window of a level, trying every `stride`-th cell in each direction.
    pub fn best_in(&self, level: &Level, stride: usize) -> Option<(usize, usize, f32)> {
        if !level.fits(self.width, self.height) {
            return None;
        }
        let stride = stride.max(1);
        let mut best: Option<(usize, usize, f32)> = None;
        for cy in (0..=level.grid.height - self.height).step_by(stride) {
            for cx in (0..=level.grid.width - self.width).step_by(stride) {
                let score = self.score_at(level, cx, cy);
                if best.is_none_or(|(_, _, s)| score > s) {
                    best = Some((cx, cy, score));
                }
            }
        }
        best
    }

    /// The best window within `radius` cells of `(cx, cy)`.
    pub fn best_near(
        &self,
        level: &Level,
        cx: usize,
        cy: usize,
        radius: usize,
    ) -> Option<(usize, usize, f32)> {
        if !level.fits(self.width, self.height) {
            return None;
        }
        let (max_x, max_y) = (
            level.grid.width - self.width,
            level.grid.height - self.height,
        );
        let mut best: Option<(usize, usize, f32)> = None;
        for y in cy.saturating_sub(radius)..=(cy + radius).min(max_y) {
            for x in cx.saturating_sub(radius)..=(cx + radius).min(max_x) {
                let score = self.score_at(level, x, y);
                if best.is_none_or(|(_, _, s)| score > s) {
                    best = Some((x, y, score));
                }
            }
        }
        best
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

/// The offset of a peak from its sample, from the scores beside it (a parabola through the
/// three), within half a sample either way.
pub(crate) fn peak_offset(before: f32, at: f32, after: f32) -> f32 {
    let curvature = before - 2.0 * at + after;
    if curvature >= -1e-6 {
        return 0.0;
    }
    (0.5 * (before - after) / curvature).clamp(-0.5, 0.5)
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

    fn pattern(x: usize, y: usize, d: usize) -> f32 {
        (((x * 31 + y * 17 + d * 7) % 23) as f32) / 23.0
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
        let (x, y, s) = probe.best_in(&level, 1).unwrap();
        assert_eq!((x, y), (9, 4));
        assert!((s - 1.0).abs() < 1e-4, "{s}");
        assert_eq!(probe.best_near(&level, 8, 5, 2).unwrap().0, 9);
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
        assert!(probe.best_in(&small, 1).is_none());
        assert!(probe.best_near(&small, 0, 0, 1).is_none());
    }

    #[test]
    fn dot_product_matches_the_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_product(&a, &b) - plain).abs() < 1e-3);
    }

    #[test]
    fn peak_offsets_point_to_the_higher_side() {
        assert_eq!(peak_offset(0.5, 0.9, 0.5), 0.0);
        assert!(peak_offset(0.5, 0.9, 0.8) > 0.0);
        assert!(peak_offset(0.8, 0.9, 0.5) < 0.0);
        assert_eq!(peak_offset(1.0, 0.5, 1.0), 0.0);
    }
}
