//! What is kept of a taught object: its cell descriptors at a fixed, small grid.

use image::RgbImage;
use image::imageops::FilterType;

use super::features::{CELL, CellGrid, DIMS, Picture};
use crate::preprocess::decode_jpeg_limited;
use crate::{BBox, VisionError};

/// The grid aims at about this many cells: enough to tell an object from clutter, few
/// enough that an object of 30–40 pixels in a snapshot still fills it.
const TARGET_CELLS: f32 = 64.0;
/// Fewest cells along a side.
pub(crate) const MIN_SIDE_CELLS: usize = 3;
/// Most cells along a side.
pub(crate) const MAX_SIDE_CELLS: usize = 16;
/// A box smaller than this many pixels along either side of the picture it is drawn on has
/// too little in it to describe.
pub const MIN_BOX_PIXELS: u32 = 12;
/// A described region larger than this (long side, pixels) is shrunk first: the grid is at
/// most 72 pixels across, so more only costs time.
const MAX_REGION_SIDE: u32 = 384;
/// A box whose descriptors vary less than this (standard deviation) is plain: a blank wall
/// or a patch of sky, found everywhere and nowhere.
const MIN_SPREAD: f32 = 0.02;

/// How a template is encoded; [`Template::from_bytes`] refuses other versions.
const VERSION: u8 = 1;
const MAGIC: &[u8; 4] = b"SBTM";
/// Magic, version, grid width, grid height, values per cell, source box width and height.
const HEADER_LEN: usize = 4 + 1 + 3 + 8;

/// What is kept of a taught object: a compact, versioned descriptor (a few KB at most),
/// stored by the server.
///
/// It holds a grid of cell descriptors (gradient orientations and colour) of the object's
/// box, 3 to 16 cells a side and about 64 in all, whatever the size of the box; a
/// [`Scene`](super::Scene) compares it with every place and size of a new picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    cells: CellGrid,
    /// The box's size as a fraction of the picture it was taught on.
    source_size: (f32, f32),
}

impl Template {
    /// Builds a template from the object inside `bbox` (normalized, displayed orientation)
    /// of a JPEG.
    ///
    /// Errors: not a JPEG / undecodable ([`VisionError::Decode`]), too many pixels
    /// ([`VisionError::TooLarge`]), a box outside the picture, of zero size, smaller than
    /// [`MIN_BOX_PIXELS`] or with nothing in it to recognize ([`VisionError::BadBox`]).
    pub fn from_jpeg(jpeg: &[u8], bbox: BBox, max_pixels: u64) -> Result<Template, VisionError> {
        check_box(bbox)?;
        // Full size: teaching is rare, and a small box deserves every pixel it has.
        let decoded = decode_jpeg_limited(jpeg, 0, 0, max_pixels)?;
        Template::from_image(&decoded.image, bbox)
    }

    /// Builds a template from the object inside `bbox` of an upright, decoded picture.
    pub fn from_image(image: &RgbImage, bbox: BBox) -> Result<Template, VisionError> {
        check_box(bbox)?;
        let (iw, ih) = (image.width() as f32, image.height() as f32);
        let x0 = (bbox.x.max(0.0) * iw).round();
        let y0 = (bbox.y.max(0.0) * ih).round();
        let x1 = ((bbox.x + bbox.w).min(1.0) * iw).round();
        let y1 = ((bbox.y + bbox.h).min(1.0) * ih).round();
        let (bw, bh) = (x1 - x0, y1 - y0);
        if bw < MIN_BOX_PIXELS as f32 || bh < MIN_BOX_PIXELS as f32 {
            return Err(VisionError::BadBox(format!(
                "the box is {bw}x{bh} pixels of the picture; at least {MIN_BOX_PIXELS}x{MIN_BOX_PIXELS} are needed"
            )));
        }
        let (gw, gh) = grid_for(bw, bh);
        // One cell of margin on every side: the border cells' gradients and normalization
        // see their neighbours, as they do in a scene.
        let (mx, my) = (bw / gw as f32, bh / gh as f32);
        let region = region_with_margin(image, x0 - mx, y0 - my, bw + 2.0 * mx, bh + 2.0 * my);
        let picture = Picture::from_rgb(&region);
        let all = picture.describe((gw + 2) * CELL, (gh + 2) * CELL);
        let cells = all.crop(1, 1, gw, gh);
        if spread(&cells.data) < MIN_SPREAD {
            return Err(VisionError::BadBox(
                "the box is plain: there is nothing in it to recognize".into(),
            ));
        }
        Ok(Template {
            cells,
            source_size: (bbox.w.min(1.0), bbox.h.min(1.0)),
        })
    }

