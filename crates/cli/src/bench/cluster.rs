//! `switchboard bench cluster`: what running several nodes costs, measured on real nodes
//! (child processes of this command) over a fresh PostgreSQL database and the NATS server.
//!
//! One run measures three things, each against a target:
//! 1. **Latency added by the relay**: one device streams to the session's owner node while
//!    MJPEG viewers watch on the owner and on another node; both groups see the same frames,
//!    so the difference of their latencies is what the trip through NATS adds.
//! 2. **Relay throughput**: many sessions owned by node 1 and watched only on node 2, so
//!    every frame node 2 shows came through NATS; with the CPU time of every node.
//! 3. **Failover time**: the owner of a session is killed (SIGKILL) while the device and a
//!    viewer sit on another node; the time until that viewer shows a frame sent after the
//!    kill, bounded by the session lease.
//!
//! Latency is read from the stamp each simulated device writes into its frames' JPEG
//! comment (see [`crate::load::frames::Stamp`]), as `bench fanout` does.

use super::nodes::{Cluster, ClusterCpu, NodeSpec, node_name};
use super::temp_database::TempDatabase;
use crate::load::Transport;
use crate::load::device::{DeviceReport, SimulatedDevice};
use crate::load::frames::{FrameRing, Stamp, unix_micros};
use crate::load::progress::Progress;
use crate::load::report::ms;
use crate::load::stats::LatencyHistogram;
use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use reqwest::Url;
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::Suid;
use switchboard_media::mjpeg;
use switchboard_server::protocol::DeviceRegistered;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Flags every node gets besides its name and the shared services: limits raised so that
/// they do not get in the way of load that comes from one address.
const NODE_LIMITS: [&str; 8] = [
    "--ticket-redemptions-per-minute",
    "100000",
    "--auth-attempts-per-minute",
    "100000",
    "--max-viewers-per-session",
    "10000",
    "--max-connections-per-address",
    "100000",
];

/// The target of the latency scenario: what the other node may add at the median.
const ADDED_P50_TARGET_MS: f64 = 1.0;

/// The 99th-percentile latency a viewer on a following node should stay under: the single
/// node's target of `bench fanout`.
const REMOTE_P99_TARGET_MS: f64 = 20.0;

/// The share of the devices' frames the following node should receive.
const RELAY_SHARE_TARGET: f64 = 0.95;

/// Failover is bounded by the lease (a killed owner's sessions are taken within one lease,
/// renewals come every third of it); the target allows twice the lease.
const FAILOVER_LEASES_TARGET: u32 = 2;

/// The largest frame a viewer accepts.
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// How long set-up steps (a session, a viewer's first frame) may take.
const SETUP_PATIENCE: Duration = Duration::from_secs(15);

/// How long viewers may keep delivering frames sent just before the window closed.
const DRAIN: Duration = Duration::from_millis(300);

/// Flags of `switchboard bench cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// How many nodes to start (named n1, n2, …).
    #[arg(long, env = "SWITCHBOARD_BENCH_NODES", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(2..=16))]
    pub nodes: u16,
    /// The PostgreSQL server, without a database name: a database `sb_bench_<random>` is
    /// created there for the run and dropped at its end.
    #[arg(
        long,
        env = "SWITCHBOARD_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pub database_url: String,
    /// The NATS server the nodes share.
    #[arg(
        long,
        env = "SWITCHBOARD_BENCH_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Frames per second each simulated device sends.
    #[arg(long, env = "SWITCHBOARD_BENCH_FPS", default_value_t = 30.0, value_parser = fps)]
    pub fps: f64,
    /// Size of each frame in bytes.
    #[arg(long, env = "SWITCHBOARD_BENCH_FRAME_BYTES", default_value_t = 50_000,
          value_parser = clap::value_parser!(u32).range(1_000..=16_000_000))]
    pub frame_bytes: u32,
    /// MJPEG viewers per node in the latency measurement (on the owner and on node 2).
    #[arg(long, env = "SWITCHBOARD_BENCH_VIEWERS", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub viewers: u16,
    /// Sessions in the relay measurement (device on node 1, viewers on node 2).
    #[arg(long, env = "SWITCHBOARD_BENCH_SESSIONS", default_value_t = 20,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub sessions: u16,
    /// MJPEG viewers per session on node 2 in the relay measurement.
    #[arg(long, env = "SWITCHBOARD_BENCH_RELAY_VIEWERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=100))]
    pub relay_viewers: u16,
    /// Failover trials (the killed node alternates).
    #[arg(long, env = "SWITCHBOARD_BENCH_TRIALS", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub trials: u16,
    /// The nodes' session lease, which bounds failover time.
    #[arg(long, env = "SWITCHBOARD_BENCH_SESSION_LEASE", default_value = "1500ms",
          value_parser = lease)]
    pub session_lease: Duration,
    /// Length of the latency and relay measurement windows, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub seconds: f64,
    /// Streaming before each measurement window opens, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_WARMUP", default_value_t = 2.0, value_parser = seconds)]
    pub warmup: f64,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err("use a number of seconds above 0".into()),
    }
}

