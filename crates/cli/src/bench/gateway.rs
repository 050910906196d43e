//! `switchboard bench gateway`: what Jupyter Server costs in front of the server as its
//! kernel gateway (`--GatewayClient.url`), beside what it costs in front of its own kernels.
//!
//! One server child (see [`super::child`]) and two real `jupyter_server` processes run: one
//! in gateway mode in front of the server, one with local kernels. The same client times
//! the `1+1` round trip (request sent → `execute_reply` and idle status received) on four
//! paths, sample by sample in rotating order so noise on the machine hits all alike:
//! - jupyter_server → the server → kernel (the gateway path);
//! - jupyter_server → its own kernel;
//! - the server's channels socket → kernel, no jupyter_server;
//! - a bare ZeroMQ client → a kernel this process launches, no server at all.
//!
//! The last two give each hop's cost as a difference of medians between two paths that end
//! at the same kind of kernel: what jupyter_server adds in front of the server (gateway −
//! server) against what it adds in front of its own kernel (local − ZeroMQ).

use super::child::{ServerChild, file_tail, free_port};
use super::cpu;
use super::kernel::{ChannelsClient, KernelApi, baseline_launcher, tree_seconds};
use crate::load::account::ApiClient;
use anyhow::{Context, bail};
use clap::Args;
use reqwest::Url;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard_kernel::bench::{DirectClient, Percentiles};
use switchboard_kernel::{Kernel, KernelLauncher, KernelSpecs};
use switchboard_server::config::{Config, KernelSandboxMode};

/// The kernelspec on every path: the one Jupyter Server and the server both offer.
const KERNEL: &str = "python3";
/// The version the bench was written against, named in the install hint.
const INSTALL_HINT: &str = "pip install 'jupyter_server==2.21.1' ipykernel";
/// Round trips on every path before measuring: connections, caches, the kernels' first
/// executions, and jupyter_server's own socket to the gateway, which it opens lazily.
const WARMUP_ROUND_TRIPS: usize = 20;
/// How long a jupyter_server may take to answer `GET /api/status` after it was started.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How often `/api/status` is polled while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The paths, in the order of the table and of [`Report`]'s figures.
const GATEWAY: &str = "jupyter_server → Switchboard (gateway)";
const LOCAL: &str = "jupyter_server, local kernel";
const SWITCHBOARD: &str = "Switchboard, no jupyter_server";
const ZMQ: &str = "kernel, bare ZeroMQ client";

/// Flags of `switchboard bench gateway`.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Round trips measured per path.
    #[arg(long, env = "SWITCHBOARD_BENCH_ITERATIONS", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,
    /// The Python that runs jupyter_server and its local kernel (it needs jupyter_server and
    /// ipykernel).
    #[arg(long, env = "SWITCHBOARD_BENCH_PYTHON", default_value = "python3")]
    pub python: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the measurement and prints it against the goal. Fails only if something could not
/// be measured.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let python = find_jupyter_server(&args.python).await?;
    // Kernels unconfined, as jupyter_server's own are, so the kernels at the ends of the
    // paths are alike; what the sandbox costs is `bench kernel`'s to measure. No detector:
    // its model would take memory and CPU from what is measured.
    let server = ServerChild::start(&[
        "--kernels-enabled",
        "true",
        "--kernel-sandbox",
        "off",
        "--kernel-pool",
        "",
        "--detection",
        "false",
    ])
    .await?;
    let http = reqwest::Client::new();
    let user = ApiClient::sign_up(http.clone(), server.base().clone()).await?;
    let switchboard = KernelApi::new(
        http.clone(),
        server.base().clone(),
        format!("Bearer {}", user.token()),
        KERNEL,
    );
    let measured = measure(&args, &python, &server, &switchboard, user.token()).await;
    if measured.is_err() {
        // Kernels a failure left behind, those started through the gateway included, are
        // stopped by the server before it is killed: a killed server leaves its kernels'
        // folders mounted. The failure itself is what gets reported.
        let _ = switchboard.stop_all_kernels().await;
    }
    // The sandbox is off on purpose here, so the server's warning about it is no finding.
    let complaints: Vec<String> = server
        .complaints()
        .into_iter()
        .filter(|line| !line.contains("WITHOUT a sandbox"))
        .collect();
    server.stop().await?;
    let report = measured?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, &complaints);
    }
    Ok(())
}

