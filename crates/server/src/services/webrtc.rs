//! WebRTC beside the JPEG paths. A device publishes its camera and microphone (WHIP) and
//! viewers play them (WHEP) through the node's forwarding unit (`switchboard-sfu`), in the
//! same sessions, with the same tokens, viewer places, audit records and ends as the JPEG
//! paths. Each peer has a keeper task holding what it needs (the viewer's place, the right
//! of the token that opened it) that drops the peer the moment any of them ends: the
//! session, the token, the node, or a `DELETE` of its resource.

use super::session_error::SessionError;
use super::sessions::LiveSessions;
use super::viewing::{ViewRoute, Viewing};
use super::webrtc_peers::{Owner, Resource, WebRtcPeers};
use crate::auth::{Claims, Right};
use crate::live::{RateBucket, SessionHandle};
use crate::protocol::ice::IceConfig;
use crate::protocol::{DeviceEvent, WatchEvent};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use switchboard_bus::{Bus, Delivery, subjects};
use switchboard_core::{DeviceId, SessionState, Suid, User};
use switchboard_sfu::{Joined, PeerEvent, PeerId, Role, Sfu, SfuError};
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An answered offer: the SDP answer and the resource to `DELETE` to stop.
#[derive(Debug)]
pub struct WebRtcAnswer {
    pub sdp: String,
    pub resource: Uuid,
}

impl From<SfuError> for SessionError {
    fn from(e: SfuError) -> Self {
        match e {
            SfuError::BadOffer(m) => SessionError::BadOffer(m),
            SfuError::MissingMedia(m) => SessionError::MissingMedia(m),
            SfuError::PublisherPresent => SessionError::PublisherPresent,
            SfuError::Full { .. } => SessionError::WebRtcCapacity(e.to_string()),
            SfuError::Negotiation(m) => SessionError::MissingMedia(m),
            SfuError::Stopped => SessionError::Restarting,
        }
    }
}

/// What every keeper task needs of the node.
struct Keeper {
    sfu: Sfu,
    peers: Arc<WebRtcPeers>,
    bus: Arc<dyn Bus>,
    shutdown: CancellationToken,
    resource: Uuid,
    peer: PeerId,
    handle: SessionHandle,
    right: Right,
    stop: CancellationToken,
}

impl Keeper {
    /// Drops the peer and its resource; announces that the session's publisher is gone,
    /// unless the session ended (its `ended` event says all: a page told first that the
    /// publisher went would hang up a peer already gone and reconnect to an ended session).
    async fn finish(self) {
        self.sfu.leave(self.peer);
        self.handle.stats().webrtc_peer_gone(self.resource);
        let was = self.peers.lock().remove(&self.resource);
        if let Some(r) = was
            && r.role == Role::Publisher
            && r.connected
            && self.handle.status().state != SessionState::Ended
        {
            announce_publisher(&*self.bus, r.suid, false).await;
        }
    }
}

async fn announce_publisher(bus: &dyn Bus, suid: Suid, publishing: bool) {
    if let Ok(payload) = serde_json::to_vec(&WatchEvent::Webrtc { publishing }) {
        let _ = bus
            .publish(&subjects::events(suid), Bytes::from(payload))
            .await;
    }
}

impl LiveSessions {
    /// The node that holds session `suid`, when that is another node: its WebRTC peers
    /// (publisher and viewers alike) live there, so its signalling goes there too.
    pub async fn webrtc_home_elsewhere(&self, suid: Suid) -> Option<String> {
        if self.registry.get(suid).is_some_and(|h| !h.is_follower()) {
            return None;
        }
        match self.store.session_owner(suid).await {
            Ok(Some((node, _))) if node != self.config.node_name() => Some(node),
            Ok(_) => None,
            Err(e) => {
                // The request is served here then; it fails as it would without a cluster.
                tracing::warn!(%suid, error = %e, "cannot read which node holds a session");
                None
            }
        }
    }

    /// The ICE servers `user` gives its peer connections, with TURN credentials of its own.
    pub fn ice_servers(&self, user: &User) -> Result<IceConfig, SessionError> {
        self.sfu()?;
        Ok(self
            .ice
            .for_caller(&user.id.to_string(), chrono::Utc::now()))
    }

    fn sfu(&self) -> Result<&Sfu, SessionError> {
        self.sfu.as_ref().ok_or(SessionError::WebRtcUnavailable)
    }

    /// Whether the session has a WebRTC publisher on this node now.
    pub fn webrtc_publishing(&self, suid: Suid) -> bool {
        self.webrtc.publishing(suid)
    }