fn fps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err("use a frame rate above 0 and at most 1000".into()),
    }
}

fn lease(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 1500ms, 5s)"))?;
    if d < Duration::from_millis(300) {
        return Err("use a lease of at least 300ms".into());
    }
    Ok(d)
}

/// Runs the three measurements and prints their figures. Fails only if the cluster could
/// not be set up or a measurement could not run; missed targets print FAIL.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let database = TempDatabase::create(&args.database_url).await?;
    let result = run_on(&args, &database).await;
    // The database goes whatever happened; the nodes were stopped inside `run_on`.
    if let Err(e) = database.drop_it().await {
        eprintln!("warning: {e:#}");
    }
    result
}

async fn run_on(args: &ClusterArgs, database: &TempDatabase) -> anyhow::Result<()> {
    eprintln!(
        "starting {} nodes over {} and {} …",
        args.nodes, database.name, args.nats_url
    );
    let spec = NodeSpec {
        nodes: usize::from(args.nodes),
        database_url: database.url.clone(),
        nats_url: args.nats_url.clone(),
        session_lease: args.session_lease,
        flags: NODE_LIMITS.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut cluster = Cluster::start(&spec).await?;
    println!(
        "== cluster: {} nodes (n1…n{}) over PostgreSQL database {} and NATS {}; \
         session lease {} ms",
        args.nodes,
        args.nodes,
        database.name,
        args.nats_url,
        args.session_lease.as_millis()
    );
    let frames = Arc::new(
        FrameRing::render(
            (args.fps * 2.0).ceil().clamp(1.0, 240.0) as usize,
            args.frame_bytes as usize,
        )
        .await?,
    );
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build an HTTP client")?;
    let api = Api::sign_up(http, cluster.base(0)?).await?;

    let mut verdicts = Vec::new();
    eprintln!("latency: 1 session, viewers on n1 and n2 …");
    let latency = measure_latency(args, &cluster, &api, &frames).await?;
    verdicts.push(("latency", latency.print(args)));

    eprintln!(
        "relay: {} sessions owned by n1, watched on n2 …",
        args.sessions
    );
    let relay = measure_relay(args, &cluster, &api, &frames).await?;
    verdicts.push(("relay", relay.print(args)));

    eprintln!("failover: {} trial(s) …", args.trials);
    let failover = measure_failover(args, &mut cluster, &api, &frames).await?;
    verdicts.push(("failover", failover.print(args)));

    let complaints = cluster.complaints();
    cluster.stop().await;
    if !complaints.is_empty() {
        println!(
            "\nnode logs: {} warning(s) or error(s), the first:",
            complaints.len()
        );
        for line in complaints.iter().take(5) {
            println!("  {}", without_colours(line));
        }
    }
    let line: Vec<String> = verdicts
        .iter()
        .map(|(name, passed)| format!("{name} {}", if *passed { "PASS" } else { "FAIL" }))
        .collect();
    println!("\ncluster: {}", line.join(" · "));
    Ok(())
}

/// A log line without its terminal colour codes (`ESC [ … m`), for a report that may go
/// to a file.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('\u{1b}') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        rest = match rest.find('m') {
            Some(end) => &rest[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// A signed-in user whose token every node accepts (they share the secret and database).
struct Api {
    http: reqwest::Client,
    token: String,
}

#[derive(Debug, Deserialize)]
struct SignedUp {
    token: String,
}

#[derive(Debug, Deserialize)]
struct CreatedSession {
    suid: Suid,
    ticket: Option<String>,
}

/// Decodes a success answer, or turns an error answer into an error with its body.
async fn answer<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> anyhow::Result<T> {
    let resp = request.send().await?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("{status}: {body}");
    }
    Ok(resp.json().await?)
}

impl Api {
    async fn sign_up(http: reqwest::Client, base: Url) -> anyhow::Result<Api> {
        let username = format!("bench-{:016x}", rand::random::<u64>());
        let body = json!({
            "username": username,
            "password": format!("{:032x}", rand::random::<u128>()),
            "account_name": format!("Cluster bench {username}"),
        });
        let signed: SignedUp = answer(http.post(base.join("api/v1/auth/register")?).json(&body))
            .await
            .context("cannot sign up")?;
        Ok(Api {
            http,
            token: signed.token,
        })
    }

    /// Creates a session on the node at `base`, which so becomes its owner, and registers
    /// its device on the node at `device_base`.
    async fn session(
        &self,
        base: &Url,
        device_base: &Url,
        label: &str,
    ) -> anyhow::Result<DeviceRegistered> {
        let created: CreatedSession = answer(
            self.http
                .post(base.join("api/v1/sessions")?)
                .bearer_auth(&self.token)
                .json(&json!({ "label": label })),
        )
        .await
        .context("cannot create a session")?;
        let ticket = created
            .ticket
            .with_context(|| format!("session {} came without a ticket", created.suid))?;
        let device =
            json!({ "ticket": ticket, "device": { "model": "switchboard bench cluster" } });
        answer(
            self.http
                .post(device_base.join("api/v1/devices/register")?)
                .json(&device),
        )
        .await
        .context("cannot register a device")
    }

    async fn end(&self, base: &Url, suid: Suid) -> anyhow::Result<()> {
        let _: serde::de::IgnoredAny = answer(
            self.http
                .delete(base.join(&format!("api/v1/sessions/{suid}"))?)
                .bearer_auth(&self.token),
        )
        .await
        .with_context(|| format!("cannot end session {suid}"))?;
        Ok(())
    }
}

/// A frame as a viewer received it.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    /// Which group of viewers (the caller's numbering).
    group: usize,
    stamp: Stamp,
    /// When it arrived, in [`unix_micros`].
    at_micros: u64,
}

