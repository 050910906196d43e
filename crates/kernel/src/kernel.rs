//! [`Kernel`]: the handle the server holds for one running kernel.
//!
//! A kernel is an actor task (see `actor.rs`) that owns the process and its sockets; the
//! handle talks to it over a channel and reads its state from `watch`es, so every method
//! is cheap and none holds a lock across an await. Handles are clones of one `Arc`; when
//! the last one is dropped the kernel is killed and its folder removed.
//!
//! Everything the kernel sends, on every channel, is numbered and kept in a bounded replay
//! buffer ([`Kernel::subscribe`]); [`Kernel::execute`] is a filtered view of the same
//! sequence for one request.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jupyter_protocol::ConnectionInfo;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::after_run::{AfterRun, Hook};
use crate::config::KernelConfig;
use crate::error::{DeathReason, KernelError, Result};
use crate::replay::{Delivery, Replay, Subscription};
use crate::sandbox::SandboxReport;
use crate::spec::{InterruptMode, KernelSpec};
use crate::wire::{Channel, WireMessage};

/// What a kernel is doing, as Jupyter's `execution_state` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelState {
    /// Launching (or relaunching) the process.
    Starting,
    /// Waiting for work.
    Idle,
    /// Running a request.
    Busy,
    /// Being restarted.
    Restarting,
    /// Gone, for this reason. A dead kernel can be restarted unless it was shut down.
    Dead(DeathReason),
}

impl KernelState {
    /// Jupyter's name for the state (`starting`, `idle`, `busy`, `restarting`, `dead`).
    pub fn as_str(&self) -> &'static str {
        match self {
            KernelState::Starting => "starting",
            KernelState::Idle => "idle",
            KernelState::Busy => "busy",
            KernelState::Restarting => "restarting",
            KernelState::Dead(_) => "dead",
        }
    }
}

/// Facts about the current kernel process (they change on restart).
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// The kernel's pid, also its process group id.
    pub pid: u32,
    /// How to reach its sockets (IPC paths and key).
    pub connection: ConnectionInfo,
    /// The content of its `kernel_info_reply` at start.
    pub kernel_info: Value,
    /// What the sandbox helper enforced (`None` when the sandbox is off).
    pub sandbox: Option<SandboxReport>,
    /// 1 for the first process, +1 per restart.
    pub generation: u64,
}

/// Requests from handles to the actor.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        msg: WireMessage,
        done: oneshot::Sender<Result<()>>,
    },
    Interrupt {
        done: oneshot::Sender<Result<()>>,
    },
    Restart {
        done: oneshot::Sender<Result<()>>,
    },
    Shutdown {
        done: oneshot::Sender<Result<()>>,
    },
    /// Handed out by a pool: restart the idle and lifetime clocks.
    Claim,
    /// Set (replace) the hook run at the end of each execution.
    AfterRun(Hook),
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) id: String,
    pub(crate) spec: Arc<KernelSpec>,
    pub(crate) session: String,
    pub(crate) dir: PathBuf,
    pub(crate) config: KernelConfig,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) replay: Arc<Replay>,
    pub(crate) state: watch::Receiver<KernelState>,
    pub(crate) process: watch::Receiver<ProcessInfo>,
}

/// A running kernel. Cheap to clone; the kernel stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub(crate) inner: Arc<Inner>,
}

/// Options of one execution.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// Do not broadcast output or count the execution.
    pub silent: bool,
    /// Record the code in the history.
    pub store_history: bool,
    /// Let the code ask for input (`input()`); the client must answer on stdin.
    pub allow_stdin: bool,
    /// Abort queued executions after an error.
    pub stop_on_error: bool,
    /// Expressions to evaluate after the code.
    pub user_expressions: Map<String, Value>,
    /// Deadline from request to final idle status (default: the kernel's `execute`
    /// timeout). When it passes the stream ends with [`KernelError::Timeout`] and the
    /// code keeps running; call [`Kernel::interrupt`] to stop it.
    pub timeout: Option<Duration>,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            silent: false,
            store_history: true,
            allow_stdin: false,
            stop_on_error: true,
            user_expressions: Map::new(),
            timeout: None,
        }
    }
}

