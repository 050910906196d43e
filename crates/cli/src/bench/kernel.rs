//! `switchboard bench kernel`: what the server adds to a Jupyter kernel, measured side by
//! side with the same kind of kernel reached without it.
//!
//! One server child (see [`super::child`]) runs with a warm pool of one kernel; this process
//! launches kernels of the same kernelspec, limits and sandbox itself, through the same
//! kernel crate, for the baselines. Every pair of figures is measured interleaved (sample
//! by sample, or block by block for starts), so noise on the machine hits both alike:
//! - `1+1` round trip (request sent → `execute_reply` and idle status received) over the
//!   server's channels WebSocket versus a bare ZeroMQ client on a kernel of our own;
//! - `POST /api/kernels` answered from the warm pool versus a cold launch (process start
//!   → `kernel_info_reply`), each taken while nothing else starts;
//! - memory (RSS and PSS, summed over each kernel's process group) of idle kernels.

use super::child::ServerChild;
use super::cpu;
use crate::load::account::ApiClient;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures::{SinkExt, StreamExt};
use reqwest::Url;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_kernel::bench::{DirectClient, GroupMemory, Percentiles};
use switchboard_kernel::{
    HelperCommand, Kernel, KernelConfig, KernelLauncher, KernelSpec, KernelSpecs, NodeConfig,
    Sandbox,
};
use switchboard_server::config::{Config, KernelSandboxMode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The server may add at most this to the round trip's median.
const ROUND_TRIP_OVERHEAD_P50: Duration = Duration::from_millis(1);
/// A warm kernel is handed out within this, at the 99th percentile.
const HAND_OUT_P99: Duration = Duration::from_millis(20);
/// A cold start takes at most this at the median.
const COLD_START_P50: Duration = Duration::from_millis(350);
/// Proportional memory of one idle kernel, MiB.
const IDLE_PSS_MIB: f64 = 64.0;

/// Round trips of each kind before measuring (connections, caches, the kernel's first
/// executions are slower).
const WARMUP_ROUND_TRIPS: usize = 10;
/// The longest wait for one answer, warm kernel or cold start.
const PATIENCE: Duration = Duration::from_secs(120);
/// How often `/metrics` is read while waiting for the pool to refill.
const POOL_POLL: Duration = Duration::from_millis(20);

/// Flags of `switchboard bench kernel`.
#[derive(Debug, Clone, Args)]
pub struct KernelArgs {
    /// Round trips measured per variant (through the server, direct); the start figures
    /// take a tenth as many samples of each kind (at least 3).
    #[arg(long, env = "SWITCHBOARD_BENCH_ITERATIONS", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,
    /// Idle kernels launched together for the memory figure.
    #[arg(long, env = "SWITCHBOARD_BENCH_KERNELS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub kernels: u32,
    /// The kernelspec to measure.
    #[arg(long, env = "SWITCHBOARD_BENCH_KERNEL", default_value = "python3")]
    pub kernel: String,
    /// The kernel sandbox: on, off, or auto (on when this host can enforce it).
    #[arg(long, env = "SWITCHBOARD_BENCH_SANDBOX", value_enum, default_value_t = SandboxChoice::Auto)]
    pub sandbox: SandboxChoice,
}

/// What `--sandbox` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxChoice {
    /// The default sandbox; fails if the host cannot enforce it.
    On,
    /// No sandbox.
    Off,
    /// The sandbox when the host can enforce it, else none.
    Auto,
}