/// A viewer's MJPEG stream of one session on one node.
#[derive(Debug, Clone)]
struct Viewer {
    http: reqwest::Client,
    url: Url,
    token: Arc<str>,
    group: usize,
}

impl Viewer {
    fn new(api: &Api, base: &Url, suid: Suid, group: usize) -> anyhow::Result<Viewer> {
        Ok(Viewer {
            http: api.http.clone(),
            url: base.join(&format!("api/v1/sessions/{suid}/video.mjpeg"))?,
            token: Arc::from(api.token.as_str()),
            group,
        })
    }

    /// Reads one stream, sending every stamped frame to `arrivals`, until it ends (or
    /// `arrivals` is closed).
    async fn watch(&self, arrivals: &mpsc::UnboundedSender<Arrival>) -> anyhow::Result<()> {
        let resp = self
            .http
            .get(self.url.clone())
            .bearer_auth(&*self.token)
            .send()
            .await
            .with_context(|| format!("cannot open {}", self.url))?;
        if !resp.status().is_success() {
            bail!("{} answered {}", self.url, resp.status());
        }
        let boundary = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(mjpeg::boundary_from_content_type)
            .with_context(|| format!("{} is not a multipart stream", self.url))?;
        let mut parts =
            std::pin::pin!(mjpeg::parts(resp.bytes_stream(), boundary, MAX_FRAME_BYTES));
        loop {
            let Some(part) = parts.next().await else {
                return Ok(());
            };
            let part = part.with_context(|| format!("bad stream from {}", self.url))?;
            let at_micros = unix_micros();
            let stamp = Stamp::of_jpeg(&part.body).context("a frame without a stamp")?;
            // The receiver goes away when the measurement is over.
            if arrivals
                .send(Arrival {
                    group: self.group,
                    stamp,
                    at_micros,
                })
                .is_err()
            {
                return Ok(());
            }
        }
    }