impl Kernel {
    /// The kernel's id (a UUID, as Jupyter Server uses).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The spec it was launched from.
    pub fn spec(&self) -> &KernelSpec {
        &self.inner.spec
    }

    /// The session id of messages this crate creates for the kernel.
    pub fn session(&self) -> &str {
        &self.inner.session
    }

    /// The kernel's private folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The kernel's working directory and `HOME` (inside its folder).
    pub fn home_dir(&self) -> PathBuf {
        self.inner.dir.join("home")
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &KernelConfig {
        &self.inner.config
    }

    /// What it is doing now.
    pub fn state(&self) -> KernelState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every state change (for status pushes and death detection).
    pub fn watch_state(&self) -> watch::Receiver<KernelState> {
        self.inner.state.clone()
    }

    /// Facts about the current process.
    pub fn process(&self) -> ProcessInfo {
        self.inner.process.borrow().clone()
    }

    /// The current process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.inner.process.borrow().pid
    }

    /// The content of the kernel's `kernel_info_reply` at start.
    pub fn kernel_info(&self) -> Value {
        self.inner.process.borrow().kernel_info.clone()
    }

    /// What the sandbox enforced for the current process.
    pub fn sandbox_report(&self) -> Option<SandboxReport> {
        self.inner.process.borrow().sandbox.clone()
    }

    /// The number the next message from the kernel will get.
    pub fn next_seq(&self) -> u64 {
        self.inner.replay.next_seq()
    }

