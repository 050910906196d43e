//! `switchboard simulate`: load a running server with simulated devices and viewers and
//! report what the viewers saw.

use crate::load::progress::{Progress, ProgressDisplay};
use crate::load::report::{LoadReport, bytes, ms};
use crate::load::viewer::ViewerRole;
use crate::load::{self, LoadPlan, Transport, ViewerKind};
use anyhow::bail;
use clap::Args;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;

/// The longest warm-up a simulation uses; shorter runs warm up for a quarter of their time.
const MAX_WARMUP: Duration = Duration::from_secs(1);

/// `switchboard simulate`: live sessions (the flags below) or `simulate cameras`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateCommand {
    #[command(subcommand)]
    pub kind: Option<SimulateKind>,
    #[command(flatten)]
    pub sessions: SimulateArgs,
}

/// What else `switchboard simulate` can load a server with.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SimulateKind {
    /// Cameras uploading real photographs while users search: uploads accepted per second,
    /// detection wait and backlog, 503s, search latency.
    Cameras(crate::camera_load::CameraLoadArgs),
}

/// Flags of `switchboard simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Base URL of the server to load.
    #[arg(
        long,
        env = "SWITCHBOARD_SIMULATE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: Url,
    /// Sessions to create, each with one simulated device.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_SESSIONS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sessions: u32,
    /// Frames per second each device sends.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_FPS", default_value_t = 15.0, value_parser = fps)]
    pub fps: f64,
    /// Size of each frame in KB (1 KB = 1000 bytes); the frames are real JPEGs, padded.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_FRAME_KB", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=16_000))]
    pub frame_kb: u32,
    /// Viewers per session.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_VIEWERS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub viewers: u32,
    /// How long the devices stream, in seconds; the first second (a quarter of short runs)
    /// is warm-up and does not count towards rates and latencies.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_SECONDS", default_value_t = 30.0, value_parser = seconds)]
    pub seconds: f64,
    /// How devices send frames.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_TRANSPORT", value_enum, default_value_t = Transport::Ws)]
    pub transport: Transport,
    /// How viewers watch.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_VIEWER_KIND", value_enum, default_value_t = ViewerKind::Mjpeg)]
    pub viewer_kind: ViewerKind,
}

fn fps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err("use a number of frames per second above 0 and at most 1000".into()),
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=86_400.0).contains(&v) => Ok(v),
        _ => Err("use a number of seconds from 0.1 to 86400".into()),
    }
}

impl SimulateArgs {
    /// The plan these flags describe.
    pub fn plan(&self) -> LoadPlan {
        let total = Duration::from_secs_f64(self.seconds);
        let warmup = (total / 4).min(MAX_WARMUP);
        LoadPlan {
            server: self.server.clone(),
            sessions: self.sessions as usize,
            fps: self.fps,
            frame_bytes: self.frame_kb as usize * 1000,
            viewers: self.viewers as usize,
            slow_viewers: 0,
            transport: self.transport,
            viewer_kind: self.viewer_kind,
            warmup,
            measure: total - warmup,
        }
    }
}

/// Runs the simulation and prints its summary. Fails if any error happened or no frame
/// reached a viewer, so scripts can use it as a smoke test.
pub async fn run(command: SimulateCommand) -> anyhow::Result<()> {
    let args = match command.kind {
        Some(SimulateKind::Cameras(cameras)) => return crate::camera_load::run(cameras).await,
        None => command.sessions,
    };
    let plan = args.plan();
    if let Some(warning) = load::open_files_warning(&plan) {
        eprintln!("warning: {warning}");
    }
    let report = run_with_progress(&plan).await?;
    print_summary(&report);
    let errors = report.error_count();
    if errors > 0 {
        bail!("{errors} errors happened during the simulation (listed above)");
    }
    if report.received().0 == 0 {
        bail!("no viewer received a frame");
    }
    Ok(())
}

/// Runs a plan with a progress bar on stderr.
pub async fn run_with_progress(plan: &LoadPlan) -> anyhow::Result<LoadReport> {
    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(
        progress.clone(),
        plan.streaming(),
        (plan.sessions as u64, plan.total_viewers() as u64),
    );
    let result = load::run(plan, progress.clone()).await;
    progress.finish();
    display.finish().await;
    result
}

fn print_summary(report: &LoadReport) {
    let plan = &report.plan;
    let (sent, sent_bytes) = report.sent();
    let (received, received_bytes) = report.received();
    let roles = [ViewerRole::Mjpeg, ViewerRole::Ws];
    let latency = report.latency(&roles);
    println!(
        "Simulated {} session(s) × {} {} viewer(s); {} devices at {} fps, {} KB frames, against {}",
        plan.sessions,
        plan.viewers,
        load::flag_name(&plan.viewer_kind),
        load::flag_name(&plan.transport),
        plan.fps,
        plan.frame_bytes / 1000,
        plan.server
    );
    println!(
        "Measured over {:.1} s after {:.1} s of warm-up.",
        report.window_secs(),
        plan.warmup.as_secs_f64()
    );
    println!("  frames sent          {sent} ({})", bytes(sent_bytes));
    println!(
        "  frames received      {received} ({})",
        bytes(received_bytes)
    );
    if let Some(source) = report.source_fps() {
        println!(
            "  source fps           median {:.1} (min {:.1})",
            source.median, source.min
        );
    }
    match report.viewer_fps(&roles) {
        Some(fps) => println!(
            "  viewer fps           min {:.1} · median {:.1} · max {:.1}",
            fps.min, fps.median, fps.max
        ),
        None => println!("  viewer fps           -"),
    }
    println!(
        "  latency ms           p50 {} · p99 {} · max {} ({} frames)",
        ms(latency.quantile(0.5)),
        ms(latency.quantile(0.99)),
        ms(latency.max()),
        latency.count()
    );
    println!(
        "  delivered            {:.2} MB/s",
        report.delivered_mb_per_sec(&roles)
    );
    let errors = report.error_lines();
    if errors.is_empty() {
        println!("  errors               none");
    } else {
        println!("  errors               {}", report.error_count());
        for line in errors {
            println!("    {line}");
        }
    }
}
