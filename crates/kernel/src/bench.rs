//! Kernel benchmarks, for `switchboard bench kernel`:
//! - execute round trip of `1+1` (request → final idle) through this crate, and through a
//!   minimal direct ZeroMQ client (`jupyter-zmq-client`) on the same kernel;
//! - pool hand-out time versus cold start time;
//! - memory of an idle kernel (RSS and PSS).

use std::fmt;
use std::time::{Duration, Instant};

use jupyter_protocol::{ExecuteRequest, JupyterMessage, JupyterMessageContent};

use crate::config::KernelConfig;
use crate::error::{KernelError, Result};
use crate::kernel::Kernel;
use crate::launcher::KernelLauncher;
use crate::pool::KernelPool;
use crate::spec::KernelSpec;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Round trips per client.
    pub round_trips: usize,
    /// Cold starts.
    pub cold_starts: usize,
    /// Pool hand-outs.
    pub pool_takes: usize,
    /// Idle kernels measured for memory.
    pub idle_kernels: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            round_trips: 500,
            cold_starts: 10,
            pool_takes: 20,
            idle_kernels: 4,
        }
    }
}

/// p50 and p99 of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Number of samples.
    pub samples: usize,
}

impl Percentiles {
    /// From unsorted samples (all zero when empty).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: usize| {
            samples
                .get((samples.len() * q / 100).min(samples.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Percentiles {
            p50: at(50),
            p99: at(99),
            samples: samples.len(),
        }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:>9.3} ms  p99 {:>9.3} ms  (n={})",
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.samples
        )
    }
}

/// What [`run`] measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// `1+1` through [`Kernel::execute`], request to final idle.
    pub crate_round_trip: Percentiles,
    /// `1+1` through a bare `jupyter-zmq-client` connection, request to reply and idle.
    pub direct_round_trip: Percentiles,
    /// [`KernelPool::take`] with a warm kernel waiting.
    pub pool_hand_out: Percentiles,
    /// [`KernelLauncher::launch`] until `kernel_info_reply`.
    pub cold_start: Percentiles,
    /// Resident set of each idle kernel, bytes.
    pub idle_rss: Vec<u64>,
    /// Proportional set (shared pages split between kernels) of each idle kernel, bytes.
    pub idle_pss: Vec<u64>,
}

fn mean_mib(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<u64>() as f64 / values.len() as f64 / (1u64 << 20) as f64
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "execute 1+1, this crate : {}", self.crate_round_trip)?;
        writeln!(f, "execute 1+1, direct ZMQ : {}", self.direct_round_trip)?;
        writeln!(f, "pool hand-out           : {}", self.pool_hand_out)?;
        writeln!(f, "cold start              : {}", self.cold_start)?;
        write!(
            f,
            "idle kernel memory      : RSS {:.1} MiB, PSS {:.1} MiB (mean of {})",
            mean_mib(&self.idle_rss),
            mean_mib(&self.idle_pss),
            self.idle_rss.len()
        )
    }
}