    /// Watches until cancelled, failing if the stream cannot be opened or ends.
    async fn watch_steadily(self, arrivals: mpsc::UnboundedSender<Arrival>) -> anyhow::Result<()> {
        self.watch(&arrivals).await?;
        bail!("the stream from {} ended early", self.url)
    }

    /// Watches until cancelled, opening a new stream whenever one ends or fails (as a
    /// player that reconnects would), and counts why.
    async fn watch_through_failover(
        self,
        arrivals: mpsc::UnboundedSender<Arrival>,
        reopened: Arc<Reopened>,
    ) {
        loop {
            let why = match self.watch(&arrivals).await {
                Ok(()) => &reopened.ended,
                Err(_) => &reopened.failed,
            };
            if arrivals.is_closed() {
                return;
            }
            why.fetch_add(1, Ordering::Relaxed);
            // A node that is not answering yet is not asked again at once.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Why a failover viewer opened its stream again, counted.
#[derive(Debug, Default)]
struct Reopened {
    /// The server ended the stream.
    ended: AtomicU64,
    /// The stream could not be opened or broke.
    failed: AtomicU64,
}

impl Reopened {
    fn counts(&self) -> [u64; 2] {
        [&self.ended, &self.failed].map(|c| c.load(Ordering::Relaxed))
    }
}

/// What the simulated devices of one measurement share.
struct Devices<'a> {
    args: &'a ClusterArgs,
    frames: &'a Arc<FrameRing>,
    http: reqwest::Client,
    /// Where the devices count their errors.
    progress: Arc<Progress>,
    cancel: CancellationToken,
    set: JoinSet<DeviceReport>,
    created: Instant,
}

impl<'a> Devices<'a> {
    fn new(args: &'a ClusterArgs, frames: &'a Arc<FrameRing>, api: &Api) -> Devices<'a> {
        Devices {
            args,
            frames,
            http: api.http.clone(),
            progress: Arc::new(Progress::default()),
            cancel: CancellationToken::new(),
            set: JoinSet::new(),
            created: Instant::now(),
        }
    }

    /// Starts a device streaming to `registered`'s node until [`Devices::stop`].
    fn spawn(&mut self, session: usize, registered: DeviceRegistered, transport: Transport) {
        let device = SimulatedDevice {
            session,
            registered,
            transport,
            fps: self.args.fps,
            first_frame_at: Instant::now(),
            frames: self.frames.clone(),
            http: self.http.clone(),
            progress: self.progress.clone(),
        };
        self.set.spawn(device.run(self.cancel.clone()));
    }

    /// Stops every device; returns how many frames they sent, for how many seconds, and
    /// their errors.
    async fn stop(mut self) -> (u64, f64, Vec<String>) {
        self.cancel.cancel();
        let secs = self.created.elapsed().as_secs_f64();
        let mut sent = 0;
        while let Some(report) = self.set.join_next().await {
            sent += report.map(|r| r.frames_sent).unwrap_or(0);
        }
        let errors = self
            .progress
            .errors
            .snapshot()
            .into_iter()
            .map(|(kind, e)| format!("{kind}: {} (e.g. {})", e.count, e.first))
            .collect();
        (sent, secs, errors)
    }
}

/// The measurement window, in [`unix_micros`] of the frames' send times.
#[derive(Debug, Clone, Copy)]
struct SendWindow {
    start: u64,
    end: u64,
}

impl SendWindow {
    fn contains(&self, stamp: &Stamp) -> bool {
        (self.start..self.end).contains(&stamp.sent_micros)
    }