    /// The template's cell grid.
    pub(crate) fn cells(&self) -> &CellGrid {
        &self.cells
    }

    /// The box's width and height as fractions of the picture it was taught on.
    pub fn source_size(&self) -> (f32, f32) {
        self.source_size
    }

    /// The bytes to store: a small header (format version, grid size) and the cell values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.cells.data.len() * 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        // The grid is at most MAX_SIDE_CELLS a side and DIMS is small: each fits a byte.
        out.push(u8::try_from(self.cells.width).unwrap_or(u8::MAX));
        out.push(u8::try_from(self.cells.height).unwrap_or(u8::MAX));
        out.push(u8::try_from(DIMS).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.source_size.0.to_le_bytes());
        out.extend_from_slice(&self.source_size.1.to_le_bytes());
        for v in &self.cells.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads stored bytes back; [`VisionError::BadTemplate`] unless they are a template of
    /// this format version, whole and sane.
    pub fn from_bytes(bytes: &[u8]) -> Result<Template, VisionError> {
        let bad = |why: &str| VisionError::BadTemplate(why.to_string());
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(bad("no template header"));
        }
        if bytes[4] != VERSION {
            return Err(VisionError::BadTemplate(format!(
                "format version {} (this build reads {VERSION}): teach the object again",
                bytes[4]
            )));
        }
        let (gw, gh, dims) = (
            usize::from(bytes[5]),
            usize::from(bytes[6]),
            usize::from(bytes[7]),
        );
        let side = MIN_SIDE_CELLS..=MAX_SIDE_CELLS;
        if !side.contains(&gw) || !side.contains(&gh) || dims != DIMS {
            return Err(bad("grid size out of range"));
        }
        let f32_at = |i: usize| -> f32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[i..i + 4]);
            f32::from_le_bytes(b)
        };
        let source_size = (f32_at(8), f32_at(12));
        let values = gw * gh * DIMS;
        if bytes.len() != HEADER_LEN + values * 4 {
            return Err(bad("wrong length"));
        }
        let data: Vec<f32> = (0..values).map(|i| f32_at(HEADER_LEN + i * 4)).collect();
        let sane = |v: f32| v.is_finite() && v.abs() <= 4.0;
        let fraction = |v: f32| v > 0.0 && v <= 1.0;
        let sane_size = fraction(source_size.0) && fraction(source_size.1);
        if !sane_size || !data.iter().copied().all(sane) {
            return Err(bad("values out of range"));
        }
        let cells = CellGrid {
            width: gw,
            height: gh,
            data,
        };
        if spread(&cells.data) < MIN_SPREAD {
            return Err(bad("no variation"));
        }
        Ok(Template { cells, source_size })
    }
}

/// Refuses boxes that are not finite, empty, or reach outside the picture (beyond a rounding
/// tolerance).
fn check_box(b: BBox) -> Result<(), VisionError> {
    const SLACK: f32 = 1e-3;
    let finite = [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite());
    if !finite {
        return Err(VisionError::BadBox("the box has a non-finite value".into()));
    }
    if b.w <= 0.0 || b.h <= 0.0 {
        return Err(VisionError::BadBox("the box has zero size".into()));
    }
    if b.x < -SLACK || b.y < -SLACK || b.x + b.w > 1.0 + SLACK || b.y + b.h > 1.0 + SLACK {
        return Err(VisionError::BadBox(
            "the box reaches outside the picture (coordinates are fractions of it, 0 to 1)".into(),
        ));
    }
    Ok(())
}

/// The grid for a box of `w × h` pixels: its aspect, about [`TARGET_CELLS`] cells.
pub(crate) fn grid_for(w: f32, h: f32) -> (usize, usize) {
    let aspect = w / h;
    let side = |v: f32| (v.round() as usize).clamp(MIN_SIDE_CELLS, MAX_SIDE_CELLS);
    (
        side((TARGET_CELLS * aspect).sqrt()),
        side((TARGET_CELLS / aspect).sqrt()),
    )
}

/// The region `(x, y, w, h)` (pixels, may reach outside) of `image`, edges repeated where it
/// does, shrunk to at most [`MAX_REGION_SIDE`] pixels on its long side.
fn region_with_margin(image: &RgbImage, x: f32, y: f32, w: f32, h: f32) -> RgbImage {
    let (x, y) = (x.round() as i64, y.round() as i64);
    let (w, h) = ((w.round() as u32).max(1), (h.round() as u32).max(1));
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    let region = RgbImage::from_fn(w, h, |rx, ry| {
        let sx = (x + i64::from(rx)).clamp(0, iw - 1);
        let sy = (y + i64::from(ry)).clamp(0, ih - 1);
        *image.get_pixel(sx as u32, sy as u32)
    });
    let long = w.max(h);
    if long <= MAX_REGION_SIDE {
        return region;
    }
    let scale = MAX_REGION_SIDE as f32 / long as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    image::imageops::resize(&region, sw, sh, FilterType::Triangle)
}

