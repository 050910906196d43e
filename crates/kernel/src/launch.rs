//! Starting one kernel process (a *generation*: a restart makes the next one) and wiring
//! its ZeroMQ sockets to the kernel's actor.
//!
//! Steps: write the connection file and the sandbox plan into the kernel's folder, spawn
//! the helper in a new process group with a clean environment, read the helper's sandbox
//! report, wait for the five IPC sockets to appear, connect, then send
//! `kernel_info_request`s until a reply arrives on shell and something arrives on IOPub
//! (so our subscription is live). Every step is bounded by the start timeout and fails
//! early if the process exits.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jupyter_protocol::ConnectionInfo;
use ring::hmac;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, timeout_at};
use tokio_util::sync::{CancellationToken, DropGuard};
use zeromq::{SocketRecv, SocketSend};

use crate::config::{KernelConfig, NodeConfig};
use crate::connection::{KernelDir, write_private};
use crate::error::{KernelError, Result};
use crate::process_group::ProcessGroup;
use crate::sandbox::cgroup::KernelCgroup;
use crate::sandbox::namespace::{FilesystemView, NamespacePlan};
use crate::sandbox::rlimits::RlimitPlan;
use crate::sandbox::user::Identity;
use crate::sandbox::{
    FAILURE_PREFIX, HostSupport, Layer, REPORT_PREFIX, RequiredLayers, Sandbox, SandboxPlan,
    SandboxReport, access_paths,
};
use crate::spec::KernelSpec;
use crate::wire::{Channel, WireMessage, signing_key};

/// Something a generation's tasks tell the kernel actor.
#[derive(Debug)]
pub(crate) enum GenEvent {
    /// A verified message from the kernel.
    Message {
        generation: u64,
        msg: WireMessage,
        size: usize,
    },
    /// A message over the size cap, dropped unread.
    Oversize {
        generation: u64,
        channel: Channel,
        size: usize,
        msg_type: String,
        parent_header: Map<String, Value>,
    },
    /// The kernel process exited.
    Exited {
        generation: u64,
        status: Option<ExitStatus>,
    },
    /// Heartbeats stopped coming back.
    HeartbeatLost { generation: u64 },
    /// The memory watchdog killed the kernel: its processes together used this many bytes.
    MemoryLimit { generation: u64, used: u64 },
}

impl GenEvent {
    fn generation(&self) -> u64 {
        match self {
            GenEvent::Message { generation, .. }
            | GenEvent::Oversize { generation, .. }
            | GenEvent::Exited { generation, .. }
            | GenEvent::HeartbeatLost { generation }
            | GenEvent::MemoryLimit { generation, .. } => *generation,
        }
    }
}

/// A message to send, and where to say whether it went.
pub(crate) type Outgoing = (WireMessage, oneshot::Sender<Result<()>>);

/// One running kernel process with its sockets. Dropping it stops its tasks and kills the
/// process group.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) number: u64,
    pub(crate) group: ProcessGroup,
    pub(crate) connection: ConnectionInfo,
    pub(crate) kernel_info: Value,
    pub(crate) sandbox: Option<SandboxReport>,
    writers: BTreeMap<&'static str, mpsc::Sender<Outgoing>>,
    _stop_tasks: DropGuard,
}

impl Generation {
    /// Queues `msg` on its channel's socket (IOPub is receive-only).
    pub(crate) fn send(&self, msg: WireMessage, done: oneshot::Sender<Result<()>>) {
        let channel = msg.channel;
        let Some(writer) = self.writers.get(channel.as_str()) else {
            let _ = done.send(Err(KernelError::InvalidMessage(format!(
                "clients cannot send on {channel}"
            ))));
            return;
        };
        if let Err(mpsc::error::TrySendError::Full((_, done))) = writer.try_send((msg, done)) {
            let _ = done.send(Err(KernelError::Zmq(format!(
                "{channel} queue is full; the kernel is not reading"
            ))));
        }
    }
}

/// What a generation needs from the kernel it belongs to.
#[derive(Debug)]
pub(crate) struct LaunchRequest<'a> {
    pub(crate) node: &'a NodeConfig,
    pub(crate) host: &'a HostSupport,
    pub(crate) spec: &'a KernelSpec,
    pub(crate) config: &'a KernelConfig,
    pub(crate) dir: &'a KernelDir,
    pub(crate) identity: Option<Identity>,
    pub(crate) private_uid: bool,
    pub(crate) session: &'a str,
    pub(crate) pid_file: &'a Path,
    /// The kernel's control groups, when the host has usable ones.
    pub(crate) cgroup: Option<&'a Arc<KernelCgroup>>,
}

