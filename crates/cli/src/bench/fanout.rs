//! `switchboard bench fanout`: how well one server relays frames to many viewers, measured
//! against the product's targets in three scenarios.
//!
//! Each scenario gets a fresh server (a child process, see [`super::child`]) so that its peak
//! memory is its own, and the load comes from this process through the same engine as
//! `switchboard simulate`. Both share the machine's cores, so the load side is built to be
//! cheap (raw-socket MJPEG viewers) and its own CPU time is printed next to the server's.

use super::child::ServerChild;
use super::cpu::CpuSample;
use crate::load::progress::{Phase, Progress, ProgressDisplay};
use crate::load::report::{LoadReport, ms};
use crate::load::viewer::ViewerRole;
use crate::load::{self, LoadPlan, Transport, ViewerKind};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::sync::Arc;
use std::time::Duration;

/// What the server is started with: limits raised so that they do not get in the way of
/// the load, which comes from one address and one account. The account's admission limits
/// are raised above the load too: with the gatekeeper on, every check and token bucket
/// still runs, but none is reached.
pub(super) const SERVER_ARGS: [&str; 18] = [
    "--ticket-redemptions-per-minute",
    "100000",
    "--auth-attempts-per-minute",
    "100000",
    "--max-viewers-per-session",
    "10000",
    "--max-connections-per-address",
    "100000",
    "--account-sessions",
    "100000",
    "--account-viewers-per-session",
    "100000",
    "--account-viewers",
    "1000000",
    "--account-egress-bandwidth",
    "1TiB",
    "--account-upload-bandwidth",
    "1TiB",
];

/// Flags of `switchboard bench fanout`.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Which scenario to run.
    #[arg(long, env = "SWITCHBOARD_BENCH_SCENARIO", value_enum, default_value_t = ScenarioChoice::All)]
    pub scenario: ScenarioChoice,
    /// Length of each scenario's measurement window, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_SECONDS", default_value_t = 10.0, value_parser = positive)]
    pub seconds: f64,
    /// Streaming before each measurement starts, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_WARMUP", default_value_t = 2.0, value_parser = positive)]
    pub warmup: f64,
    /// Frame size of the `many` scenario in KB (1 KB = 1000 bytes); the others use 50 KB.
    #[arg(long, env = "SWITCHBOARD_BENCH_MANY_FRAME_KB", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=16_000))]
    pub many_frame_kb: u32,
    /// How the simulated devices send frames.
    #[arg(long, env = "SWITCHBOARD_BENCH_TRANSPORT", value_enum, default_value_t = Transport::Ws)]
    pub transport: Transport,
    /// Run the server with its admission checks on, off, or each scenario both ways side by
    /// side with the ratios of what the checks cost (`compare`).
    #[arg(long, env = "SWITCHBOARD_BENCH_GATEKEEPER", value_enum, default_value_t = GatekeeperChoice::On)]
    pub gatekeeper: GatekeeperChoice,
    /// Run the server with its audit trail on or off (viewers' joins and ends are recorded;
    /// frames never are).
    #[arg(long, env = "SWITCHBOARD_BENCH_AUDIT_TRAIL", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit_trail: bool,
}

/// What `--gatekeeper` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GatekeeperChoice {
    On,
    Off,
    /// Off, then on, per scenario, and their ratios.
    Compare,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err("use a number of seconds above 0".into()),
    }
}

/// The scenarios `--scenario` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioChoice {
    /// One session at 30 fps, 50 KB frames, 500 MJPEG viewers.
    Single,
    /// 200 sessions × 5 MJPEG viewers at 15 fps.
    Many,
    /// One session at 30 fps with 50 viewers and one that reads a frame a second.
    Slow,
    /// All three, one after the other.
    All,
}

