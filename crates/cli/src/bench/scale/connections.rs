//! Stage `connections`: many idle authenticated WebSockets on one server, spread over
//! loopback addresses: a device and a watch socket on each of a third of them's live
//! sessions, and account-event sockets for the rest. With all open: memory per connection,
//! idle CPU, how long one account event takes to reach every event socket, and how long a
//! new connection takes to be accepted and upgraded.

use super::budget::{self, Budget};
use super::listeners::Listeners;
use super::live::LiveFleet;
use super::report::{Figure, Goal, StageReport};
use super::{ScaleArgs, bar, idle_cpu, loopback, server_flags};
use crate::bench::child::ServerChild;
use crate::load::account::ApiClient;
use crate::load::stats::LatencyHistogram;
use anyhow::Context;
use bytes::Bytes;
use std::time::Duration;
use tokio::time::Instant;

/// Goals of the product: memory per idle connection, one event to every listener (p99), and
/// a new connection's accept time (p99) with all the others open.
const PER_CONNECTION_GOAL_KIB: f64 = 16.0;
const DELIVERY_GOAL_MS: f64 = 1_000.0;
const ACCEPT_GOAL_MS: f64 = 100.0;

/// New connections timed one after another once every other socket is open.
const ACCEPT_PROBES: usize = 100;

/// How long the bench waits for an event to reach every listener.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(30);

/// Pause before reading memory, so allocations of the last connections have settled.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs the stage.
pub async fn run(args: &ScaleArgs, budget: &Budget) -> anyhow::Result<StageReport> {
    let (total, capped) = budget::cap(args.connections as usize + ACCEPT_PROBES, 1, budget);
    let total = total.saturating_sub(ACCEPT_PROBES).max(3);
    let live = total / 3;
    let events = total - 2 * live;
    let mut report = StageReport {
        stage: "connections",
        setting: format!(
            "{total} idle WebSockets: {live} device + {live} watch (one live session each), \
             {events} account-event"
        ),
        ..StageReport::default()
    };
    if let Some(why) = capped {
        report.note(why);
    }
    report.push(Figure::info("connections held", total as f64, ""));
    let flags = server_flags::for_load(live + 10, total + ACCEPT_PROBES, Duration::from_secs(3600));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = ServerChild::start(&flags).await?;
    let base = server.base().clone();
    let http = loopback::api_client()?;
    let api = ApiClient::sign_up(http.clone(), base.clone()).await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_bytes()?;

    let frame = Bytes::from(switchboard_media::synth::sized(1, 4_000));
    let fleet = LiveFleet::open_many(&api, &base, live, frame).await?;
    let mut listeners = Listeners::default();
    let progress = bar(events as u64, "event sockets");
    for n in 0..events {
        listeners
            .open(&base, api.token(), 2 * live + n)
            .await
            .with_context(|| format!("cannot open event socket {n} of {events}"))?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_bytes()?;
    report.push(Figure::info(
        "server RSS, all open",
        after as f64 / (1024.0 * 1024.0),
        "MiB",
    ));
    report.push(Figure::judged(
        "RSS per connection",
        after.saturating_sub(before) as f64 / 1024.0 / total as f64,
        "KiB",
        Goal::AtMost(PER_CONNECTION_GOAL_KIB),
    ));

    let cpu = idle_cpu::measure(&server, Duration::from_secs_f64(args.idle_seconds)).await?;
    cpu.push(&mut report, true);

    let delivery = deliver_one_event(&api, &listeners).await?;
    let ms = |v: Option<u64>| v.unwrap_or(0) as f64 / 1000.0;
    report.push(Figure::info(
        "event to every listener p50",
        ms(delivery.quantile(0.5)),
        "ms",
    ));
    report.push(Figure::judged(
        "event to every listener p99",
        ms(delivery.quantile(0.99)),
        "ms",
        Goal::AtMost(DELIVERY_GOAL_MS),
    ));
    report.push(Figure::info(
        "event to every listener max",
        ms(delivery.max()),
        "ms",
    ));
    report.push(Figure::judged(
        "listeners reached",
        delivery.count() as f64,
        "",
        Goal::Exactly(listeners.len() as f64),
    ));

    let accept = accept_latency(&base, api.token(), total).await?;
    report.push(Figure::info(
        "new connection accepted p50",
        ms(accept.quantile(0.5)),
        "ms",
    ));
    report.push(Figure::judged(
        "new connection accepted p99",
        ms(accept.quantile(0.99)),
        "ms",
        Goal::AtMost(ACCEPT_GOAL_MS),
    ));

    let failures = listeners.failures() + fleet.failures.load(std::sync::atomic::Ordering::Relaxed);
    report.push(Figure::info("sockets that failed", failures as f64, ""));
    report.note(format!(
        "{} event sockets and {} live sessions held at the end",
        listeners.len(),
        fleet.len()
    ));
    report.note_complaints(&server.complaints(), 5);
    listeners.close().await;
    fleet.close().await;
    server.stop().await?;
    Ok(report)
}

/// Creates one session (which every account-event socket is told of) and returns how long
/// after the request was sent each socket heard of it, in microseconds.
async fn deliver_one_event(
    api: &ApiClient,
    listeners: &Listeners,
) -> anyhow::Result<LatencyHistogram> {
    listeners.arm();
    let sent = Instant::now();
    api.create_session("event").await?;
    let deadline = sent + DELIVERY_PATIENCE;
    while listeners.arrivals().len() < listeners.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut histogram = LatencyHistogram::default();
    for arrival in listeners.arrivals() {
        histogram.record(arrival.duration_since(sent).as_micros() as u64);
    }
    Ok(histogram)
}

/// Opens [`ACCEPT_PROBES`] more account-event sockets one after another, timing each from
/// connect to upgraded, and closes them.
async fn accept_latency(
    base: &reqwest::Url,
    token: &str,
    first_slot: usize,
) -> anyhow::Result<LatencyHistogram> {
    let url = loopback::ws_url(base, "api/v1/events")?;
    let mut histogram = LatencyHistogram::default();
    let mut probes = Vec::with_capacity(ACCEPT_PROBES);
    for n in 0..ACCEPT_PROBES {
        let started = Instant::now();
        let socket = loopback::connect(&url, token, loopback::socket_address(first_slot + n))
            .await
            .context("a new connection was refused")?;
        histogram.record(started.elapsed().as_micros() as u64);
        probes.push(socket);
    }
    for mut socket in probes {
        let _ = socket.close(None).await;
    }
    Ok(histogram)
}