    fn secs(&self) -> f64 {
        (self.end - self.start) as f64 / 1e6
    }
}

/// Streams for the warm-up and the window, reading CPU at the window's edges, then stops
/// the devices and the viewers and returns the window, the CPU spent in it, what the
/// devices sent, every arrival and the errors seen.
async fn stream_and_collect(
    args: &ClusterArgs,
    cluster: &Cluster,
    devices: Devices<'_>,
    mut viewers: JoinSet<anyhow::Result<()>>,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
) -> anyhow::Result<Streamed> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.seconds);
    tokio::time::sleep(warmup).await;
    let start = unix_micros();
    let cpu_start = ClusterCpu::take(&cluster.pids())?;
    tokio::time::sleep(measure).await;
    let end = unix_micros();
    let cpu = ClusterCpu::take(&cluster.pids())?.since(&cpu_start);
    // Frames sent just before the end are still on their way.
    tokio::time::sleep(DRAIN).await;
    let (sent, streaming_secs, mut errors) = devices.stop().await;
    // Viewers that stopped before now failed; the rest are stopped here.
    while let Some(done) = viewers.try_join_next() {
        if let Ok(Err(e)) = done {
            errors.push(format!("viewer: {e:#}"));
        }
    }
    viewers.shutdown().await;
    arrivals.close();
    let mut all = Vec::new();
    while let Some(a) = arrivals.recv().await {
        all.push(a);
    }
    Ok(Streamed {
        window: SendWindow { start, end },
        cpu,
        sent,
        streaming_secs,
        arrivals: all,
        errors,
    })
}

struct Streamed {
    window: SendWindow,
    cpu: ClusterCpu,
    /// Frames the devices sent in all (warm-up included).
    sent: u64,
    streaming_secs: f64,
    arrivals: Vec<Arrival>,
    errors: Vec<String>,
}

fn print_errors(errors: &[String]) {
    if errors.is_empty() {
        println!("  {:<36}none", "errors");
    } else {
        println!("  {:<36}{}", "errors", errors.len());
        for line in errors.iter().take(10) {
            println!("    {line}");
        }
    }
}

fn verdict(passed: bool, text: &str) -> bool {
    println!("  {}  {text}", if passed { "PASS" } else { "FAIL" });
    passed
}

/// What the latency measurement saw: group 0 watched on the owner, group 1 on node 2.
struct LatencyResult {
    owner: LatencyHistogram,
    other: LatencyHistogram,
    streamed: Streamed,
}

async fn measure_latency(
    args: &ClusterArgs,
    cluster: &Cluster,
    api: &Api,
    frames: &Arc<FrameRing>,
) -> anyhow::Result<LatencyResult> {
    let (owner, other) = (cluster.base(0)?, cluster.base(1)?);
    let registered = api.session(&owner, &owner, "cluster latency").await?;
    let suid = registered.suid;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut viewers = JoinSet::new();
    for (group, base) in [&owner, &other].into_iter().enumerate() {
        for _ in 0..args.viewers {
            let viewer = Viewer::new(api, base, suid, group)?;
            viewers.spawn(viewer.watch_steadily(tx.clone()));
        }
    }
    drop(tx);
    let mut devices = Devices::new(args, frames, api);
    devices.spawn(0, registered, Transport::Ws);
    let streamed = stream_and_collect(args, cluster, devices, viewers, rx).await?;
    api.end(&owner, suid).await?;
    let mut result = LatencyResult {
        owner: LatencyHistogram::default(),
        other: LatencyHistogram::default(),
        streamed,
    };
    for a in &result.streamed.arrivals {
        if !result.streamed.window.contains(&a.stamp) {
            continue;
        }
        let latency = a.at_micros.saturating_sub(a.stamp.sent_micros);
        match a.group {
            0 => result.owner.record(latency),
            _ => result.other.record(latency),
        }
    }
    Ok(result)
}

/// A signed difference of two microsecond figures, in milliseconds.
fn added_ms(more: Option<u64>, less: Option<u64>) -> Option<f64> {
    Some((more? as f64 - less? as f64) / 1000.0)
}

fn signed_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:+.2}"))
}

