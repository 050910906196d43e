//! From JPEG bytes to the model's input tensor: scaled decoding, Exif orientation,
//! letterboxing and normalization.
//!
//! Phones upload 12-megapixel photos; the model sees 640×640. Decoding such a photo at full
//! size and shrinking it afterwards costs most of a detection, so [`decode_jpeg`] asks the
//! JPEG decoder to shrink in the DCT domain (by 1/2, 1/4 or 1/8) while it decodes, and only
//! the last, small step is a pixel resize.

use std::io::Cursor;

use image::codecs::jpeg::JpegDecoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, Rgb, RgbImage};

use crate::VisionError;

/// The grey that fills the letterbox bars, as in Ultralytics' own pre-processing.
pub const PAD_GREY: u8 = 114;

/// Pictures larger than this many pixels are refused before decoding (a hostile header can
/// claim 65535×65535) unless a caller sets its own bound ([`decode_jpeg_limited`]).
/// 120 megapixels is above any phone camera.
pub const MAX_PIXELS: u64 = 120_000_000;

/// The most bytes a decode of a picture of at most `max_pixels` may allocate for its pixels:
/// four a pixel, what a CMYK picture takes before it becomes RGB. The decoders are told this
/// bound, so a picture whose header lies about its size still cannot take more.
pub fn decode_memory_limit(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(4)
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), VisionError> {
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(VisionError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// A decoded picture, upright, possibly smaller than the original.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// The pixels, after Exif orientation; at least as large as was asked, unless the
    /// original is smaller.
    pub image: RgbImage,
    /// The original's width as displayed (after orientation).
    pub display_width: u32,
    /// The original's height as displayed (after orientation).
    pub display_height: u32,
}

/// Decodes a JPEG so that its upright picture covers at least `min_width`×`min_height`
/// after an aspect-preserving fit, decoding at a reduced DCT scale when that suffices.
///
/// Pass `(0, 0)` for a full-size decode. The Exif orientation is applied, so boxes found
/// on the result are in the coordinates people see. Falls back to a full decode with the
/// `image` crate for the rare JPEGs the scaling decoder does not handle (CMYK, 16-bit).
pub fn decode_jpeg(
    jpeg: &[u8],
    min_width: u32,
    min_height: u32,
) -> Result<DecodedImage, VisionError> {
    decode_jpeg_limited(jpeg, min_width, min_height, MAX_PIXELS)
}

/// [`decode_jpeg`] for pictures of at most `max_pixels` (width × height, as the header
/// declares them): a larger one is [`VisionError::TooLarge`] before anything is decoded, and
/// the decoders may allocate at most [`decode_memory_limit`] bytes for pixels.
pub fn decode_jpeg_limited(
    jpeg: &[u8],
    min_width: u32,
    min_height: u32,
    max_pixels: u64,
) -> Result<DecodedImage, VisionError> {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    decoder.set_max_decoding_buffer_size(
        usize::try_from(decode_memory_limit(max_pixels)).unwrap_or(usize::MAX),
    );
    decoder
        .read_info()
        .map_err(|e| VisionError::Decode(e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| VisionError::Decode("no frame header".into()))?;
    let (raw_w, raw_h) = (u32::from(info.width), u32::from(info.height));
    if raw_w == 0 || raw_h == 0 {
        return Err(VisionError::Decode("zero-sized image".into()));
    }
    check_pixels(raw_w, raw_h, max_pixels)?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (display_w, display_h) = if swaps_axes(orientation) {
        (raw_h, raw_w)
    } else {
        (raw_w, raw_h)
    };

    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 | jpeg_decoder::PixelFormat::L8 => {
            if min_width > 0 && min_height > 0 {
                let (need_w, need_h) = fit_size(display_w, display_h, min_width, min_height);
                let (req_w, req_h) = if swaps_axes(orientation) {
                    (need_h, need_w)
                } else {
                    (need_w, need_h)
                };
                decoder
                    .scale(clamp_u16(req_w), clamp_u16(req_h))
                    .map_err(|e| VisionError::Decode(e.to_string()))?;
            }
            let pixels = decoder
                .decode()
                .map_err(|e| VisionError::Decode(e.to_string()))?;
            let info = decoder
                .info()
                .ok_or_else(|| VisionError::Decode("no frame header".into()))?;
            let (w, h) = (u32::from(info.width), u32::from(info.height));
            let rgb = match info.pixel_format {
                jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels)
                    .map(|g| DynamicImage::ImageLuma8(g).to_rgb8()),
                _ => RgbImage::from_raw(w, h, pixels),
            }
            .ok_or_else(|| VisionError::Decode("decoder returned a short buffer".into()))?;
            let mut image = DynamicImage::ImageRgb8(rgb);
            image.apply_orientation(orientation);
            image.into_rgb8()
        }
        _ => decode_full_limited(jpeg, max_pixels)?,
    };
    Ok(DecodedImage {
        image,
        display_width: display_w,
        display_height: display_h,
    })
}