    /// Everything the kernel sends on any channel, numbered. `after: Some(n)` first
    /// replays what the buffer still holds after message `n` (a reconnecting client passes
    /// the last number it saw); `None` starts with the next message.
    ///
    /// Subscribers see every client's replies; the server should forward shell and stdin
    /// messages only to the client whose session is [`WireMessage::parent_session`].
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        self.inner.replay.subscribe(after)
    }

    /// Sends a raw message to the kernel on `msg.channel` (shell, control or stdin),
    /// signed with the kernel's key; header and content pass unchanged.
    pub async fn send(&self, msg: WireMessage) -> Result<()> {
        let (done, result) = oneshot::channel();
        self.command(Command::Send { msg, done }).await?;
        self.await_done(
            result,
            self.inner.config.timeouts.request,
            "sending a message",
        )
        .await
    }

    /// Sends a request of our own and waits (request timeout) for the reply on the same
    /// channel.
    pub async fn request(
        &self,
        channel: Channel,
        msg_type: &str,
        content: Value,
    ) -> Result<Arc<WireMessage>> {
        let msg = WireMessage::new(channel, msg_type, content, &self.inner.session);
        let msg_id = msg.msg_id().to_owned();
        let mut subscription = self.subscribe(None);
        self.send(msg).await?;
        let after = self.inner.config.timeouts.request;
        let wait = async {
            loop {
                match subscription.recv().await {
                    None => return Err(self.gone()),
                    Some(Delivery::Message(n))
                        if n.msg.channel == channel
                            && n.msg.parent_msg_id() == Some(msg_id.as_str())
                            && n.msg.msg_type().ends_with("_reply") =>
                    {
                        return Ok(n.msg);
                    }
                    Some(_) => {}
                }
            }
        };
        let mut state = self.watch_state();
        tokio::select! {
            result = tokio::time::timeout(after, wait) => result.map_err(|_| KernelError::Timeout {
                what: "a reply from the kernel",
                after,
            })?,
            reason = dead(&mut state) => Err(KernelError::Died(reason)),
        }
    }

    /// Asks for a fresh `kernel_info_reply` and returns its content.
    pub async fn request_kernel_info(&self) -> Result<Value> {
        let reply = self
            .request(Channel::Shell, "kernel_info_request", json!({}))
            .await?;
        Ok(reply.content.clone())
    }

    /// Runs `code` with default options. See [`Self::execute_with`].
    pub async fn execute(&self, code: &str) -> Result<Execution> {
        self.execute_with(code, ExecuteOptions::default()).await
    }

    /// Sends an `execute_request` and returns the stream of what it produces: output,
    /// displays, errors, comm messages, the reply, and last the final idle status.
    pub async fn execute_with(&self, code: &str, options: ExecuteOptions) -> Result<Execution> {
        let content = json!({
            "code": code,
            "silent": options.silent,
            "store_history": options.store_history,
            "user_expressions": options.user_expressions,
            "allow_stdin": options.allow_stdin,
            "stop_on_error": options.stop_on_error,
        });
        let msg = WireMessage::new(
            Channel::Shell,
            "execute_request",
            content,
            &self.inner.session,
        );
        let msg_id = msg.msg_id().to_owned();
        let subscription = self.subscribe(None);
        self.send(msg).await?;
        let timeout = options
            .timeout
            .unwrap_or(self.inner.config.timeouts.execute);
        Ok(Execution {
            msg_id,
            subscription,
            state: self.watch_state(),
            deadline: Instant::now() + timeout,
            timeout,
            reply_seen: false,
            idle_seen: false,
            pending: VecDeque::new(),
            finished: false,
        })
    }

    /// Interrupts the running code: SIGINT to the process group, or an
    /// `interrupt_request` when the spec's `interrupt_mode` is `message`.
    pub async fn interrupt(&self) -> Result<()> {
        if self.inner.spec.interrupt_mode == InterruptMode::Message {
            self.request(Channel::Control, "interrupt_request", json!({}))
                .await
                .map(|_| ())
        } else {
            let (done, result) = oneshot::channel();
            self.command(Command::Interrupt { done }).await?;
            self.await_done(result, self.inner.config.timeouts.request, "interrupt")
                .await
        }
    }

    /// Restarts the kernel: a clean process (variables gone, files kept), same id, same
    /// subscribers, same message numbering. Also revives a dead kernel.
    pub async fn restart(&self) -> Result<()> {
        let (done, result) = oneshot::channel();
        self.command(Command::Restart { done }).await?;
        let timeouts = &self.inner.config.timeouts;
        self.await_done(result, timeouts.shutdown + timeouts.start, "restart")
            .await
    }

    /// Shuts the kernel down: `shutdown_request`, then the process group is killed when
    /// the process has exited or the shutdown timeout passed. The folder is removed.
    pub async fn shutdown(&self) -> Result<()> {
        let (done, result) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Shutdown { done })
            .await
            .is_err()
        {
            return Ok(());
        }
        let timeouts = &self.inner.config.timeouts;
        match self
            .await_done(
                result,
                timeouts.shutdown + Duration::from_secs(5),
                "shutdown",
            )
            .await
        {
            Err(KernelError::Stopped(_)) => Ok(()),
            other => other,
        }
    }

    /// Waits until the kernel is dead and says why.
    pub async fn wait_dead(&self) -> DeathReason {
        dead(&mut self.watch_state()).await
    }

    /// Sets what the kernel's owner adds at the end of every later execution, before its
    /// final idle status (see [`AfterRun`]). Replaces an earlier hook.
    pub async fn set_after_run(&self, hook: AfterRun) -> Result<()> {
        self.command(Command::AfterRun(Hook(hook))).await
    }

    /// Restarts the idle and lifetime clocks (a pool hands the kernel out).
    pub(crate) fn claim(&self) {
        let _ = self.inner.commands.try_send(Command::Claim);
    }

    async fn command(&self, command: Command) -> Result<()> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| self.gone())
    }

    async fn await_done(
        &self,
        result: oneshot::Receiver<Result<()>>,
        after: Duration,
        what: &'static str,
    ) -> Result<()> {
        match tokio::time::timeout(after, result).await {
            Err(_) => Err(KernelError::Timeout { what, after }),
            Ok(Err(_)) => Err(self.gone()),
            Ok(Ok(result)) => result,
        }
    }

    /// The error for a kernel whose actor has finished.
    fn gone(&self) -> KernelError {
        match self.state() {
            KernelState::Dead(reason) => KernelError::Stopped(reason),
            _ => KernelError::Stopped(DeathReason::Shutdown),
        }
    }
}

/// Resolves when the state becomes `Dead` (or the actor is gone).
async fn dead(state: &mut watch::Receiver<KernelState>) -> DeathReason {
    loop {
        if let KernelState::Dead(reason) = &*state.borrow_and_update() {
            return reason.clone();
        }
        if state.changed().await.is_err() {
            return match &*state.borrow() {
                KernelState::Dead(reason) => reason.clone(),
                _ => DeathReason::Shutdown,
            };
        }
    }
}

