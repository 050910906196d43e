//! What a detection is: a labelled, scored box in normalized image coordinates.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in normalized image coordinates: `(0, 0)` is the top-left corner of
/// the image as it is displayed (after its Exif orientation), `(1, 1)` the bottom-right.
///
/// Normalized boxes stay valid for any size of the same picture, so they can be drawn on a
/// thumbnail as well as on the original.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge, in `[0, 1]`.
    pub x: f32,
    /// Top edge, in `[0, 1]`.
    pub y: f32,
    /// Width, in `[0, 1]`.
    pub w: f32,
    /// Height, in `[0, 1]`.
    pub h: f32,
}

impl BBox {
    /// The area of the box (a fraction of the image's area).
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// The centre of the box.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Intersection over union with another box: 0 for disjoint boxes, 1 for equal ones.
    pub fn iou(&self, other: &BBox) -> f32 {
        iou(
            [self.x, self.y, self.x + self.w, self.y + self.h],
            [other.x, other.y, other.x + other.w, other.y + other.h],
        )
    }
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 when either is empty.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// One object found in an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The class name, from the model's own label list (e.g. `"person"`, `"cell phone"`).
    pub label: String,
    /// The class index in the model's label list.
    pub class_id: u16,
    /// The model's score for this class, in `[0, 1]`.
    pub confidence: f32,
    /// Where the object is, normalized to the displayed image.
    pub bbox: BBox,
}