/// Starts both jupyter_servers and a kernel on every path, measures, and stops them again
/// (on failure, dropping them kills them).
async fn measure(
    args: &GatewayArgs,
    python: &Python,
    server: &ServerChild,
    switchboard: &KernelApi,
    user_token: &str,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::new();
    let (gateway, local) = tokio::try_join!(
        JupyterServer::start(&python.executable, Some((server.base(), user_token))),
        JupyterServer::start(&python.executable, None),
    )?;
    eprintln!(
        "jupyter_server {} (gateway on port {}, local on port {}): measuring …",
        python.version,
        gateway.base.port().unwrap_or_default(),
        local.base.port().unwrap_or_default()
    );
    let mut probes = [
        Probe::through(GATEWAY, gateway.api(&http)).await?,
        Probe::through(LOCAL, local.api(&http)).await?,
        Probe::through(SWITCHBOARD, switchboard.clone()).await?,
        Probe::bare_kernel().await?,
    ];

    let started = Instant::now();
    let pids = [server.pid(), gateway.pid, local.pid];
    let cpu_start = CpuClock::read(pids)?;
    let samples = round_trips(&mut probes, args.iterations as usize).await?;
    let cpu = CpuClock::read(pids)?.since(&cpu_start, started.elapsed().as_secs_f64());

    for probe in probes {
        probe.stop().await?;
    }
    gateway.stop().await?;
    local.stop().await?;
    Ok(Report::new(python.version.clone(), samples, cpu))
}

/// The interpreter that runs jupyter_server, as found on this machine.
struct Python {
    /// Its own path (`sys.executable`), so that the process the bench kills is Python's
    /// own and not a wrapper's.
    executable: PathBuf,
    /// `jupyter_server.__version__`.
    version: String,
}

