//! Taught objects as the node works with them: templates decoded once per account and kept
//! while the account's taught objects stay the same (`cache`), looking for them in a picture
//! and keeping where they were found (`matching`), and looks through the kept history
//! (`scan`). The service that people reach is `services::taught_objects`.

pub mod cache;
pub mod matching;
pub mod scan;

pub use cache::{TemplateCache, TemplateSet};
pub use matching::{Found, TaughtMatcher};
pub use scan::HistoryScans;
