//! From the model's raw output to detections: decoding, confidence threshold, class-aware
//! non-maximum suppression, and mapping back to the picture.
//!
//! YOLOv8/11/12 detectors output `[1, 4 + C, N]`: for each of `N` anchors (8400 at 640×640)
//! a box centre and size in input pixels (`cx, cy, w, h`) followed by `C` class scores that
//! are already probabilities (no objectness, no sigmoid needed).

pub use crate::detection::iou;
use crate::preprocess::Letterbox;
use crate::{BBox, Detection, VisionError};

/// A box before suppression, in model-input pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The best-scoring class.
    pub class_id: usize,
    /// That class's score.
    pub score: f32,
    /// Corners `[x1, y1, x2, y2]` in model-input pixels.
    pub xyxy: [f32; 4],
}

/// Reads the candidates scoring at least `threshold` from a YOLO output tensor.
///
/// Accepts `[1, 4 + C, N]` (Ultralytics' layout) and the transposed `[1, N, 4 + C]` that
/// some exports produce; `num_classes` is `C`.
pub fn decode_output(
    data: &[f32],
    shape: &[usize],
    num_classes: usize,
    threshold: f32,
) -> Result<Vec<Candidate>, VisionError> {
    let attrs = 4 + num_classes;
    let (channels_first, anchors) = match *shape {
        [1, a, n] if a == attrs => (true, n),
        [1, n, a] if a == attrs => (false, n),
        _ => {
            return Err(VisionError::Output(format!(
                "expected [1, {attrs}, N] for {num_classes} classes, got {shape:?}"
            )));
        }
    };
    if data.len() != attrs * anchors {
        return Err(VisionError::Output(format!(
            "shape {shape:?} needs {} values, got {}",
            attrs * anchors,
            data.len()
        )));
    }
    let at = |attr: usize, anchor: usize| {
        if channels_first {
            data[attr * anchors + anchor]
        } else {
            data[anchor * attrs + attr]
        }
    };

    // Best class per anchor, walking one class row at a time (contiguous in the usual layout).
    let mut best_score = vec![f32::NEG_INFINITY; anchors];
    let mut best_class = vec![0usize; anchors];
    for class in 0..num_classes {
        for anchor in 0..anchors {
            let s = at(4 + class, anchor);
            if s > best_score[anchor] {
                best_score[anchor] = s;
                best_class[anchor] = class;
            }
        }
    }

    let mut out = Vec::new();
    for anchor in 0..anchors {
        let score = best_score[anchor];
        // NaN scores never become the best, so `score` is a number here.
        if score < threshold {
            continue;
        }
        let (cx, cy, w, h) = (at(0, anchor), at(1, anchor), at(2, anchor), at(3, anchor));
        let usable = w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite();
        if !usable || !cx.is_finite() || !cy.is_finite() {
            continue;
        }
        out.push(Candidate {
            class_id: best_class[anchor],
            score,
            xyxy: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
        });
    }
    Ok(out)
}

