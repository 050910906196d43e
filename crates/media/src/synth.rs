//! Synthetic JPEG frames for simulators, tests and benchmarks.
//!
//! A [`TestCard`] renders real, decodable baseline JPEGs: a colour gradient, a white bar that
//! moves across it with the frame number, and the frame number itself in large digits (a
//! built-in 5×7 bitmap font, so no font files). A person watching a viewer can thus see at a
//! glance that frames arrive, in order, and which one is shown.
//!
//! Benchmarks that ask for frames of a given size ("50 KB frames") use [`sized`] or
//! [`TestCard::render_padded`], which pad a rendered frame with a COM segment placed just
//! before the image data, so the padding never hides a comment that was added first with
//! [`crate::jpeg::with_comment`].

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;

use crate::jpeg;

/// The digits 0–9 in a 5×7 bitmap font: one byte per row, top to bottom, the low five bits
/// being the pixels from left (bit 4) to right (bit 0).
const DIGITS: [[u8; 7]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
];

/// The largest total size of one COM segment: marker, length field and payload.
const MAX_SEGMENT_TOTAL: usize = jpeg::MAX_COMMENT_SEGMENT + 4;

/// Sizes [`sized`] picks from, largest first, with the quality it uses.
const LADDER: [(u16, u16); 7] = [
    (1920, 1080),
    (1280, 720),
    (640, 480),
    (320, 240),
    (160, 120),
    (64, 48),
    (16, 16),
];

/// The JPEG quality [`sized`] renders at.
const SIZED_QUALITY: u8 = 80;

/// A generator of test frames of one size and JPEG quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    width: u16,
    height: u16,
    quality: u8,
}

impl TestCard {
    /// A test card of `width` × `height` pixels encoded at `quality` (1–100, as in libjpeg).
    ///
    /// A zero width or height is taken as 1 and the quality is clamped to 1–100, so every
    /// test card renders.
    pub fn new(width: u16, height: u16, quality: u8) -> Self {
        TestCard {
            width: width.max(1),
            height: height.max(1),
            quality: quality.clamp(1, 100),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// Renders frame `frame_no` as a baseline JPEG.
    pub fn render(&self, frame_no: u64) -> Vec<u8> {
        let pixels = self.pixels(frame_no);
        let (width, height) = (u32::from(self.width), u32::from(self.height));
        let mut out = Vec::with_capacity(pixels.len() / 8);
        // The encoder fails only for a zero or over-65535 dimension (ruled out by `new` and
        // the u16 type) or an I/O error (impossible when writing to a Vec).
        JpegEncoder::new_with_quality(&mut out, self.quality)
            .encode(&pixels, width, height, ExtendedColorType::Rgb8)
            .expect("encoding a test card with valid dimensions into a Vec cannot fail");
        out
    }

    /// Renders frame `frame_no` and pads it to `target_bytes` with [`pad_to`]; a frame that
    /// is already larger is returned as it is.
    pub fn render_padded(&self, frame_no: u64, target_bytes: usize) -> Vec<u8> {
        pad_to(self.render(frame_no), target_bytes)
    }

    /// The RGB pixels of frame `frame_no`, row by row.
    fn pixels(&self, frame_no: u64) -> Vec<u8> {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let mut canvas = Canvas {
            pixels: vec![0; w * h * 3],
            width: w,
            height: h,
        };

        // Background: red grows to the right, blue to the left, green downwards.
        let reds: Vec<u8> = (0..w).map(|x| ramp(x, w)).collect();
        for (y, row) in canvas.pixels.chunks_exact_mut(w * 3).enumerate() {
            let green = ramp(y, h);
            for (pixel, &red) in row.chunks_exact_mut(3).zip(&reds) {
                pixel.copy_from_slice(&[red, green, 255 - red]);
            }
        }

        // A white bar sweeping left to right, entering and leaving the picture gradually,
        // across in about 45 frames.
        let bar = (w / 12).max(1);
        let period = (w + bar) as u64;
        let speed = (w as u64 / 45).max(1);
        let left = ((frame_no % period) * speed % period) as usize;
        canvas.fill(left as isize - bar as isize, 0, bar, h, [255, 255, 255]);

        // The frame number, white on black, centred.
        let text = frame_no.to_string();
        let units_wide = text.len() * 6 + 1;
        let scale = (w / units_wide).min(h / 27).max(1);
        let (box_w, box_h) = (units_wide * scale, 9 * scale);
        let box_x = (w as isize - box_w as isize) / 2;
        let box_y = (h as isize - box_h as isize) / 2;
        canvas.fill(box_x, box_y, box_w, box_h, [0, 0, 0]);
        for (i, digit) in text.bytes().enumerate() {
            let glyph = &DIGITS[usize::from(digit - b'0')];
            let glyph_x = box_x + ((1 + 6 * i) * scale) as isize;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let x = glyph_x + (col * scale) as isize;
                        let y = box_y + ((1 + row) * scale) as isize;
                        canvas.fill(x, y, scale, scale, [255, 255, 255]);
                    }
                }
            }
        }
        canvas.pixels
    }
}

