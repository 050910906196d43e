//! The server under test, run as a child process of the benchmark so that its CPU time and
//! memory can be read from `/proc` apart from the load generator's.

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use reqwest::Url;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::time::Instant;

/// How long the server may take to answer `/healthz` after it was started.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// How often `/healthz` is polled while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A `switchboard serve` child process with its own data directory and loopback port.
/// It is killed when this value is dropped.
#[derive(Debug)]
pub struct ServerChild {
    child: tokio::process::Child,
    pid: u32,
    base: Url,
    log: PathBuf,
    /// Removed (with the database and log) when the child is dropped; `None` when the
    /// caller owns the folder, so that another server can be started on the same data.
    _dir: Option<tempfile::TempDir>,
}

impl ServerChild {
    /// Starts this very binary as `serve` with `args` added, and waits until it is healthy.
    ///
    /// Every `SWITCHBOARD_*` variable is removed from the child's environment, so that the
    /// settings of whoever runs the benchmark cannot change what is measured; logging is set
    /// to warnings only, so the server does not spend the benchmark writing log lines.
    pub async fn start(args: &[&str]) -> anyhow::Result<ServerChild> {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut server = ServerChild::spawn(dir.path(), &listen, args)?;
        server._dir = Some(dir);
        server.wait_until_healthy().await?;
        Ok(server)
    }

    /// Starts `serve` on `listen` with its data in `dir/data` and its log appended to
    /// `dir/server.log`, without waiting for it: a restart benchmark times the start itself.
    /// `dir` outlives the child, so a later child can start on the same data.
    pub fn spawn(dir: &Path, listen: &str, args: &[&str]) -> anyhow::Result<ServerChild> {
        let exe = std::env::current_exe().context("cannot find this program's own path")?;
        let log = dir.join("server.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut command = tokio::process::Command::new(&exe);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHBOARD_") {
                command.env_remove(key);
            }
        }
        command
            .arg("serve")
            .args(["--listen", listen, "--data-dir"])
            .arg(dir.join("data"))
            .args(args)
            // As the default filter: zeromq's reconnect attempts to a kernel being shut
            // down are noise, not a finding of the bench.
            .env("SWITCHBOARD_LOG", "warn,zeromq=error")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let pid = child.id().context("the server exited at once")?;
        Ok(ServerChild {
            child,
            pid,
            base: format!("http://{listen}/").parse()?,
            log,
            _dir: None,
        })
    }

    /// Polls `/healthz` until the server answers, failing if it exits or takes too long.
    pub async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = self.base.join("healthz")?;
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; its log:\n{}",
                    self.log_tail(20)
                );
            }
            let answer = http
                .get(url.clone())
                .timeout(POLL_INTERVAL * 10)
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not answer {url} within {START_PATIENCE:?}; its log:\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The server's base URL, ending with `/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's peak resident memory (VmHWM) in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))?;
        Ok(kib * 1024)
    }

    /// The server's resident memory now (VmRSS) in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmRSS in {path}"))?;
        Ok(kib * 1024)
    }

    /// Sends `signal` (SIGTERM for a graceful stop, SIGKILL for a crash) and waits for the
    /// process to exit, at most `patience`; returns how long it took to exit.
    pub async fn signal_and_wait(
        mut self,
        signal: Signal,
        patience: Duration,
    ) -> anyhow::Result<Duration> {
        let sent = Instant::now();
        let pid = i32::try_from(self.pid).context("the server's process id is out of range")?;
        nix::sys::signal::kill(Pid::from_raw(pid), signal)
            .with_context(|| format!("cannot send {signal} to the server"))?;
        tokio::time::timeout(patience, self.child.wait())
            .await
            .with_context(|| format!("the server did not exit within {patience:?} of {signal}"))?
            .context("cannot wait for the server to exit")?;
        Ok(sent.elapsed())
    }

    /// Log lines at warning level or above, and panics, that the server wrote.
    pub fn complaints(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    /// The last `n` lines of the server's log.
    fn log_tail(&self, n: usize) -> String {
        file_tail(&self.log, n)
    }

    /// Kills the server and waits for it to exit. (The benchmark's data is thrown away, so
    /// a graceful stop would buy nothing.)
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .context("cannot stop the server process")
    }
}

/// The last `n` lines of a child's log file (empty if it cannot be read: it only ever
/// explains another error).
pub(super) fn file_tail(path: &Path, n: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A TCP port on the loopback interface that was free a moment ago. The child binds it
/// itself; if something takes it in between, the child fails and says so.
pub(super) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}
