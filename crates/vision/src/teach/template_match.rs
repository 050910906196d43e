//! Where a taught object was found, and how sure the match is.

use serde::{Deserialize, Serialize};

use crate::BBox;

/// The similarity a match must reach by default, chosen by the measurement of
/// `switchboard bench teach` ([`crate::teach_bench`]): most pasted objects found, few matches
/// in pictures without them. The score is a normalized cross-correlation, from -1 to 1.
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
