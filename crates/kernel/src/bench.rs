//! Measuring pieces for `switchboard bench kernel`, which drives them side by side with a
//! server it starts:
//! - [`DirectClient`]: the `1+1` execute round trip through nothing but
//!   `jupyter-zmq-client` sockets on a kernel, the baseline the server's channels
//!   WebSocket is compared with;
//! - [`GroupMemory`]: resident and proportional memory of a kernel's process group;
//! - [`Percentiles`]: p50/p99 of a set of durations.

use std::fmt;
use std::time::{Duration, Instant};

use jupyter_protocol::{ExecuteRequest, ExecutionState, JupyterMessage, JupyterMessageContent};
use jupyter_zmq_client as jzc;

use crate::error::{KernelError, Result};
use crate::kernel::Kernel;

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
            "p50 {:>8.3} ms · p99 {:>8.3} ms (n={})",
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.samples
        )
    }
}

/// A bare Jupyter client on a kernel's shell and IOPub sockets, beside the kernel's own
/// actor: what a client would see with no server in between.
pub struct DirectClient {
    shell: jzc::ClientShellConnection,
    iopub: jzc::ClientIoPubConnection,
    deadline: Duration,
}

impl fmt::Debug for DirectClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectClient").finish_non_exhaustive()
    }
}

impl DirectClient {
    /// Connects to `kernel` and completes a first round trip, which also proves the IOPub
    /// subscription is live (a message published before it is missed, so the first one is
    /// retried in short slices until the kernel's request deadline).
    pub async fn connect(kernel: &Kernel) -> Result<DirectClient> {
        let zmq = |e: jzc::RuntimeError| KernelError::Zmq(e.to_string());
        let info = kernel.process().connection;
        let session = uuid::Uuid::new_v4().to_string();
        let identity = jzc::peer_identity_for_session(&session).map_err(zmq)?;
        let iopub = jzc::create_client_iopub_connection(&info, "", &session)
            .await
            .map_err(zmq)?;
        let shell = jzc::create_client_shell_connection_with_identity(&info, &session, identity)
            .await
            .map_err(zmq)?;
        let deadline = kernel.config().timeouts.request;
        let mut client = DirectClient {
            shell,
            iopub,
            deadline,
        };
        let until = Instant::now() + deadline;
        loop {
            match tokio::time::timeout(Duration::from_millis(500), client.exchange()).await {
                Ok(result) => {
                    result?;
                    return Ok(client);
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
    }

    /// One `1+1` execute request, timed from sending it until both its `execute_reply` and
    /// its final idle status arrived.
    pub async fn round_trip(&mut self) -> Result<Duration> {
        let deadline = self.deadline;
        tokio::time::timeout(deadline, self.exchange())
            .await
            .map_err(|_| KernelError::Timeout {
                what: "a direct round trip",
                after: deadline,
            })?
    }

    async fn exchange(&mut self) -> Result<Duration> {
        let zmq = |e: jzc::RuntimeError| KernelError::Zmq(e.to_string());
        let started = Instant::now();
        let request: JupyterMessage = ExecuteRequest::new("1+1".into()).into();
        let msg_id = request.header.msg_id.clone();
        self.shell.send(request).await.map_err(zmq)?;
        let mut replied = false;
        let mut idle = false;
        while !(replied && idle) {
            tokio::select! {
                reply = self.shell.read() => {
                    let reply = reply.map_err(zmq)?;
                    replied |= reply.parent_header.as_ref().is_some_and(|p| p.msg_id == msg_id);
                }
                message = self.iopub.read() => {
                    let message = message.map_err(zmq)?;
                    let ours = message.parent_header.as_ref().is_some_and(|p| p.msg_id == msg_id);
                    if let JupyterMessageContent::Status(status) = &message.content
                        && ours
                        && status.execution_state == ExecutionState::Idle
                    {
                        idle = true;
                    }
                }
            }
        }
        Ok(started.elapsed())
    }
}

/// Memory of every process in one process group (a kernel and anything it started), from
/// `/proc/<pid>/smaps_rollup`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMemory {
    /// Resident set, bytes: counts shared libraries in full for every process.
    pub rss: u64,
    /// Proportional set, bytes: each shared page split between the processes that map
    /// it, the fair figure for "what one more kernel costs".
    pub pss: u64,
    /// Processes found in the group.
    pub processes: usize,
}

impl GroupMemory {
    /// Sums the group `pgid`'s processes. Processes that exit while being read are
    /// skipped; an empty group gives zeros.
    pub fn of(pgid: u32) -> GroupMemory {
        let mut total = GroupMemory::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return total;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if process_group(pid) != Some(pgid) {
                continue;
            }
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue;
            };
            total.rss += kib_field(&rollup, "Rss:") * 1024;
            total.pss += kib_field(&rollup, "Pss:") * 1024;
            total.processes += 1;
        }
        total
    }
}

/// The process group of `pid`, from `/proc/<pid>/stat` (field 5).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// A `kB` line of a `/proc` file (0 when absent).
fn kib_field(text: &str, field: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
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

    #[test]
    fn own_process_group_has_memory() {
        let own = process_group(std::process::id()).unwrap();
        let memory = GroupMemory::of(own);
        assert!(memory.processes >= 1);
        assert!(memory.rss > 0 && memory.pss > 0 && memory.pss <= memory.rss);
        assert_eq!(GroupMemory::of(u32::MAX).processes, 0);
    }

    #[test]
    fn reads_kib_fields() {
        let text = "Rss:                1024 kB\nPss:                 512 kB\n";
        assert_eq!(kib_field(text, "Rss:"), 1024);
        assert_eq!(kib_field(text, "Pss:"), 512);
        assert_eq!(kib_field(text, "Swap:"), 0);
    }
}
