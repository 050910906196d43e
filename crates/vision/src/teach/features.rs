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
    colour: ColourSums,
}

impl Picture {
    /// The picture of an RGB image.
    pub fn from_rgb(image: &RgbImage) -> Picture {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let grey = image
            .pixels()
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect();
        Picture {
            grey: Plane {
                width: w,
                height: h,
                data: grey,
            },
            colour: ColourSums::of(image),
        }
    }

    /// Replaces the grey levels by a `width × height` resampling of them and keeps the colour
    /// sums at their resolution: what a picture is described from at every scale, without
    /// resampling the full-size grey levels each time.
    pub fn shrink_grey(&mut self, width: usize, height: usize) {
        self.grey = self.grey.resized(width, height);
    }

    /// The cell descriptors of the picture resized to `width × height` pixels: a grid of
    /// `width / CELL × height / CELL` cells (pixels past the last whole cell are dropped).
    pub fn describe(&self, width: usize, height: usize) -> CellGrid {
        describe(&self.grey, &self.colour, width, height)
    }

    /// The cell descriptors of `grey`, a resampling of this picture's grey levels (colour
    /// is read from the picture's own sums).
    pub fn describe_scaled(&self, grey: &Plane) -> CellGrid {
        describe_resized(grey, &self.colour)
    }
}

fn describe(grey: &Plane, colour: &ColourSums, width: usize, height: usize) -> CellGrid {
    let grey = grey.resized(width, height);
    describe_resized(&grey, colour)
}

fn describe_resized(grey: &Plane, colour: &ColourSums) -> CellGrid {
    let mut grid = orientation_histograms(grey);
    normalize(&mut grid);
    // Colour of each cell, read from the full-resolution sums.
    let fx = colour.width as f32 / grey.width as f32;
    let fy = colour.height as f32 / grey.height as f32;
    for cy in 0..grid.height {
        let y0 = ((cy * CELL) as f32 * fy).round() as usize;
        let y1 = (((cy + 1) * CELL) as f32 * fy).round() as usize;
        for cx in 0..grid.width {
            let x0 = ((cx * CELL) as f32 * fx).round() as usize;
            let x1 = (((cx + 1) * CELL) as f32 * fx).round() as usize;
            let [u, v] = colour.chromaticity(x0, y0, x1, y1);
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
struct ColourSums {
    width: usize,
    height: usize,
    /// `(width + 1) × (height + 1)` sums of `[r, g, b]` above and left of each corner.
    sums: Vec<[u32; 3]>,
}

impl ColourSums {
    fn of(image: &RgbImage) -> ColourSums {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let stride = w + 1;
        let mut sums = vec![[0u32; 3]; stride * (h + 1)];
        let raw = image.as_raw();
        for y in 0..h {
            let mut row = [0u32; 3];
            for x in 0..w {
                let p = &raw[(y * w + x) * 3..(y * w + x) * 3 + 3];
                for c in 0..3 {
                    row[c] = row[c].wrapping_add(u32::from(p[c]));
                    sums[(y + 1) * stride + x + 1][c] =
                        sums[y * stride + x + 1][c].wrapping_add(row[c]);
                }
            }
        }
        ColourSums {
            width: w,
            height: h,
            sums,
        }
    }

    /// Chromaticity of the rectangle `[x0, x1) × [y0, y1)` (clamped to the picture): red
    /// against green, and yellow against blue, each divided by the intensity.
    fn chromaticity(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> [f32; 2] {
        let x0 = x0.min(self.width.saturating_sub(1));
        let y0 = y0.min(self.height.saturating_sub(1));
        let x1 = x1.clamp(x0 + 1, self.width);
        let y1 = y1.clamp(y0 + 1, self.height);
        let s = self.width + 1;
        let at = |x: usize, y: usize| self.sums[y * s + x];
        let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
        let mut rgb = [0f32; 3];
        for (i, v) in rgb.iter_mut().enumerate() {
            // Wrapping arithmetic is exact here: the true sum fits, intermediate terms may not.
            *v = d[i]
                .wrapping_sub(b[i])
                .wrapping_sub(c[i])
                .wrapping_add(a[i]) as f32;
        }
        let n = ((x1 - x0) * (y1 - y0)) as f32;
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
fn orientation_histograms(grey: &Plane) -> CellGrid {
    let (cw, ch) = (grey.width / CELL, grey.height / CELL);
    let mut grid = CellGrid::zeros(cw, ch);
    if cw == 0 || ch == 0 {
        return grid;
    }
    let bin_width = std::f32::consts::PI / ORIENTATIONS as f32;
    let w = grey.width;
    for y in 0..ch * CELL {
        let cy = y / CELL;
        let up = if y == 0 { 0 } else { y - 1 };
        let down = (y + 1).min(grey.height - 1);
        let row = &grey.data[y * w..(y + 1) * w];
        let row_up = &grey.data[up * w..(up + 1) * w];
        let row_down = &grey.data[down * w..(down + 1) * w];
        for x in 0..cw * CELL {
            let left = if x == 0 { 0 } else { x - 1 };
            let right = (x + 1).min(w - 1);
            let gx = row[right] - row[left];
            let gy = row_down[x] - row_up[x];
            let magnitude = (gx * gx + gy * gy).sqrt();
            if magnitude < 1e-3 {
                continue;
            }
            // Unsigned orientation in [0, π), split between the two nearest bins.
            let mut angle = fast_atan2(gy, gx);
            if angle < 0.0 {
                angle += std::f32::consts::PI;
            }
            let pos = angle / bin_width - 0.5;
            let lower = pos.floor();
            let frac = pos - lower;
            let b0 = (lower as isize).rem_euclid(ORIENTATIONS as isize) as usize;
            let b1 = (b0 + 1) % ORIENTATIONS;
            let cell = grid.cell_mut(x / CELL, cy);
            cell[b0] += magnitude * (1.0 - frac);
            cell[b1] += magnitude * frac;
        }
    }
    grid
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

/// `atan2` to within about 0.005 radians, several times faster than the exact one; plenty
/// for 22.5° bins.
fn fast_atan2(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    let (ax, ay) = (x.abs(), y.abs());
    let (z, swapped) = if ax >= ay {
        (ay / ax.max(f32::MIN_POSITIVE), false)
    } else {
        (ax / ay, true)
    };
    // atan(z) for z in [0, 1].
    let mut a = FRAC_PI_4 * z + 0.273 * z * (1.0 - z);
    if swapped {
        a = FRAC_PI_2 - a;
    }
    if x < 0.0 {
        a = PI - a;
    }
    if y < 0.0 { -a } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn fast_atan2_is_close_to_the_real_one() {
        for i in 0..360 {
            let t = (i as f32).to_radians();
            let (y, x) = (t.sin() * 3.0, t.cos() * 3.0);
            let d = (fast_atan2(y, x) - y.atan2(x)).abs();
            let d = d.min((d - 2.0 * std::f32::consts::PI).abs());
            assert!(d < 0.006, "{i}°: {d}");
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