/// Class-aware non-maximum suppression: keeps the highest-scoring boxes, dropping any box
/// that overlaps a kept box of the *same class* by more than `iou_threshold`. A person
/// holding a phone keeps both boxes. Returns at most `max_detections`, best first.
pub fn nms(
    mut candidates: Vec<Candidate>,
    iou_threshold: f32,
    max_detections: usize,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max_detections {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == c.class_id && iou(k.xyxy, c.xyxy) > iou_threshold);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

/// Maps kept candidates back to the picture: boxes normalized to `[0, 1]` of the displayed
/// picture, clipped to it; boxes that lie entirely in the letterbox bars are dropped.
pub fn to_detections(
    candidates: &[Candidate],
    letterbox: &Letterbox,
    labels: &[String],
) -> Vec<Detection> {
    candidates
        .iter()
        .filter_map(|c| {
            let (x1, y1) = letterbox.to_normalized(c.xyxy[0], c.xyxy[1]);
            let (x2, y2) = letterbox.to_normalized(c.xyxy[2], c.xyxy[3]);
            let (x1, y1) = (x1.clamp(0.0, 1.0), y1.clamp(0.0, 1.0));
            let (x2, y2) = (x2.clamp(0.0, 1.0), y2.clamp(0.0, 1.0));
            if x2 <= x1 || y2 <= y1 {
                return None;
            }
            Some(Detection {
                label: labels
                    .get(c.class_id)
                    .cloned()
                    .unwrap_or_else(|| format!("class {}", c.class_id)),
                class_id: u16::try_from(c.class_id).unwrap_or(u16::MAX),
                confidence: c.score.clamp(0.0, 1.0),
                bbox: BBox {
                    x: x1,
                    y: y1,
                    w: x2 - x1,
                    h: y2 - y1,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class_id: usize, score: f32, xyxy: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            xyxy,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(a, a), 1.0);
        assert_eq!(iou(a, [20.0, 20.0, 30.0, 30.0]), 0.0);
        assert_eq!(iou(a, [10.0, 0.0, 20.0, 10.0]), 0.0); // touching edges
        // Half overlap: inter 50, union 150.
        assert!((iou(a, [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        // Contained: inter 25, union 100.
        assert!((iou(a, [0.0, 0.0, 5.0, 5.0]) - 0.25).abs() < 1e-6);
        assert_eq!(iou([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]), 0.0);
        assert_eq!(iou(a, [5.0, 5.0, 5.0, 5.0]), 0.0);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_per_class() {
        let boxes = vec![
            cand(0, 0.80, [0.0, 0.0, 100.0, 100.0]),
            cand(0, 0.90, [5.0, 5.0, 105.0, 105.0]), // overlaps the first: wins
            cand(0, 0.70, [200.0, 200.0, 300.0, 300.0]), // far away: kept
            cand(1, 0.60, [0.0, 0.0, 100.0, 100.0]), // other class, same place: kept
            cand(0, 0.50, [50.0, 0.0, 150.0, 100.0]), // IoU 1/3 with the winner's neighbour
        ];
        let kept = nms(boxes, 0.45, 300);
        let scores: Vec<f32> = kept.iter().map(|c| c.score).collect();
        assert_eq!(scores, [0.90, 0.70, 0.60, 0.50]);
        // A stricter threshold also drops the partial overlap.
        let kept = nms(
            vec![
                cand(0, 0.9, [0.0, 0.0, 100.0, 100.0]),
                cand(0, 0.5, [50.0, 0.0, 150.0, 100.0]),
            ],
            0.3,
            300,
        );
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn nms_caps_the_count_and_handles_nothing() {
        let many: Vec<Candidate> = (0..10)
            .map(|i| {
                let x = i as f32 * 20.0;
                cand(0, 0.5 + i as f32 / 100.0, [x, 0.0, x + 10.0, 10.0])
            })
            .collect();
        let kept = nms(many, 0.45, 3);
        assert_eq!(kept.len(), 3);
        assert!((kept[0].score - 0.59).abs() < 1e-6);
        assert!(nms(Vec::new(), 0.45, 300).is_empty());
    }

    /// A `[1, 4 + 3, 5]` tensor with three classes and five anchors, channels first.
    fn tensor() -> (Vec<f32>, Vec<usize>) {
        #[rustfmt::skip]
        let rows: [[f32; 5]; 7] = [
            [100.0, 300.0, 50.0, 10.0, 600.0], // cx
            [100.0, 300.0, 50.0, 10.0, 600.0], // cy
            [ 40.0,  60.0, 10.0,  0.0,  20.0], // w
            [ 80.0,  60.0, 10.0,  5.0,  20.0], // h
            [ 0.90,  0.10, 0.20, 0.95,  0.01], // class 0
            [ 0.05,  0.70, 0.10, 0.00,  0.02], // class 1
            [ 0.00,  0.20, 0.24, 0.00,  f32::NAN], // class 2
        ];
        (rows.concat(), vec![1, 7, 5])
    }

    #[test]
    fn decoder_reads_a_fixed_tensor() {
        let (data, shape) = tensor();
        let c = decode_output(&data, &shape, 3, 0.25).unwrap();
        // Anchor 2 (best 0.24) is below threshold; anchor 3 has zero width; anchor 4 is weak.
        assert_eq!(
            c,
            [
                cand(0, 0.90, [80.0, 60.0, 120.0, 140.0]),
                cand(1, 0.70, [270.0, 270.0, 330.0, 330.0]),
            ]
        );
        let low = decode_output(&data, &shape, 3, 0.2).unwrap();
        assert_eq!(low.len(), 3);
        assert_eq!(low[2].class_id, 2);
    }

    #[test]
    fn decoder_accepts_the_transposed_layout() {
        let (data, _) = tensor();
        let mut transposed = vec![0.0; data.len()];
        for a in 0..7 {
            for n in 0..5 {
                transposed[n * 7 + a] = data[a * 5 + n];
            }
        }
        let c = decode_output(&transposed, &[1, 5, 7], 3, 0.25).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].xyxy, [270.0, 270.0, 330.0, 330.0]);
    }

    #[test]
    fn decoder_rejects_mismatched_shapes() {
        let (data, shape) = tensor();
        assert!(matches!(
            decode_output(&data, &shape, 80, 0.25),
            Err(VisionError::Output(_))
        ));
        assert!(matches!(
            decode_output(&data[1..], &shape, 3, 0.25),
            Err(VisionError::Output(_))
        ));
        assert!(decode_output(&data, &[7, 5], 3, 0.25).is_err());
    }

    #[test]
    fn detections_are_normalized_to_the_picture() {
        // A 1280×720 picture in a 640×640 input: content 640×360 at y = 140.
        let lb = Letterbox::new(1280, 720, 640, 640);
        let labels = vec!["person".to_owned(), "car".to_owned()];
        let kept = [
            cand(1, 0.8, [160.0, 230.0, 480.0, 410.0]),
            cand(0, 0.6, [-10.0, 100.0, 64.0, 200.0]), // sticks out left and into the top bar
            cand(0, 0.5, [0.0, 0.0, 640.0, 100.0]),    // entirely in the top bar
        ];
        let d = to_detections(&kept, &lb, &labels);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].label, "car");
        assert_eq!(d[0].class_id, 1);
        let b = d[0].bbox;
        assert!((b.x - 0.25).abs() < 1e-6 && (b.w - 0.5).abs() < 1e-6);
        assert!((b.y - 0.25).abs() < 1e-6 && (b.h - 0.5).abs() < 1e-6);
        let b = d[1].bbox;
        assert_eq!((b.x, b.y), (0.0, 0.0));
        assert!((b.w - 0.1).abs() < 1e-6);
        assert!((b.h - 60.0 / 360.0).abs() < 1e-6);
    }
}