/// Full-size decode with the `image` crate (zune-jpeg), Exif orientation applied.
pub fn decode_full(jpeg: &[u8]) -> Result<RgbImage, VisionError> {
    decode_full_limited(jpeg, MAX_PIXELS)
}

/// [`decode_full`] for pictures of at most `max_pixels`, allocating at most
/// [`decode_memory_limit`] bytes for the decoded pixels.
pub fn decode_full_limited(jpeg: &[u8], max_pixels: u64) -> Result<RgbImage, VisionError> {
    let decode_err = |e: image::ImageError| VisionError::Decode(e.to_string());
    let mut decoder = JpegDecoder::new(Cursor::new(jpeg)).map_err(decode_err)?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_pixels)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(decode_memory_limit(max_pixels));
    limits.reserve(decoder.total_bytes()).map_err(decode_err)?;
    decoder.set_limits(limits).map_err(decode_err)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// The size of a `src_w`×`src_h` picture fitted inside `box_w`×`box_h` with its aspect
/// kept: the size of the picture inside the letterbox. Never zero.
pub fn fit_size(src_w: u32, src_h: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    let scale = (box_w as f32 / src_w.max(1) as f32).min(box_h as f32 / src_h.max(1) as f32);
    let w = ((src_w as f32 * scale).round() as u32).clamp(1, box_w.max(1));
    let h = ((src_h as f32 * scale).round() as u32).clamp(1, box_h.max(1));
    (w, h)
}

/// Where a picture sits inside the model's square (or rectangular) input: scaled to fit
/// with its aspect kept, centred, the rest padded with [`PAD_GREY`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// The picture's width as displayed, in its own pixels.
    pub src_width: u32,
    /// The picture's height as displayed, in its own pixels.
    pub src_height: u32,
    /// The model input's width.
    pub dst_width: u32,
    /// The model input's height.
    pub dst_height: u32,
    /// The picture's width inside the input.
    pub content_width: u32,
    /// The picture's height inside the input.
    pub content_height: u32,
    /// Width of the left bar (the right bar takes the odd pixel).
    pub pad_left: u32,
    /// Height of the top bar (the bottom bar takes the odd pixel).
    pub pad_top: u32,
}

impl Letterbox {
    /// The letterbox of a `src_width`×`src_height` picture in a `dst_width`×`dst_height`
    /// input.
    pub fn new(src_width: u32, src_height: u32, dst_width: u32, dst_height: u32) -> Letterbox {
        let (content_width, content_height) =
            fit_size(src_width, src_height, dst_width, dst_height);
        Letterbox {
            src_width,
            src_height,
            dst_width,
            dst_height,
            content_width,
            content_height,
            pad_left: (dst_width - content_width) / 2,
            pad_top: (dst_height - content_height) / 2,
        }
    }

    /// Maps a point in model-input pixels to normalized picture coordinates (`[0, 1]` inside
    /// the picture; outside that range in the bars).
    pub fn to_normalized(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.pad_left as f32) / self.content_width as f32,
            (y - self.pad_top as f32) / self.content_height as f32,
        )
    }

    /// Maps normalized picture coordinates to model-input pixels; the inverse of
    /// [`to_normalized`](Self::to_normalized).
    pub fn to_input(&self, nx: f32, ny: f32) -> (f32, f32) {
        (
            nx * self.content_width as f32 + self.pad_left as f32,
            ny * self.content_height as f32 + self.pad_top as f32,
        )
    }
}

/// The model input for one picture: a `[1, 3, H, W]` tensor in `[0, 1]`, channel-planar
/// RGB, and the letterbox that maps boxes back.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// `3 × H × W` values: the R plane, then G, then B.
    pub data: Vec<f32>,
    /// The input tensor's shape, `[1, 3, H, W]`.
    pub shape: [usize; 4],
    /// How the picture was placed.
    pub letterbox: Letterbox,
}

/// Decodes, letterboxes and normalizes a JPEG for a model with a `width`×`height` input.
pub fn prepare(jpeg: &[u8], width: u32, height: u32) -> Result<ModelInput, VisionError> {
    let decoded = decode_jpeg(jpeg, width, height)?;
    Ok(letterbox_image(
        &decoded.image,
        decoded.display_width,
        decoded.display_height,
        width,
        height,
    ))
}

