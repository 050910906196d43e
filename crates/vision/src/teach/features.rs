//! Cell descriptors: for every 4×4-pixel cell of a picture at some scale, a histogram of
//! gradient orientations (the shape) and the cell's chromaticity (the colour).
//!
//! Orientation histograms are what HOG uses: they keep where edges are and which way they
//! run, shrug off a few pixels of misplacement and a few degrees of rotation, and after
//! normalizing by the local gradient energy they do not change with brightness or
//! contrast. Chromaticity (colour divided by intensity) adds what shape alone misses (a red
//! wallet and a black one) and is brightness-invariant too.

use image::RgbImage;

use super::plane::Plane;

/// Side of a cell, in pixels of the scale being described.
pub(crate) const CELL: usize = 4;
/// Orientation bins, over 0–180° (a dark-to-light edge and a light-to-dark one are alike,
/// which is what keeps an object recognizable on a lighter or darker background).
pub(crate) const ORIENTATIONS: usize = 8;
/// Values per cell: the orientation bins and two chromaticity components.
pub(crate) const DIMS: usize = ORIENTATIONS + 2;

/// Floor of the local gradient energy a cell is normalized by (per-cell magnitude sum): flat
/// regions keep their faint noise faint instead of having it blown up to full contrast.
const ENERGY_FLOOR: f32 = 16.0 * 6.0;
/// Normalized orientation values are clipped here, so one very strong edge cannot drown the
/// rest of the object.
const CLIP: f32 = 0.8;
/// Weight of the colour components against the shape ones.
const COLOUR_WEIGHT: f32 = 1.2;

/// A picture ready to be described at any scale: its grey levels and the running sums of its
/// colour channels.
#[derive(Debug, Clone)]
pub(crate) struct Picture {
    /// Grey levels, 0–255.
    pub grey: Plane,
    /// Colour sums, at the grey levels' resolution.
    pub colour: ColourSums,
}

impl Picture {
    /// The picture of an RGB image.
    pub fn from_rgb(image: &RgbImage) -> Picture {
        Picture {
            grey: grey_plane(image),
            colour: ColourSums::of(image, 1),
        }
    }

    /// The picture of an RGB image with its grey levels resampled to `width × height` (area
    /// averaging); colour is summed at the image's resolution, binned by whole factors.
    pub fn from_rgb_resized(image: &RgbImage, width: usize, height: usize) -> Picture {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let bin = (w / width.max(1)).min(h / height.max(1)).clamp(1, 4);
        Picture {
            grey: grey_plane(image).resized(width, height),
            colour: ColourSums::of(image, bin),
        }
    }

    /// The cell descriptors of the picture resized to `width × height` pixels: a grid of
    /// `width / CELL × height / CELL` cells (pixels past the last whole cell are dropped).
    pub fn describe(&self, width: usize, height: usize) -> CellGrid {
        self.describe_scaled(&self.grey.resized(width, height))
    }

    /// The cell descriptors of `grey`, a resampling of this picture's grey levels (colour
    /// is read from the picture's own sums).
    pub fn describe_scaled(&self, grey: &Plane) -> CellGrid {
        let fx = self.colour.width as f32 / grey.width as f32;
        let fy = self.colour.height as f32 / grey.height as f32;
        describe_patch(grey, |cx, cy| {
            let (x0, y0) = ((cx * CELL) as f32 * fx, (cy * CELL) as f32 * fy);
            self.colour
                .chromaticity(x0, y0, x0 + CELL as f32 * fx, y0 + CELL as f32 * fy)
        })
    }
}

fn grey_plane(image: &RgbImage) -> Plane {
    let data = image
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    Plane {
        width: image.width() as usize,
        height: image.height() as usize,
        data,
    }
}

/// The cell descriptors of a grey patch, with each cell's chromaticity from `colour(cx, cy)`.
pub(crate) fn describe_patch(grey: &Plane, colour: impl Fn(usize, usize) -> [f32; 2]) -> CellGrid {
    let mut grid = orientation_histograms(grey);
    normalize(&mut grid);
    for cy in 0..grid.height {
        for cx in 0..grid.width {
            let [u, v] = colour(cx, cy);
            let cell = grid.cell_mut(cx, cy);
            cell[ORIENTATIONS] = COLOUR_WEIGHT * u;
            cell[ORIENTATIONS + 1] = COLOUR_WEIGHT * v;
        }
    }
    grid
}

