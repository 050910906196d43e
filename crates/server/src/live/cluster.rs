//! Sessions across nodes: what the owner of a session and the nodes following it tell each
//! other over the bus.
//!
//! One node owns an open session (its lease row says so) and runs its actor. Any other node
//! that gets a request for it — a viewer, the device, an end — creates a *follower* handle:
//! frames the owner relays arrive in the follower's slot (one copy per node, then shared by
//! its viewers as usual), the owner's status keeps the follower's in step, and the follower
//! reports its viewers (`presence`, every second while it has any, and at once on a change)
//! and forwards what only the owner may do (`commands`) and the device's frames (`ingest`).
//! The owner relays frames only while some node reports viewers, and forgets a node's
//! viewers when it has not heard from it for [`PRESENCE_TTL`], so a dead node's viewers do
//! not keep a session alive. Subjects are per session, not per owner, so a follower carries on
//! unchanged when another node takes the session over. When the bus probe finds deliveries
//! missing (`crate::bus_probe`), owner links and followers subscribe again.

use super::command::Command;
use super::roster::Roster;
use super::{LiveStatus, SessionHandle};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use switchboard_bus::{Bus, Delivery, subjects};
use switchboard_core::{DeviceId, DeviceInfo, EndReason, Session, SessionState, Suid, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often a follower with viewers repeats its presence.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// How long the owner counts a node's viewers without hearing from it again.
pub const PRESENCE_TTL: Duration = Duration::from_secs(4);
/// How long a follower with no viewers and no device lingers before it goes.
const FOLLOWER_IDLE: Duration = Duration::from_secs(30);
/// How long a follower goes without the owner's status before it asks the store.
const STATUS_SILENCE: Duration = Duration::from_secs(5);
/// How long an end request waits for the owner to confirm.
const END_WAIT: Duration = Duration::from_secs(10);

/// A node's viewers of one session, by name (connections per name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Presence {
    pub node: String,
    pub names: BTreeMap<String, u32>,
}

impl Presence {
    pub fn viewers(&self) -> u32 {
        self.names.values().sum()
    }
}

/// What a follower asks of the owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RemoteCommand {
    DeviceRegistered {
        device_id: DeviceId,
        info: DeviceInfo,
        at: Timestamp,
    },
    End {
        reason: EndReason,
    },
}

/// The owner's view of a session, published on every change and every second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusMessage {
    pub suid: Suid,
    pub node: String,
    pub state: SessionState,
    pub end_reason: Option<EndReason>,
    pub viewers: u32,
    pub viewer_names: Vec<String>,
    pub viewers_zero_since: Option<Timestamp>,
    pub frames: u64,
    pub bytes: u64,
    pub fps: f64,
    pub last_frame_ms: Option<i64>,
}

impl StatusMessage {
    pub fn live_status(&self) -> LiveStatus {
        LiveStatus {
            state: self.state,
            end_reason: self.end_reason,
            viewers: self.viewers,
            viewer_names: self.viewer_names.clone(),
            viewers_zero_since: self.viewers_zero_since,
        }
    }
}

/// A frame on the bus: its number (8 bytes, big-endian; `u64::MAX` for none) then the JPEG.
pub fn encode_frame(seq: Option<u64>, jpeg: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + jpeg.len());
    out.extend_from_slice(&seq.unwrap_or(u64::MAX).to_be_bytes());
    out.extend_from_slice(jpeg);
    out.freeze()
}

/// Reads [`encode_frame`]'s form; `None` for a message too short to hold a frame.
pub fn decode_frame(mut payload: Bytes) -> Option<(Option<u64>, Bytes)> {
    if payload.len() <= 8 {
        return None;
    }
    let head = payload.split_to(8);
    let seq = u64::from_be_bytes(head.as_ref().try_into().ok()?);
    Some(((seq != u64::MAX).then_some(seq), payload))
}