impl LatencyResult {
    fn print(&self, args: &ClusterArgs) -> bool {
        let s = &self.streamed;
        println!();
        println!(
            "== latency: 1 session at {} fps, {} B frames, device on n1 (owner, WebSocket); \
             {} MJPEG viewer(s) on n1 and {} on n2; measured {:.1} s after {:.1} s warm-up",
            args.fps,
            args.frame_bytes,
            args.viewers,
            args.viewers,
            s.window.secs(),
            args.warmup
        );
        let line = |label: &str, h: &LatencyHistogram| {
            println!(
                "  {label:<36}p50 {} · p99 {} · max {} ms ({} frames)",
                ms(h.quantile(0.5)),
                ms(h.quantile(0.99)),
                ms(h.max()),
                h.count()
            );
        };
        line("latency ms, viewers on n1 (owner)", &self.owner);
        line("latency ms, viewers on n2", &self.other);
        let p50 = added_ms(self.other.quantile(0.5), self.owner.quantile(0.5));
        let p99 = added_ms(self.other.quantile(0.99), self.owner.quantile(0.99));
        println!(
            "  {:<36}p50 {} · p99 {} ms",
            "added by the relay (n2 − n1)",
            signed_ms(p50),
            signed_ms(p99)
        );
        s.cpu.print(
            s.window.secs(),
            &["owner, device, viewers", "follower, viewers"],
        );
        print_errors(&s.errors);
        let remote_p99 = self.other.quantile(0.99);
        let mut passed = verdict(
            p50.is_some_and(|v| v < ADDED_P50_TARGET_MS),
            &format!(
                "relay adds < {ADDED_P50_TARGET_MS} ms at p50 ({} ms)",
                signed_ms(p50)
            ),
        );
        passed &= verdict(
            remote_p99.is_some_and(|us| (us as f64) < REMOTE_P99_TARGET_MS * 1000.0),
            &format!(
                "p99 latency on n2 < {REMOTE_P99_TARGET_MS} ms ({} ms)",
                ms(remote_p99)
            ),
        );
        passed &= verdict(
            s.errors.is_empty(),
            &format!("no errors ({})", s.errors.len()),
        );
        passed
    }
}

/// What the relay measurement saw: group = session index, all viewers on node 2.
struct RelayResult {
    /// Distinct frames (session, number) sent in the window that reached node 2's viewers.
    relayed: u64,
    /// Frames per second each viewer received in the window: min and median.
    viewer_fps: Option<(f64, f64)>,
    streamed: Streamed,
}

async fn measure_relay(
    args: &ClusterArgs,
    cluster: &Cluster,
    api: &Api,
    frames: &Arc<FrameRing>,
) -> anyhow::Result<RelayResult> {
    let (owner, other) = (cluster.base(0)?, cluster.base(1)?);
    let mut sessions = Vec::new();
    for index in 0..usize::from(args.sessions) {
        let label = format!("cluster relay {}", index + 1);
        sessions.push(api.session(&owner, &owner, &label).await?);
    }
    let suids: Vec<Suid> = sessions.iter().map(|r| r.suid).collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut viewers = JoinSet::new();
    // Each viewer is its own group, so its rate can be told apart.
    let mut group = 0;
    for suid in &suids {
        for _ in 0..args.relay_viewers {
            let viewer = Viewer::new(api, &other, *suid, group)?;
            viewers.spawn(viewer.watch_steadily(tx.clone()));
            group += 1;
        }
    }
    drop(tx);
    let mut devices = Devices::new(args, frames, api);
    for (index, registered) in sessions.into_iter().enumerate() {
        devices.spawn(index, registered, Transport::Ws);
        // Spread the devices' first frames over one frame interval, as `load` does.
        tokio::time::sleep(Duration::from_secs_f64(
            1.0 / args.fps / f64::from(args.sessions),
        ))
        .await;
    }
    let streamed = stream_and_collect(args, cluster, devices, viewers, rx).await?;
    for suid in suids {
        api.end(&owner, suid).await?;
    }
    let mut distinct = HashSet::new();
    let mut per_viewer: BTreeMap<usize, u64> = (0..group).map(|g| (g, 0)).collect();
    for a in &streamed.arrivals {
        if streamed.window.contains(&a.stamp) {
            distinct.insert((a.stamp.session, a.stamp.seq));
            *per_viewer.entry(a.group).or_default() += 1;
        }
    }
    let secs = streamed.window.secs();
    let mut rates: Vec<f64> = per_viewer.values().map(|n| *n as f64 / secs).collect();
    rates.sort_by(f64::total_cmp);
    let viewer_fps = (!rates.is_empty()).then(|| (rates[0], rates[rates.len() / 2]));
    Ok(RelayResult {
        relayed: distinct.len() as u64,
        viewer_fps,
        streamed,
    })
}

