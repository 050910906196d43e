//! The kernel actor: one task per kernel that owns its process (generation), folder, uid
//! lease and capacity permit, and runs one `select!` loop over a closed set of events:
//! commands from handles, messages and exits from the current generation, and the idle
//! and lifetime deadlines.
//!
//! It numbers and publishes everything the kernel sends, applies the output rate limit
//! and the message size cap (injecting visible notices), tracks busy/idle, and turns a
//! process exit or lost heartbeat into a `dead` status with a reason.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::after_run::{self, AfterRun, Held, Hook, MAX_HELD};
use crate::config::{KernelConfig, NodeConfig};
use crate::connection::KernelDir;
use crate::error::{DeathReason, KernelError, Result};
use crate::kernel::{Command, KernelState, ProcessInfo};
use crate::launch::{GenEvent, Generation, LaunchRequest, describe, signal_name, start_generation};
use crate::rate::{OutputGovernor, Verdict};
use crate::replay::Replay;
use crate::sandbox::HostSupport;
use crate::sandbox::cgroup::KernelCgroup;
use crate::sandbox::user::{Identity, UidLease};
use crate::spec::KernelSpec;
use crate::wire::{Channel, WireMessage};

/// IOPub message types subject to the output rate limit.
const RATE_LIMITED: &[&str] = &[
    "stream",
    "display_data",
    "update_display_data",
    "execute_result",
    "clear_output",
    "comm_msg",
];

/// Everything one kernel owns.
pub(crate) struct Actor {
    pub(crate) id: String,
    pub(crate) node: Arc<NodeConfig>,
    pub(crate) host: Arc<HostSupport>,
    pub(crate) spec: Arc<KernelSpec>,
    pub(crate) config: KernelConfig,
    pub(crate) dir: KernelDir,
    pub(crate) identity: Option<Identity>,
    pub(crate) uid_lease: Option<UidLease>,
    /// The kernel's control groups (kept across restarts, removed when the actor ends).
    pub(crate) cgroup: Option<Arc<KernelCgroup>>,
    /// Held for its `Drop`: frees the node capacity slot.
    pub(crate) _permit: OwnedSemaphorePermit,
    pub(crate) session: String,
    pub(crate) pid_file: std::path::PathBuf,
    pub(crate) generation: Option<Generation>,
    pub(crate) events_tx: mpsc::Sender<GenEvent>,
    pub(crate) events_rx: mpsc::Receiver<GenEvent>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) replay: Arc<Replay>,
    pub(crate) state: watch::Sender<KernelState>,
    pub(crate) process: watch::Sender<ProcessInfo>,
    pub(crate) governor: OutputGovernor,
    pub(crate) last_activity: Instant,
    pub(crate) lifetime_start: Instant,
    /// Parent header of the request the kernel is busy with (where notices go).
    pub(crate) busy_parent: Map<String, Value>,
    /// What the owner adds at the end of each execution.
    pub(crate) after_run: Option<AfterRun>,
    /// An execution's idle status held for `after_run`, with what came after it.
    pub(crate) held: Option<Held>,
}