/// Starts generation `number` and waits until it answers `kernel_info_request`.
pub(crate) async fn start_generation(
    request: &LaunchRequest<'_>,
    number: u64,
    events_tx: &mpsc::Sender<GenEvent>,
    events_rx: &mut mpsc::Receiver<GenEvent>,
) -> Result<Generation> {
    let deadline = Instant::now() + request.config.timeouts.start;
    let owner = request.identity.map(|i| (i.uid, i.gid));
    let connection = request.dir.new_connection_info(&request.spec.name);
    let connection_file = request.dir.write_connection(&connection, owner)?;
    let plan = sandbox_plan(request, &connection_file);
    // Beside the kernel's folder, not in it: the kernel cannot touch the runtime folder.
    let plan_file = request.pid_file.with_extension("plan.json");
    let plan_json = serde_json::to_vec_pretty(&plan)
        .map_err(|e| KernelError::Launch(format!("serializing the sandbox plan: {e}")))?;
    write_private(&plan_file, &plan_json, None)?;

    let mut command = tokio::process::Command::new(&request.node.helper.program);
    command
        .args(&request.node.helper.args)
        .arg(&plan_file)
        .env_clear()
        .envs(kernel_env(request))
        .current_dir(request.dir.home())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(|e| {
        KernelError::io(
            format!(
                "starting the sandbox helper {}",
                request.node.helper.program.display()
            ),
            e,
        )
    })?;
    let pid = child
        .id()
        .ok_or_else(|| KernelError::Launch("the helper exited at once".into()))?;
    let private_uid = request
        .identity
        .filter(|_| request.private_uid)
        .map(|i| i.uid);
    let group = ProcessGroup::new(pid, private_uid, request.cgroup.cloned());
    let _ = std::fs::write(request.pid_file, pid.to_string());

    let cancel = CancellationToken::new();
    let stop_tasks = cancel.clone().drop_guard();
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let (report_tx, report_rx) = oneshot::channel();
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(drain_output(
            stderr,
            "stderr",
            Some(report_tx),
            tail.clone(),
            cancel.clone(),
        ));
    }
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(drain_output(
            stdout,
            "stdout",
            None,
            tail.clone(),
            cancel.clone(),
        ));
    }
    {
        let events_tx = events_tx.clone();
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = events_tx
                .send(GenEvent::Exited {
                    generation: number,
                    status,
                })
                .await;
        });
    }
    if let Some(limit) = watched_memory(request) {
        let events_tx = events_tx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                used = crate::sandbox::memory_watch::until_over(pid, limit) => {
                    // Told before the kill, so the actor names the reason rather than the
                    // exit it causes.
                    let _ = events_tx
                        .send(GenEvent::MemoryLimit { generation: number, used })
                        .await;
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        });
    }
    let failed = |what: String| {
        let lines: Vec<String> = tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        if lines.is_empty() {
            KernelError::Launch(what)
        } else {
            KernelError::Launch(format!("{what}; kernel output:\n{}", lines.join("\n")))
        }
    };

    // 1. The helper's report: the sandbox is in place (or why not).
    let sandbox = match timeout_at(deadline, report_rx).await {
        Err(_) => return Err(timeout("the sandbox helper's report", request)),
        Ok(Err(_)) => return Err(failed("the sandbox helper died without a report".into())),
        Ok(Ok(Err(message))) => return Err(KernelError::Sandbox(message)),
        Ok(Ok(Ok(report))) => report,
    };
    let sandbox = (!matches!(request.config.sandbox, Sandbox::Off)).then_some(sandbox);

    // 2. The kernel binds its sockets.
    let sockets = KernelDir::socket_paths(&connection);
    loop {
        if sockets.iter().all(|s| s.exists()) {
            break;
        }
        if let Some(exit) = exited(events_rx, number) {
            return Err(failed(format!("the kernel exited while starting ({exit})")));
        }
        if Instant::now() >= deadline {
            return Err(timeout("the kernel's sockets", request));
        }
        sleep(Duration::from_millis(10)).await;
    }

    // 3. Connect and start the reader, writer and heartbeat tasks.
    let key = signing_key(&connection.key);
    let writers = match timeout_at(
        deadline,
        connect(&connection, request, number, &key, events_tx, &cancel),
    )
    .await
    {
        Err(_) => return Err(timeout("connecting to the kernel", request)),
        Ok(result) => result?,
    };
    let mut generation = Generation {
        number,
        group,
        connection,
        kernel_info: Value::Null,
        sandbox,
        writers,
        _stop_tasks: stop_tasks,
    };

    // 4. kernel_info handshake.
    let mut reply: Option<Value> = None;
    let mut iopub_live = false;
    let mut last_probe = String::new();
    // Whether the kernel has finished the last probe sent (its idle status arrived).
    let mut settled = false;
    while reply.is_none() || !iopub_live {
        let probe = WireMessage::new(
            Channel::Shell,
            "kernel_info_request",
            json!({}),
            request.session,
        );
        last_probe = probe.msg_id().to_owned();
        settled = false;
        let (done, _) = oneshot::channel();
        generation.send(probe, done);
        // Until the first reply the kernel is still importing and queues the requests; once
        // it answered, a missing IOPub message only means our subscription was not live
        // yet, and the next probe's status messages will show it soon.
        let patience = if reply.is_some() {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(500)
        };
        let retry = (Instant::now() + patience).min(deadline);
        loop {
            match timeout_at(retry, events_rx.recv()).await {
                Err(_) => break,
                Ok(None) => return Err(KernelError::Launch("event channel closed".into())),
                Ok(Some(event)) if event.generation() != number => continue,
                Ok(Some(GenEvent::Message { msg, .. })) => {
                    if msg.channel == Channel::Iopub {
                        iopub_live = true;
                        settled |= is_idle_after(&msg, &last_probe);
                    } else if msg.channel == Channel::Shell
                        && msg.msg_type() == "kernel_info_reply"
                        && msg.parent_session() == Some(request.session)
                    {
                        reply = Some(msg.content.clone());
                    }
                    if reply.is_some() && iopub_live {
                        break;
                    }
                }
                Ok(Some(GenEvent::Exited { status, .. })) => {
                    return Err(failed(format!(
                        "the kernel exited while starting ({})",
                        describe(status)
                    )));
                }
                Ok(Some(_)) => {}
            }
        }
        if Instant::now() >= deadline && (reply.is_none() || !iopub_live) {
            return Err(timeout("kernel_info_reply", request));
        }
    }
    // Probes still queued in the kernel would show it busy after the start: hand it out once
    // the last one is done (the kernel answers in order), so a new kernel is idle.
    let settle_by = (Instant::now() + SETTLE_WAIT).min(deadline);
    while !settled {
        match timeout_at(settle_by, events_rx.recv()).await {
            Err(_) => break,
            Ok(None) => return Err(KernelError::Launch("event channel closed".into())),
            Ok(Some(event)) if event.generation() != number => continue,
            Ok(Some(GenEvent::Message { msg, .. })) => settled = is_idle_after(&msg, &last_probe),
            Ok(Some(GenEvent::Exited { status, .. })) => {
                return Err(failed(format!(
                    "the kernel exited while starting ({})",
                    describe(status)
                )));
            }
            Ok(Some(_)) => {}
        }
    }
    generation.kernel_info = reply.unwrap_or(Value::Null);
    Ok(generation)
}

