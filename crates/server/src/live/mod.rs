//! Live sessions: one actor task per open session owns its state and timers; handlers talk to
//! it through a [`SessionHandle`]. Frames bypass the actor: a device writes them into the
//! session's [`FrameSlot`] and every viewer reads the newest one from there.

mod actor;
mod cdr_log;
mod clock;
pub mod cluster;
mod command;
mod deps;
mod frame_slot;
mod handle;
mod rate;
mod registry;
mod roster;
mod stats;
mod stats_saver;

pub use cdr_log::CdrLog;
pub use clock::now;
pub use deps::ActorDeps;
pub use frame_slot::{Frame, FrameSlot};
pub use handle::{LiveStatus, SessionHandle, ViewerGuard, ViewerRefused};
pub use rate::RateBucket;
pub use registry::SessionRegistry;
pub use stats::LiveStats;
pub use stats_saver::StatsSaver;