/// Running (integral) sums of the red, green and blue channels, to average any rectangle
/// in constant time.
#[derive(Debug, Clone)]
pub(crate) struct ColourSums {
    /// Width of the summed picture, in bins.
    pub width: usize,
    /// Height of the summed picture, in bins.
    pub height: usize,
    /// Pixels summed into one bin (a side).
    bin: usize,
    /// `(width + 1) × (height + 1)` sums of `[r, g, b]` above and left of each corner.
    /// Wrapping arithmetic: a rectangle's sum is exact as long as it fits, whatever the
    /// whole picture's does.
    sums: Vec<[u32; 3]>,
}

impl ColourSums {
    /// The sums of `image`, `bin × bin` pixels to a bin (right and bottom leftovers are
    /// dropped).
    fn of(image: &RgbImage, bin: usize) -> ColourSums {
        let bin = bin.max(1);
        let (iw, ih) = (image.width() as usize, image.height() as usize);
        let (w, h) = ((iw / bin).max(1), (ih / bin).max(1));
        let stride = w + 1;
        let mut sums = vec![[0u32; 3]; stride * (h + 1)];
        let raw = image.as_raw();
        let mut row = vec![[0u32; 3]; w];
        for y in 0..h {
            row.fill([0; 3]);
            for dy in 0..bin {
                let sy = (y * bin + dy).min(ih.saturating_sub(1));
                for (x, acc) in row.iter_mut().enumerate() {
                    for dx in 0..bin {
                        let sx = (x * bin + dx).min(iw.saturating_sub(1));
                        let i = (sy * iw + sx) * 3;
                        for (a, &v) in acc.iter_mut().zip(&raw[i..i + 3]) {
                            *a += u32::from(v);
                        }
                    }
                }
            }
            let mut run = [0u32; 3];
            for (x, acc) in row.iter().enumerate() {
                let above = sums[y * stride + x + 1];
                let mut here = [0u32; 3];
                for c in 0..3 {
                    run[c] = run[c].wrapping_add(acc[c]);
                    here[c] = above[c].wrapping_add(run[c]);
                }
                sums[(y + 1) * stride + x + 1] = here;
            }
        }
        ColourSums {
            width: w,
            height: h,
            bin,
            sums,
        }
    }

    /// Chromaticity of the rectangle `[x0, x1) × [y0, y1)` in bins (rounded to whole bins
    /// and clamped to the picture, at least one bin): red against green, and yellow against
    /// blue, each divided by the intensity.
    pub fn chromaticity(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> [f32; 2] {
        // `+ 0.5` and truncation round non-negative values (`round` is a library call).
        let clamp = |v: f32, max: usize| ((v.max(0.0) + 0.5) as usize).min(max);
        let x0 = clamp(x0, self.width.saturating_sub(1));
        let y0 = clamp(y0, self.height.saturating_sub(1));
        let x1 = clamp(x1, self.width).max(x0 + 1);
        let y1 = clamp(y1, self.height).max(y0 + 1);
        let s = self.width + 1;
        let at = |x: usize, y: usize| self.sums[y * s + x];
        let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
        let mut rgb = [0f32; 3];
        for (i, v) in rgb.iter_mut().enumerate() {
            *v = d[i]
                .wrapping_sub(b[i])
                .wrapping_sub(c[i])
                .wrapping_add(a[i]) as f32;
        }
        let n = ((x1 - x0) * (y1 - y0) * self.bin * self.bin) as f32;
        let total = rgb[0] + rgb[1] + rgb[2] + 30.0 * n;
        [
            (rgb[0] - rgb[1]) / total,
            (rgb[0] + rgb[1] - 2.0 * rgb[2]) / (2.0 * total),
        ]
    }
}

/// A grid of cell descriptors, [`DIMS`] values a cell, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellGrid {
    /// Cells across.
    pub width: usize,
    /// Cells down.
    pub height: usize,
    /// `width × height × DIMS` values.
    pub data: Vec<f32>,
}