/// Asks `python` for its path and jupyter_server's version, importing ipykernel too (the
/// local path's kernel); fails with what to install when it cannot.
async fn find_jupyter_server(python: &str) -> anyhow::Result<Python> {
    let output = tokio::process::Command::new(python)
        .args([
            "-c",
            "import sys, jupyter_server, ipykernel; \
             print(sys.executable); print(jupyter_server.__version__)",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {python}; with Python 3 installed: {INSTALL_HINT}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().rev().find(|l| !l.trim().is_empty());
        bail!(
            "{python} cannot import jupyter_server and ipykernel ({}); install them with: \
             {python} -m {INSTALL_HINT}",
            why.unwrap_or("no error message")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(executable), Some(version)) => Ok(Python {
            executable: executable.trim().into(),
            version: version.trim().to_owned(),
        }),
        _ => bail!("{python} did not say where it is and which jupyter_server it has: {stdout}"),
    }
}

/// A `jupyter_server` child process on a loopback port, with its own token and folders so
/// that it reads no configuration of whoever runs the bench. Killed when dropped.
struct JupyterServer {
    child: tokio::process::Child,
    pid: u32,
    /// Ends with `/`.
    base: Url,
    token: String,
    log: PathBuf,
    /// Its root, configuration, data and runtime folders; removed when dropped.
    _dir: tempfile::TempDir,
}

impl JupyterServer {
    /// Starts `python -m jupyter_server`, in front of `gateway` (the server's base URL and a
    /// user's token) if given, else with local kernels; waits until it answers.
    async fn start(python: &Path, gateway: Option<(&Url, &str)>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-bench-jupyter-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let port = free_port()?;
        let token = format!("{:032x}", rand::random::<u128>());
        let log = dir.path().join("jupyter_server.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = tokio::process::Command::new(python);
        isolate(&mut command, dir.path())?;
        command
            .args(["-m", "jupyter_server", "--ServerApp.ip=127.0.0.1"])
            .arg(format!("--ServerApp.port={port}"))
            .args([
                "--ServerApp.port_retries=0",
                "--ServerApp.open_browser=False",
            ])
            // Running as root (as in a container) is refused without it.
            .arg("--ServerApp.allow_root=True")
            .arg(format!(
                "--ServerApp.root_dir={}",
                dir.path().join("root").display()
            ))
            // Secrets through the environment rather than the command line, which every
            // user of the machine can read.
            .env("JUPYTER_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        if let Some((url, user_token)) = gateway {
            command
                .arg(format!(
                    "--GatewayClient.url={}",
                    url.as_str().trim_end_matches('/')
                ))
                .env("JUPYTER_GATEWAY_AUTH_TOKEN", user_token);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} -m jupyter_server", python.display()))?;
        let pid = child.id().context("jupyter_server exited at once")?;
        let mut server = JupyterServer {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}/").parse()?,
            token,
            log,
            _dir: dir,
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    /// Polls `GET /api/status` until it answers 200.
    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = self.base.join("api/status")?;
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "jupyter_server exited ({status}) before it was ready; its log:\n{}",
                    file_tail(&self.log, 20)
                );
            }
            let answer = http
                .get(url.clone())
                .header(reqwest::header::AUTHORIZATION, self.authorization())
                .timeout(POLL_INTERVAL * 10)
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "jupyter_server did not answer {url} within {START_PATIENCE:?}; its log:\n{}",
                    file_tail(&self.log, 20)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The `Authorization` header jupyter_server's own clients send.
    fn authorization(&self) -> String {
        format!("token {}", self.token)
    }

    /// Its kernel API, as a client that starts `python3` kernels.
    fn api(&self, http: &reqwest::Client) -> KernelApi {
        KernelApi::new(
            http.clone(),
            self.base.clone(),
            self.authorization(),
            KERNEL,
        )
    }

    /// Kills it and waits for it to exit. Its kernels were shut down through its API
    /// before; one left behind by an error exits by itself when its parent is gone
    /// (ipykernel watches `JPY_PARENT_PID`).
    async fn stop(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .context("cannot stop the jupyter_server process")
    }
}

/// Keeps a jupyter_server (and the kernels it starts) from the settings of whoever runs the
/// bench: no `JUPYTER_*`, `JPY_*` or `IPYTHON*` variable is inherited (`JUPYTER_GATEWAY_URL`
/// alone would turn the local one into a gateway), no configuration file is read
/// (`JUPYTER_NO_CONFIG`), and its data, runtime and IPython folders are under `dir`.
fn isolate(command: &mut tokio::process::Command, dir: &Path) -> anyhow::Result<()> {
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if ["JUPYTER", "JPY_", "IPYTHON"]
            .iter()
            .any(|prefix| key_text.starts_with(prefix))
        {
            command.env_remove(&key);
        }
    }
    for folder in ["root", "config", "data", "runtime", "ipython"] {
        let path = dir.join(folder);
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    command
        .env("JUPYTER_NO_CONFIG", "1")
        .env("JUPYTER_CONFIG_DIR", dir.join("config"))
        .env("JUPYTER_DATA_DIR", dir.join("data"))
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("IPYTHONDIR", dir.join("ipython"));
    Ok(())
}

/// Whether jupyter_server routes requests for a kernel of this id: its URL patterns take
/// ids of five word-character runs joined by hyphens (`\w+-\w+-\w+-\w+-\w+`, a UUID's
/// shape), and answer 404 for any other.
fn jupyter_server_routes(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// One path to a kernel with a client on it, ready for round trips.
struct Probe {
    /// The path's name in the table.
    path: &'static str,
    link: Link,
}

/// How a [`Probe`] reaches its kernel.
enum Link {
    /// A kernel started through a kernel API, with its channels socket open.
    Channels {
        api: KernelApi,
        id: String,
        socket: ChannelsClient,
    },
    /// A kernel this process launched, with a bare ZeroMQ client on it.
    Bare {
        client: DirectClient,
        kernel: Kernel,
        /// Kept until the kernel is gone (fields drop in this order).
        _launcher: KernelLauncher,
        /// The launcher's runtime folder, removed when dropped.
        _runtime: tempfile::TempDir,
    },
}

impl Probe {
    /// Starts a kernel through `api` and opens its channels socket.
    async fn through(path: &'static str, api: KernelApi) -> anyhow::Result<Probe> {
        let id = api
            .start_kernel()
            .await
            .with_context(|| format!("cannot start a kernel on the path {path}"))?;
        if path == GATEWAY && !jupyter_server_routes(&id) {
            bail!(
                "Switchboard named its kernel {id:?}, which jupyter_server does not route (it \
                 takes ids shaped like a UUID, \\w+-\\w+-\\w+-\\w+-\\w+): the gateway path \
                 cannot be measured against this build"
            );
        }
        let socket = api
            .channels(&id)
            .await
            .with_context(|| format!("cannot connect on the path {path}"))?;
        Ok(Probe {
            path,
            link: Link::Channels { api, id, socket },
        })
    }

    /// Launches a kernel of this process, with the limits the server gives its own (and
    /// no sandbox, as the server child runs), and connects a bare ZeroMQ client to it.
    async fn bare_kernel() -> anyhow::Result<Probe> {
        let specs = KernelSpecs::discover()
            .await
            .context("cannot look for kernelspecs")?;
        let spec = specs
            .get(KERNEL)
            .with_context(|| format!("no kernelspec {KERNEL:?} on this machine"))?;
        let mut server_config = Config::default();
        server_config.kernels.kernel_sandbox = KernelSandboxMode::Off;
        let config = switchboard_server::kernels::kernel_config(&server_config);
        let (runtime, launcher) = baseline_launcher(1)?;
        let kernel = launcher.launch(spec, &config).await?;
        let client = DirectClient::connect(&kernel).await?;
        Ok(Probe {
            path: ZMQ,
            link: Link::Bare {
                client,
                kernel,
                _launcher: launcher,
                _runtime: runtime,
            },
        })
    }

    async fn round_trip(&mut self) -> anyhow::Result<Duration> {
        let time = match &mut self.link {
            Link::Channels { socket, .. } => socket.round_trip().await,
            Link::Bare { client, .. } => client.round_trip().await.map_err(Into::into),
        };
        time.with_context(|| format!("a round trip on the path {} failed", self.path))
    }

    /// Closes the client and shuts the kernel down the way it was started.
    async fn stop(self) -> anyhow::Result<()> {
        match self.link {
            Link::Channels { api, id, socket } => {
                socket.close().await;
                api.stop_kernel(&id).await
            }
            Link::Bare { client, kernel, .. } => {
                drop(client);
                kernel.shutdown().await?;
                Ok(())
            }
        }
    }
}

/// Warm-up on every path, then `iterations` samples of each: in sample `i` the paths take
/// turns starting from the `i`-th, so none is always first (or last) after a pause.
async fn round_trips(
    probes: &mut [Probe; 4],
    iterations: usize,
) -> anyhow::Result<[Vec<Duration>; 4]> {
    for _ in 0..WARMUP_ROUND_TRIPS {
        for probe in probes.iter_mut() {
            probe.round_trip().await?;
        }
    }
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for i in 0..iterations {
        for turn in 0..probes.len() {
            let path = (i + turn) % probes.len();
            samples[path].push(probes[path].round_trip().await?);
        }
    }
    Ok(samples)
}

/// CPU clocks of the processes the run is made of, in seconds.
#[derive(Debug, Clone, Copy)]
struct CpuClock {
    /// The server, the gateway jupyter_server and the local one, each with what it started.
    trees: [f64; 3],
    /// This process with everything it started (the three above included).
    ours: f64,
    machine: f64,
}

impl CpuClock {
    /// Reads the trees of `roots` (server, gateway jupyter_server, local jupyter_server).
    fn read(roots: [u32; 3]) -> anyhow::Result<CpuClock> {
        let (machine, _) = cpu::machine_seconds()?;
        Ok(CpuClock {
            trees: roots.map(|pid| tree_seconds(&[pid])),
            ours: tree_seconds(&[std::process::id()]),
            machine,
        })
    }

    /// Who spent what since `earlier`, over `wall` seconds.
    fn since(&self, earlier: &CpuClock, wall: f64) -> CpuUse {
        let tree = |i: usize| (self.trees[i] - earlier.trees[i]).max(0.0);
        let ours = self.ours - earlier.ours;
        CpuUse {
            wall_seconds: wall,
            switchboard: tree(0),
            gateway_jupyter_server: tree(1),
            local_jupyter_server: tree(2),
            bench: (ours - tree(0) - tree(1) - tree(2)).max(0.0),
            others: (self.machine - earlier.machine - ours).max(0.0),
        }
    }
}

/// CPU seconds spent during the measured round trips.
#[derive(Debug, Clone, Copy, Serialize)]
struct CpuUse {
    wall_seconds: f64,
    /// The server and its two kernels.
    switchboard: f64,
    gateway_jupyter_server: f64,
    /// With its kernel.
    local_jupyter_server: f64,
    /// This process, with the kernel of the bare ZeroMQ path.
    bench: f64,
    /// Every other process on the machine.
    others: f64,
}

/// p50, p99 and mean of one path's round trips, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
struct Figure {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    samples: usize,
}

impl Figure {
    fn of(samples: Vec<Duration>) -> Figure {
        let mean_ms = if samples.is_empty() {
            0.0
        } else {
            ms(samples.iter().sum::<Duration>()) / samples.len() as f64
        };
        let p = Percentiles::of(samples);
        Figure {
            p50_ms: ms(p.p50),
            p99_ms: ms(p.p99),
            mean_ms,
            samples: p.samples,
        }
    }

    /// Each statistic of `self` combined with the same of `other`.
    fn with(&self, other: &Figure, f: impl Fn(f64, f64) -> f64) -> PerStatistic {
        PerStatistic {
            p50: f(self.p50_ms, other.p50_ms),
            p99: f(self.p99_ms, other.p99_ms),
            mean: f(self.mean_ms, other.mean_ms),
        }
    }
}

/// A comparison of two [`Figure`]s, statistic by statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct PerStatistic {
    p50: f64,
    p99: f64,
    mean: f64,
}

/// What each hop adds to the median round trip, as differences of medians of two paths that
/// end at the same kind of kernel, so the kernel's own time drops out, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
struct Hops {
    /// jupyter_server in front of the server: gateway − server.
    gateway_hop_ms: f64,
    /// jupyter_server in front of its own kernel: local − bare ZeroMQ.
    jupyter_server_ms: f64,
    /// The server in front of its kernel: server − bare ZeroMQ (`bench kernel` judges it).
    switchboard_ms: f64,
    /// The goal: the gateway hop adds no more than jupyter_server's own cost.
    goal_met: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
struct Report {
    jupyter_server_version: String,
    /// Whether this program (and so the server child, the same file) is a debug build,
    /// whose own code is unoptimized.
    debug_build: bool,
    gateway: Figure,
    local: Figure,
    switchboard: Figure,
    bare_zmq: Figure,
    gateway_minus_local_ms: PerStatistic,
    gateway_over_local: PerStatistic,
    hops: Hops,
    cpu_seconds: CpuUse,
}

impl Report {
    /// From the samples of the paths in table order (gateway, local, server, ZeroMQ).
    fn new(version: String, samples: [Vec<Duration>; 4], cpu: CpuUse) -> Report {
        let [gateway, local, switchboard, bare_zmq] = samples.map(Figure::of);
        let gateway_hop_ms = gateway.p50_ms - switchboard.p50_ms;
        let jupyter_server_ms = local.p50_ms - bare_zmq.p50_ms;
        Report {
            jupyter_server_version: version,
            debug_build: cfg!(debug_assertions),
            gateway_minus_local_ms: gateway.with(&local, |a, b| a - b),
            gateway_over_local: gateway.with(&local, |a, b| if b > 0.0 { a / b } else { 0.0 }),
            hops: Hops {
                gateway_hop_ms,
                jupyter_server_ms,
                switchboard_ms: switchboard.p50_ms - bare_zmq.p50_ms,
                goal_met: gateway_hop_ms <= jupyter_server_ms,
            },
            gateway,
            local,
            switchboard,
            bare_zmq,
            cpu_seconds: cpu,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print(r: &Report, complaints: &[String]) {
    println!();
    println!(
        "== jupyter_server {} with Switchboard as its kernel gateway: execute 1+1, {} round \
         trips per path, interleaved",
        r.jupyter_server_version, r.gateway.samples
    );
    println!(
        "  python3 kernels without a sandbox on every path{}",
        if r.debug_build {
            "; a debug build of Switchboard (--release for its real cost)"
        } else {
            ""
        }
    );
    println!(
        "  {:<42} {:>9} {:>9} {:>9}",
        "", "p50 ms", "p99 ms", "mean ms"
    );
    for (path, f) in [
        (GATEWAY, &r.gateway),
        (LOCAL, &r.local),
        (SWITCHBOARD, &r.switchboard),
        (ZMQ, &r.bare_zmq),
    ] {
        println!(
            "  {path:<42} {:>9.3} {:>9.3} {:>9.3}",
            f.p50_ms, f.p99_ms, f.mean_ms
        );
    }
    let PerStatistic { p50, p99, mean } = r.gateway_minus_local_ms;
    println!(
        "  {:<42} {p50:>+9.3} {p99:>+9.3} {mean:>+9.3}",
        "gateway − local"
    );
    let PerStatistic { p50, p99, mean } = r.gateway_over_local;
    println!(
        "  {:<42} {p50:>9.2} {p99:>9.2} {mean:>9.2}",
        "gateway ÷ local"
    );
    println!("  what each hop adds at p50 (difference of medians of paths to alike kernels):");
    println!(
        "    jupyter_server in front of Switchboard   {:>+8.3} ms (gateway − Switchboard)",
        r.hops.gateway_hop_ms
    );
    println!(
        "    jupyter_server in front of its kernel    {:>+8.3} ms (local − bare ZeroMQ)",
        r.hops.jupyter_server_ms
    );
    println!(
        "    Switchboard in front of its kernel       {:>+8.3} ms (Switchboard − bare ZeroMQ)",
        r.hops.switchboard_ms
    );
    print_cpu(&r.cpu_seconds);
    if !complaints.is_empty() {
        println!(
            "  Switchboard's log: {} warning(s) or error(s):",
            complaints.len()
        );
        for line in complaints.iter().take(5) {
            println!("    {line}");
        }
    }
    println!(
        "  {}  the gateway hop adds no more than jupyter_server's own cost (p50: {:.3} ms vs \
         {:.3} ms)",
        if r.hops.goal_met { "PASS" } else { "FAIL" },
        r.hops.gateway_hop_ms,
        r.hops.jupyter_server_ms
    );
    println!(
        "  (Both hops are jupyter_server's: in gateway mode it relays JSON between two \
         WebSockets, with local kernels it bridges WebSocket and ZeroMQ. The gateway path \
         also carries Switchboard's own hop, judged by `bench kernel`; gateway − local is \
         what a jupyter_server user sees.)"
    );
}

fn print_cpu(c: &CpuUse) {
    let share = |seconds: f64| {
        format!(
            "{seconds:.2} s ({:.0}%)",
            100.0 * seconds / c.wall_seconds.max(1e-9)
        )
    };
    println!("  CPU over {:.1} s (% of one core):", c.wall_seconds);
    println!(
        "    Switchboard and its kernels              {}",
        share(c.switchboard)
    );
    println!(
        "    jupyter_server (gateway)                 {}",
        share(c.gateway_jupyter_server)
    );
    println!(
        "    jupyter_server (local) and its kernel    {}",
        share(c.local_jupyter_server)
    );
    println!(
        "    this bench and its ZeroMQ kernel         {}",
        share(c.bench)
    );
    println!(
        "    other processes                          {}",
        share(c.others)
    );
    if c.others > 0.25 * c.wall_seconds {
        println!(
            "  warning: other processes used the CPU during the run; the figures above are \
             pessimistic"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::BenchCommand;
    use super::*;
    use clap::Parser;

    /// `switchboard bench …`'s subcommands as a command line of their own, to parse alone.
    #[derive(Debug, Parser)]
    struct Bench {
        #[command(subcommand)]
        command: BenchCommand,
    }

    #[test]
    fn the_gateway_bench_parses_its_flags() {
        let parsed = Bench::try_parse_from([
            "bench",
            "gateway",
            "--iterations",
            "100",
            "--python",
            "/usr/bin/python3",
            "--json",
        ])
        .unwrap();
        let BenchCommand::Gateway(args) = parsed.command else {
            panic!("parsed as {parsed:?}");
        };
        assert_eq!(args.iterations, 100);
        assert_eq!(args.python, "/usr/bin/python3");
        assert!(args.json);
        assert!(Bench::try_parse_from(["bench", "gateway", "--iterations", "0"]).is_err());
        assert!(Bench::try_parse_from(["bench", "gateway", "--kernels", "2"]).is_err());
    }

    #[test]
    fn only_uuid_shaped_ids_are_routed_by_jupyter_server() {
        assert!(jupyter_server_routes(
            "0b3c6f1e-8d2a-4c1b-9f0e-123456789abc"
        ));
        assert!(!jupyter_server_routes(
            "n1.0b3c6f1e-8d2a-4c1b-9f0e-123456789abc"
        ));
        assert!(!jupyter_server_routes("0b3c6f1e-8d2a-4c1b-9f0e"));
        assert!(!jupyter_server_routes("0b3c6f1e--4c1b-9f0e-123456789abc"));
    }

    #[test]
    fn hops_are_differences_of_medians_and_the_goal_compares_them() {
        let at = |millis: u64| vec![Duration::from_millis(millis); 3];
        let cpu = CpuUse {
            wall_seconds: 1.0,
            switchboard: 0.0,
            gateway_jupyter_server: 0.0,
            local_jupyter_server: 0.0,
            bench: 0.0,
            others: 0.0,
        };
        // Gateway 5, local 4, server 2, bare 1 ms: the gateway hop (3 ms) equals
        // jupyter_server's own cost (3 ms), which meets the goal.
        let report = Report::new("2.21.1".into(), [at(5), at(4), at(2), at(1)], cpu);
        assert_eq!(report.hops.gateway_hop_ms, 3.0);
        assert_eq!(report.hops.jupyter_server_ms, 3.0);
        assert_eq!(report.hops.switchboard_ms, 1.0);
        assert!(report.hops.goal_met);
        let all = |v| PerStatistic {
            p50: v,
            p99: v,
            mean: v,
        };
        assert_eq!(report.gateway_minus_local_ms, all(1.0));
        assert_eq!(report.gateway_over_local, all(1.25));
        let report = Report::new("2.21.1".into(), [at(6), at(4), at(2), at(1)], cpu);
        assert!(!report.hops.goal_met);
    }
}