/// Runs the measurements and prints them against the targets. Fails only if something
/// could not be measured.
pub async fn run(args: KernelArgs) -> anyhow::Result<()> {
    let specs = KernelSpecs::discover()
        .await
        .context("cannot look for kernelspecs")?;
    let spec = specs
        .get(&args.kernel)
        .with_context(|| format!("no kernelspec {:?} on this machine", args.kernel))?
        .clone();
    let (_runtime, launcher) = baseline_launcher(args.kernels as usize + 2)?;
    let sandbox = match args.sandbox {
        SandboxChoice::Off => KernelSandboxMode::Off,
        SandboxChoice::On => {
            if let Err(why) = launcher.host().check(&Sandbox::default()) {
                bail!("this host cannot enforce the kernel sandbox: {why} (try --sandbox off)");
            }
            KernelSandboxMode::Enforce
        }
        SandboxChoice::Auto => match launcher.host().check(&Sandbox::default()) {
            Ok(()) => KernelSandboxMode::Enforce,
            Err(_) => KernelSandboxMode::Off,
        },
    };
    // The same kernel settings the server derives from its configuration.
    let mut server_config = Config::default();
    server_config.kernels.kernel_sandbox = sandbox;
    let config = switchboard_server::kernels::kernel_config(&server_config);
    let sandbox_flag = match sandbox {
        KernelSandboxMode::Enforce => "enforce",
        KernelSandboxMode::Off => "off",
        KernelSandboxMode::BestEffort => "best_effort",
    };
    let pool = format!("{}=1", spec.name);
    // The pool is watched through /metrics, which asks for a token.
    let metrics_token = format!("bench-{:032x}", rand::random::<u128>());
    let server = ServerChild::start(&[
        "--metrics-token",
        &metrics_token,
        "--kernels-enabled",
        "true",
        "--kernel-pool",
        &pool,
        "--kernel-sandbox",
        sandbox_flag,
        "--max-kernels",
        "4",
        "--kernels-per-user",
        "4",
        "--kernels-per-account",
        "4",
    ])
    .await?;
    let http = reqwest::Client::new();
    let user = ApiClient::sign_up(http.clone(), server.base().clone()).await?;
    let remote = Remote {
        api: KernelApi::new(
            http,
            server.base().clone(),
            format!("Bearer {}", user.token()),
            &spec.name,
        ),
        metrics_token,
    };
    eprintln!(
        "kernel {}, sandbox {sandbox_flag} ({}): measuring …",
        spec.name,
        launcher.host()
    );

    let started = Instant::now();
    let cpu_start = CpuReading::take(server.pid())?;
    let rounds = round_trips(
        &remote.api,
        &launcher,
        &spec,
        &config,
        args.iterations as usize,
    )
    .await
    .context("the round trip could not be measured")?;
    let starts = (args.iterations as usize / 10).max(3);
    let (hand_out, cold) = starts_side_by_side(&remote, &launcher, &spec, &config, starts)
        .await
        .context("the hand-out and cold start could not be measured")?;
    let memory = idle_memory(&launcher, &spec, &config, args.kernels as usize)
        .await
        .context("the idle memory could not be measured")?;
    let cpu_used = CpuReading::take(server.pid())?.since(&cpu_start);
    let wall = started.elapsed().as_secs_f64();
    let complaints = server.complaints();
    server.stop().await?;

    let figures = Figures {
        via_server: rounds.0,
        direct: rounds.1,
        hand_out,
        cold,
        memory,
    };
    print(&args, sandbox_flag, &figures, &cpu_used, wall, &complaints);
    Ok(())
}

/// A launcher for the baseline kernels this process starts itself, and the folder their
/// runtime files live in (removed when dropped, so keep it until the kernels are shut down).
pub(super) fn baseline_launcher(
    max_kernels: usize,
) -> anyhow::Result<(tempfile::TempDir, KernelLauncher)> {
    // Short on purpose: Unix socket paths inside it are limited to 107 bytes.
    let runtime = tempfile::Builder::new()
        .prefix("sbk")
        .tempdir_in("/tmp")
        .context("cannot create a temporary directory")?;
    let launcher = KernelLauncher::new(NodeConfig {
        runtime_dir: runtime.path().join("k"),
        max_kernels,
        helper: HelperCommand::current_exe(),
    })
    .context("cannot prepare the kernel launcher")?;
    Ok((runtime, launcher))
}

/// The server under test, as a signed-in client that also reads its metrics.
struct Remote {
    api: KernelApi,
    /// Reads the server's `/metrics`.
    metrics_token: String,
}

impl Remote {
    /// Waits until the server's pool holds a warm kernel (`switchboard_kernels_warm`).
    async fn wait_for_warm_kernel(&self) -> anyhow::Result<()> {
        let url = self.api.base.join("metrics")?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self
                .api
                .http
                .get(url.clone())
                .bearer_auth(&self.metrics_token)
                .send()
                .await?;
            if !answer.status().is_success() {
                bail!("GET /metrics answered {}", answer.status());
            }
            let text = answer.text().await?;
            let warm = text
                .lines()
                .find_map(|l| l.strip_prefix("switchboard_kernels_warm "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if warm >= 1.0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server's pool did not get a warm kernel within {PATIENCE:?}");
            }
            tokio::time::sleep(POOL_POLL).await;
        }
    }
}

/// A client of a Jupyter kernel API (`/api/kernels`): the server's own, or Jupyter Server's,
/// which `bench gateway` reaches the same way.
#[derive(Clone)]
pub(super) struct KernelApi {
    http: reqwest::Client,
    base: Url,
    /// The whole `Authorization` header, scheme included: the server takes `Bearer` and
    /// `token`, and Jupyter Server's own clients send `token`.
    authorization: String,
    /// The kernelspec new kernels are started with.
    kernel: String,
}

