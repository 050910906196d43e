//! `switchboard simulate cameras`: many cameras upload real photographs while users search,
//! and what the server made of it: uploads accepted per second, how long detection took,
//! the detection backlog, 503s (and their `Retry-After`, honoured), and search latency.

mod args;
mod camera;
mod figures;
mod run;
mod searcher;
mod setup;

pub use args::CameraLoadArgs;
pub use run::run;
