//! Test pictures made from real photographs: an object's crop pasted onto another photograph
//! at another place and size, slightly turned, lit differently, re-encoded as a JPEG.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use serde::Serialize;

use crate::preprocess::fit_size;
use crate::{BBox, VisionError};

/// Photographs are brought to this long side first, the size of a small camera snapshot, so
/// that "scale 1" means the object is as large as in the photograph it was taught from.
pub const SNAPSHOT_SIDE: u32 = 640;

/// A small deterministic random source (SplitMix64): the same seed makes the same set.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source started at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// How one pasted copy differs from the taught object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Variation {
    /// Size against the object in its own photograph (both at [`SNAPSHOT_SIDE`]).
    pub scale: f32,
    /// Turn, in degrees (positive is clockwise on screen).
    pub rotation_deg: f32,
    /// Brightness gain applied to the object.
    pub gain: f32,
    /// Brightness offset added to the object, in grey levels.
    pub offset: f32,
    /// JPEG quality of the composite.
    pub quality: u8,
}

impl Variation {
    /// A random variation: scale 0.7–1.4, rotation ±10°, gain 0.6–1.4, offset ±25, quality
    /// 60–92.
    pub fn random(rng: &mut Rng) -> Variation {
        Variation {
            scale: rng.uniform(0.7, 1.4),
            rotation_deg: rng.uniform(-10.0, 10.0),
            gain: rng.uniform(0.6, 1.4),
            offset: rng.uniform(-25.0, 25.0),
            quality: rng.uniform(60.0, 93.0) as u8,
        }
    }
}

/// A photograph brought to [`SNAPSHOT_SIDE`] on its long side (up or down).
pub fn snapshot_size(image: &RgbImage) -> RgbImage {
    let (w, h) = fit_size(image.width(), image.height(), SNAPSHOT_SIDE, SNAPSHOT_SIDE);
    image::imageops::resize(image, w, h, FilterType::Triangle)
}

/// Pastes the object at `object` (normalized box of `source`) onto a copy of `background`
/// with `variation`, at a random place where it fits whole; returns the picture and the
/// object's box in it (its centre and scaled size; a turned object's corners may reach a
/// little past it).
pub fn paste(
    background: &RgbImage,
    source: &RgbImage,
    object: BBox,
    variation: &Variation,
    rng: &mut Rng,
) -> (RgbImage, BBox) {
    let (bw, bh) = (background.width() as f32, background.height() as f32);
    let (sw, sh) = (source.width() as f32, source.height() as f32);
    let angle = variation.rotation_deg.to_radians();
    let (sin, cos) = angle.sin_cos();
    // The object's size once pasted, shrunk further if it would not fit at all.
    let (mut ow, mut oh) = (
        object.w * sw * variation.scale,
        object.h * sh * variation.scale,
    );
    let extent = |w: f32, h: f32| {
        (
            (w * cos.abs() + h * sin.abs()) / 2.0,
            (w * sin.abs() + h * cos.abs()) / 2.0,
        )
    };
    let (ex, ey) = extent(ow, oh);
    let fit = ((bw / 2.0 - 1.0) / ex).min((bh / 2.0 - 1.0) / ey).min(1.0);
    ow *= fit;
    oh *= fit;
    let scale = variation.scale * fit;
    let (ex, ey) = extent(ow, oh);
    let cx = rng.uniform(ex, bw - ex);
    let cy = rng.uniform(ey, bh - ey);

    // Scale the source first (area-averaged), then sample it turned.
    let scaled = image::imageops::resize(
        source,
        ((sw * scale).round() as u32).max(1),
        ((sh * scale).round() as u32).max(1),
        FilterType::Triangle,
    );
    let ox = (object.x + object.w / 2.0) * scaled.width() as f32;
    let oy = (object.y + object.h / 2.0) * scaled.height() as f32;
    let mut out = background.clone();
    let x0 = (cx - ex).floor().max(0.0) as u32;
    let y0 = (cy - ey).floor().max(0.0) as u32;
    let x1 = ((cx + ex).ceil() as u32).min(background.width());
    let y1 = ((cy + ey).ceil() as u32).min(background.height());
    for y in y0..y1 {
        for x in x0..x1 {
            let (du, dv) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            // Back into the object's own frame.
            let u = du * cos + dv * sin;
            let v = -du * sin + dv * cos;
            if u.abs() > ow / 2.0 || v.abs() > oh / 2.0 {
                continue;
            }
            let p = bilinear(&scaled, ox + u - 0.5, oy + v - 0.5);
            let lit = p.map(|c| (c * variation.gain + variation.offset).clamp(0.0, 255.0) as u8);
            out.put_pixel(x, y, Rgb(lit));
        }
    }
    let truth = BBox {
        x: (cx - ow / 2.0) / bw,
        y: (cy - oh / 2.0) / bh,
        w: ow / bw,
        h: oh / bh,
    };
    (out, truth)
}

fn bilinear(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let max_x = image.width() as f32 - 1.0;
    let max_y = image.height() as f32 - 1.0;
    let (x, y) = (x.clamp(0.0, max_x), y.clamp(0.0, max_y));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let x1 = (x0 + 1).min(image.width() - 1);
    let y1 = (y0 + 1).min(image.height() - 1);
    let px = |x: u32, y: u32| image.get_pixel(x, y).0.map(f32::from);
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let mut out = [0.0; 3];
    for i in 0..3 {
        out[i] =
            (a[i] * (1.0 - fx) + b[i] * fx) * (1.0 - fy) + (c[i] * (1.0 - fx) + d[i] * fx) * fy;
    }
    out
}

/// A picture as a JPEG of the given quality.
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, VisionError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pasted_object_lands_inside_its_truth_box() {
        let background = RgbImage::from_pixel(300, 200, Rgb([0, 0, 0]));
        let source = RgbImage::from_fn(100, 100, |x, y| {
            if (20..60).contains(&x) && (30..50).contains(&y) {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let object = BBox {
            x: 0.2,
            y: 0.3,
            w: 0.4,
            h: 0.2,
        };
        let mut rng = Rng::new(7);
        for _ in 0..20 {
            let v = Variation::random(&mut rng);
            assert!((0.7..1.4).contains(&v.scale) && v.rotation_deg.abs() <= 10.0);
            let v = Variation {
                rotation_deg: 0.0,
                gain: 1.0,
                offset: 0.0,
                ..v
            };
            let (out, truth) = paste(&background, &source, object, &v, &mut rng);
            let (w, h) = (300.0, 200.0);
            assert!((truth.w * w - 40.0 * v.scale).abs() < 1.0);
            assert!((truth.h * h - 20.0 * v.scale).abs() < 1.0);
            // White inside the truth box, black (untouched) outside it.
            let (cx, cy) = truth.center();
            assert_eq!(
                out.get_pixel((cx * w) as u32, (cy * h) as u32).0,
                [255, 255, 255]
            );
            assert_eq!(
                out.get_pixel(((truth.x + truth.w) * w + 2.0) as u32 % 300, 0)
                    .0,
                [0, 0, 0]
            );
        }
    }

    #[test]
    fn photographs_are_brought_to_the_snapshot_side() {
        let big = snapshot_size(&RgbImage::new(1280, 720));
        assert_eq!(big.dimensions(), (640, 360));
        let small = snapshot_size(&RgbImage::new(320, 400));
        assert_eq!(small.dimensions(), (512, 640));
    }
}
