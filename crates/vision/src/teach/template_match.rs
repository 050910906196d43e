//! Where a taught object was found, and how sure the match is.

use serde::{Deserialize, Serialize};

use crate::BBox;

/// The similarity a match must reach by default, chosen by the measurement of
/// `switchboard bench teach` ([`crate::teach_bench`]; 15 objects pasted three times on each
/// of 12 other photographs, scale 0.7–1.4, ±10°, brightness 0.6–1.4×): at 0.7, 92 % of the
/// pasted objects are found at the right place, and of 6648 searches in pictures without the
/// object, the only matches (2.7 %) are of one thin template (a rocket, 4 cells wide) on
/// look-alikes; no other template's best score on clutter reaches 0.68. At 0.74 those fall
/// to 0.5 % and recall to 87 %. The score is a normalized cross-correlation, from -1 to 1.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.7;

/// A taught object found in a picture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemplateMatch {
    /// Where it is, normalized to the displayed picture.
    pub bbox: BBox,
    /// How alike the place and the template are: the normalized cross-correlation of their
    /// descriptors, from -1 to 1 (1 is identical).
    pub score: f32,
}