/// Standard deviation of the values.
pub(crate) fn spread(values: &[f32]) -> f32 {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn scene_image() -> RgbImage {
        RgbImage::from_fn(200, 150, |x, y| {
            let v = ((x * 7 + y * 3) % 97) as u8;
            if (60..110).contains(&x) && (40..90).contains(&y) {
                if ((x - 60) / 10 + (y - 40) / 10) % 2 == 0 {
                    Rgb([230, 40, 40])
                } else {
                    Rgb([20, 20, 160])
                }
            } else {
                Rgb([v, v, v])
            }
        })
    }

    fn object_box() -> BBox {
        BBox {
            x: 60.0 / 200.0,
            y: 40.0 / 150.0,
            w: 50.0 / 200.0,
            h: 50.0 / 150.0,
        }
    }

    #[test]
    fn bytes_round_trip_and_stay_small() {
        let t = Template::from_image(&scene_image(), object_box()).unwrap();
        let bytes = t.to_bytes();
        assert!(bytes.len() < 4096, "{} bytes", bytes.len());
        assert_eq!(Template::from_bytes(&bytes).unwrap(), t);
        assert_eq!(t.cells().width, 8);
        assert_eq!(t.cells().height, 8);
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let bytes = Template::from_image(&scene_image(), object_box())
            .unwrap()
            .to_bytes();
        let refused =
            |b: &[u8]| matches!(Template::from_bytes(b), Err(VisionError::BadTemplate(_)));
        assert!(refused(&[]));
        assert!(refused(b"SBTM"));
        assert!(refused(&bytes[..bytes.len() - 1]));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(refused(&longer));
        let mut version = bytes.clone();
        version[4] = 99;
        assert!(refused(&version));
        let mut grid = bytes.clone();
        grid[5] = 200;
        assert!(refused(&grid));
        let mut nan = bytes.clone();
        nan[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(refused(&nan));
        let mut magic = bytes;
        magic[0] = b'X';
        assert!(refused(&magic));
    }

    #[test]
    fn bad_boxes_are_refused() {
        let img = scene_image();
        let bad = |b: BBox| matches!(Template::from_image(&img, b), Err(VisionError::BadBox(_)));
        let b = |x, y, w, h| BBox { x, y, w, h };
        assert!(bad(b(0.5, 0.5, 0.0, 0.2)));
        assert!(bad(b(0.5, 0.5, 0.2, -0.1)));
        assert!(bad(b(0.9, 0.5, 0.2, 0.2)));
        assert!(bad(b(-0.1, 0.5, 0.2, 0.2)));
        assert!(bad(b(f32::NAN, 0.5, 0.2, 0.2)));
        assert!(bad(b(0.1, 0.1, f32::INFINITY, 0.2)));
        // 4 pixels wide: too small.
        assert!(bad(b(0.5, 0.5, 0.02, 0.3)));
        // A flat patch has nothing to recognize.
        let flat = RgbImage::from_pixel(100, 100, Rgb([128, 128, 128]));
        assert!(matches!(
            Template::from_image(&flat, b(0.2, 0.2, 0.5, 0.5)),
            Err(VisionError::BadBox(_))
        ));
        // The whole picture is a fine box.
        assert!(Template::from_image(&img, b(0.0, 0.0, 1.0, 1.0)).is_ok());
    }

    #[test]
    fn grids_follow_the_aspect() {
        assert_eq!(grid_for(100.0, 100.0), (8, 8));
        let (w, h) = grid_for(200.0, 100.0);
        assert!(w > h && w * h >= 50 && w * h <= 80);
        assert_eq!(grid_for(1000.0, 10.0), (MAX_SIDE_CELLS, MIN_SIDE_CELLS));
    }

    #[test]
    fn jpeg_errors_are_reported() {
        assert!(matches!(
            Template::from_jpeg(b"nope", object_box(), 1_000_000),
            Err(VisionError::Decode(_))
        ));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&scene_image())
            .unwrap();
        assert!(matches!(
            Template::from_jpeg(&jpeg, object_box(), 1000),
            Err(VisionError::TooLarge { .. })
        ));
        assert!(Template::from_jpeg(&jpeg, object_box(), 1_000_000).is_ok());
    }
}
