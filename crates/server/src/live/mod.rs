//! Live sessions: one actor task per open session owns its state and timers; handlers talk to
//! it through a [`SessionHandle`]. Frames bypass the actor: a device writes them into the
//! session's [`FrameSlot`] and every viewer reads the newest one from there.

mod actor;
mod cdr_log;
pub mod cluster;
mod frame_slot;
mod handle;
mod rate;
mod registry;
mod stats;

pub(crate) use actor::now;
pub use cdr_log::CdrLog;
pub use frame_slot::{Frame, FrameSlot};
pub use handle::{LiveStatus, SessionHandle, ViewerGuard, ViewerRefused};
pub use rate::RateBucket;
pub use registry::{ActorDeps, SessionRegistry};
pub use stats::LiveStats;