/// A requirement a scenario is judged by.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Every normal viewer receives at least this many frames per second.
    MinViewerFps(f64),
    /// The 99th percentile of device-to-viewer latency (normal viewers) is below this, in ms.
    P99LatencyMs(f64),
    /// The server's peak resident memory is below this, in MiB.
    PeakRssMib(f64),
    /// Nothing went wrong: no refused frame, dropped stream or misordered frame.
    NoErrors,
}

/// One benchmark scenario.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    sessions: usize,
    viewers: usize,
    slow_viewers: usize,
    fps: f64,
    frame_kb: u32,
    targets: Vec<Target>,
}

/// The scenarios of the product requirements.
fn scenarios(args: &FanoutArgs) -> Vec<Scenario> {
    let single = Scenario {
        name: "single",
        sessions: 1,
        viewers: 500,
        slow_viewers: 0,
        fps: 30.0,
        frame_kb: 50,
        targets: vec![
            Target::MinViewerFps(28.0),
            Target::P99LatencyMs(20.0),
            Target::PeakRssMib(150.0),
            Target::NoErrors,
        ],
    };
    let many = Scenario {
        name: "many",
        sessions: 200,
        viewers: 5,
        slow_viewers: 0,
        fps: 15.0,
        frame_kb: args.many_frame_kb,
        targets: vec![Target::MinViewerFps(14.0), Target::NoErrors],
    };
    // The slow viewer must not lower anyone else's rate: the others get the single
    // scenario's bar.
    let slow = Scenario {
        name: "slow",
        sessions: 1,
        viewers: 50,
        slow_viewers: 1,
        fps: 30.0,
        frame_kb: 50,
        targets: vec![Target::MinViewerFps(28.0), Target::NoErrors],
    };
    match args.scenario {
        ScenarioChoice::Single => vec![single],
        ScenarioChoice::Many => vec![many],
        ScenarioChoice::Slow => vec![slow],
        ScenarioChoice::All => vec![single, many, slow],
    }
}

/// What one scenario measured.
struct Measured {
    report: LoadReport,
    /// CPU time spent during the measurement window.
    cpu: CpuSample,
    peak_rss: u64,
    complaints: Vec<String>,
}

/// Runs the chosen scenarios and prints their figures. Returns an error only if a scenario
/// could not run at all; missed targets are reported as FAIL, not as an error.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let scenarios = scenarios(&args);
    let mut verdicts = Vec::new();
    let runs: &[bool] = match args.gatekeeper {
        GatekeeperChoice::On => &[true],
        GatekeeperChoice::Off => &[false],
        GatekeeperChoice::Compare => &[false, true],
    };
    for scenario in &scenarios {
        let mut both = Vec::new();
        for &gatekeeper in runs {
            let measured = measure(scenario, &args, gatekeeper)
                .await
                .with_context(|| format!("scenario {} could not run", scenario.name))?;
            let passed = print_scenario(scenario, &measured, &args, gatekeeper);
            verdicts.push((scenario.name, passed));
            both.push(measured);
        }
        if let [off, on] = both.as_slice() {
            print_comparison(scenario, off, on);
        }
    }
    if verdicts.len() > 1 {
        let line: Vec<String> = verdicts
            .iter()
            .map(|(name, passed)| format!("{name} {}", if *passed { "PASS" } else { "FAIL" }))
            .collect();
        println!("\nfanout: {}", line.join(" · "));
    }
    Ok(())
}