impl KernelApi {
    /// A client of the kernel API under `base` (ending with `/`).
    pub(super) fn new(
        http: reqwest::Client,
        base: Url,
        authorization: String,
        kernel: &str,
    ) -> KernelApi {
        KernelApi {
            http,
            base,
            authorization,
            kernel: kernel.to_owned(),
        }
    }

    /// `POST /api/kernels`: the new kernel's id.
    pub(super) async fn start_kernel(&self) -> anyhow::Result<String> {
        let url = self.base.join("api/kernels")?;
        let answer = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .json(&json!({ "name": self.kernel }))
            .timeout(PATIENCE)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!(
                "POST {url} answered {}: {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
        }
        let model: Value = answer.json().await?;
        model
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("the kernel model has no id")
    }

    /// `DELETE /api/kernels/{id}`.
    pub(super) async fn stop_kernel(&self, id: &str) -> anyhow::Result<()> {
        let url = self.base.join(&format!("api/kernels/{id}"))?;
        let answer = self
            .http
            .delete(url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .timeout(PATIENCE)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("DELETE {url} answered {}", answer.status());
        }
        Ok(())
    }

    /// Stops every kernel `GET /api/kernels` lists, all tried even when one fails; the first
    /// failure is returned.
    pub(super) async fn stop_all_kernels(&self) -> anyhow::Result<()> {
        let url = self.base.join("api/kernels")?;
        let answer = self
            .http
            .get(url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .timeout(PATIENCE)
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("GET {url} answered {}", answer.status());
        }
        let kernels: Vec<Value> = answer.json().await?;
        let mut outcome = Ok(());
        for id in kernels.iter().filter_map(|k| k.get("id")?.as_str()) {
            let stopped = self.stop_kernel(id).await;
            if outcome.is_ok() {
                outcome = stopped;
            }
        }
        outcome
    }

    /// Opens the channels WebSocket of kernel `id`.
    pub(super) async fn channels(&self, id: &str) -> anyhow::Result<ChannelsClient> {
        let mut url = self.base.join(&format!("api/kernels/{id}/channels"))?;
        let ws_scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(ws_scheme)
            .map_err(|()| anyhow::anyhow!("cannot make a WebSocket URL of {url}"))?;
        let session = uuid_like();
        url.query_pairs_mut().append_pair("session_id", &session);
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, self.authorization.parse()?);
        // Nagle off on our side too, as a browser's socket has it.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .with_context(|| format!("cannot open the channels WebSocket {url}"))?;
        Ok(ChannelsClient { socket, session })
    }
}

/// A random id in the form Jupyter uses for sessions and messages.
fn uuid_like() -> String {
    let n: u128 = rand::random();
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A Jupyter frontend's view of the channels WebSocket (JSON text messages, the protocol
/// without a subprotocol, which Jupyter Server also speaks toward a gateway).
pub(super) struct ChannelsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    session: String,
}

impl ChannelsClient {
    /// One `1+1` request (the content `jupyter-protocol`'s `ExecuteRequest::new` sends, as
    /// the direct client does), timed until its reply and final idle status came back.
    pub(super) async fn round_trip(&mut self) -> anyhow::Result<Duration> {
        tokio::time::timeout(PATIENCE, self.exchange())
            .await
            .context("no answer on the channels socket")?
    }

    async fn exchange(&mut self) -> anyhow::Result<Duration> {
        let msg_id = uuid_like();
        let request = json!({
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "session": self.session,
                "username": "bench",
                "date": chrono::Utc::now().to_rfc3339(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": "1+1",
                "silent": false,
                "store_history": true,
                "user_expressions": {},
                "allow_stdin": false,
                "stop_on_error": true,
            },
            "buffers": [],
            "channel": "shell",
        });
        let text = request.to_string();
        let started = Instant::now();
        self.socket.send(Message::Text(text.into())).await?;
        let mut replied = false;
        let mut idle = false;
        while !(replied && idle) {
            let text = match self.socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => {
                    bail!("the channels socket was closed")
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
            };
            let message: Value = serde_json::from_str(text.as_str())?;
            let parent = message.pointer("/parent_header/msg_id");
            if parent.and_then(Value::as_str) != Some(msg_id.as_str()) {
                continue;
            }
            match message.pointer("/header/msg_type").and_then(Value::as_str) {
                Some("execute_reply") => replied = true,
                Some("status") => {
                    idle |=
                        message.pointer("/content/execution_state") == Some(&Value::from("idle"));
                }
                _ => {}
            }
        }
        Ok(started.elapsed())
    }