impl RelayResult {
    fn print(&self, args: &ClusterArgs) -> bool {
        let s = &self.streamed;
        let secs = s.window.secs();
        println!();
        println!(
            "== relay: {} session(s) at {} fps, {} B frames, owned by n1 with their devices \
             there (WebSocket); {} MJPEG viewer(s) each on n2; measured {:.1} s after {:.1} s \
             warm-up",
            args.sessions, args.fps, args.frame_bytes, args.relay_viewers, secs, args.warmup
        );
        let nominal = f64::from(args.sessions) * args.fps;
        let sent_fps = s.sent as f64 / s.streaming_secs;
        let relayed_fps = self.relayed as f64 / secs;
        println!(
            "  {:<36}{sent_fps:.1} (nominal {nominal:.1})",
            "frames/s sent by devices to n1"
        );
        println!(
            "  {:<36}{relayed_fps:.1} ({:.1} MB/s through NATS)",
            "frames/s received on n2, total",
            relayed_fps * f64::from(args.frame_bytes) / 1e6
        );
        match self.viewer_fps {
            Some((min, median)) => println!(
                "  {:<36}min {min:.1} · median {median:.1}",
                "frames/s per viewer on n2"
            ),
            None => println!("  {:<36}-", "frames/s per viewer on n2"),
        }
        s.cpu
            .print(secs, &["owner, devices, relays", "follower, viewers"]);
        print_errors(&s.errors);
        let bar = RELAY_SHARE_TARGET * nominal;
        let mut passed = verdict(
            relayed_fps >= bar,
            &format!(
                "n2 receives ≥ {:.0}% of the frames: ≥ {bar:.1} frames/s ({relayed_fps:.1})",
                RELAY_SHARE_TARGET * 100.0
            ),
        );
        passed &= verdict(
            s.errors.is_empty(),
            &format!("no errors ({})", s.errors.len()),
        );
        passed
    }
}

/// One failover trial's outcome.
struct Trial {
    killed: usize,
    survivor: usize,
    /// From the kill until the viewer showed a frame sent after it; `None` if none came.
    took: Option<Duration>,
    /// Streams the viewer opened again after the kill because its stream ended or failed.
    reopened: [u64; 2],
}

struct FailoverResult {
    trials: Vec<Trial>,
    errors: Vec<String>,
}

async fn measure_failover(
    args: &ClusterArgs,
    cluster: &mut Cluster,
    api: &Api,
    frames: &Arc<FrameRing>,
) -> anyhow::Result<FailoverResult> {
    let nodes = usize::from(args.nodes);
    let mut result = FailoverResult {
        trials: Vec::new(),
        errors: Vec::new(),
    };
    // A failover takes about a lease; waiting ten, plus start-up slack, means it failed.
    let patience = args.session_lease * 10 + Duration::from_secs(5);
    for trial in 0..usize::from(args.trials) {
        let killed = trial % nodes;
        let survivor = (killed + 1) % nodes;
        let (owner, device_node) = (cluster.base(killed)?, cluster.base(survivor)?);
        let registered = api
            .session(
                &owner,
                &device_node,
                &format!("cluster failover {}", trial + 1),
            )
            .await?;
        let suid = registered.suid;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reopened = Arc::new(Reopened::default());
        let viewer = Viewer::new(api, &device_node, suid, 0)?;
        let viewer_task = tokio::spawn(viewer.watch_through_failover(tx, reopened.clone()));
        let mut devices = Devices::new(args, frames, api);
        devices.spawn(trial, registered, Transport::Http);
        // The relay works before the kill: the viewer on the survivor shows the device's frames.
        let first = tokio::time::timeout(SETUP_PATIENCE, rx.recv()).await;
        if !matches!(first, Ok(Some(_))) {
            devices.stop().await;
            viewer_task.abort();
            bail!(
                "trial {}: the viewer on {} saw no frame within {SETUP_PATIENCE:?}",
                trial + 1,
                node_name(survivor)
            );
        }
        let reopened_before = reopened.counts();
        // Timed from just before the signal: `kill` sends SIGKILL first, then reaps.
        let killed_at = unix_micros();
        cluster.kill(killed).await?;
        let deadline = tokio::time::Instant::now() + patience;
        let took = loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(a)) if a.stamp.sent_micros > killed_at => {
                    break Some(Duration::from_micros(a.at_micros - killed_at));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break None,
            }
        };
        let (_, _, errors) = devices.stop().await;
        viewer_task.abort();
        let _ = viewer_task.await;
        // While the owner is gone its node may refuse frames; the figure shows what it cost.
        result.errors.extend(
            errors
                .into_iter()
                .map(|e| format!("trial {}: {e}", trial + 1)),
        );
        if let Err(e) = api.end(&device_node, suid).await {
            result.errors.push(format!("trial {}: {e:#}", trial + 1));
        }
        result.trials.push(Trial {
            killed,
            survivor,
            took,
            reopened: {
                let [ended, failed] = reopened.counts();
                [ended - reopened_before[0], failed - reopened_before[1]]
            },
        });
        cluster.restart(killed).await?;
    }
    Ok(result)
}

