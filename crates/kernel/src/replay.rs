//! Numbered delivery of everything a kernel sends, with a bounded replay buffer so a client
//! that reconnects gets what it missed, in order, without duplicates.
//!
//! Every message published gets the next sequence number (from 1). Publishing appends to
//! the buffer and broadcasts under one short lock, and subscribing snapshots the buffer
//! and joins the broadcast under the same lock, so a subscriber sees every number after
//! its starting point exactly once, or is told which numbers it lost
//! ([`Delivery::Missed`]) when it fell behind further than the buffer reaches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::config::ReplayLimits;
use crate::wire::WireMessage;

/// A message with its sequence number.
#[derive(Debug, Clone)]
pub struct Numbered {
    /// Position in the kernel's message sequence, from 1, never reused (also across
    /// restarts of the kernel).
    pub seq: u64,
    /// Size on the wire, in bytes.
    pub size: usize,
    /// The message.
    pub msg: Arc<WireMessage>,
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The next message.
    Message(Numbered),
    /// Messages `from ..= to` are gone: the subscriber fell behind further than the replay
    /// buffer reaches. Delivery resumes after `to`.
    Missed {
        /// First lost number.
        from: u64,
        /// Last lost number.
        to: u64,
    },
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    buffer: VecDeque<Numbered>,
    bytes: usize,
    /// `None` once the kernel is gone for good: subscribers then end.
    sender: Option<broadcast::Sender<Numbered>>,
}

/// The buffer and broadcast of one kernel.
#[derive(Debug)]
pub(crate) struct Replay {
    state: Mutex<State>,
    limits: ReplayLimits,
}

/// Live messages a subscriber can hold before it must catch up from the buffer.
const BROADCAST_CAPACITY: usize = 4096;

impl Replay {
    pub(crate) fn new(limits: ReplayLimits) -> Self {
        Replay {
            state: Mutex::new(State {
                next_seq: 1,
                buffer: VecDeque::new(),
                bytes: 0,
                sender: Some(broadcast::channel(BROADCAST_CAPACITY).0),
            }),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers, stores and broadcasts `msg`. Returns its number.
    pub(crate) fn publish(&self, msg: Arc<WireMessage>, size: usize) -> u64 {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        let numbered = Numbered { seq, size, msg };
        state.bytes += size;
        state.buffer.push_back(numbered.clone());
        while state.buffer.len() > self.limits.messages
            || (state.bytes > self.limits.bytes && state.buffer.len() > 1)
        {
            if let Some(old) = state.buffer.pop_front() {
                state.bytes -= old.size;
            }
        }
        // No receivers is fine: the message stays in the buffer.
        if let Some(sender) = &state.sender {
            let _ = sender.send(numbered);
        }
        seq
    }

    /// Ends every subscription once it has received what was published.
    pub(crate) fn close(&self) {
        self.lock().sender = None;
    }

    /// The number the next message will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// A subscription starting after `after` (`None`: only messages published from now on).
    pub(crate) fn subscribe(self: &Arc<Self>, after: Option<u64>) -> Subscription {
        let state = self.lock();
        let receiver = match &state.sender {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        };
        let next = match after {
            Some(after) => after.saturating_add(1).min(state.next_seq),
            None => state.next_seq,
        };
        let mut subscription = Subscription {
            replay: Arc::clone(self),
            receiver,
            backlog: VecDeque::new(),
            next,
        };
        subscription.fill_backlog(&state);
        subscription
    }
}

/// A stream of [`Delivery`]s for one subscriber. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    replay: Arc<Replay>,
    receiver: broadcast::Receiver<Numbered>,
    backlog: VecDeque<Delivery>,
    next: u64,
}

impl Subscription {
    /// The next delivery; `None` once the kernel is gone for good.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            if let Some(delivery) = self.backlog.pop_front() {
                return Some(delivery);
            }
            match self.receiver.recv().await {
                Ok(numbered) if numbered.seq < self.next => continue,
                Ok(numbered) => {
                    if numbered.seq > self.next {
                        // Cannot happen without lag; recover from the buffer anyway.
                        let replay = Arc::clone(&self.replay);
                        self.fill_backlog(&replay.lock());
                        continue;
                    }
                    self.next = numbered.seq + 1;
                    return Some(Delivery::Message(numbered));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let replay = Arc::clone(&self.replay);
                    self.fill_backlog(&replay.lock());
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The number of the next message this subscriber will receive.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Queues what the buffer holds from `self.next` on, and a `Missed` for any gap.
    fn fill_backlog(&mut self, state: &State) {
        let oldest = state.buffer.front().map_or(state.next_seq, |n| n.seq);
        if self.next < oldest {
            self.backlog.push_back(Delivery::Missed {
                from: self.next,
                to: oldest - 1,
            });
            self.next = oldest;
        }
        for numbered in state.buffer.iter().filter(|n| n.seq >= self.next) {
            self.backlog.push_back(Delivery::Message(numbered.clone()));
        }
        self.next = state.next_seq;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wire::Channel;

    fn msg(i: u64) -> Arc<WireMessage> {
        Arc::new(WireMessage::new(
            Channel::Iopub,
            "stream",
            serde_json::json!({ "text": i.to_string() }),
            "s",
        ))
    }

    async fn seqs(sub: &mut Subscription, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            match sub.recv().await.unwrap() {
                Delivery::Message(m) => out.push(m.seq.to_string()),
                Delivery::Missed { from, to } => out.push(format!("missed {from}-{to}")),
            }
        }
        out
    }

    #[tokio::test]
    async fn reconnecting_subscriber_gets_what_it_missed_in_order() {
        let replay = Arc::new(Replay::new(ReplayLimits {
            messages: 5,
            bytes: usize::MAX,
        }));
        for i in 0..3 {
            replay.publish(msg(i), 10);
        }
        let mut live = replay.subscribe(None);
        let mut from_two = replay.subscribe(Some(1));
        for i in 3..5 {
            replay.publish(msg(i), 10);
        }
        assert_eq!(seqs(&mut live, 2).await, ["4", "5"]);
        assert_eq!(seqs(&mut from_two, 4).await, ["2", "3", "4", "5"]);

        for i in 5..9 {
            replay.publish(msg(i), 10);
        }
        // Buffer holds 5..=9; a client that saw up to 1 lost 2..=4.
        let mut late = replay.subscribe(Some(1));
        assert_eq!(
            seqs(&mut late, 6).await,
            ["missed 2-4", "5", "6", "7", "8", "9"]
        );
        assert_eq!(replay.next_seq(), 10);
    }

    #[tokio::test]
    async fn lagging_subscriber_recovers_from_the_buffer() {
        let replay = Arc::new(Replay::new(ReplayLimits {
            messages: 100_000,
            bytes: usize::MAX,
        }));
        let mut sub = replay.subscribe(None);
        let total = BROADCAST_CAPACITY as u64 * 3;
        for i in 0..total {
            replay.publish(msg(i), 1);
        }
        for expected in 1..=total {
            match sub.recv().await.unwrap() {
                Delivery::Message(m) => assert_eq!(m.seq, expected),
                Delivery::Missed { .. } => panic!("nothing was evicted"),
            }
        }
    }

    #[test]
    fn byte_bound_evicts_oldest() {
        let replay = Arc::new(Replay::new(ReplayLimits {
            messages: 100,
            bytes: 25,
        }));
        for i in 0..5 {
            replay.publish(msg(i), 10);
        }
        let state = replay.lock();
        assert_eq!(state.buffer.len(), 2);
        assert_eq!(state.buffer.front().unwrap().seq, 4);
    }
}
