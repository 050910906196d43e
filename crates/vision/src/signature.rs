//! A picture's tiny signature, for telling a camera's near-identical snapshots apart from
//! real changes.
//!
//! The signature is the picture shrunk to 16×16 grey levels. Comparing two signatures by
//! their mean absolute difference ignores JPEG noise and sensor grain (averaged away by the
//! shrinking) yet notices a person walking in, a light switched on, or the camera being
//! turned. A perceptual hash of 64 bits would be smaller but blind to most of those.

use image::{RgbImage, imageops::FilterType};

/// Side of the signature's square, in cells.
pub const SIGNATURE_SIDE: u32 = 16;
/// Bytes in a signature.
pub const SIGNATURE_LEN: usize = (SIGNATURE_SIDE * SIGNATURE_SIDE) as usize;

/// A picture shrunk to 16×16 grey levels (row-major, one byte per cell).
#[derive(Clone, PartialEq, Eq)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mean = self.0.iter().map(|&v| u32::from(v)).sum::<u32>() / SIGNATURE_LEN as u32;
        write!(f, "Signature(mean {mean})")
    }
}

impl Signature {
    /// The signature of a decoded picture (any size; the aspect ratio is not kept, which
    /// does not matter when comparing pictures of one camera).
    pub fn of(image: &RgbImage) -> Signature {
        let grey = image::DynamicImage::ImageRgb8(image.clone()).into_luma8();
        // Triangle averages every source pixel into its cell, which is what removes noise.
        let small =
            image::imageops::resize(&grey, SIGNATURE_SIDE, SIGNATURE_SIDE, FilterType::Triangle);
        let mut cells = [0u8; SIGNATURE_LEN];
        cells.copy_from_slice(small.as_raw());
        Signature(cells)
    }

    /// Reads a stored signature; `None` unless it has exactly [`SIGNATURE_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Signature> {
        <[u8; SIGNATURE_LEN]>::try_from(bytes).ok().map(Signature)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// How different two pictures look: the mean absolute difference of their cells, from
    /// 0 (the same) to 1 (black against white).
    pub fn distance(&self, other: &Signature) -> f64 {
        let total: u32 = self
            .0
            .iter()
            .zip(other.0.iter())
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .sum();
        f64::from(total) / (255.0 * SIGNATURE_LEN as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn scene(shift: u8, square: Option<(u32, u32)>) -> RgbImage {
        RgbImage::from_fn(640, 480, |x, y| {
            if let Some((sx, sy)) = square
                && (sx..sx + 160).contains(&x)
                && (sy..sy + 160).contains(&y)
            {
                return Rgb([250, 250, 250]);
            }
            let v = u8::try_from((x / 3 + y / 4) % 200).unwrap_or(0);
            Rgb([v.saturating_add(shift), v, v / 2])
        })
    }

    /// Pixel noise like a sensor's or a JPEG re-encode's.
    fn noisy(image: &RgbImage) -> RgbImage {
        let mut out = image.clone();
        let mut state: u32 = 12345;
        for p in out.pixels_mut() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let delta = i16::try_from((state >> 16) % 13).unwrap_or(0) - 6;
            for c in &mut p.0 {
                *c = u8::try_from((i16::from(*c) + delta).clamp(0, 255)).unwrap_or(0);
            }
        }
        out
    }

    #[test]
    fn noise_is_near_zero_and_a_new_object_is_not() {
        let base = Signature::of(&scene(0, None));
        let noise = Signature::of(&noisy(&scene(0, None)));
        let object = Signature::of(&scene(0, Some((200, 150))));
        assert!(base.distance(&base) == 0.0);
        assert!(base.distance(&noise) < 0.01, "{}", base.distance(&noise));
        assert!(base.distance(&object) > 0.03, "{}", base.distance(&object));
    }

    #[test]
    fn brighter_light_is_a_change() {
        let base = Signature::of(&scene(0, None));
        let lit = Signature::of(&scene(60, None));
        assert!(base.distance(&lit) > 0.03);
    }

    #[test]
    fn bytes_round_trip_and_bad_lengths_are_refused() {
        let s = Signature::of(&scene(0, None));
        assert_eq!(Signature::from_bytes(s.as_bytes()), Some(s));
        assert_eq!(Signature::from_bytes(&[0; 10]), None);
    }
}