/// One piece of what an execution produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecuteEvent {
    /// The kernel started working on the request.
    Busy,
    /// The kernel finished the request; always the last event.
    Idle,
    /// Text on `stdout` or `stderr`.
    Stream {
        /// `stdout` or `stderr`.
        name: String,
        /// The text (may hold many lines, or part of one).
        text: String,
    },
    /// A rich display (`display_data`, or `update_display_data` when `update`).
    Display {
        /// MIME type → data.
        data: Map<String, Value>,
        /// MIME type → metadata.
        metadata: Map<String, Value>,
        /// `display_id` and other transient fields.
        transient: Map<String, Value>,
        /// This updates an earlier display with the same `display_id`.
        update: bool,
    },
    /// The value of the last expression.
    Result {
        /// The execution counter.
        execution_count: Option<i64>,
        /// MIME type → data.
        data: Map<String, Value>,
        /// MIME type → metadata.
        metadata: Map<String, Value>,
    },
    /// An exception.
    Error {
        /// Exception class, e.g. `MemoryError`.
        ename: String,
        /// Its message.
        evalue: String,
        /// Traceback lines (with ANSI colours).
        traceback: Vec<String>,
    },
    /// Clear the output shown so far (`wait`: when the next output arrives).
    ClearOutput {
        /// Wait for the next output before clearing.
        wait: bool,
    },
    /// The code asks for input; answer with an `input_reply` on stdin.
    InputRequest {
        /// The prompt.
        prompt: String,
        /// Hide what is typed.
        password: bool,
    },
    /// A comm message (ipywidgets) caused by this execution.
    Comm(Arc<WireMessage>),
    /// A notice from Switchboard (output dropped by a limit, kernel stopped).
    Notice(String),
    /// The `execute_reply`.
    Reply {
        /// `ok`, `error` or `aborted`.
        status: String,
        /// The execution counter.
        execution_count: Option<i64>,
        /// The whole reply content.
        content: Value,
    },
    /// Any other message addressed to this execution (e.g. `execute_input`).
    Other(Arc<WireMessage>),
}

/// The stream of one execution. Ends after [`ExecuteEvent::Idle`], or with an error when
/// the kernel dies ([`KernelError::Died`]) or the deadline passes ([`KernelError::Timeout`]).
#[derive(Debug)]
pub struct Execution {
    msg_id: String,
    subscription: Subscription,
    state: watch::Receiver<KernelState>,
    deadline: Instant,
    timeout: Duration,
    reply_seen: bool,
    idle_seen: bool,
    pending: VecDeque<ExecuteEvent>,
    finished: bool,
}