/// Whether `msg` is the idle status that ends the request `parent`.
fn is_idle_after(msg: &WireMessage, parent: &str) -> bool {
    msg.channel == Channel::Iopub
        && msg.msg_type() == "status"
        && msg.content_str("execution_state") == "idle"
        && msg.parent_msg_id() == Some(parent)
}

/// How long a start waits for the kernel to finish the handshake's last probe.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

fn timeout(what: &'static str, request: &LaunchRequest<'_>) -> KernelError {
    KernelError::Timeout {
        what,
        after: request.config.timeouts.start,
    }
}

/// An `Exited` event of `generation`, if one is queued (other events are dropped: nothing
/// is published before the kernel is ready).
fn exited(events_rx: &mut mpsc::Receiver<GenEvent>, generation: u64) -> Option<String> {
    while let Ok(event) = events_rx.try_recv() {
        if let GenEvent::Exited {
            generation: g,
            status,
        } = event
            && g == generation
        {
            return Some(describe(status));
        }
    }
    None
}

/// "exit code 1", "signal SIGKILL", …
pub(crate) fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "unknown status".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("signal {}", signal_name(sig)),
            _ => "unknown status".into(),
        },
    }
}

/// `SIGKILL` for 9, etc.
pub(crate) fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// The total memory the watchdog must bound: when a limit is set and no memory cgroup
/// holds the kernel.
fn watched_memory(request: &LaunchRequest<'_>) -> Option<u64> {
    let cgroup_bounds_memory = request.cgroup.is_some_and(|c| c.bounds_memory());
    request
        .config
        .limits
        .total_memory_bytes
        .filter(|_| !cgroup_bounds_memory)
}

