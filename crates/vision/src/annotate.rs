//! Annotated thumbnails: detection boxes and labels drawn on a downscaled copy.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{Rgb, RgbImage};

use crate::preprocess::{MAX_PIXELS, decode_jpeg_limited};
use crate::{Detection, VisionError};

/// JPEG quality of thumbnails: small files, boxes and text still crisp.
const THUMBNAIL_QUALITY: u8 = 80;

/// Box colours by class id (Ultralytics' palette, so thumbnails look familiar).
const PALETTE: [[u8; 3]; 20] = [
    [0xFF, 0x38, 0x38],
    [0xFF, 0x9D, 0x97],
    [0xFF, 0x70, 0x1F],
    [0xFF, 0xB2, 0x1D],
    [0xCF, 0xD2, 0x31],
    [0x48, 0xF9, 0x0A],
    [0x92, 0xCC, 0x17],
    [0x3D, 0xDB, 0x86],
    [0x1A, 0x93, 0x34],
    [0x00, 0xD4, 0xBB],
    [0x2C, 0x99, 0xA8],
    [0x00, 0xC2, 0xFF],
    [0x34, 0x45, 0x93],
    [0x64, 0x73, 0xFF],
    [0x00, 0x18, 0xEC],
    [0x84, 0x38, 0xFF],
    [0x52, 0x00, 0x85],
    [0xCB, 0x38, 0xFF],
    [0xFF, 0x95, 0xC8],
    [0xFF, 0x37, 0xC7],
];

/// The colour used for a class.
pub fn class_color(class_id: u16) -> Rgb<u8> {
    Rgb(PALETTE[usize::from(class_id) % PALETTE.len()])
}

/// Draws the detections on a copy of the JPEG at most `max_width` pixels wide (never
/// enlarged), upright, and encodes it as a JPEG.
///
/// Each box gets its class colour and a label such as `PERSON 87%` above it (inside it
/// when the box touches the top edge).
pub fn annotate(
    jpeg: &[u8],
    detections: &[Detection],
    max_width: u32,
) -> Result<Vec<u8>, VisionError> {
    annotate_limited(jpeg, detections, max_width, MAX_PIXELS)
}

/// [`annotate`] for pictures of at most `max_pixels` (larger ones are
/// [`VisionError::TooLarge`] before decoding), decoded within
/// [`decode_memory_limit`](crate::preprocess::decode_memory_limit).
pub fn annotate_limited(
    jpeg: &[u8],
    detections: &[Detection],
    max_width: u32,
    max_pixels: u64,
) -> Result<Vec<u8>, VisionError> {
    let max_width = max_width.max(1);
    let decoded = decode_jpeg_limited(jpeg, max_width, u32::MAX, max_pixels)?;
    let mut image = decoded.image;
    if image.width() > max_width {
        let height = ((u64::from(image.height()) * u64::from(max_width)) / u64::from(image.width()))
            .max(1) as u32;
        image = image::imageops::resize(&image, max_width, height, FilterType::Triangle);
    }
    draw_detections(&mut image, detections);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY)
        .encode_image(&image)
        .map_err(|e| VisionError::Encode(e.to_string()))?;
    Ok(out)
}

/// Draws boxes and labels in place; boxes are normalized, so any size of the picture works.
pub fn draw_detections(image: &mut RgbImage, detections: &[Detection]) {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let thickness = (w.max(h) / 320).max(2);
    let text_scale = ((w.max(h) + 200) / 400).max(1);
    for d in detections {
        let color = class_color(d.class_id);
        let x1 = (d.bbox.x.clamp(0.0, 1.0) * w as f32) as i64;
        let y1 = (d.bbox.y.clamp(0.0, 1.0) * h as f32) as i64;
        let x2 = ((d.bbox.x + d.bbox.w).clamp(0.0, 1.0) * w as f32) as i64;
        let y2 = ((d.bbox.y + d.bbox.h).clamp(0.0, 1.0) * h as f32) as i64;
        let t = i64::from(thickness);
        fill_rect(image, x1, y1, x2, y1 + t, color);
        fill_rect(image, x1, y2 - t, x2, y2, color);
        fill_rect(image, x1, y1, x1 + t, y2, color);
        fill_rect(image, x2 - t, y1, x2, y2, color);

        let text = format!("{} {:.0}%", d.label.to_uppercase(), d.confidence * 100.0);
        let s = i64::from(text_scale);
        let (tw, th) = (text_width(&text) * s + 2 * s, GLYPH_HEIGHT * s + 2 * s);
        let ty = if y1 - th >= 0 { y1 - th } else { y1 };
        fill_rect(image, x1, ty, x1 + tw, ty + th, color);
        let ink = if luminance(color) > 140.0 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        };
        draw_text(image, &text, x1 + s, ty + s, s, ink);
    }
}