/// What the owner's actor hears from other nodes.
#[derive(Debug)]
pub(super) enum Remote {
    Presence(Presence),
    Command(RemoteCommand),
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Subscribes, logging a failure (the link is then missing until the session restarts, which
/// the bus' own reconnects make rare).
async fn subscribe(bus: &dyn Bus, subject: &str) -> Option<switchboard_bus::Subscription> {
    match bus.subscribe(subject).await {
        Ok(sub) => Some(sub),
        Err(e) => {
            tracing::warn!(subject, error = %e, "cannot subscribe");
            None
        }
    }
}

/// Replaces `sub` with a new subscription to `subject`, when the bus probe found deliveries
/// missing; keeps the old one if subscribing fails (the next request tries again).
async fn resubscribe(bus: &dyn Bus, subject: &str, sub: &mut switchboard_bus::Subscription) {
    if let Some(new) = subscribe(bus, subject).await {
        *sub = new;
    }
}

/// The owner's links to other nodes, for as long as `stop` is not cancelled: frames from
/// devices on other nodes go into the session, presence and commands go to the actor, and
/// frames go out while other nodes have viewers. `again` fires when the bus probe found
/// deliveries missing: the links subscribe again.
pub(super) async fn run_owner_links(
    handle: SessionHandle,
    bus: std::sync::Arc<dyn Bus>,
    remote: mpsc::UnboundedSender<Remote>,
    stop: CancellationToken,
    mut again: crate::bus_probe::Resubscribe,
) {
    let suid = handle.suid();
    let (Some(mut ingest), Some(mut presence), Some(mut commands)) = (
        subscribe(&*bus, &subjects::ingest(suid)).await,
        subscribe(&*bus, &subjects::presence(suid)).await,
        subscribe(&*bus, &subjects::commands(suid)).await,
    ) else {
        return;
    };
    let mut frames = handle.frames().subscribe();
    let relay = subjects::frames(suid);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = again.requested() => {
                resubscribe(&*bus, &subjects::ingest(suid), &mut ingest).await;
                resubscribe(&*bus, &subjects::presence(suid), &mut presence).await;
                resubscribe(&*bus, &subjects::commands(suid), &mut commands).await;
            }
            Some(Delivery::Message(payload)) = ingest.next() => {
                if let Some((seq, jpeg)) = decode_frame(payload) {
                    let _ = handle.push_frame(seq, jpeg, now_ms());
                }
            }
            Some(Delivery::Message(payload)) = presence.next() => {
                if let Ok(p) = serde_json::from_slice::<Presence>(&payload) {
                    let _ = remote.send(Remote::Presence(p));
                }
            }
            Some(Delivery::Message(payload)) = commands.next() => {
                match serde_json::from_slice::<RemoteCommand>(&payload) {
                    Ok(c) => { let _ = remote.send(Remote::Command(c)); }
                    Err(e) => tracing::warn!(%suid, error = %e, "unreadable remote command"),
                }
            }
            changed = frames.changed() => {
                if changed.is_err() {
                    return;
                }
                let frame = frames.borrow_and_update().clone();
                if let Some(frame) = frame
                    && handle.remote_viewers() > 0
                    && let Err(e) = bus.publish(&relay, encode_frame(Some(frame.seq), &frame.data)).await
                {
                    tracing::debug!(%suid, error = %e, "relaying a frame failed");
                }
            }
        }
    }
}

