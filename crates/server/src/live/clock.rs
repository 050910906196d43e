//! The time sessions are stamped with.

use chrono::Utc;
use switchboard_core::Timestamp;

/// Current wall-clock time at the store's precision.
pub fn now() -> Timestamp {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}
