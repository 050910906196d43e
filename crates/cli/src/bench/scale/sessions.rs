//! Stage `sessions`: what open sessions cost a server. Half the sessions wait for a device,
//! half are live with a device sending a frame every ten seconds and one viewer; memory is
//! read on the empty server, after the waiting half and after the live half, so each kind's
//! cost per session comes out on its own. Then idle CPU, then whether timers fire on time
//! with the server this full.

use super::budget::{self, Budget};
use super::live::LiveFleet;
use super::report::{Figure, Goal, StageReport};
use super::{ScaleArgs, bar, idle_cpu, loopback, server_flags, timers};
use crate::bench::child::ServerChild;
use crate::load::account::ApiClient;
use anyhow::Context;
use bytes::Bytes;
use std::time::Duration;

/// The size of the frame each device sends (a small JPEG: what a session holds for it is
/// left out of the per-session figure).
const FRAME_BYTES: usize = 4_000;

/// Pause before reading memory, so allocations of the last requests have settled.
const SETTLE: Duration = Duration::from_secs(2);

/// Goals of the product, in KiB per session.
const WAITING_GOAL_KIB: f64 = 8.0;
const LIVE_GOAL_KIB: f64 = 32.0;

/// Goal for timer lateness, in milliseconds.
const TIMER_GOAL_MS: f64 = 1_000.0;

/// Runs the stage.
pub async fn run(args: &ScaleArgs, budget: &Budget) -> anyhow::Result<StageReport> {
    let total = args.sessions as usize;
    let waiting = total / 2;
    let (live, capped) = budget::cap(total - waiting, 2, budget);
    let mut report = StageReport {
        stage: "sessions",
        setting: format!(
            "{waiting} waiting + {live} live (device at one {FRAME_BYTES}-byte frame per 10 s, \
             one watch viewer), {} timer sessions",
            args.timer_sessions
        ),
        ..StageReport::default()
    };
    if let Some(why) = capped {
        report.note(why);
    }
    report.push(Figure::info("sessions held", (waiting + live) as f64, ""));
    // Short, so the timer batch ends within the stage, yet long enough (`--timer-seconds`)
    // that every live session's viewer joins before it runs out.
    let no_viewers = Duration::from_secs_f64(args.timer_seconds);
    let flags = server_flags::for_load(
        waiting + live + args.timer_sessions as usize,
        live * 2,
        no_viewers,
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = ServerChild::start(&flags).await?;
    let base = server.base().clone();
    tokio::time::sleep(SETTLE).await;
    let empty = server.rss_bytes()?;
    report.push(Figure::info("server RSS, empty", mib(empty), "MiB"));

    let http = loopback::api_client()?;
    let api = ApiClient::sign_up(http.clone(), base.clone()).await?;
    let progress = bar(waiting as u64, "waiting sessions");
    super::api::create_sessions(&api, "waiting", waiting, || progress.inc(1)).await?;
    progress.finish_and_clear();
    tokio::time::sleep(SETTLE).await;
    let with_waiting = server.rss_bytes()?;
    report.push(Figure::info(
        "server RSS, with waiting",
        mib(with_waiting),
        "MiB",
    ));
    report.push(Figure::judged(
        "per waiting session",
        per_session_kib(with_waiting, empty, waiting),
        "KiB",
        Goal::AtMost(WAITING_GOAL_KIB),
    ));

    let frame = Bytes::from(switchboard_media::synth::sized(1, FRAME_BYTES));
    let fleet = LiveFleet::open_many(&api, &base, live, frame.clone()).await?;
    tokio::time::sleep(SETTLE).await;
    let with_live = server.rss_bytes()?;
    report.push(Figure::info("server RSS, with live", mib(with_live), "MiB"));
    let per_live = per_session_kib(with_live, with_waiting, live);
    report.push(Figure::judged(
        "per live session (frame aside)",
        per_live - frame.len() as f64 / 1024.0,
        "KiB",
        Goal::AtMost(LIVE_GOAL_KIB),
    ));

    let cpu = idle_cpu::measure(&server, Duration::from_secs_f64(args.idle_seconds)).await?;
    cpu.push(&mut report, false);

    let progress = bar(u64::from(args.timer_sessions), "timer sessions");
    let timers = timers::measure(
        &api,
        &http,
        &base,
        args.timer_sessions as usize,
        no_viewers,
        &progress,
    )
    .await
    .context("the timer batch failed")?;
    progress.finish_and_clear();
    push_timers(&mut report, &timers);

    let failures = fleet.failures.load(std::sync::atomic::Ordering::Relaxed);
    report.push(Figure::judged(
        "live sockets that failed",
        failures as f64,
        "",
        Goal::Exactly(0.0),
    ));
    report.note_complaints(&server.complaints(), 5);
    fleet.close().await;
    server.stop().await?;
    Ok(report)
}

/// Adds the timer figures.
fn push_timers(report: &mut StageReport, timers: &timers::TimerReport) {
    let ms = |q: f64| timers.lateness.quantile(q).unwrap_or(0) as f64 / 1000.0;
    report.push(Figure::info("timer lateness p50", ms(0.5), "ms"));
    report.push(Figure::info("timer lateness p99", ms(0.99), "ms"));
    report.push(Figure::judged(
        "timer lateness max",
        timers.lateness.max().unwrap_or(0) as f64 / 1000.0,
        "ms",
        Goal::AtMost(TIMER_GOAL_MS),
    ));
    report.push(Figure::judged(
        "timers not ended as due",
        timers.wrong as f64,
        "",
        Goal::Exactly(0.0),
    ));
}

/// Growth from `before` to `after` over `count` sessions, in KiB each.
fn per_session_kib(after: u64, before: u64, count: usize) -> f64 {
    if count == 0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / 1024.0 / count as f64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