    pub(super) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The round trip through the server and direct, interleaved sample by sample (the order
/// within each pair alternates).
async fn round_trips(
    remote: &KernelApi,
    launcher: &KernelLauncher,
    spec: &KernelSpec,
    config: &KernelConfig,
    iterations: usize,
) -> anyhow::Result<(Percentiles, Percentiles)> {
    let id = remote.start_kernel().await?;
    let mut channels = remote.channels(&id).await?;
    let kernel = launcher.launch(spec, config).await?;
    let mut direct = DirectClient::connect(&kernel).await?;
    for _ in 0..WARMUP_ROUND_TRIPS {
        channels.round_trip().await?;
        direct.round_trip().await?;
    }
    let mut via_server = Vec::with_capacity(iterations);
    let mut bare = Vec::with_capacity(iterations);
    for i in 0..iterations {
        if i % 2 == 0 {
            via_server.push(channels.round_trip().await?);
            bare.push(direct.round_trip().await?);
        } else {
            bare.push(direct.round_trip().await?);
            via_server.push(channels.round_trip().await?);
        }
    }
    channels.close().await;
    remote.stop_kernel(&id).await?;
    drop(direct);
    kernel.shutdown().await?;
    Ok((Percentiles::of(via_server), Percentiles::of(bare)))
}

/// Hand-outs from the server's warm pool and cold launches here, alternating; each is
/// taken once the pool has refilled, so no other kernel is starting meanwhile.
async fn starts_side_by_side(
    remote: &Remote,
    launcher: &KernelLauncher,
    spec: &KernelSpec,
    config: &KernelConfig,
    count: usize,
) -> anyhow::Result<(Percentiles, Percentiles)> {
    let mut hand_outs = Vec::with_capacity(count);
    let mut colds = Vec::with_capacity(count);
    for _ in 0..count {
        remote.wait_for_warm_kernel().await?;
        let started = Instant::now();
        let id = remote.api.start_kernel().await?;
        hand_outs.push(started.elapsed());
        remote.api.stop_kernel(&id).await?;

        remote.wait_for_warm_kernel().await?;
        let started = Instant::now();
        let kernel = launcher.launch(spec, config).await?;
        colds.push(started.elapsed());
        kernel.shutdown().await?;
    }
    Ok((Percentiles::of(hand_outs), Percentiles::of(colds)))
}

/// Memory of each of `count` kernels, launched one after another and each run once (as a
/// user's kernel would be), then read together while all are idle.
async fn idle_memory(
    launcher: &KernelLauncher,
    spec: &KernelSpec,
    config: &KernelConfig,
    count: usize,
) -> anyhow::Result<Vec<GroupMemory>> {
    let mut kernels: Vec<Kernel> = Vec::with_capacity(count);
    for _ in 0..count {
        let kernel = launcher.launch(spec, config).await?;
        kernel.execute("1+1").await?.finish().await?;
        kernels.push(kernel);
    }
    let memory = kernels.iter().map(|k| GroupMemory::of(k.pid())).collect();
    for kernel in kernels {
        kernel.shutdown().await?;
    }
    Ok(memory)
}

/// CPU time of the machine and of the processes this benchmark is made of: this process,
/// the server, and everything they started (kernels, sandbox helpers), in seconds.
#[derive(Debug, Clone, Copy)]
struct CpuReading {
    ours: f64,
    machine: f64,
}

impl CpuReading {
    fn take(server_pid: u32) -> anyhow::Result<CpuReading> {
        let (machine, _) = cpu::machine_seconds()?;
        Ok(CpuReading {
            ours: tree_seconds(&[std::process::id(), server_pid]),
            machine,
        })
    }

    fn since(&self, earlier: &CpuReading) -> CpuReading {
        CpuReading {
            ours: self.ours - earlier.ours,
            machine: self.machine - earlier.machine,
        }
    }

    fn others(&self) -> f64 {
        (self.machine - self.ours).max(0.0)
    }
}

/// CPU seconds of `roots` and their living descendants, children they already reaped
/// included (`cutime`/`cstime`), so kernels that came and went between two readings count.
pub(super) fn tree_seconds(roots: &[u32]) -> f64 {
    // pid → (parent, own and reaped children's ticks)
    let mut processes: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(stat) = read_stat(pid) {
                processes.insert(pid, stat);
            }
        }
    }
    let ours = |mut pid: u32| {
        // Walk up the parents; bounded in case of a (transient) cycle from pid reuse.
        for _ in 0..64 {
            if roots.contains(&pid) {
                return true;
            }
            match processes.get(&pid) {
                Some((parent, _)) if *parent != 0 => pid = *parent,
                _ => return false,
            }
        }
        false
    };
    let ticks: u64 = processes
        .iter()
        .filter(|(pid, _)| ours(**pid))
        .map(|(_, (_, ticks))| ticks)
        .sum();
    ticks as f64 / 100.0
}