/// What a failover viewer did to see frames again, for a trial's line.
fn reopen_note([ended, failed]: [u64; 2]) -> String {
    let parts: Vec<String> = [(ended, "ended by the node"), (failed, "failed")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
    if parts.is_empty() {
        " (the viewer's stream carried on)".into()
    } else {
        format!(" (viewer reopened its stream: {})", parts.join(", "))
    }
}

impl FailoverResult {
    fn print(&self, args: &ClusterArgs) -> bool {
        let lease = args.session_lease;
        println!();
        println!(
            "== failover: {} trial(s); each kills (SIGKILL) the owner of a live session whose \
             device (HTTP POST per frame) and MJPEG viewer are on another node, times until \
             that viewer shows a frame sent after the kill, then restarts the killed node",
            self.trials.len()
        );
        for (i, t) in self.trials.iter().enumerate() {
            println!(
                "  trial {:<3} killed {}, survivor {}: {}{}",
                i + 1,
                node_name(t.killed),
                node_name(t.survivor),
                t.took.map_or("no frame".into(), |d| format!(
                    "{:.0} ms",
                    d.as_secs_f64() * 1e3
                )),
                reopen_note(t.reopened)
            );
        }
        let mut times: Vec<Duration> = self.trials.iter().filter_map(|t| t.took).collect();
        times.sort();
        let missing = self.trials.len() - times.len();
        let as_ms = |d: Option<&Duration>| {
            d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1e3))
        };
        println!(
            "  {:<36}min {} · p50 {} · max {} ms (session lease {} ms)",
            "failover time",
            as_ms(times.first()),
            as_ms(times.get(times.len().saturating_sub(1) / 2)),
            as_ms(times.last()),
            lease.as_millis()
        );
        if !self.errors.is_empty() {
            println!(
                "  {:<36}{} (refused frames while the owner was gone are expected)",
                "device errors",
                self.errors.len()
            );
            for line in self.errors.iter().take(10) {
                println!("    {line}");
            }
        }
        let bar = lease * FAILOVER_LEASES_TARGET;
        verdict(
            missing == 0 && times.last().is_some_and(|max| *max <= bar),
            &format!(
                "every failover ≤ {FAILOVER_LEASES_TARGET} × session lease = {} ms (max {} ms{})",
                bar.as_millis(),
                as_ms(times.last()),
                if missing > 0 {
                    format!(", {missing} trial(s) without a frame")
                } else {
                    String::new()
                }
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_removed_from_log_lines() {
        assert_eq!(
            without_colours("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m text"),
            "2026  WARN text"
        );
        assert_eq!(without_colours("plain"), "plain");
        assert_eq!(without_colours("cut \u{1b}[3"), "cut ");
    }

    #[test]
    fn send_windows_hold_frames_sent_inside_them() {
        let window = SendWindow {
            start: 1_000,
            end: 3_000_000,
        };
        let at = |sent_micros| Stamp {
            session: 0,
            seq: 1,
            sent_micros,
        };
        assert!(window.contains(&at(1_000)));
        assert!(!window.contains(&at(999)) && !window.contains(&at(3_000_000)));
        assert!((window.secs() - 2.999).abs() < 1e-9);
    }
}
