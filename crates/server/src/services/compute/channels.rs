//! A kernel's messages: a client's connection to them (the channels socket), and the
//! long-poll fallback (send one message; read the numbered stream).

use super::error::ComputeError;
use super::kernels::Compute;
use super::run_record::RunRecorder;
use crate::auth::Claims;
use crate::kernels::{KernelEntry, SocketGuard};
use crate::protocol::compute::{MessagePoll, MessageSent, MissedMessages, PolledMessage};
use crate::protocol::jupyter::{ExecutionState, JupyterMessage};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{AccountId, User};
use switchboard_kernel::{Channel, Delivery, Subscription, WireMessage};

/// Most messages one long poll answers.
const MAX_POLLED: usize = 1000;

/// One client's connection to a kernel's messages, counted in the kernel's `connections`
/// while it lives. The client receives every iopub message, and shell and stdin replies
/// only to requests it sent.
#[derive(Debug)]
pub struct KernelChannel {
    entry: Arc<KernelEntry>,
    /// The client's `session_id`: where a reconnecting client resumes.
    client: String,
    /// The Jupyter sessions this client speaks as: its `session_id` and every
    /// `header.session` it has sent.
    sessions: HashSet<String>,
    subscription: Subscription,
    /// Who sends: code they run is recorded.
    caller: User,
    compute_audit: RunRecorder,
    _open: SocketGuard,
}

impl KernelChannel {
    /// Sends a message from the client to the kernel (a cell's `execute_request` through
    /// its run gate).
    pub async fn send(&mut self, msg: WireMessage) -> Result<(), ComputeError> {
        if !msg.session().is_empty() && !self.sessions.contains(msg.session()) {
            self.sessions.insert(msg.session().to_owned());
        }
        self.compute_audit
            .execute_request(&self.caller, &self.entry, &msg)?;
        self.entry.send(msg).await
    }

    /// The kernel's next message for this client; `None` once the kernel has stopped. A
    /// client that fell further behind than the replay buffer reaches skips what it lost.
    pub async fn next(&mut self) -> Option<Arc<WireMessage>> {
        loop {
            let numbered = match self.subscription.recv().await? {
                Delivery::Message(n) => n,
                Delivery::Missed { from, to } => {
                    tracing::debug!(from, to, "channels client fell behind; skipping");
                    continue;
                }
            };
            self.entry.seen(&self.client, numbered.seq);
            let msg = numbered.msg;
            if matches!(msg.channel, Channel::Shell | Channel::Stdin)
                && !msg
                    .parent_session()
                    .is_some_and(|s| self.sessions.contains(s))
            {
                continue;
            }
            return Some(msg);
        }
    }
}

impl Compute {
    /// Connects a client to the account's kernel `id`. A client that names the `session_id`
    /// it used before first receives what it missed (as far as the replay buffer reaches).
    pub fn open_channel(
        &self,
        caller: &User,
        id: &str,
        session_id: Option<String>,
    ) -> Result<KernelChannel, ComputeError> {
        let entry = self.registry.get(id, caller.account_id)?;
        let client = session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let subscription = entry.kernel.subscribe(entry.resume_point(&client));
        Ok(KernelChannel {
            _open: entry.socket_opened(),
            sessions: HashSet::from([client.clone()]),
            client,
            subscription,
            entry,
            caller: caller.clone(),
            compute_audit: self.run_recorder(),
        })
    }

    /// Sends one Jupyter message (the JSON form of the channels socket, with `channel`) to
    /// the account's kernel `id`; its `msg_id`.
    pub async fn post_message(
        &self,
        caller: &User,
        id: &str,
        body: &[u8],
    ) -> Result<MessageSent, ComputeError> {
        let entry = self.registry.get(id, caller.account_id)?;
        let text = std::str::from_utf8(body).map_err(|_| ComputeError::NotUtf8)?;
        let msg = WireMessage::from_ws_text(text)?;
        let msg_id = msg.msg_id().to_owned();
        self.run_recorder().execute_request(caller, &entry, &msg)?;
        entry.send(msg).await?;
        Ok(MessageSent { msg_id })
    }

    /// The account's kernel `id`'s messages numbered above `after` (0: everything the replay
    /// buffer still holds), waiting up to `wait` (at most `max_long_poll`) for the first;
    /// `RightEnded` as soon as the right of `claims` (the caller's token) ends meanwhile.
    pub async fn poll_messages(
        &self,
        account: AccountId,
        claims: &Claims,
        id: &str,
        after: u64,
        wait: Duration,
    ) -> Result<MessagePoll, ComputeError> {
        let entry = self.registry.get(id, account)?;
        let wait = wait.min(self.max_long_poll);
        let right = self.tokens.hold(claims);
        let right_ended = right.ended();
        tokio::pin!(right_ended);
        let mut subscription = entry.kernel.subscribe(Some(after));
        let mut messages = Vec::new();
        let mut missed = None;
        let mut next = after;
        let mut budget = wait;
        while messages.len() < MAX_POLLED {
            let delivery = tokio::select! {
                received = tokio::time::timeout(budget, subscription.recv()) => match received {
                    Ok(Some(d)) => d,
                    Ok(None) | Err(_) => break,
                },
                () = &mut right_ended => return Err(ComputeError::RightEnded),
            };
            // Only the first message is waited for; the rest is what is there already.
            budget = Duration::ZERO;
            match delivery {
                Delivery::Message(n) => {
                    next = n.seq;
                    messages.push(PolledMessage {
                        seq: n.seq,
                        message: JupyterMessage::from(&*n.msg),
                    });
                }
                Delivery::Missed { from, to } => {
                    missed = Some(MissedMessages { from, to });
                    next = to;
                }
            }
        }
        if !messages.is_empty() {
            entry.touch();
        }
        Ok(MessagePoll {
            messages,
            next,
            missed,
            state: ExecutionState::from(&entry.kernel.state()),
        })
    }
}