/// The plan the helper applies.
fn sandbox_plan(request: &LaunchRequest<'_>, connection_file: &Path) -> SandboxPlan {
    let shared_uid = request.identity.is_none();
    let mut plan = SandboxPlan {
        argv: kernel_argv(request.spec, connection_file),
        workdir: request.dir.home(),
        rlimits: RlimitPlan::from_limits(&request.config.limits, shared_uid),
        namespaces: None,
        user: request.identity,
        landlock: None,
        seccomp: false,
        required: RequiredLayers::default(),
        die_with_parent: true,
        parent_pid: std::process::id(),
        cgroup_procs: request.cgroup.map(|c| c.procs_files()).unwrap_or_default(),
    };
    let Sandbox::Enforce(config) = &request.config.sandbox else {
        return plan;
    };
    let (read, read_write) = access_paths(
        &request.spec.runtime_paths,
        &config.extra_read_paths,
        request.dir.path(),
    );
    let wants = |layer: Layer| layer != Layer::Off;
    if request.host.root && wants(config.namespaces) {
        plan.namespaces = Some(NamespacePlan {
            network: true,
            view: Some(FilesystemView {
                read: read.clone(),
                read_write: read_write.clone(),
            }),
        });
    } else if request.host.root
        && request.identity.is_some_and(|i| i.uid != 0)
        && !wants(config.namespaces)
    {
        // Without a mount namespace, folders the kernel's uid cannot traverse stay closed.
        tracing::debug!("namespaces off: the kernel's uid must be able to reach its interpreter");
    }
    if wants(config.landlock) {
        plan.landlock = Some(crate::sandbox::landlock::LandlockPlan {
            read,
            read_write,
            abi: request.host.landlock_abi,
        });
    }
    plan.seccomp = wants(config.seccomp);
    plan.required = RequiredLayers {
        landlock: config.landlock == Layer::Require,
        seccomp: config.seccomp == Layer::Require,
        namespaces: config.namespaces == Layer::Require,
    };
    plan
}

/// The kernel's command line. IPython kernels also keep their input history in memory
/// (`--HistoryManager.hist_file=:memory:`, unless the spec sets the history up itself):
/// their home is a private folder thrown away with the kernel, so a history file would be
/// created at start and written by a thread after every execution for nobody. `In`, `Out`,
/// `%history` and `history_request` keep working for the kernel's own session.
fn kernel_argv(spec: &KernelSpec, connection_file: &Path) -> Vec<String> {
    let mut argv = spec.command(connection_file);
    let ipykernel = argv
        .iter()
        .any(|a| a == "ipykernel_launcher" || a == "ipykernel");
    if ipykernel && !argv.iter().any(|a| a.starts_with("--HistoryManager.")) {
        argv.push("--HistoryManager.hist_file=:memory:".into());
    }
    argv
}