/// Runs every measurement with kernels of `spec` launched by `launcher` with `config`.
/// Needs room for `idle_kernels + 3` kernels on the node.
pub async fn run(
    launcher: &KernelLauncher,
    spec: &KernelSpec,
    config: &KernelConfig,
    options: &BenchOptions,
) -> Result<BenchReport> {
    let kernel = launcher.launch(spec, config).await?;
    for _ in 0..10 {
        execute_via_crate(&kernel).await?;
    }
    let mut samples = Vec::with_capacity(options.round_trips);
    for _ in 0..options.round_trips {
        samples.push(execute_via_crate(&kernel).await?);
    }
    let crate_round_trip = Percentiles::of(samples);
    let direct_round_trip = direct_round_trips(&kernel, options.round_trips).await?;
    kernel.shutdown().await?;

    let mut samples = Vec::with_capacity(options.cold_starts);
    for _ in 0..options.cold_starts {
        let started = Instant::now();
        let kernel = launcher.launch(spec, config).await?;
        samples.push(started.elapsed());
        kernel.shutdown().await?;
    }
    let cold_start = Percentiles::of(samples);

    let pool = KernelPool::new(launcher.clone(), spec.clone(), config.clone(), 1);
    let mut samples = Vec::with_capacity(options.pool_takes);
    for _ in 0..options.pool_takes {
        if !pool.wait_ready(1, config.timeouts.start).await {
            return Err(KernelError::Timeout {
                what: "a warm kernel in the pool",
                after: config.timeouts.start,
            });
        }
        let started = Instant::now();
        let kernel = pool.take().await?;
        samples.push(started.elapsed());
        kernel.shutdown().await?;
    }
    let pool_hand_out = Percentiles::of(samples);
    drop(pool);

    let mut idle = Vec::new();
    for _ in 0..options.idle_kernels {
        idle.push(launcher.launch(spec, config).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = idle
        .iter()
        .map(|k| memory_of(k.pid(), "VmRSS:", "status"))
        .collect();
    let idle_pss = idle
        .iter()
        .map(|k| memory_of(k.pid(), "Pss:", "smaps_rollup"))
        .collect();
    for kernel in idle {
        kernel.shutdown().await?;
    }

    Ok(BenchReport {
        crate_round_trip,
        direct_round_trip,
        pool_hand_out,
        cold_start,
        idle_rss,
        idle_pss,
    })
}

async fn execute_via_crate(kernel: &Kernel) -> Result<Duration> {
    let started = Instant::now();
    let outcome = kernel.execute("1+1").await?.finish().await?;
    let elapsed = started.elapsed();
    if outcome.text_result() != Some("2") {
        return Err(KernelError::InvalidMessage(format!(
            "unexpected result of 1+1: {outcome:?}"
        )));
    }
    Ok(elapsed)
}

/// The same round trip with nothing but `jupyter-zmq-client` sockets on the kernel.
async fn direct_round_trips(kernel: &Kernel, count: usize) -> Result<Percentiles> {
    use jupyter_zmq_client as jzc;
    let zmq = |e: jzc::RuntimeError| KernelError::Zmq(e.to_string());
    let info = kernel.process().connection;
    let session = uuid::Uuid::new_v4().to_string();
    let identity = jzc::peer_identity_for_session(&session).map_err(zmq)?;
    let mut iopub = jzc::create_client_iopub_connection(&info, "", &session)
        .await
        .map_err(zmq)?;
    let mut shell = jzc::create_client_shell_connection_with_identity(&info, &session, identity)
        .await
        .map_err(zmq)?;
    let deadline = kernel.config().timeouts.request;
    let mut one = async || -> Result<Duration> {
        let started = Instant::now();
        let request: JupyterMessage = ExecuteRequest::new("1+1".into()).into();
        let msg_id = request.header.msg_id.clone();
        shell.send(request).await.map_err(zmq)?;
        let mut replied = false;
        let mut idle = false;
        while !(replied && idle) {
            tokio::select! {
                reply = shell.read() => {
                    let reply = reply.map_err(zmq)?;
                    replied |= reply.parent_header.as_ref().is_some_and(|p| p.msg_id == msg_id);
                }
                message = iopub.read() => {
                    let message = message.map_err(zmq)?;
                    let ours = message.parent_header.as_ref().is_some_and(|p| p.msg_id == msg_id);
                    if let JupyterMessageContent::Status(status) = &message.content
                        && ours
                        && status.execution_state == jupyter_protocol::ExecutionState::Idle
                    {
                        idle = true;
                    }
                }
            }
        }
        Ok(started.elapsed())
    };
    // Until the subscription is live the idle status may be missed: retry the first round
    // trip in short slices, then warm up.
    let until = Instant::now() + deadline;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), one()).await {
            Ok(result) => {
                result?;
                break;
            }
            Err(_) if Instant::now() < until => {}
            Err(_) => {
                return Err(KernelError::Timeout {
                    what: "the direct client's first round trip",
                    after: deadline,
                });
            }
        }
    }
    for _ in 0..9 {
        tokio::time::timeout(deadline, one())
            .await
            .map_err(|_| KernelError::Timeout {
                what: "a direct round trip",
                after: deadline,
            })??;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let sample =
            tokio::time::timeout(deadline, one())
                .await
                .map_err(|_| KernelError::Timeout {
                    what: "a direct round trip",
                    after: deadline,
                })??;
        samples.push(sample);
    }
    Ok(Percentiles::of(samples))
}

/// A `kB` field of `/proc/<pid>/<file>`, in bytes (0 if unreadable).
fn memory_of(pid: u32, field: &str, file: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let p = Percentiles::of((1..=100).rev().map(ms).collect());
        assert_eq!(p.p50, ms(51));
        assert_eq!(p.p99, ms(100));
        assert_eq!(p.samples, 100);
        assert_eq!(Percentiles::of(Vec::new()).p50, Duration::ZERO);
    }
}