/// A follower's task: relays between this node's viewers and device and the owner, until
/// the session ends, or nobody here has used it for a while, or the node stops.
pub(super) async fn run_follower(
    handle: SessionHandle,
    session: Session,
    roster: std::sync::Arc<Roster>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let deps = roster.deps().clone();
    let bus = deps.bus.clone();
    let node = deps.node.clone();
    let suid = session.suid;
    let (Some(mut frames), Some(mut status)) = (
        subscribe(&*bus, &subjects::frames(suid)).await,
        subscribe(&*bus, &subjects::status(suid)).await,
    ) else {
        roster.remove_if_same(suid, &handle);
        return;
    };
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    let mut heartbeat = tokio::time::interval(PRESENCE_EVERY);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outbox = match handle.outbox() {
        Some(slot) => slot.subscribe(),
        None => return,
    };
    let mut last_used = tokio::time::Instant::now();
    // When the owner's status last arrived; without it for a while, the store says whether
    // the session ended (a status lost with the bus must not leave viewers on a dead call).
    let mut last_status = tokio::time::Instant::now();
    let mut ending: Option<(tokio::time::Instant, tokio::sync::oneshot::Sender<Session>)> = None;
    let mut again = deps.resubscribe.clone();
    loop {
        tokio::select! {
            () = deps.shutdown.cancelled() => break,
            () = again.requested() => {
                resubscribe(&*bus, &subjects::frames(suid), &mut frames).await;
                resubscribe(&*bus, &subjects::status(suid), &mut status).await;
            }
            cmd = commands.recv() => {
                last_used = tokio::time::Instant::now();
                match cmd {
                    Some(Command::ViewerJoined { name }) => {
                        *names.entry(name).or_default() += 1;
                        announce(&*bus, suid, &node, &names).await;
                    }
                    Some(Command::ViewerLeft { name }) => {
                        if let Some(n) = names.get_mut(&name) {
                            *n -= 1;
                            if *n == 0 {
                                names.remove(&name);
                            }
                        }
                        announce(&*bus, suid, &node, &names).await;
                    }
                    Some(Command::DeviceRegistered { device_id, info, at }) => {
                        ask_owner(&*bus, suid, &RemoteCommand::DeviceRegistered { device_id, info: *info, at }).await;
                    }
                    Some(Command::End { reason, reply }) => {
                        ask_owner(&*bus, suid, &RemoteCommand::End { reason }).await;
                        ending = Some((tokio::time::Instant::now() + END_WAIT, reply));
                    }
                    Some(Command::Stop) => break,
                    // Followers are never asked: the owner checks its stored session.
                    Some(Command::CheckStored) => {}
                    None => break,
                }
            }
            Some(delivery) = frames.next() => {
                if let Delivery::Message(payload) = delivery
                    && let Some((seq, jpeg)) = decode_frame(payload)
                {
                    handle.relayed_frame(seq.unwrap_or(0), jpeg, now_ms());
                }
            }
            Some(delivery) = status.next() => {
                let Delivery::Message(payload) = delivery else { continue };
                let Ok(msg) = serde_json::from_slice::<StatusMessage>(&payload) else { continue };
                last_status = tokio::time::Instant::now();
                handle.set_status(msg.live_status());
                if msg.state == SessionState::Ended {
                    if let Some((_, reply)) = ending.take()
                        && let Ok(stored) = deps.store.session(suid).await
                    {
                        let _ = reply.send(stored);
                    }
                    break;
                }
            }
            changed = outbox.changed() => {
                if changed.is_err() {
                    break;
                }
                last_used = tokio::time::Instant::now();
                let frame = outbox.borrow_and_update().clone();
                if let Some(frame) = frame
                    && let Err(e) = bus.publish(&subjects::ingest(suid), encode_frame(Some(frame.seq), &frame.data)).await
                {
                    tracing::debug!(%suid, error = %e, "forwarding a frame to the owner failed");
                }
            }
            _ = heartbeat.tick() => {
                if !names.is_empty() {
                    announce(&*bus, suid, &node, &names).await;
                    last_used = tokio::time::Instant::now();
                }
                if let Some((deadline, _)) = &ending
                    && tokio::time::Instant::now() > *deadline
                {
                    // No owner answered: the reply is dropped and the caller hears 503.
                    ending = None;
                }
                if names.is_empty() && ending.is_none() && last_used.elapsed() > FOLLOWER_IDLE {
                    break;
                }
                if last_status.elapsed() > STATUS_SILENCE {
                    last_status = tokio::time::Instant::now();
                    if let Ok(stored) = deps.store.session(suid).await
                        && stored.state == SessionState::Ended
                    {
                        let mut status = handle.status();
                        status.state = SessionState::Ended;
                        status.end_reason = stored.end_reason;
                        handle.set_status(status);
                        break;
                    }
                }
            }
        }
    }
    if !names.is_empty() {
        announce(&*bus, suid, &node, &BTreeMap::new()).await;
    }
    roster.remove_if_same(suid, &handle);
}

async fn announce(bus: &dyn Bus, suid: Suid, node: &str, names: &BTreeMap<String, u32>) {
    let presence = Presence {
        node: node.to_owned(),
        names: names.clone(),
    };
    let Ok(payload) = serde_json::to_vec(&presence) else {
        return;
    };
    if let Err(e) = bus
        .publish(&subjects::presence(suid), Bytes::from(payload))
        .await
    {
        tracing::warn!(%suid, error = %e, "announcing viewers to the owner failed");
    }
}

async fn ask_owner(bus: &dyn Bus, suid: Suid, command: &RemoteCommand) {
    let Ok(payload) = serde_json::to_vec(command) else {
        return;
    };
    if let Err(e) = bus
        .publish(&subjects::commands(suid), Bytes::from(payload))
        .await
    {
        tracing::warn!(%suid, error = %e, "sending a command to the owner failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_and_without_a_number() {
        let jpeg = Bytes::from_static(b"\xff\xd8jpeg\xff\xd9");
        assert_eq!(
            decode_frame(encode_frame(Some(7), &jpeg)),
            Some((Some(7), jpeg.clone()))
        );
        assert_eq!(decode_frame(encode_frame(None, &jpeg)), Some((None, jpeg)));
        assert_eq!(decode_frame(Bytes::from_static(b"short")), None);
    }

    #[test]
    fn presence_counts_connections() {
        let p = Presence {
            node: "n2".into(),
            names: BTreeMap::from([("ann".to_owned(), 2), ("bob".to_owned(), 1)]),
        };
        assert_eq!(p.viewers(), 3);
    }
}