/// The kernel's environment: a clean base, then the spec's, then the config's variables.
fn kernel_env(request: &LaunchRequest<'_>) -> BTreeMap<String, String> {
    let home = request.dir.home();
    let tmp = request.dir.tmp();
    let at_home = |sub: &str| home.join(sub).display().to_string();
    let mut path = Vec::new();
    if let Some(bin) = Path::new(&request.spec.argv[0])
        .parent()
        .filter(|p| p.is_absolute())
    {
        path.push(bin.display().to_string());
    }
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    let mut env: BTreeMap<String, String> = [
        ("PATH", path.join(":")),
        ("HOME", home.display().to_string()),
        ("TMPDIR", tmp.display().to_string()),
        ("LANG", "C.UTF-8".into()),
        ("IPYTHONDIR", at_home(".ipython")),
        ("MPLCONFIGDIR", at_home(".config/matplotlib")),
        ("XDG_CACHE_HOME", at_home(".cache")),
        ("XDG_CONFIG_HOME", at_home(".config")),
        ("XDG_DATA_HOME", at_home(".local/share")),
        ("JUPYTER_RUNTIME_DIR", tmp.display().to_string()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("PYDEVD_DISABLE_FILE_VALIDATION", "1".into()),
        ("OPENBLAS_NUM_THREADS", "1".into()),
        ("OMP_NUM_THREADS", "1".into()),
        ("MKL_NUM_THREADS", "1".into()),
        ("JPY_PARENT_PID", std::process::id().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(request.spec.env.clone());
    env.extend(request.config.env.clone());
    for (name, value) in &request.config.client_env {
        match env.entry(name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(value.clone());
            }
            Entry::Occupied(_) => {
                tracing::info!(variable = %name, "a client's variable would replace one the kernel is given; ignored");
            }
        }
    }
    env
}

/// Connects the five sockets and spawns their tasks. Returns the writers by channel name.
async fn connect(
    info: &ConnectionInfo,
    request: &LaunchRequest<'_>,
    generation: u64,
    key: &Option<hmac::Key>,
    events_tx: &mpsc::Sender<GenEvent>,
    cancel: &CancellationToken,
) -> Result<BTreeMap<&'static str, mpsc::Sender<Outgoing>>> {
    use jupyter_zmq_client as jzc;
    let zmq = |e: jzc::RuntimeError| KernelError::Zmq(e.to_string());
    let session = request.session;
    let identity = jzc::peer_identity_for_session(session).map_err(zmq)?;
    let iopub = jzc::create_client_iopub_connection(info, "", session)
        .await
        .map_err(zmq)?;
    let shell = jzc::create_client_shell_connection_with_identity(info, session, identity.clone())
        .await
        .map_err(zmq)?;
    let stdin = jzc::create_client_stdin_connection_with_identity(info, session, identity)
        .await
        .map_err(zmq)?;
    let control = jzc::create_client_control_connection(info, session)
        .await
        .map_err(zmq)?;
    let heartbeat = jzc::create_client_heartbeat_connection(info)
        .await
        .map_err(zmq)?;

    let reader = Reader {
        generation,
        key: key.clone(),
        max_bytes: request.config.limits.max_message_bytes,
        events: events_tx.clone(),
        cancel: cancel.clone(),
    };
    let mut writers = BTreeMap::new();
    tokio::spawn(reader.clone().run(iopub.socket, Channel::Iopub));
    for (channel, connection) in [
        (Channel::Shell, shell),
        (Channel::Stdin, stdin),
        (Channel::Control, control),
    ] {
        let (send_half, recv_half) = connection.socket.split();
        tokio::spawn(reader.clone().run(recv_half, channel));
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(write_loop(send_half, rx, key.clone(), cancel.clone()));
        writers.insert(channel.as_str(), tx);
    }
    tokio::spawn(heartbeat_loop(
        heartbeat,
        info.clone(),
        request.config.timeouts.clone(),
        generation,
        events_tx.clone(),
        cancel.clone(),
    ));
    Ok(writers)
}

/// Reads one socket, verifies and sizes each message, and forwards it to the actor.
#[derive(Clone)]
struct Reader {
    generation: u64,
    key: Option<hmac::Key>,
    max_bytes: usize,
    events: mpsc::Sender<GenEvent>,
    cancel: CancellationToken,
}

impl Reader {
    async fn run<S: SocketRecv + Send>(self, mut socket: S, channel: Channel) {
        loop {
            let received = tokio::select! {
                _ = self.cancel.cancelled() => return,
                received = socket.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(e) => {
                    tracing::debug!(%channel, error = %e, "kernel socket closed");
                    return;
                }
            };
            let size: usize = message.iter().map(|frame| frame.len()).sum();
            let event = if size > self.max_bytes {
                oversize(self.generation, channel, size, &message)
            } else {
                match WireMessage::from_zmq(channel, message, &self.key) {
                    Ok(msg) => GenEvent::Message {
                        generation: self.generation,
                        msg,
                        size,
                    },
                    Err(e) => {
                        tracing::warn!(%channel, error = %e, "dropping an invalid message from a kernel");
                        continue;
                    }
                }
            };
            if self.events.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// Describes an oversize message from its (small, unverified) header frames, used only to
/// address the notice.
fn oversize(
    generation: u64,
    channel: Channel,
    size: usize,
    message: &zeromq::ZmqMessage,
) -> GenEvent {
    const SMALL: usize = 64 << 10;
    let frames: Vec<&bytes::Bytes> = message.iter().collect();
    let delimiter = frames.iter().position(|f| f.as_ref() == b"<IDS|MSG>");
    let object = |offset: usize| -> Map<String, Value> {
        delimiter
            .and_then(|d| frames.get(d + offset))
            .filter(|f| f.len() <= SMALL)
            .and_then(|f| serde_json::from_slice(f).ok())
            .unwrap_or_default()
    };
    let header = object(2);
    GenEvent::Oversize {
        generation,
        channel,
        size,
        msg_type: header
            .get("msg_type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        parent_header: object(3),
    }
}

async fn write_loop<S: SocketSend + Send>(
    mut socket: S,
    mut queue: mpsc::Receiver<Outgoing>,
    key: Option<hmac::Key>,
    cancel: CancellationToken,
) {
    loop {
        let (msg, done) = tokio::select! {
            _ = cancel.cancelled() => return,
            next = queue.recv() => match next {
                Some(next) => next,
                None => return,
            },
        };
        let result = match msg.to_zmq(&key) {
            Ok(framed) => socket
                .send(framed)
                .await
                .map_err(|e| KernelError::Zmq(e.to_string())),
            Err(e) => Err(e),
        };
        let _ = done.send(result);
    }
}

async fn heartbeat_loop(
    heartbeat: jupyter_zmq_client::ClientHeartbeatConnection,
    info: ConnectionInfo,
    timeouts: crate::config::Timeouts,
    generation: u64,
    events: mpsc::Sender<GenEvent>,
    cancel: CancellationToken,
) {
    let mut heartbeat = Some(heartbeat);
    let mut misses = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = sleep(timeouts.heartbeat_interval) => {}
        }
        let beat = async {
            match heartbeat.as_mut() {
                Some(hb) => matches!(
                    tokio::time::timeout(timeouts.heartbeat_timeout, hb.single_heartbeat()).await,
                    Ok(Ok(()))
                ),
                None => false,
            }
        };
        let ok = tokio::select! {
            _ = cancel.cancelled() => return,
            ok = beat => ok,
        };
        if ok {
            misses = 0;
            continue;
        }
        misses += 1;
        tracing::debug!(generation, misses, "missed a kernel heartbeat");
        if misses >= timeouts.heartbeat_misses {
            let _ = events.send(GenEvent::HeartbeatLost { generation }).await;
            return;
        }
        // A REQ socket waiting for a lost reply cannot send again: start afresh (a frozen
        // kernel does not even complete the handshake, hence the deadline).
        let reconnect = tokio::time::timeout(
            timeouts.heartbeat_timeout,
            jupyter_zmq_client::create_client_heartbeat_connection(&info),
        );
        heartbeat = tokio::select! {
            _ = cancel.cancelled() => return,
            fresh = reconnect => fresh.ok().and_then(|r| r.ok()),
        };
    }
}

/// Reads a pipe from the kernel: the first stderr line is the helper's report; the rest is
/// logged (long lines cut, at most 200 lines) and the last lines kept for launch errors.
async fn drain_output<R: tokio::io::AsyncRead + Unpin>(
    mut pipe: R,
    name: &'static str,
    mut report: Option<oneshot::Sender<std::result::Result<SandboxReport, String>>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    cancel: CancellationToken,
) {
    const MAX_LINE: usize = 4096;
    const MAX_LOGGED: usize = 200;
    let mut chunk = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut logged = 0usize;
    let mut handle_line = |line: &[u8], report: &mut Option<oneshot::Sender<_>>| {
        let text = String::from_utf8_lossy(line).into_owned();
        if let Some(tx) = report.take() {
            let parsed = if let Some(json) = text.strip_prefix(REPORT_PREFIX) {
                serde_json::from_str(json).map_err(|e| format!("bad helper report: {e}"))
            } else if let Some(message) = text.strip_prefix(FAILURE_PREFIX) {
                Err(message.to_owned())
            } else {
                Err(format!("the sandbox helper did not report: {text}"))
            };
            let _ = tx.send(parsed);
            return;
        }
        if logged < MAX_LOGGED {
            logged += 1;
            tracing::debug!(pipe = name, "kernel: {text}");
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() >= 20 {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    };
    loop {
        let read = tokio::select! {
            _ = cancel.cancelled() => 0,
            read = pipe.read(&mut chunk) => read.unwrap_or(0),
        };
        if read == 0 {
            if !line.is_empty() {
                handle_line(&line, &mut report);
            }
            return;
        }
        for &byte in &chunk[..read] {
            if byte == b'\n' {
                handle_line(&line, &mut report);
                line.clear();
            } else if line.len() < MAX_LINE {
                line.push(byte);
            }
        }
    }
}

/// The pid file of a kernel, outside its (kernel-writable) folder.
pub(crate) fn pid_file(runtime_dir: &Path, id: &str) -> PathBuf {
    runtime_dir.join(format!("{id}.pid"))
}