/// Parent pid and utime + stime + cutime + cstime of `/proc/<pid>/stat`.
fn read_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = (11..=14)
        .map(|i| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    Some((parent, ticks))
}

/// Everything measured.
struct Figures {
    via_server: Percentiles,
    direct: Percentiles,
    hand_out: Percentiles,
    cold: Percentiles,
    memory: Vec<GroupMemory>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:+.3} ms", ms(a) - ms(b))
}

fn print(
    args: &KernelArgs,
    sandbox: &str,
    f: &Figures,
    cpu: &CpuReading,
    wall: f64,
    complaints: &[String],
) {
    let pss: Vec<u64> = f.memory.iter().map(|m| m.pss).collect();
    let rss: Vec<u64> = f.memory.iter().map(|m| m.rss).collect();
    let mean = |v: &[u64]| {
        if v.is_empty() {
            0.0
        } else {
            mib(v.iter().sum::<u64>()) / v.len() as f64
        }
    };
    let max = |v: &[u64]| mib(v.iter().copied().max().unwrap_or(0));
    let processes = f.memory.iter().map(|m| m.processes).max().unwrap_or(0);
    println!();
    println!(
        "== kernel {}, sandbox {sandbox}: {} round trips per variant, {} starts of each kind, \
         {} idle kernels",
        args.kernel, f.via_server.samples, f.hand_out.samples, args.kernels
    );
    println!("  execute 1+1 via server WS   {}", f.via_server);
    println!("  execute 1+1 direct ZMQ      {}", f.direct);
    println!(
        "  server adds                 p50 {} · p99 {}",
        signed_ms(f.via_server.p50, f.direct.p50),
        signed_ms(f.via_server.p99, f.direct.p99)
    );
    println!("  pool hand-out (POST)        {}", f.hand_out);
    println!("  cold start (→ kernel_info)  {}", f.cold);
    println!(
        "  idle kernel PSS             mean {:.1} MiB · max {:.1} MiB ({} kernels, up to {} \
         process(es) each)",
        mean(&pss),
        max(&pss),
        f.memory.len(),
        processes
    );
    println!(
        "  idle kernel RSS             mean {:.1} MiB · max {:.1} MiB",
        mean(&rss),
        max(&rss)
    );
    let share = |seconds: f64| {
        format!(
            "{seconds:.2} s ({:.0}% of one core)",
            100.0 * seconds / wall
        )
    };
    println!(
        "  bench CPU                   {} (server, kernels and this process, {wall:.1} s)",
        share(cpu.ours)
    );
    println!("  other processes' CPU        {}", share(cpu.others()));
    if cpu.others() > 0.25 * wall {
        println!(
            "  warning: other processes used the CPU during the run; the figures above are \
             pessimistic"
        );
    }
    if !complaints.is_empty() {
        println!(
            "  server log                  {} warning(s) or error(s):",
            complaints.len()
        );
        for line in complaints.iter().take(5) {
            println!("    {line}");
        }
    }
    let overhead = f.via_server.p50.saturating_sub(f.direct.p50);
    let verdicts = [
        (
            overhead <= ROUND_TRIP_OVERHEAD_P50,
            format!(
                "server adds ≤ {:.0} ms at p50 ({:.3} ms)",
                ms(ROUND_TRIP_OVERHEAD_P50),
                ms(overhead)
            ),
        ),
        (
            f.hand_out.p99 <= HAND_OUT_P99,
            format!(
                "pool hand-out p99 ≤ {:.0} ms ({:.1} ms)",
                ms(HAND_OUT_P99),
                ms(f.hand_out.p99)
            ),
        ),
        (
            f.cold.p50 <= COLD_START_P50,
            format!(
                "cold start p50 ≤ {:.0} ms ({:.1} ms)",
                ms(COLD_START_P50),
                ms(f.cold.p50)
            ),
        ),
        (
            max(&pss) <= IDLE_PSS_MIB,
            format!(
                "idle kernel PSS ≤ {IDLE_PSS_MIB:.0} MiB (max {:.1} MiB)",
                max(&pss)
            ),
        ),
    ];
    for (passed, text) in verdicts {
        println!("  {}  {text}", if passed { "PASS" } else { "FAIL" });
    }
}