/// Letterboxes an upright picture (possibly a reduced decode of a
/// `display_width`×`display_height` original) into a `width`×`height` tensor.
pub fn letterbox_image(
    image: &RgbImage,
    display_width: u32,
    display_height: u32,
    width: u32,
    height: u32,
) -> ModelInput {
    let letterbox = Letterbox::new(display_width, display_height, width, height);
    let resized;
    let content = if image.dimensions() == (letterbox.content_width, letterbox.content_height) {
        image
    } else {
        resized = image::imageops::resize(
            image,
            letterbox.content_width,
            letterbox.content_height,
            FilterType::Triangle,
        );
        &resized
    };
    let (w, h) = (width as usize, height as usize);
    let plane = w * h;
    let mut data = vec![f32::from(PAD_GREY) / 255.0; 3 * plane];
    let (left, top) = (letterbox.pad_left as usize, letterbox.pad_top as usize);
    for (x, y, Rgb([r, g, b])) in content.enumerate_pixels() {
        let i = (top + y as usize) * w + left + x as usize;
        data[i] = f32::from(*r) / 255.0;
        data[plane + i] = f32::from(*g) / 255.0;
        data[2 * plane + i] = f32::from(*b) / 255.0;
    }
    ModelInput {
        data,
        shape: [1, 3, h, w],
        letterbox,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, codecs::jpeg::JpegEncoder};

    fn jpeg_of(img: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
        if let Some(exif) = exif {
            enc.set_exif_metadata(exif).unwrap();
        }
        enc.write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        out
    }

    /// A little-endian TIFF header with one IFD entry: Orientation (0x0112) = `value`.
    fn exif_orientation(value: u16) -> Vec<u8> {
        let mut e = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0];
        e.extend_from_slice(&0x0112u16.to_le_bytes());
        e.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        e.extend_from_slice(&1u32.to_le_bytes()); // count
        e.extend_from_slice(&value.to_le_bytes());
        e.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, next IFD = 0
        e
    }

    #[test]
    fn fit_keeps_aspect_and_never_exceeds_the_box() {
        assert_eq!(fit_size(4000, 3000, 640, 640), (640, 480));
        assert_eq!(fit_size(810, 1080, 640, 640), (480, 640));
        assert_eq!(fit_size(100, 100, 640, 640), (640, 640));
        assert_eq!(fit_size(10_000, 1, 640, 640), (640, 1));
    }

    #[test]
    fn letterbox_centres_the_picture() {
        let lb = Letterbox::new(1280, 720, 640, 640);
        assert_eq!((lb.content_width, lb.content_height), (640, 360));
        assert_eq!((lb.pad_left, lb.pad_top), (0, 140));
        let lb = Letterbox::new(810, 1080, 640, 640);
        assert_eq!((lb.content_width, lb.content_height), (480, 640));
        assert_eq!((lb.pad_left, lb.pad_top), (80, 0));
    }

    #[test]
    fn letterbox_geometry_round_trips() {
        for (sw, sh, dw, dh) in [
            (1280, 720, 640, 640),
            (810, 1080, 640, 640),
            (4000, 3000, 640, 640),
            (333, 777, 320, 480),
            (1, 1, 640, 640),
        ] {
            let lb = Letterbox::new(sw, sh, dw, dh);
            for (nx, ny) in [(0.0, 0.0), (1.0, 1.0), (0.25, 0.75), (0.5, 0.1)] {
                let (x, y) = lb.to_input(nx, ny);
                assert!(x >= -0.01 && x <= dw as f32 + 0.01 && y >= -0.01 && y <= dh as f32 + 0.01);
                let (bx, by) = lb.to_normalized(x, y);
                assert!(
                    (bx - nx).abs() < 1e-5 && (by - ny).abs() < 1e-5,
                    "{sw}x{sh}"
                );
            }
            // The picture's corners land on the content's edges.
            assert_eq!(
                lb.to_input(0.0, 0.0),
                (lb.pad_left as f32, lb.pad_top as f32)
            );
            assert_eq!(
                lb.to_input(1.0, 1.0),
                (
                    (lb.pad_left + lb.content_width) as f32,
                    (lb.pad_top + lb.content_height) as f32
                )
            );
        }
    }

    #[test]
    fn tensor_is_planar_normalized_and_padded_grey() {
        // 4×2 picture, red left half and blue right half, into an 8×8 input.
        let img = RgbImage::from_fn(4, 2, |x, _| {
            if x < 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let input = letterbox_image(&img, 4, 2, 8, 8);
        assert_eq!(input.shape, [1, 3, 8, 8]);
        assert_eq!(input.data.len(), 3 * 64);
        let lb = input.letterbox;
        assert_eq!((lb.content_width, lb.content_height, lb.pad_top), (8, 4, 2));
        let at = |c: usize, x: usize, y: usize| input.data[c * 64 + y * 8 + x];
        let grey = 114.0 / 255.0;
        assert_eq!((at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)), (grey, grey, grey));
        assert_eq!((at(0, 0, 7), at(1, 0, 7), at(2, 0, 7)), (grey, grey, grey));
        assert_eq!((at(0, 0, 3), at(1, 0, 3), at(2, 0, 3)), (1.0, 0.0, 0.0));
        assert_eq!((at(0, 7, 3), at(1, 7, 3), at(2, 7, 3)), (0.0, 0.0, 1.0));
    }

    #[test]
    fn large_pictures_decode_at_a_reduced_dct_scale() {
        let img = RgbImage::from_fn(2000, 1500, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 0])
        });
        let jpeg = jpeg_of(&img, None);
        let d = decode_jpeg(&jpeg, 640, 640).unwrap();
        assert_eq!((d.display_width, d.display_height), (2000, 1500));
        // 1/2 would be 1000×750, 1/4 is 500×375 (too small for 640×480): expect 1/2.
        assert_eq!(d.image.dimensions(), (1000, 750));
        let full = decode_jpeg(&jpeg, 0, 0).unwrap();
        assert_eq!(full.image.dimensions(), (2000, 1500));
        let small = decode_jpeg(&jpeg, 100, 100).unwrap();
        assert_eq!(small.image.dimensions(), (250, 188));
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 40×20 picture stored sideways: orientation 6 means "rotate 90° clockwise to view".
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let jpeg = jpeg_of(&img, Some(exif_orientation(6)));
        let d = decode_jpeg(&jpeg, 640, 640).unwrap();
        assert_eq!((d.display_width, d.display_height), (20, 40));
        assert_eq!(d.image.dimensions(), (20, 40));
        // Stored left (red) becomes top after a clockwise turn.
        assert!(d.image.get_pixel(10, 5)[0] > 200);
        assert!(d.image.get_pixel(10, 35)[2] > 200);
        let full = decode_full(&jpeg).unwrap();
        assert_eq!(full.dimensions(), (20, 40));
    }

    #[test]
    fn grey_jpegs_decode_to_rgb() {
        let img = image::GrayImage::from_pixel(16, 8, image::Luma([200]));
        let mut jpeg = Vec::new();
        JpegEncoder::new(&mut jpeg)
            .write_image(img.as_raw(), 16, 8, image::ExtendedColorType::L8)
            .unwrap();
        let d = decode_jpeg(&jpeg, 640, 640).unwrap();
        assert_eq!(d.image.dimensions(), (16, 8));
        let p = d.image.get_pixel(3, 3);
        assert!(p[0] == p[1] && p[1] == p[2] && p[0] > 190);
    }

    #[test]
    fn pictures_above_the_pixel_bound_are_refused_before_decoding() {
        let img = RgbImage::from_pixel(300, 200, Rgb([9, 9, 9]));
        let jpeg = jpeg_of(&img, None);
        assert!(decode_jpeg_limited(&jpeg, 64, 64, 60_000).is_ok());
        for max_pixels in [59_999, 1] {
            assert!(matches!(
                decode_jpeg_limited(&jpeg, 64, 64, max_pixels),
                Err(VisionError::TooLarge {
                    width: 300,
                    height: 200,
                    ..
                })
            ));
            assert!(matches!(
                decode_full_limited(&jpeg, max_pixels),
                Err(VisionError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn garbage_and_truncated_input_are_decode_errors() {
        assert!(matches!(
            decode_jpeg(b"", 640, 640),
            Err(VisionError::Decode(_))
        ));
        assert!(matches!(
            decode_jpeg(b"not a jpeg at all", 640, 640),
            Err(VisionError::Decode(_))
        ));
        let img = RgbImage::from_pixel(64, 64, Rgb([1, 2, 3]));
        let jpeg = jpeg_of(&img, None);
        // A truncated scan may decode to a partly grey picture or fail; it must not panic.
        let _ = decode_jpeg(&jpeg[..jpeg.len() / 3], 640, 640);
        assert!(matches!(
            prepare(&jpeg[..20], 640, 640),
            Err(VisionError::Decode(_))
        ));
    }
}