    /// A device publishes to its session over WebRTC (WHIP): the offer is answered, and the
    /// peer lives until the session or the device token ends, or the resource is deleted.
    pub async fn publish_webrtc(
        &self,
        device: DeviceId,
        allowed: Suid,
        claims: &Claims,
        suid: &str,
        offer: &str,
    ) -> Result<WebRtcAnswer, SessionError> {
        let sfu = self.sfu()?;
        let handle = self.device_session(allowed, suid).await?;
        let joined = sfu
            .join(&handle.suid().to_string(), Role::Publisher, offer)
            .await?;
        let (resource, keeper) = self.keeper(
            sfu,
            &handle,
            Role::Publisher,
            Owner::Device(device),
            &joined,
            claims,
        );
        let texts = TextLimits {
            max_bytes: usize::try_from(self.config.devices.max_device_text_bytes.as_u64())
                .unwrap_or(usize::MAX),
            per_second: self.config.devices.device_messages_per_second,
        };
        tokio::spawn(keep_publisher(
            keeper,
            joined.events,
            self.store.clone(),
            texts,
        ));
        tracing::info!(suid = %allowed, %device, peer = %joined.peer, "WebRTC publisher answered");
        Ok(WebRtcAnswer {
            sdp: joined.answer,
            resource,
        })
    }

    /// A user plays their account's session over WebRTC (WHEP): a viewer like any other
    /// (counted, limited, audited), until the session or the user's token ends, or the
    /// resource is deleted.
    pub async fn play_webrtc(
        &self,
        user: &User,
        claims: &Claims,
        suid: &str,
        offer: &str,
    ) -> Result<WebRtcAnswer, SessionError> {
        let sfu = self.sfu()?;
        let (_, handle) = self.running_of(user.account_id, suid).await?;
        if !self.webrtc.publishing(handle.suid()) {
            return Err(SessionError::NotPublishing);
        }
        // Refuse a full node before taking a viewer place.
        if sfu.peers(Role::Viewer) >= self.config.webrtc.webrtc_max_viewers {
            return Err(SessionError::WebRtcCapacity(format!(
                "this node already serves its maximum of {} WebRTC viewers",
                self.config.webrtc.webrtc_max_viewers
            )));
        }
        let viewing = self.watch(user, suid, ViewRoute::Webrtc).await?;
        let joined = sfu
            .join(&viewing.handle.suid().to_string(), Role::Viewer, offer)
            .await?;
        let (resource, keeper) = self.keeper(
            sfu,
            &viewing.handle,
            Role::Viewer,
            Owner::User(user.id),
            &joined,
            claims,
        );
        tokio::spawn(keep_viewer(keeper, joined.events, viewing));
        Ok(WebRtcAnswer {
            sdp: joined.answer,
            resource,
        })
    }

    /// Records an answered peer as a resource of `owner` and makes the keeper that will end
    /// it: (the resource id, the keeper).
    fn keeper(
        &self,
        sfu: &Sfu,
        handle: &SessionHandle,
        role: Role,
        owner: Owner,
        joined: &Joined,
        claims: &Claims,
    ) -> (Uuid, Keeper) {
        let resource = Uuid::new_v4();
        // The session's totals (and so its CDR) count the peer's traffic from now on.
        handle
            .stats()
            .webrtc_peer(resource, joined.counters.clone());
        let stop = CancellationToken::new();
        self.webrtc.lock().insert(
            resource,
            Resource {
                suid: handle.suid(),
                role,
                owner,
                connected: false,
                stop: stop.clone(),
            },
        );
        let keeper = Keeper {
            sfu: sfu.clone(),
            peers: self.webrtc.clone(),
            bus: self.bus.clone(),
            shutdown: self.shutdown.clone(),
            resource,
            peer: joined.peer,
            handle: handle.clone(),
            right: self.tokens.hold(claims),
            stop,
        };
        (resource, keeper)
    }

    /// Stops a device's WebRTC publishing (its `DELETE`).
    pub fn stop_webrtc_publisher(
        &self,
        device: DeviceId,
        suid: &str,
        resource: &str,
    ) -> Result<(), SessionError> {
        self.stop_resource(Owner::Device(device), suid, resource)
    }

    /// Stops a user's WebRTC viewing (its `DELETE`).
    pub fn stop_webrtc_viewer(
        &self,
        user: &User,
        suid: &str,
        resource: &str,
    ) -> Result<(), SessionError> {
        self.stop_resource(Owner::User(user.id), suid, resource)
    }

    /// Another's resource, or one of another session, is as unknown as one that never was.
    fn stop_resource(&self, owner: Owner, suid: &str, resource: &str) -> Result<(), SessionError> {
        let id: Uuid = resource
            .parse()
            .map_err(|_| SessionError::WebRtcResourceNotFound)?;
        let suid: Suid = suid
            .parse()
            .map_err(|_| SessionError::WebRtcResourceNotFound)?;
        let peers = self.webrtc.lock();
        match peers.get(&id) {
            Some(r) if r.owner == owner && r.suid == suid => {
                r.stop.cancel();
                Ok(())
            }
            _ => Err(SessionError::WebRtcResourceNotFound),
        }
    }
}

/// Bounds on what a device's data channel may say, as on its socket.
struct TextLimits {
    max_bytes: usize,
    per_second: u32,
}