impl Actor {
    /// The actor's loop. Returns when the kernel is finished (shut down, culled, or every
    /// handle dropped).
    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => {
                        self.finish(DeathReason::Shutdown, false).await;
                        break;
                    }
                    Some(Command::Shutdown { done }) => {
                        self.finish(DeathReason::Shutdown, true).await;
                        let _ = done.send(Ok(()));
                        break;
                    }
                    Some(command) => self.handle(command).await,
                },
                Some(event) = self.events_rx.recv() => self.dispatch(event),
                extra = wait_held(&mut self.held), if self.held.is_some() => self.release(extra),
                _ = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    if let Some(reason) = self.expired() {
                        self.finish(reason, true).await;
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&self.pid_file);
        let _ = std::fs::remove_file(self.pid_file.with_extension("plan.json"));
        tracing::debug!(kernel = %self.id, "kernel actor finished");
        // The folder, uid lease and capacity permit are released as `self` drops here.
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Send { msg, done } => match &self.generation {
                Some(generation) => {
                    self.last_activity = Instant::now();
                    generation.send(msg, done);
                }
                None => {
                    let _ = done.send(Err(self.not_running()));
                }
            },
            Command::Interrupt { done } => {
                let result = match &self.generation {
                    Some(generation) => generation
                        .group
                        .signal(nix::sys::signal::Signal::SIGINT)
                        .map_err(|e| KernelError::io("interrupting the kernel", e)),
                    None => Err(self.not_running()),
                };
                let _ = done.send(result);
            }
            Command::Restart { done } => {
                let result = self.restart().await;
                let _ = done.send(result);
            }
            Command::AfterRun(Hook(hook)) => self.after_run = Some(hook),
            Command::Claim => {
                self.lifetime_start = Instant::now();
                self.last_activity = Instant::now();
            }
            Command::Shutdown { done } => {
                // Handled in `run`; unreachable here but harmless.
                let _ = done.send(Ok(()));
            }
        }
    }

    fn not_running(&self) -> KernelError {
        match &*self.state.borrow() {
            KernelState::Dead(reason) => KernelError::Died(reason.clone()),
            _ => KernelError::Launch("the kernel is restarting".into()),
        }
    }

    fn current(&self) -> Option<u64> {
        self.generation.as_ref().map(|g| g.number)
    }

    fn on_event(&mut self, event: GenEvent) {
        match event {
            GenEvent::Message {
                generation,
                msg,
                size,
            } if Some(generation) == self.current() => self.on_message(msg, size),
            GenEvent::Oversize {
                generation,
                channel,
                size,
                msg_type,
                parent_header,
            } if Some(generation) == self.current() => {
                let text = format!(
                    "dropped a {msg_type} message of {size} bytes on {channel}: larger than \
                     the {} byte limit",
                    self.config.limits.max_message_bytes
                );
                self.publish_notice("oversize", &text, &parent_header);
            }
            GenEvent::Exited { generation, status } if Some(generation) == self.current() => {
                let reason = self.exit_reason(status);
                self.on_death(reason);
            }
            GenEvent::HeartbeatLost { generation } if Some(generation) == self.current() => {
                self.on_death(DeathReason::HeartbeatLost);
            }
            GenEvent::MemoryLimit { generation, used } if Some(generation) == self.current() => {
                tracing::info!(kernel = %self.id, used, "the memory watchdog killed a kernel");
                self.on_death(DeathReason::MemoryLimit {
                    bytes: self.config.limits.total_memory_bytes.unwrap_or(used),
                });
            }
            _ => {}
        }
    }

    /// Handles a generation's event, or queues it behind a held idle status.
    fn dispatch(&mut self, event: GenEvent) {
        let Some(held) = &mut self.held else {
            self.on_event(event);
            return;
        };
        held.queued.push_back(event);
        if held.queued.len() >= MAX_HELD {
            tracing::warn!(kernel = %self.id, "not holding the kernel's output any longer for the end-of-run hook");
            self.release(Vec::new());
        }
    }

    /// Publishes the hook's messages, the held idle status and what came after it.
    fn release(&mut self, extra: Vec<WireMessage>) {
        let Some(held) = self.held.take() else {
            return;
        };
        for msg in extra {
            let size = msg.encoded_len();
            self.replay.publish(Arc::new(msg), size);
        }
        self.deliver(held.idle, held.size);
        for event in held.queued {
            self.dispatch(event);
        }
    }

    fn on_message(&mut self, msg: WireMessage, size: usize) {
        if let Some(hook) = &self.after_run
            && after_run::ends_execution(&msg)
        {
            self.held = Some(after_run::start(hook, msg, size));
            return;
        }
        self.deliver(msg, size);
    }

    /// Tracks busy/idle, applies the output rate limit, and publishes.
    fn deliver(&mut self, msg: WireMessage, size: usize) {
        if msg.channel == Channel::Iopub {
            if msg.msg_type() == "status" {
                match msg.content_str("execution_state") {
                    "busy" => {
                        self.busy_parent = msg.parent_header.clone();
                        self.last_activity = Instant::now();
                        self.state.send_replace(KernelState::Busy);
                    }
                    "idle" => {
                        self.end_drop_episode(&msg.parent_header);
                        self.last_activity = Instant::now();
                        self.state.send_replace(KernelState::Idle);
                    }
                    _ => {}
                }
            } else if RATE_LIMITED.contains(&msg.msg_type()) {
                match self.governor.check(size, std::time::Instant::now()) {
                    Verdict::Pass => self.end_drop_episode(&msg.parent_header),
                    Verdict::DropFirst => {
                        let rate = &self.config.limits.output;
                        let text = format!(
                            "output rate limit exceeded ({} messages/s, {} bytes/s): dropping \
                             output until it slows down",
                            rate.messages_per_second, rate.bytes_per_second
                        );
                        self.publish_notice("rate_limit", &text, &msg.parent_header);
                        return;
                    }
                    Verdict::Drop => return,
                }
            }
        }
        self.replay.publish(Arc::new(msg), size);
    }

    /// Publishes how much output a finished drop episode lost.
    fn end_drop_episode(&mut self, parent: &Map<String, Value>) {
        if let Some(dropped) = self.governor.end_episode() {
            let text = format!(
                "{} output messages ({} bytes) were dropped by the output rate limit",
                dropped.messages, dropped.bytes
            );
            self.publish_notice("rate_limit", &text, parent);
        }
    }

    /// Publishes a visible notice: a `stream` message on stderr, marked in its metadata.
    fn publish_notice(&self, kind: &str, text: &str, parent: &Map<String, Value>) {
        let mut msg = WireMessage::new(
            Channel::Iopub,
            "stream",
            json!({ "name": "stderr", "text": format!("[switchboard] {text}\n") }),
            &self.session,
        )
        .with_parent_header(parent);
        msg.metadata
            .insert("switchboard".into(), json!({ "notice": kind }));
        let size = msg.encoded_len();
        self.replay.publish(Arc::new(msg), size);
    }

    /// Publishes a status message of our own (`restarting`, `idle`).
    fn publish_status(&self, state: &str, parent: &Map<String, Value>) {
        let msg = WireMessage::new(
            Channel::Iopub,
            "status",
            json!({ "execution_state": state }),
            &self.session,
        )
        .with_parent_header(parent);
        let size = msg.encoded_len();
        self.replay.publish(Arc::new(msg), size);
    }

    /// Publishes a notice and a `dead` status carrying the reason in its metadata
    /// (`{"switchboard": {"reason": …}}`), then marks the kernel dead.
    fn publish_death(&self, reason: DeathReason, parent: &Map<String, Value>) {
        self.publish_notice("dead", &format!("kernel stopped: {reason}"), parent);
        let mut msg = WireMessage::new(
            Channel::Iopub,
            "status",
            json!({ "execution_state": "dead" }),
            &self.session,
        )
        .with_parent_header(parent);
        msg.metadata
            .insert("switchboard".into(), json!({ "reason": reason }));
        let size = msg.encoded_len();
        self.replay.publish(Arc::new(msg), size);
        self.state.send_replace(KernelState::Dead(reason));
    }

    fn exit_reason(&self, status: Option<std::process::ExitStatus>) -> DeathReason {
        use std::os::unix::process::ExitStatusExt;
        let killed_by_us = self
            .generation
            .as_ref()
            .is_some_and(|g| g.group.was_killed());
        match status {
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => DeathReason::Exited { code },
                (None, Some(signal)) if signal == libc::SIGXCPU => DeathReason::CpuLimit {
                    seconds: self.config.limits.cpu_seconds.unwrap_or(0),
                },
                (None, Some(signal)) if signal == libc::SIGKILL && killed_by_us => {
                    DeathReason::Shutdown
                }
                (None, Some(signal))
                    if signal == libc::SIGKILL
                        && self.cgroup.as_ref().is_some_and(|c| c.oom_killed()) =>
                {
                    DeathReason::MemoryLimit {
                        bytes: self.config.limits.total_memory_bytes.unwrap_or(0),
                    }
                }
                (None, Some(signal)) => DeathReason::Signaled {
                    signal: signal_name(signal),
                },
                _ => DeathReason::Signaled {
                    signal: describe(Some(status)),
                },
            },
            None => DeathReason::Signaled {
                signal: "unknown".into(),
            },
        }
    }

    /// The process is gone (or must go): kill what is left, tell subscribers, mark dead.
    /// The kernel can still be restarted.
    fn on_death(&mut self, reason: DeathReason) {
        if let Some(generation) = self.generation.take() {
            generation.group.kill();
        }
        tracing::info!(kernel = %self.id, %reason, "kernel died");
        let parent = std::mem::take(&mut self.busy_parent);
        self.governor.end_episode();
        self.publish_death(reason, &parent);
    }

    /// Asks the current process to shut down and waits (shutdown timeout) for it to exit,
    /// publishing what it sends meanwhile; then kills its group.
    async fn stop_generation(&mut self, restart: bool) {
        let Some(generation) = self.generation.take() else {
            return;
        };
        let number = generation.number;
        let request = WireMessage::new(
            Channel::Control,
            "shutdown_request",
            json!({ "restart": restart }),
            &self.session,
        );
        let (done, _) = oneshot::channel();
        generation.send(request, done);
        let until = Instant::now() + self.config.timeouts.shutdown;
        loop {
            match timeout_at(until, self.events_rx.recv()).await {
                Err(_) | Ok(None) => break,
                Ok(Some(GenEvent::Exited { generation: g, .. })) if g == number => break,
                Ok(Some(GenEvent::Message {
                    generation: g,
                    msg,
                    size,
                })) if g == number => {
                    self.replay.publish(Arc::new(msg), size);
                }
                Ok(Some(_)) => {}
            }
        }
        generation.group.kill();
        drop(generation);
    }

    async fn restart(&mut self) -> Result<()> {
        if matches!(
            &*self.state.borrow(),
            KernelState::Dead(DeathReason::Shutdown)
        ) {
            return Err(KernelError::Stopped(DeathReason::Shutdown));
        }
        self.release(Vec::new());
        self.state.send_replace(KernelState::Restarting);
        self.publish_status("restarting", &Map::new());
        self.stop_generation(true).await;
        let next = self.process.borrow().generation + 1;
        let request = LaunchRequest {
            node: &self.node,
            host: &self.host,
            spec: &self.spec,
            config: &self.config,
            dir: &self.dir,
            identity: self.identity,
            private_uid: self.uid_lease.is_some(),
            session: &self.session,
            pid_file: &self.pid_file,
            cgroup: self.cgroup.as_ref(),
        };
        let started = start_generation(&request, next, &self.events_tx, &mut self.events_rx).await;
        match started {
            Ok(generation) => {
                self.process.send_replace(ProcessInfo {
                    pid: generation.group.pgid(),
                    connection: generation.connection.clone(),
                    kernel_info: generation.kernel_info.clone(),
                    sandbox: generation.sandbox.clone(),
                    generation: next,
                });
                self.generation = Some(generation);
                self.governor = OutputGovernor::new(
                    self.config.limits.output.clone(),
                    std::time::Instant::now(),
                );
                self.last_activity = Instant::now();
                self.publish_status("idle", &Map::new());
                self.state.send_replace(KernelState::Idle);
                tracing::info!(kernel = %self.id, generation = next, "kernel restarted");
                Ok(())
            }
            Err(e) => {
                let reason = DeathReason::RestartFailed {
                    message: e.to_string(),
                };
                self.publish_death(reason, &Map::new());
                Err(e)
            }
        }
    }

    /// Ends the kernel for good.
    async fn finish(&mut self, reason: DeathReason, graceful: bool) {
        self.release(Vec::new());
        if graceful {
            self.stop_generation(false).await;
        } else if let Some(generation) = self.generation.take() {
            generation.group.kill();
        }
        let already_dead = matches!(&*self.state.borrow(), KernelState::Dead(_));
        if reason != DeathReason::Shutdown {
            tracing::info!(kernel = %self.id, %reason, "kernel stopped");
            let parent = std::mem::take(&mut self.busy_parent);
            self.publish_death(reason, &parent);
        } else if !already_dead {
            self.state.send_replace(KernelState::Dead(reason));
        }
        self.replay.close();
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.generation.as_ref()?;
        let limits = &self.config.limits;
        let lifetime = limits.lifetime.map(|l| self.lifetime_start + l);
        let idle = limits
            .idle_timeout
            .filter(|_| matches!(&*self.state.borrow(), KernelState::Idle))
            .map(|i| self.last_activity + i);
        [lifetime, idle].into_iter().flatten().min()
    }

    /// Which deadline passed, if any.
    fn expired(&self) -> Option<DeathReason> {
        let now = Instant::now();
        let limits = &self.config.limits;
        if let Some(lifetime) = limits.lifetime
            && now >= self.lifetime_start + lifetime
        {
            return Some(DeathReason::Lifetime {
                seconds: lifetime.as_secs(),
            });
        }
        if let Some(idle) = limits.idle_timeout
            && matches!(&*self.state.borrow(), KernelState::Idle)
            && now >= self.last_activity + idle
        {
            return Some(DeathReason::IdleTimeout {
                seconds: idle.as_secs(),
            });
        }
        None
    }
}

/// The hook's messages for the held idle status; none when the hook failed or took longer
/// than its deadline.
async fn wait_held(held: &mut Option<Held>) -> Vec<WireMessage> {
    let Some(held) = held else {
        return std::future::pending().await;
    };
    match timeout_at(held.deadline, &mut held.extra).await {
        Ok(Ok(extra)) => extra,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            tracing::warn!(
                "the end-of-run hook took longer than {:?}; its messages are dropped",
                after_run::AFTER_RUN_WAIT
            );
            Vec::new()
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}