impl CellGrid {
    fn zeros(width: usize, height: usize) -> CellGrid {
        CellGrid {
            width,
            height,
            data: vec![0.0; width * height * DIMS],
        }
    }

    /// The descriptor of cell `(cx, cy)`.
    pub fn cell(&self, cx: usize, cy: usize) -> &[f32] {
        let i = (cy * self.width + cx) * DIMS;
        &self.data[i..i + DIMS]
    }

    fn cell_mut(&mut self, cx: usize, cy: usize) -> &mut [f32] {
        let i = (cy * self.width + cx) * DIMS;
        &mut self.data[i..i + DIMS]
    }

    /// The cells of the rectangle starting at `(x, y)`, `width × height` cells.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> CellGrid {
        let mut out = CellGrid::zeros(width, height);
        for row in 0..height {
            let src = ((y + row) * self.width + x) * DIMS;
            out.data[row * width * DIMS..(row + 1) * width * DIMS]
                .copy_from_slice(&self.data[src..src + width * DIMS]);
        }
        out
    }
}

/// Gradient magnitudes binned by orientation into each cell (the colour values stay zero).
///
/// Row by row in two passes: the gradients' magnitudes and bin positions first (branch-free
/// arithmetic the compiler vectorizes), then the votes into the cells.
fn orientation_histograms(grey: &Plane) -> CellGrid {
    let (cw, ch) = (grey.width / CELL, grey.height / CELL);
    let mut grid = CellGrid::zeros(cw, ch);
    if cw == 0 || ch == 0 {
        return grid;
    }
    let w = grey.width;
    let n = cw * CELL;
    let mut magnitude = vec![0.0f32; n];
    let mut position = vec![0.0f32; n];
    for y in 0..ch * CELL {
        let up = y.saturating_sub(1);
        let down = (y + 1).min(grey.height - 1);
        let row = &grey.data[y * w..(y + 1) * w];
        let row_up = &grey.data[up * w..(up + 1) * w];
        let row_down = &grey.data[down * w..(down + 1) * w];
        for x in 0..n {
            let gx = row[(x + 1).min(w - 1)] - row[x.saturating_sub(1)];
            let gy = row_down[x] - row_up[x];
            magnitude[x] = (gx * gx + gy * gy).sqrt();
            position[x] = bin_position(gx, gy);
        }
        let cells = &mut grid.data[(y / CELL) * cw * DIMS..(y / CELL + 1) * cw * DIMS];
        for (x, (&m, &pos)) in magnitude.iter().zip(&position).enumerate() {
            // `pos` is at least ORIENTATIONS - 0.5: truncation is `floor`, and a mask
            // the wrap-around.
            let lower = pos as usize;
            let frac = pos - lower as f32;
            let cell = &mut cells[(x / CELL) * DIMS..(x / CELL) * DIMS + ORIENTATIONS];
            cell[lower % ORIENTATIONS] += m * (1.0 - frac);
            cell[(lower + 1) % ORIENTATIONS] += m * frac;
        }
    }
    grid
}

/// Where an unsigned gradient direction falls among the orientation bins, shifted up by
/// `ORIENTATIONS` so that it is positive: bin centres are at `ORIENTATIONS + k`, and the
/// vote is split between the bins on either side. `atan2` is approximated to within about
/// 0.005 radians, plenty for 22.5° bins, without a branch.
fn bin_position(gx: f32, gy: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    // Fold into the upper half-plane: the orientation is unsigned.
    let (gx, gy) = if gy < 0.0 { (-gx, -gy) } else { (gx, gy) };
    let ax = gx.abs();
    let (small, large) = (ax.min(gy), ax.max(gy));
    let z = small / large.max(1e-12);
    let a = FRAC_PI_4 * z + 0.273 * z * (1.0 - z);
    let a = if gy > ax { FRAC_PI_2 - a } else { a };
    let angle = if gx < 0.0 { PI - a } else { a };
    angle * (ORIENTATIONS as f32 / PI) - 0.5 + ORIENTATIONS as f32
}