async fn measure(
    scenario: &Scenario,
    args: &FanoutArgs,
    gatekeeper: bool,
) -> anyhow::Result<Measured> {
    let mut server_args: Vec<&str> = SERVER_ARGS.to_vec();
    server_args.extend(["--gatekeeper", if gatekeeper { "true" } else { "false" }]);
    server_args.extend([
        "--audit-trail",
        if args.audit_trail { "true" } else { "false" },
    ]);
    let server = ServerChild::start(&server_args).await?;
    let plan = LoadPlan {
        server: server.base().clone(),
        sessions: scenario.sessions,
        fps: scenario.fps,
        frame_bytes: scenario.frame_kb as usize * 1000,
        viewers: scenario.viewers,
        slow_viewers: scenario.slow_viewers,
        transport: args.transport,
        viewer_kind: ViewerKind::Mjpeg,
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.seconds),
    };
    if let Some(warning) = load::open_files_warning(&plan) {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "scenario {}: {} session(s) × {} viewer(s) at {} fps …",
        scenario.name,
        scenario.sessions,
        scenario.viewers + scenario.slow_viewers,
        scenario.fps
    );
    let progress = Arc::new(Progress::default());
    let display = ProgressDisplay::start(
        progress.clone(),
        plan.streaming(),
        (plan.sessions as u64, plan.total_viewers() as u64),
    );
    // CPU time is read at the edges of the measurement window, by a task that follows the
    // run's phases, so set-up and tear-down do not count.
    let sampler = {
        let mut phases = progress.subscribe();
        let pid = server.pid();
        tokio::spawn(async move {
            phases.wait_for(|p| *p >= Phase::Measuring).await?;
            let start = CpuSample::take(pid)?;
            phases.wait_for(|p| *p >= Phase::Draining).await?;
            anyhow::Ok(CpuSample::take(pid)?.since(&start))
        })
    };
    let result = load::run(&plan, progress.clone()).await;
    progress.finish();
    display.finish().await;
    let report = result?;
    let cpu = sampler.await.context("the CPU sampler failed")??;
    let peak_rss = server.peak_rss_bytes()?;
    let complaints = server.complaints();
    server.stop().await?;
    Ok(Measured {
        report,
        cpu,
        peak_rss,
        complaints,
    })
}

/// Prints a scenario's figures and verdicts; returns whether every target was met.
/// Prints what the admission checks cost in one scenario: the gatekeeper-on run over the
/// gatekeeper-off run, measured one after the other in this invocation.
fn print_comparison(scenario: &Scenario, off: &Measured, on: &Measured) {
    let normal = [ViewerRole::Mjpeg];
    // Server CPU per delivered frame, so a run that delivered more is not taken as slower.
    let cpu_per_frame = |m: &Measured| {
        let fps = m.report.viewer_fps(&normal).map_or(0.0, |f| f.median);
        let frames = fps * m.report.window_secs() * scenario.normal_viewers();
        (frames > 0.0).then(|| m.cpu.server / frames)
    };
    let p99 = |m: &Measured| m.report.latency(&normal).quantile(0.99);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
        _ => "-".into(),
    };
    let fps = |m: &Measured| m.report.viewer_fps(&normal).map(|f| f.median);
    println!();
    println!(
        "== {}: gatekeeper on ÷ off (same invocation, one after the other)",
        scenario.name
    );
    println!(
        "  server CPU per frame   {}",
        ratio(cpu_per_frame(on), cpu_per_frame(off))
    );
    println!(
        "  p99 latency            {}",
        ratio(p99(on).map(|v| v as f64), p99(off).map(|v| v as f64))
    );
    println!("  delivered fps/viewer   {}", ratio(fps(on), fps(off)));
    println!(
        "  server peak RSS        {}",
        ratio(Some(on.peak_rss as f64), Some(off.peak_rss as f64))
    );
}

impl Scenario {
    /// The normal viewers across every session.
    fn normal_viewers(&self) -> f64 {
        (self.sessions * self.viewers) as f64
    }
}

