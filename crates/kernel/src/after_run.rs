//! What a kernel's owner adds at the end of each execution, before its final `idle`
//! status (the server lists the files a run wrote). Jupyter clients stop reading an
//! execution's output at that idle status, so anything announced after it is lost to them.
//!
//! The actor holds the idle status, and every message after it, until the hook's messages
//! are ready or [`AFTER_RUN_WAIT`] passes; then it publishes the hook's messages, the idle
//! status and the held messages, in that order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::launch::GenEvent;
use crate::wire::{Channel, WireMessage};

/// Called with the parent header of each finished `execute_request`; returns messages to
/// publish before its idle status (their parent header is the caller's to set).
pub type AfterRun =
    Arc<dyn Fn(Map<String, Value>) -> BoxFuture<'static, Vec<WireMessage>> + Send + Sync>;

/// A hook on its way to the actor.
pub(crate) struct Hook(pub(crate) AfterRun);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterRun")
    }
}

/// Longest an idle status is held for the hook. Past it the idle goes out without the
/// hook's messages, which are then dropped.
pub const AFTER_RUN_WAIT: Duration = Duration::from_secs(5);

/// Messages held at most while waiting; a kernel that keeps talking past this is not held
/// up any longer.
pub(crate) const MAX_HELD: usize = 10_000;

/// An idle status being held for the hook, and what arrived after it.
pub(crate) struct Held {
    pub(crate) idle: WireMessage,
    pub(crate) size: usize,
    pub(crate) extra: oneshot::Receiver<Vec<WireMessage>>,
    pub(crate) deadline: Instant,
    pub(crate) queued: VecDeque<GenEvent>,
}

/// Whether `msg` is the idle status that ends an execution (not a probe or a comm).
pub(crate) fn ends_execution(msg: &WireMessage) -> bool {
    msg.channel == Channel::Iopub
        && msg.msg_type() == "status"
        && msg.content_str("execution_state") == "idle"
        && msg.parent_header.get("msg_type").and_then(Value::as_str) == Some("execute_request")
}

/// Runs the hook for the execution `idle` ends, off the actor's task.
pub(crate) fn start(hook: &AfterRun, idle: WireMessage, size: usize) -> Held {
    let (tx, rx) = oneshot::channel();
    let work = hook(idle.parent_header.clone());
    tokio::spawn(async move {
        let _ = tx.send(work.await);
    });
    Held {
        idle,
        size,
        extra: rx,
        deadline: Instant::now() + AFTER_RUN_WAIT,
        queued: VecDeque::new(),
    }
}