impl Execution {
    /// The `msg_id` of the `execute_request`.
    pub fn msg_id(&self) -> &str {
        &self.msg_id
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<ExecuteEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if event == ExecuteEvent::Idle {
                    self.finished = true;
                }
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            let delivery = tokio::select! {
                biased;
                delivery = self.subscription.recv() => delivery,
                _ = tokio::time::sleep_until(self.deadline) => {
                    self.finished = true;
                    return Some(Err(KernelError::Timeout { what: "execute", after: self.timeout }));
                }
                // `biased`: the actor publishes its death notice before changing the state,
                // so everything sent before the death is delivered first.
                reason = dead(&mut self.state) => {
                    self.finished = true;
                    return Some(Err(KernelError::Died(reason)));
                }
            };
            let Some(delivery) = delivery else {
                self.finished = true;
                return Some(Err(KernelError::Stopped(DeathReason::Shutdown)));
            };
            let Delivery::Message(numbered) = delivery else {
                continue;
            };
            if let Some(event) = self.classify(numbered.msg) {
                return Some(event);
            }
        }
    }

    /// Maps a message to an event of this execution (`None`: not ours, or held back).
    fn classify(&mut self, msg: Arc<WireMessage>) -> Option<Result<ExecuteEvent>> {
        if msg.parent_msg_id() != Some(self.msg_id.as_str()) {
            return None;
        }
        let content = &msg.content;
        let text = |key: &str| msg.content_str(key).to_owned();
        let object = |key: &str| {
            content
                .get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let count = content.get("execution_count").and_then(Value::as_i64);
        let event = match (msg.channel, msg.msg_type()) {
            (Channel::Iopub, "status") => match msg.content_str("execution_state") {
                "busy" => ExecuteEvent::Busy,
                "idle" => {
                    if self.reply_seen {
                        self.finished = true;
                        return Some(Ok(ExecuteEvent::Idle));
                    }
                    self.idle_seen = true;
                    return None;
                }
                "dead" => {
                    self.finished = true;
                    let reason = msg
                        .metadata
                        .get("switchboard")
                        .and_then(|s| s.get("reason"))
                        .and_then(|r| serde_json::from_value(r.clone()).ok())
                        .unwrap_or_else(|| match &*self.state.borrow() {
                            KernelState::Dead(reason) => reason.clone(),
                            _ => DeathReason::Shutdown,
                        });
                    return Some(Err(KernelError::Died(reason)));
                }
                _ => return None,
            },
            (Channel::Iopub, "stream") => {
                if let Some(notice) = notice_text(&msg) {
                    ExecuteEvent::Notice(notice)
                } else {
                    ExecuteEvent::Stream {
                        name: text("name"),
                        text: text("text"),
                    }
                }
            }
            (Channel::Iopub, kind @ ("display_data" | "update_display_data")) => {
                ExecuteEvent::Display {
                    data: object("data"),
                    metadata: object("metadata"),
                    transient: object("transient"),
                    update: kind == "update_display_data",
                }
            }
            (Channel::Iopub, "execute_result") => ExecuteEvent::Result {
                execution_count: count,
                data: object("data"),
                metadata: object("metadata"),
            },
            (Channel::Iopub, "error") => ExecuteEvent::Error {
                ename: text("ename"),
                evalue: text("evalue"),
                traceback: content
                    .get("traceback")
                    .and_then(Value::as_array)
                    .map(|lines| {
                        lines
                            .iter()
                            .filter_map(|l| l.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            (Channel::Iopub, "clear_output") => ExecuteEvent::ClearOutput {
                wait: content
                    .get("wait")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            (_, "comm_open" | "comm_msg" | "comm_close") => ExecuteEvent::Comm(msg.clone()),
            (Channel::Stdin, "input_request") => ExecuteEvent::InputRequest {
                prompt: text("prompt"),
                password: content
                    .get("password")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            (Channel::Shell, "execute_reply") => {
                self.reply_seen = true;
                if self.idle_seen {
                    self.pending.push_back(ExecuteEvent::Idle);
                }
                ExecuteEvent::Reply {
                    status: text("status"),
                    execution_count: count,
                    content: content.clone(),
                }
            }
            _ => ExecuteEvent::Other(msg.clone()),
        };
        Some(Ok(event))
    }

    /// Collects every event until the end.
    pub async fn finish(mut self) -> Result<Outcome> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event?);
        }
        Ok(Outcome { events })
    }

    /// The execution as a `futures::Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<ExecuteEvent>> + Send {
        futures::stream::unfold(self, |mut execution| async move {
            execution.next().await.map(|event| (event, execution))
        })
    }
}

/// The text of a Switchboard notice (a stream message we injected), if `msg` is one.
fn notice_text(msg: &WireMessage) -> Option<String> {
    msg.metadata
        .get("switchboard")
        .and_then(|s| s.get("notice"))
        .map(|_| msg.content_str("text").trim_end().to_owned())
}

/// Everything an execution produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The events, in order.
    pub events: Vec<ExecuteEvent>,
}

impl Outcome {
    fn stream(&self, which: &str) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                ExecuteEvent::Stream { name, text } if name == which => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// All stdout text.
    pub fn stdout(&self) -> String {
        self.stream("stdout")
    }

    /// All stderr text.
    pub fn stderr(&self) -> String {
        self.stream("stderr")
    }

    /// The exception, if one was raised: (ename, evalue).
    pub fn error(&self) -> Option<(&str, &str)> {
        self.events.iter().find_map(|e| match e {
            ExecuteEvent::Error { ename, evalue, .. } => Some((ename.as_str(), evalue.as_str())),
            _ => None,
        })
    }

    /// The `text/plain` form of the last expression's value.
    pub fn text_result(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            ExecuteEvent::Result { data, .. } => data.get("text/plain").and_then(Value::as_str),
            _ => None,
        })
    }

    /// Switchboard notices.
    pub fn notices(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ExecuteEvent::Notice(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}