/// `i` of `n` mapped onto 0–255.
fn ramp(i: usize, n: usize) -> u8 {
    u8::try_from(i * 255 / (n - 1).max(1)).unwrap_or(u8::MAX)
}

/// An RGB pixel buffer that clips what is drawn to its bounds.
struct Canvas {
    pixels: Vec<u8>,
    width: usize,
    height: usize,
}

impl Canvas {
    /// Fills a rectangle, which may lie partly or wholly outside the canvas.
    fn fill(&mut self, x: isize, y: isize, w: usize, h: usize, colour: [u8; 3]) {
        let clip = |start: isize, len: usize, max: usize| {
            let from = start.clamp(0, max as isize) as usize;
            let to = (start + len as isize).clamp(0, max as isize) as usize;
            from..to
        };
        let (xs, ys) = (clip(x, w, self.width), clip(y, h, self.height));
        for row in ys {
            let start = (row * self.width + xs.start) * 3;
            let end = (row * self.width + xs.end) * 3;
            for pixel in self.pixels[start..end].chunks_exact_mut(3) {
                pixel.copy_from_slice(&colour);
            }
        }
    }
}

/// Pads a JPEG to exactly `target_bytes` with COM segments inserted just before its image
/// data (SOS), filled with spaces.
///
/// Returns `jpeg` unchanged if it is already within 3 bytes of the target or larger (a COM
/// segment takes at least 4 bytes), or if it has no SOS segment to insert before.
pub fn pad_to(jpeg: Vec<u8>, target_bytes: usize) -> Vec<u8> {
    let Some(padding) = target_bytes.checked_sub(jpeg.len()).filter(|&p| p >= 4) else {
        return jpeg;
    };
    let Some(at) = jpeg::scan_start(&jpeg) else {
        return jpeg;
    };
    let mut out = Vec::with_capacity(target_bytes);
    out.extend_from_slice(&jpeg[..at]);
    let mut remaining = padding;
    while remaining > 0 {
        let mut segment = remaining.min(MAX_SEGMENT_TOTAL);
        // Never leave a remainder too small for a segment of its own.
        if (1..4).contains(&(remaining - segment)) {
            segment -= 4;
        }
        let length = u16::try_from(segment - 2).unwrap_or(u16::MAX);
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&length.to_be_bytes());
        out.resize(out.len() + segment - 4, b' ');
        remaining -= segment;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// A test-card frame of about `target_bytes`: rendered at the largest of a few standard
/// sizes (1920×1080 down to 16×16, quality 80) that fits, then padded to exactly
/// `target_bytes` with [`pad_to`].
///
/// Targets below the size of the smallest frame (a few hundred bytes, mostly the tables
/// every baseline JPEG carries) get that smallest frame. Rendering a large frame takes a few
/// milliseconds, so benchmarks should render their frames once, up front.
pub fn sized(frame_no: u64, target_bytes: usize) -> Vec<u8> {
    // Test cards compress to roughly a bit per pixel at this quality; start from the
    // largest size likely to fit and step down while the frame is too big.
    let mut sizes = LADDER
        .iter()
        .skip_while(|&&(w, h)| usize::from(w) * usize::from(h) / 8 > target_bytes)
        .peekable();
    let mut frame = Vec::new();
    while let Some(&(w, h)) = sizes.next() {
        frame = TestCard::new(w, h, SIZED_QUALITY).render(frame_no);
        if frame.len() <= target_bytes || sizes.peek().is_none() {
            break;
        }
    }
    if frame.is_empty() {
        frame = TestCard::new(16, 16, SIZED_QUALITY).render(frame_no);
    }
    pad_to(frame, target_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::{JpegInfo, comment, inspect, with_comment};

    fn decode(data: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8()
    }

    #[test]
    fn renders_decodable_jpegs_of_the_right_size() {
        for (w, h) in [(640, 480), (320, 240), (33, 17), (1, 1), (7, 300)] {
            let card = TestCard::new(w, h, 75);
            let jpeg = card.render(42);
            let img = decode(&jpeg);
            assert_eq!((img.width(), img.height()), (u32::from(w), u32::from(h)));
            assert_eq!(
                inspect(&jpeg),
                Ok(JpegInfo {
                    width: w,
                    height: h,
                    components: 3,
                    progressive: false
                })
            );
        }
    }

    #[test]
    fn degenerate_parameters_are_clamped() {
        let card = TestCard::new(0, 0, 0);
        assert_eq!((card.width(), card.height()), (1, 1));
        assert!(inspect(&card.render(0)).is_ok());
        assert!(inspect(&TestCard::new(8, 8, 255).render(0)).is_ok());
    }

    #[test]
    fn frames_differ_and_the_bar_moves() {
        let card = TestCard::new(320, 240, 90);
        let a = card.pixels(10);
        let b = card.pixels(11);
        assert_ne!(a, b);
        assert_ne!(card.render(10), card.render(11));
        // Rendering is deterministic.
        assert_eq!(card.render(10), card.render(10));
        // The bar is white somewhere in the top row and moves to the right.
        let white_in_top_row = |pixels: &[u8]| {
            pixels[..320 * 3]
                .chunks_exact(3)
                .position(|p| p == [255, 255, 255])
        };
        let (xa, xb) = (white_in_top_row(&a).unwrap(), white_in_top_row(&b).unwrap());
        assert!(xb > xa, "{xa} then {xb}");
    }

    #[test]
    fn digits_are_drawn_large_and_centred() {
        let card = TestCard::new(640, 480, 90);
        let img = decode(&card.render(8));
        // One digit: 7 units wide, scale min(640 / 7, 480 / 27) = 17, so the black box is
        // 119×153 at (260, 163) and the glyph's middle bar (row 3, columns 1–3) covers
        // x 294..345, y 231..248, across the centre of the frame.
        let centre = img.get_pixel(320, 240);
        assert!(centre.0.iter().all(|&c| c > 200), "{centre:?}");
        let box_corner = img.get_pixel(264, 167);
        assert!(box_corner.0.iter().all(|&c| c < 60), "{box_corner:?}");
        let outside = img.get_pixel(250, 150);
        assert!(outside.0.iter().any(|&c| c > 60), "{outside:?}");
    }

    #[test]
    fn long_frame_numbers_fit_in_small_frames() {
        let card = TestCard::new(16, 16, 50);
        assert!(inspect(&card.render(u64::MAX)).is_ok());
        let card = TestCard::new(640, 480, 50);
        assert_eq!(decode(&card.render(u64::MAX)).width(), 640);
    }

    #[test]
    fn padding_hits_the_target_exactly() {
        let jpeg = TestCard::new(64, 48, 75).render(3);
        for target in [
            jpeg.len() + 4,
            jpeg.len() + 5,
            jpeg.len() + 1000,
            jpeg.len() + MAX_SEGMENT_TOTAL,
            jpeg.len() + MAX_SEGMENT_TOTAL + 1,
            jpeg.len() + MAX_SEGMENT_TOTAL + 3,
            jpeg.len() + MAX_SEGMENT_TOTAL + 4,
            jpeg.len() + 3 * MAX_SEGMENT_TOTAL + 2,
            200_000,
        ] {
            let padded = pad_to(jpeg.clone(), target);
            assert_eq!(padded.len(), target);
            assert_eq!(inspect(&padded), inspect(&jpeg));
            assert_eq!(decode(&padded), decode(&jpeg));
        }
        // Too close to the target, or already over it: unchanged.
        for target in [0, jpeg.len() - 1, jpeg.len(), jpeg.len() + 3] {
            assert_eq!(pad_to(jpeg.clone(), target), jpeg);
        }
        assert_eq!(pad_to(b"not a jpeg".to_vec(), 100), b"not a jpeg");
    }

    #[test]
    fn padding_does_not_hide_a_stamp() {
        let jpeg = TestCard::new(64, 48, 75).render(3);
        let stamped = with_comment(&jpeg, b"seq=1");
        let padded = pad_to(stamped, 10_000);
        assert_eq!(comment(&padded), Some(&b"seq=1"[..]));
        let restamped = with_comment(&pad_to(jpeg, 10_000), b"seq=2");
        assert_eq!(comment(&restamped), Some(&b"seq=2"[..]));
    }

    #[test]
    fn sized_frames_hit_the_target() {
        for target in [2_000, 10_000, 50_000, 150_000, 1_000_000] {
            let frame = sized(7, target);
            assert_eq!(frame.len(), target, "target {target}");
            assert!(inspect(&frame).is_ok());
        }
        // The 50 KB benchmark frame is a real picture, not a tiny one padded.
        let info = inspect(&sized(1, 50_000)).unwrap();
        assert!(info.width >= 320, "{info:?}");
        // A target below the smallest frame gets the smallest frame.
        let tiny = sized(1, 10);
        assert!(tiny.len() > 10);
        assert_eq!(inspect(&tiny).map(|i| i.width), Ok(16));
    }
}