/// What a session's end, the right's end, the node's shutdown, a move or a `DELETE` do:
/// end the peer. Resolves when any of them happens.
async fn ended(
    keeper: &Keeper,
    status: &mut tokio::sync::watch::Receiver<crate::live::LiveStatus>,
) {
    tokio::select! {
        _ = status.wait_for(|s| s.state == SessionState::Ended) => {}
        () = keeper.right.ended() => {}
        () = keeper.shutdown.cancelled() => {}
        () = keeper.handle.detached().cancelled() => {}
        () = keeper.stop.cancelled() => {}
    }
}

/// A publisher's peer: marks the session as publishing once connected, relays what the
/// device says on the data channel as its status, and carries the session's controls to it
/// on the data channel in order, as the device socket does.
async fn keep_publisher(
    keeper: Keeper,
    mut events: tokio::sync::mpsc::UnboundedReceiver<PeerEvent>,
    store: Arc<dyn Store>,
    limits: TextLimits,
) {
    let suid = keeper.handle.suid();
    let mut status = keeper.handle.subscribe_status();
    let mut controls = keeper.bus.subscribe(&subjects::controls(suid)).await.ok();
    // Controls sent from now on: the cursor starts at the first announced one.
    let mut cursor: Option<i64> = None;
    let mut text_rate = RateBucket::default();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(PeerEvent::Connected) => {
                    if let Some(r) = keeper.peers.lock().get_mut(&keeper.resource) {
                        r.connected = true;
                    }
                    tracing::info!(%suid, peer = %keeper.peer, "WebRTC publisher connected");
                    announce_publisher(&*keeper.bus, suid, true).await;
                }
                Some(PeerEvent::Text(text)) => {
                    if text.len() > limits.max_bytes
                        || !text_rate.take(limits.per_second, std::time::Instant::now())
                    {
                        tracing::info!(%suid, "device data channel over its bounds; message dropped");
                        continue;
                    }
                    let status = serde_json::from_str::<serde_json::Value>(&text)
                        .unwrap_or(serde_json::Value::String(text));
                    if let Ok(payload) = serde_json::to_vec(&WatchEvent::Device { status }) {
                        let _ = keeper.bus.publish(&subjects::events(suid), Bytes::from(payload)).await;
                    }
                }
                Some(PeerEvent::Closed(reason)) => {
                    tracing::info!(%suid, peer = %keeper.peer, reason = reason.as_str(), "WebRTC publisher gone");
                    break;
                }
                None => break,
            },
            delivery = async {
                match controls.as_mut() {
                    Some(c) => c.next().await,
                    None => std::future::pending().await,
                }
            } => match delivery {
                Some(Delivery::Message(payload)) => {
                    let first = serde_json::from_slice::<switchboard_core::Control>(&payload)
                        .map(|c| c.id - 1)
                        .unwrap_or(0);
                    let after = *cursor.get_or_insert(first);
                    deliver_controls(&keeper, &*store, suid, after, &mut cursor).await;
                }
                Some(Delivery::Lagged(_)) => {
                    if let Some(after) = cursor {
                        deliver_controls(&keeper, &*store, suid, after, &mut cursor).await;
                    }
                }
                None => controls = None,
            },
            () = ended(&keeper, &mut status) => break,
        }
    }
    keeper.finish().await;
}

/// Sends the controls after `after` on the publisher's data channel, in id order.
async fn deliver_controls(
    keeper: &Keeper,
    store: &dyn Store,
    suid: Suid,
    after: i64,
    cursor: &mut Option<i64>,
) {
    match store.controls_after(suid, after, 1000).await {
        Ok(list) => {
            for c in list {
                *cursor = Some(c.id);
                if let Ok(text) = serde_json::to_string(&DeviceEvent::control(&c)) {
                    keeper.sfu.send_text(keeper.peer, text);
                }
            }
        }
        Err(e) => tracing::warn!(%suid, error = %e, "cannot read controls for the data channel"),
    }
}

/// A viewer's peer: holds the viewer's place (and so its count, limits and audit record)
/// for exactly as long as the peer lives.
async fn keep_viewer(
    keeper: Keeper,
    mut events: tokio::sync::mpsc::UnboundedReceiver<PeerEvent>,
    viewing: Viewing,
) {
    let suid = keeper.handle.suid();
    let mut status = keeper.handle.subscribe_status();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(PeerEvent::Connected) => {
                    if let Some(r) = keeper.peers.lock().get_mut(&keeper.resource) {
                        r.connected = true;
                    }
                    tracing::debug!(%suid, peer = %keeper.peer, "WebRTC viewer connected");
                }
                Some(PeerEvent::Text(_)) => {}
                Some(PeerEvent::Closed(_)) | None => break,
            },
            () = ended(&keeper, &mut status) => break,
        }
    }
    keeper.finish().await;
    drop(viewing);
}