fn luminance(Rgb([r, g, b]): Rgb<u8>) -> f32 {
    0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)
}

/// Fills `[x1, x2) × [y1, y2)`, clipped to the image.
fn fill_rect(image: &mut RgbImage, x1: i64, y1: i64, x2: i64, y2: i64, color: Rgb<u8>) {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    for y in y1.max(0)..y2.min(h) {
        for x in x1.max(0)..x2.min(w) {
            image.put_pixel(x as u32, y as u32, color);
        }
    }
}

const GLYPH_WIDTH: i64 = 5;
const GLYPH_HEIGHT: i64 = 7;

/// Width in font pixels (at scale 1) of a text, one column between glyphs.
fn text_width(text: &str) -> i64 {
    let n = text.chars().count() as i64;
    if n == 0 { 0 } else { n * (GLYPH_WIDTH + 1) - 1 }
}

fn draw_text(image: &mut RgbImage, text: &str, x: i64, y: i64, scale: i64, color: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as i64 * (GLYPH_WIDTH + 1) * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_WIDTH {
                if bits & (1 << (GLYPH_WIDTH - 1 - col)) != 0 {
                    let px = gx + col * scale;
                    let py = y + row as i64 * scale;
                    fill_rect(image, px, py, px + scale, py + scale, color);
                }
            }
        }
    }
}

/// A 5×7 bitmap font: upper-case letters, digits and the few signs labels need. Each row
/// is five bits, most significant on the left. Anything else shows as `?`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '\'' => [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        ' ' => [0; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;
    use image::ImageEncoder;

    fn white_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn person(bbox: BBox) -> Detection {
        Detection {
            label: "person".into(),
            class_id: 0,
            confidence: 0.87,
            bbox,
        }
    }

    #[test]
    fn thumbnails_are_downscaled_jpegs_with_boxes() {
        let jpeg = white_jpeg(1600, 1200);
        let d = person(BBox {
            x: 0.25,
            y: 0.25,
            w: 0.5,
            h: 0.5,
        });
        let out = annotate(&jpeg, &[d], 400).unwrap();
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (400, 300));
        let red = class_color(0);
        let near = |p: &Rgb<u8>, c: Rgb<u8>| {
            p.0.iter()
                .zip(c.0)
                .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() < 40)
        };
        // Left edge of the box, mid-height; the inside stays white.
        assert!(
            near(img.get_pixel(101, 150), red),
            "{:?}",
            img.get_pixel(101, 150)
        );
        assert!(near(img.get_pixel(200, 150), Rgb([255, 255, 255])));
        // The label sits above the box, on the box colour.
        assert!(near(img.get_pixel(100, 70), red) || near(img.get_pixel(102, 68), red));
    }

    #[test]
    fn small_pictures_are_not_enlarged_and_edges_are_clipped() {
        let jpeg = white_jpeg(200, 100);
        let d = person(BBox {
            x: 0.0,
            y: 0.0,
            w: 1.0,
            h: 1.0,
        });
        let out = annotate(&jpeg, &[d], 640).unwrap();
        let img = image::load_from_memory(&out).unwrap();
        assert_eq!((img.width(), img.height()), (200, 100));
        assert!(annotate(&jpeg, &[], 0).is_ok());
    }

    #[test]
    fn annotate_rejects_non_jpeg_input() {
        assert!(matches!(
            annotate(b"nope", &[], 320),
            Err(VisionError::Decode(_))
        ));
    }

    #[test]
    fn font_covers_coco_labels() {
        for label in crate::labels::COCO80 {
            for c in label.chars() {
                assert_ne!(glyph(c), glyph('~'), "no glyph for {c:?} in {label}");
            }
        }
        assert_eq!(text_width("AB"), 11);
        assert_eq!(text_width(""), 0);
    }
}
