//! "Teach it your keys": finding an object a user pointed at once in later pictures.
//!
//! COCO's eighty classes have no keys, wallets or glasses, so a user draws a box around an
//! object on one snapshot and names it; the box becomes a [`Template`], and each later
//! snapshot becomes a [`Scene`] in which [`Scene::find`] looks for every taught template.
//!
//! The method is a sliding window over a scale pyramid, as HOG detectors do, with the
//! template as the only "training" example. Both are described by 4×4-pixel cells holding a
//! histogram of gradient orientations (normalized by the local gradient energy, so light and
//! contrast do not matter) and the cell's chromaticity. The template keeps about 64 cells
//! whatever its size; the scene is shrunk to at most [`SCENE_SIDE`] pixels and described at
//! three scales per octave down to where a template no longer fits. Windows of every scale
//! are scored by normalized cross-correlation with the template (every second one, and the
//! ones between near promising ones); the four best places get a second look: each is
//! described again on the template's own grid (its box resampled, turned if need be) and
//! moved, sized and turned in shrinking steps while the correlation improves. The best
//! place after that is the answer when its score reaches the threshold
//! ([`DEFAULT_MATCH_THRESHOLD`], chosen by [`crate::teach_bench`]).
//!
//! Why this and not local features (keypoints and descriptors): the objects people teach are
//! small in a snapshot (a few dozen pixels), where keypoint detectors find too few points to
//! verify a match geometrically, and a dense window comparison needs no dependency and costs a
//! predictable time per picture. What it cannot do: large rotations (beyond about 15°),
//! strong changes of viewpoint, objects smaller than about 5 % of the picture's long side, or
//! objects mostly hidden.

mod correlate;
mod features;
mod plane;
mod refine;
mod scene;
mod template;
mod template_match;

pub use scene::{SCENE_SIDE, Scene};
pub use template::{MIN_BOX_PIXELS, Template};
pub use template_match::{DEFAULT_MATCH_THRESHOLD, TemplateMatch};