/// Divides each cell's orientation histogram by the gradient energy of its 3×3 neighbourhood
/// (contrast normalization), then clips.
fn normalize(grid: &mut CellGrid) {
    let (w, h) = (grid.width, grid.height);
    let energy: Vec<f32> = (0..w * h)
        .map(|i| {
            grid.data[i * DIMS..i * DIMS + ORIENTATIONS]
                .iter()
                .map(|v| v * v)
                .sum()
        })
        .collect();
    let floor = ENERGY_FLOOR * ENERGY_FLOOR;
    for cy in 0..h {
        for cx in 0..w {
            let mut sum = 0.0;
            let mut n = 0.0;
            for ny in cy.saturating_sub(1)..(cy + 2).min(h) {
                for nx in cx.saturating_sub(1)..(cx + 2).min(w) {
                    sum += energy[ny * w + nx];
                    n += 1.0;
                }
            }
            let scale = 1.0 / (sum / n + floor).sqrt();
            for v in &mut grid.cell_mut(cx, cy)[..ORIENTATIONS] {
                *v = (*v * scale).min(CLIP);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn bin_positions_follow_the_real_angle() {
        for i in 0..360 {
            let t = (i as f32).to_radians();
            let (gy, gx) = (t.sin() * 3.0, t.cos() * 3.0);
            let unsigned = gy.atan2(gx).rem_euclid(std::f32::consts::PI);
            let expected = unsigned * ORIENTATIONS as f32 / std::f32::consts::PI - 0.5;
            let got = bin_position(gx, gy) - ORIENTATIONS as f32;
            let d = (got - expected).abs();
            // Equal modulo a full turn of bins.
            let d = d.min((d - ORIENTATIONS as f32).abs());
            assert!(d < 0.02, "{i}°: {got} vs {expected}");
            assert!(bin_position(gx, gy) >= ORIENTATIONS as f32 - 0.5);
        }
    }

    #[test]
    fn vertical_edges_fill_the_horizontal_gradient_bin() {
        // Stripes 4 pixels wide: the gradient points along x, angle 0, bins 0 and 7.
        let img = RgbImage::from_fn(32, 32, |x, _| {
            if (x / 4) % 2 == 0 {
                Rgb([20, 20, 20])
            } else {
                Rgb([220, 220, 220])
            }
        });
        let grid = Picture::from_rgb(&img).describe(32, 32);
        assert_eq!((grid.width, grid.height), (8, 8));
        let cell = grid.cell(3, 3);
        let horizontal = cell[0] + cell[ORIENTATIONS - 1];
        let others: f32 = cell[1..ORIENTATIONS - 1].iter().sum();
        assert!(horizontal > 0.5 && others < 0.05, "{cell:?}");
        // Grey: no chromaticity.
        assert!(cell[ORIENTATIONS].abs() < 1e-6 && cell[ORIENTATIONS + 1].abs() < 1e-6);
    }

    #[test]
    fn brightness_changes_little_and_colour_shows() {
        let make = |gain: f32| {
            RgbImage::from_fn(40, 40, |x, y| {
                let v = if (x + y) % 16 < 8 { 200.0 } else { 60.0 };
                Rgb([(v * gain).min(255.0) as u8, (v * gain * 0.5) as u8, 10])
            })
        };
        let a = Picture::from_rgb(&make(1.0)).describe(40, 40);
        let b = Picture::from_rgb(&make(0.6)).describe(40, 40);
        let diff: f32 = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).sum();
        let total: f32 = a.data.iter().map(|x| x.abs()).sum();
        assert!(diff / total < 0.15, "{diff} of {total}");
        // Orange-ish: more red than green, more red+green than blue.
        let cell = a.cell(4, 4);
        assert!(
            cell[ORIENTATIONS] > 0.1 && cell[ORIENTATIONS + 1] > 0.1,
            "{cell:?}"
        );
    }

    #[test]
    fn flat_pictures_have_no_shape() {
        let img = RgbImage::from_pixel(16, 12, Rgb([90, 90, 90]));
        let grid = Picture::from_rgb(&img).describe(16, 12);
        assert_eq!((grid.width, grid.height), (4, 3));
        assert!(grid.data.iter().all(|v| v.abs() < 1e-6));
        let crop = grid.crop(1, 1, 2, 2);
        assert_eq!(crop.data.len(), 4 * DIMS);
    }
}
