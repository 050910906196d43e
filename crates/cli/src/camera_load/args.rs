//! The flags of `switchboard simulate cameras`.

use clap::Args;
use reqwest::Url;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `switchboard simulate cameras`.
#[derive(Debug, Clone, Args)]
pub struct CameraLoadArgs {
    /// Base URL of the server to load.
    #[arg(
        long,
        env = "SWITCHBOARD_SIMULATE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: Url,
    /// Cameras uploading.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cameras: u32,
    /// How often each camera uploads a photo (their starts are spread over this interval).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// Users searching at once, each asking a question, reading the answer, waiting
    /// `--search-every`, and asking again.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub searchers: u32,
    /// How long a searcher waits between questions.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub search_every: Duration,
    /// How long the cameras upload, in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    pub seconds: f64,
    /// Cameras per account: the cameras are spread over accounts of this many, each with
    /// its own user ("many users"); searchers take turns over the accounts.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub cameras_per_account: u32,
    /// Real photographs to upload (JPEG), used in turn; give several so that consecutive
    /// uploads of a camera differ (the server drops near-duplicates after detecting them).
    #[arg(long = "image", required = true)]
    pub images: Vec<PathBuf>,
    /// An upload counts as on time when it is detected within this.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// After the last upload, how long to wait for pending detections before giving up.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (1.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err("use a number of seconds from 1 to 86400".into()),
    }
}

impl CameraLoadArgs {
    /// How many accounts the cameras are spread over.
    pub fn accounts(&self) -> u32 {
        self.cameras.div_ceil(self.cameras_per_account)
    }
}