fn print_scenario(scenario: &Scenario, m: &Measured, args: &FanoutArgs, gatekeeper: bool) -> bool {
    let report = &m.report;
    let normal = [ViewerRole::Mjpeg];
    let secs = report.window_secs();
    let viewer_fps = report.viewer_fps(&normal);
    let latency = report.latency(&normal);
    let p99 = latency.quantile(0.99);
    let rss_mib = m.peak_rss as f64 / (1024.0 * 1024.0);
    println!();
    println!(
        "== {}{}: {} session(s) × {} MJPEG viewer(s){} at {} fps, {} KB frames, {} devices; \
         measured {:.1} s after {:.1} s warm-up",
        scenario.name,
        if gatekeeper { "" } else { " (gatekeeper off)" },
        scenario.sessions,
        scenario.viewers,
        if scenario.slow_viewers > 0 {
            format!(" + {} slow viewer(s)", scenario.slow_viewers)
        } else {
            String::new()
        },
        scenario.fps,
        scenario.frame_kb,
        load::flag_name(&args.transport),
        secs,
        args.warmup
    );
    println!(
        "  viewers                {}",
        scenario.sessions * (scenario.viewers + scenario.slow_viewers)
    );
    if let Some(source) = report.source_fps() {
        println!(
            "  source fps             {:.1} (min over devices {:.1})",
            source.median, source.min
        );
    }
    match viewer_fps {
        Some(fps) => println!(
            "  delivered fps/viewer   min {:.1} · median {:.1}{}",
            fps.min,
            fps.median,
            if scenario.slow_viewers > 0 {
                " (normal viewers)"
            } else {
                ""
            }
        ),
        None => println!("  delivered fps/viewer   -"),
    }
    if let Some(slow) = report.viewer_fps(&[ViewerRole::SlowMjpeg]) {
        println!("  slow viewer fps        {:.2}", slow.median);
    }
    println!(
        "  delivered MB/s         {:.1}",
        report.delivered_mb_per_sec(&[ViewerRole::Mjpeg, ViewerRole::SlowMjpeg])
    );
    println!(
        "  latency ms             p50 {} · p99 {} · max {} ({} frames)",
        ms(latency.quantile(0.5)),
        ms(p99),
        ms(latency.max()),
        latency.count()
    );
    let share = |seconds: f64| {
        format!(
            "{seconds:.2} s ({:.0}% of one core)",
            100.0 * seconds / secs
        )
    };
    println!("  server CPU             {}", share(m.cpu.server));
    println!("  server peak RSS        {rss_mib:.1} MiB");
    println!("  load generator CPU     {}", share(m.cpu.load_generator));
    println!("  interrupts (softirq)   {}", share(m.cpu.interrupts));
    println!("  other processes' CPU   {}", share(m.cpu.others()));
    // With two cores shared by server and load, anything else running skews every figure.
    if m.cpu.others() > 0.25 * secs {
        println!(
            "  warning: other processes used the CPU during the measurement; \
             rates and latencies above are pessimistic"
        );
    }
    let errors = report.error_lines();
    if errors.is_empty() {
        println!("  errors                 none");
    } else {
        println!("  errors                 {}", report.error_count());
        for line in &errors {
            println!("    {line}");
        }
    }
    if !m.complaints.is_empty() {
        println!(
            "  server log             {} warning(s) or error(s):",
            m.complaints.len()
        );
        for line in m.complaints.iter().take(5) {
            println!("    {line}");
        }
    }
    let mut all_passed = true;
    for target in &scenario.targets {
        let (passed, text) = match *target {
            Target::MinViewerFps(bar) => {
                let min = viewer_fps.map(|f| f.min);
                (
                    min.is_some_and(|m| m >= bar),
                    format!(
                        "every viewer ≥ {bar} fps (min {})",
                        min.map_or("-".into(), |m| format!("{m:.1}"))
                    ),
                )
            }
            Target::P99LatencyMs(bar) => (
                p99.is_some_and(|us| (us as f64) < bar * 1000.0),
                format!("p99 latency < {bar} ms ({} ms)", ms(p99)),
            ),
            Target::PeakRssMib(bar) => (
                rss_mib < bar,
                format!("server peak RSS < {bar} MiB ({rss_mib:.1} MiB)"),
            ),
            Target::NoErrors => (
                report.error_count() == 0,
                format!("no errors ({})", report.error_count()),
            ),
        };
        all_passed &= passed;
        println!("  {}  {text}", if passed { "PASS" } else { "FAIL" });
    }
    all_passed
}
