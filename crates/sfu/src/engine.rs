//! The engine: one thread owns the UDP socket and every peer of the node. It reads
//! datagrams, hands each to the peer it belongs to, lets str0m's clocks run, and forwards
//! what peers produce to the others in their room. Nothing here blocks or awaits a peer, so a
//! slow viewer costs only its own datagrams.

use crate::floor::Floor;
use crate::net::{Net, Source, TcpEvent};
use crate::peer::{Forward, Peer};
use crate::{
    CloseReason, Command, Counts, Joined, PeerCounters, PeerId, Role, SfuConfig, SfuError,
};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::config::CryptoProvider;
use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::{Candidate, Input, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Keyframe requests to one publisher, at most one per this long: 200 viewers joining must
/// not make it send 200 keyframes.
const KEYFRAME_SPACING: Duration = Duration::from_millis(300);

/// How soon a keyframe request is tried again when the publisher had no video stream to ask
/// on yet.
const KEYFRAME_RETRY: Duration = Duration::from_millis(100);
/// The longest the engine sleeps without looking at its peers' clocks.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Datagrams read per wake-up before anything else gets a turn.
const READ_BATCH: usize = 64;

/// One room: its publisher, viewers, who talks, and the keyframe requests to the publisher.
#[derive(Debug, Default)]
struct Room {
    publisher: Option<PeerId>,
    viewers: Vec<PeerId>,
    floor: Floor<PeerId>,
    keyframe_sent: Option<Instant>,
    keyframe_due: Option<(Instant, KeyframeRequestKind)>,
}

impl Room {
    fn is_empty(&self) -> bool {
        self.publisher.is_none() && self.viewers.is_empty()
    }
}

/// The Prometheus handles the forwarding path writes, looked up once here rather than on
/// every frame.
struct Meters {
    frames_in: metrics::Counter,
    bytes_in: metrics::Counter,
    frames_out: metrics::Counter,
    bytes_out: metrics::Counter,
    forward: metrics::Histogram,
    unparsable: metrics::Counter,
    unknown_source: metrics::Counter,
}

impl Meters {
    fn new() -> Self {
        let dropped = |reason: &'static str| metrics::counter!("switchboard_webrtc_datagrams_dropped_total", "reason" => reason);
        Meters {
            frames_in: metrics::counter!("switchboard_frames_in_total", "path" => "webrtc"),
            bytes_in: metrics::counter!("switchboard_frame_bytes_in_total", "path" => "webrtc"),
            frames_out: metrics::counter!("switchboard_frames_out_total", "transport" => "webrtc", "path" => "webrtc"),
            bytes_out: metrics::counter!("switchboard_frame_bytes_out_total", "transport" => "webrtc", "path" => "webrtc"),
            forward: metrics::histogram!("switchboard_webrtc_forward_seconds"),
            unparsable: dropped("unparsable"),
            unknown_source: dropped("unknown_source"),
        }
    }
}

pub struct Engine {
    meters: Meters,
    config: SfuConfig,
    candidates: Vec<SocketAddr>,
    local: SocketAddr,
    counts: Arc<Counts>,
    crypto: Arc<CryptoProvider>,
    peers: HashMap<PeerId, Peer>,
    rooms: HashMap<Arc<str>, Room>,
    /// Which peer a source address belongs to, learned from what its `Rtc` accepted.
    sources: HashMap<Source, PeerId>,
    next_id: u64,
    /// Whether answers offer ICE over TCP (the listener is open).
    tcp: bool,
}

enum Wake {
    Stop,
    Command(Command),
    Datagram(usize, SocketAddr),
    Tcp(TcpEvent),
    Accepted(tokio::net::TcpStream, SocketAddr),
    Time,
}

impl Engine {
    pub fn new(
        config: SfuConfig,
        candidates: Vec<SocketAddr>,
        local: SocketAddr,
        counts: Arc<Counts>,
        tcp: bool,
    ) -> Self {
        Engine {
            tcp,
            meters: Meters::new(),
            config,
            candidates,
            local,
            counts,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            sources: HashMap::new(),
            next_id: 1,
        }
    }

    /// Runs on the engine's own thread until `shutdown` or until every handle is gone.
    pub fn run(
        self,
        socket: std::net::UdpSocket,
        tcp: Option<std::net::TcpListener>,
        commands: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the WebRTC engine cannot start its runtime");
                return;
            }
        };
        runtime.block_on(self.serve(socket, tcp, commands, shutdown));
    }

    async fn serve(
        mut self,
        socket: std::net::UdpSocket,
        tcp: Option<std::net::TcpListener>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) {
        let socket = match UdpSocket::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "the WebRTC engine cannot use its socket");
                return;
            }
        };
        // ICE over TCP beside UDP; without it (the port was taken) browsers still have UDP
        // and TURN.
        let tcp = tcp.and_then(|l| match tokio::net::TcpListener::from_std(l) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "WebRTC over TCP is off: cannot use its listener");
                None
            }
        });
        let max_tcp = self.config.max_publishers + self.config.max_viewers;
        let mut net = Net::new(socket, max_tcp);
        let (tcp_events, mut tcp_in) = mpsc::channel::<TcpEvent>(1024);
        tracing::info!(udp = %self.local, tcp = tcp.is_some(), candidates = ?self.candidates, "WebRTC listening");
        let mut buf = vec![0u8; 2048];
        loop {
            let now = Instant::now();
            let wake_at = self
                .peers
                .values()
                .map(|p| p.timeout)
                .chain(
                    self.rooms
                        .values()
                        .filter_map(|r| r.keyframe_due.map(|d| d.0)),
                )
                .fold(now + MAX_SLEEP, Instant::min)
                .max(now);
            let accept = async {
                match &tcp {
                    Some(listener) => listener.accept().await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                biased;
                () = shutdown.cancelled() => Wake::Stop,
                cmd = commands.recv() => cmd.map_or(Wake::Stop, Wake::Command),
                read = net.udp.recv_from(&mut buf) => match read {
                    Ok((n, source)) => Wake::Datagram(n, source),
                    Err(_) => Wake::Time,
                },
                event = tcp_in.recv() => event.map_or(Wake::Time, Wake::Tcp),
                accepted = accept => match accepted {
                    Ok((stream, remote)) => Wake::Accepted(stream, remote),
                    Err(_) => Wake::Time,
                },
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => Wake::Time,
            };
            match wake {
                Wake::Stop => break,
                Wake::Command(cmd) => self.command(cmd, &net),
                Wake::Datagram(n, source) => {
                    self.receive(Protocol::Udp, &buf[..n], source, &mut net);
                    for _ in 1..READ_BATCH {
                        match net.udp.try_recv_from(&mut buf) {
                            Ok((n, source)) => {
                                self.receive(Protocol::Udp, &buf[..n], source, &mut net);
                            }
                            Err(_) => break,
                        }
                    }
                }
                Wake::Tcp(TcpEvent::Packet(source, packet)) => {
                    self.receive(Protocol::Tcp, &packet, source, &mut net);
                }
                Wake::Tcp(TcpEvent::Closed(source)) => net.closed(source),
                Wake::Accepted(stream, remote) => net.accept(stream, remote, tcp_events.clone()),
                Wake::Time => {}
            }
            self.tick(Instant::now(), &net);
        }
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.remove(id, CloseReason::Shutdown);
        }
    }

    fn command(&mut self, cmd: Command, net: &Net) {
        match cmd {
            Command::Join {
                room,
                role,
                offer,
                reply,
            } => {
                let joined = self.join(room, role, *offer, net);
                if let Err(Ok(joined)) = reply.send(joined) {
                    // The caller went away before the answer: nobody will use the peer.
                    self.remove(joined.peer, CloseReason::Left);
                }
            }
            Command::Leave(peer) => self.remove(peer, CloseReason::Left),
            Command::Text(id, text) => {
                let mut work = Vec::new();
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.send_text(text);
                    peer.drain(net, &mut work);
                }
                self.forward(work, net, Instant::now());
            }
        }
    }

    fn join(
        &mut self,
        room: Arc<str>,
        role: Role,
        offer: SdpOffer,
        net: &Net,
    ) -> Result<Joined, SfuError> {
        let (count, limit) = match role {
            Role::Publisher => (&self.counts.publishers, self.config.max_publishers),
            Role::Viewer => (&self.counts.viewers, self.config.max_viewers),
        };
        if count.load(Ordering::Relaxed) >= limit {
            return Err(SfuError::Full {
                role: role.as_str(),
                limit,
            });
        }
        if role == Role::Publisher && self.rooms.get(&room).is_some_and(|r| r.publisher.is_some()) {
            return Err(SfuError::PublisherPresent);
        }
        let now = Instant::now();
        // One codec per kind, so whatever a publisher sends every viewer can receive as it is.
        let mut rtc = Rtc::builder()
            .set_crypto_provider(self.crypto.clone())
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(now);
        for addr in &self.candidates {
            let candidate = Candidate::host(*addr, "udp")
                .map_err(|e| SfuError::Negotiation(format!("bad local candidate: {e}")))?;
            rtc.add_local_candidate(candidate);
            if self.tcp {
                // Passive: the browser connects to the same port number over TCP.
                let candidate = Candidate::builder()
                    .tcp()
                    .host(*addr)
                    .tcptype(TcpType::Passive)
                    .build()
                    .map_err(|e| SfuError::Negotiation(format!("bad local candidate: {e}")))?;
                rtc.add_local_candidate(candidate);
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::Negotiation(e.to_string()))?;
        let id = PeerId(self.next_id);
        self.next_id += 1;
        let (events, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(PeerCounters::default());
        let mut peer = Peer::new(id, room.clone(), role, rtc, events, counters.clone(), now);
        let mut work = Vec::new();
        peer.drain(net, &mut work);
        self.peers.insert(id, peer);
        let entry = self.rooms.entry(room).or_default();
        match role {
            Role::Publisher => entry.publisher = Some(id),
            Role::Viewer => entry.viewers.push(id),
        }
        count.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("switchboard_webrtc_peers", "role" => role.as_str()).increment(1.0);
        self.forward(work, net, now);
        Ok(Joined {
            peer: id,
            answer: answer.to_sdp_string(),
            events: rx,
            counters,
        })
    }

    fn remove(&mut self, id: PeerId, reason: CloseReason) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        peer.close(reason);
        for source in &peer.sources {
            self.sources.remove(source);
        }
        if let Some(room) = self.rooms.get_mut(&peer.room) {
            if room.publisher == Some(id) {
                room.publisher = None;
            }
            room.viewers.retain(|v| *v != id);
            room.floor.leave(id);
            if room.is_empty() {
                self.rooms.remove(&peer.room);
            }
        }
        let count = match peer.role {
            Role::Publisher => &self.counts.publishers,
            Role::Viewer => &self.counts.viewers,
        };
        count.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("switchboard_webrtc_peers", "role" => peer.role.as_str()).decrement(1.0);
        tracing::debug!(peer = %id, role = peer.role.as_str(), reason = reason.as_str(), "WebRTC peer gone");
        peer.announce_closed();
    }

    /// The local address a packet from `source` was sent to: the announced one of its
    /// family (one per family is supported), on the UDP port (TCP uses the same number).
    fn destination_for(&self, source: SocketAddr) -> SocketAddr {
        self.candidates
            .iter()
            .find(|c| c.is_ipv4() == source.is_ipv4())
            .copied()
            .unwrap_or(self.local)
    }

    /// One packet from `source` over `proto`: to the peer whose ICE agent takes it. A TCP
    /// connection whose packet no peer takes is closed (nothing else may use one).
    fn receive(&mut self, proto: Protocol, data: &[u8], addr: SocketAddr, net: &mut Net) {
        let received = Instant::now();
        let Ok(contents) = DatagramRecv::try_from(data) else {
            self.meters.unparsable.increment(1);
            if proto == Protocol::Tcp && !self.sources.contains_key(&Source { proto, addr }) {
                net.close(addr);
            }
            return;
        };
        let source = Source { proto, addr };
        let input = Input::Receive(
            received,
            Receive {
                proto,
                source: addr,
                destination: self.destination_for(addr),
                contents,
            },
        );
        let known = self
            .sources
            .get(&source)
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
        let id = match known {
            Some(id) => id,
            None => {
                let Some(id) = self
                    .peers
                    .values()
                    .find(|p| p.is_alive() && p.rtc.accepts(&input))
                    .map(|p| p.id)
                else {
                    self.meters.unknown_source.increment(1);
                    // A connection no peer has used: nothing else may use it. One a peer
                    // uses keeps going (a stray STUN answer on it is just dropped).
                    if proto == Protocol::Tcp && !self.sources.contains_key(&source) {
                        net.close(addr);
                    }
                    return;
                };
                if let Some(old) = self.sources.insert(source, id)
                    && let Some(p) = self.peers.get_mut(&old)
                {
                    p.sources.retain(|s| *s != source);
                }
                if let Some(p) = self.peers.get_mut(&id) {
                    p.sources.push(source);
                }
                id
            }
        };
        let mut work = Vec::new();
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.counters
                .bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            peer.input(input);
            peer.drain(net, &mut work);
        }
        self.forward(work, net, received);
    }

    /// Carries out what peers asked of each other, and what that in turn asks, in order.
    fn forward(&mut self, work: Vec<Forward>, net: &Net, received: Instant) {
        let mut queue: VecDeque<Forward> = work.into();
        while let Some(item) = queue.pop_front() {
            let mut more = Vec::new();
            match item {
                Forward::Media { from, kind, data } => {
                    let Some(sender) = self.peers.get(&from) else {
                        continue;
                    };
                    let room_name = sender.room.clone();
                    let role = sender.role;
                    let Some(room) = self.rooms.get_mut(&room_name) else {
                        continue;
                    };
                    match role {
                        Role::Publisher => {
                            if kind == MediaKind::Video {
                                self.meters.frames_in.increment(1);
                                self.meters.bytes_in.increment(data.data.len() as u64);
                            }
                            let viewers = std::mem::take(&mut room.viewers);
                            let mut sent = 0u64;
                            for v in &viewers {
                                if let Some(viewer) = self.peers.get_mut(v)
                                    && viewer.connected
                                    && viewer.write(kind, &data)
                                {
                                    sent += 1;
                                    viewer.drain(net, &mut more);
                                }
                            }
                            if let Some(room) = self.rooms.get_mut(&room_name) {
                                room.viewers = viewers;
                            }
                            if kind == MediaKind::Video && sent > 0 {
                                self.meters.frames_out.increment(sent);
                                self.meters
                                    .bytes_out
                                    .increment(sent * data.data.len() as u64);
                                self.meters.forward.record(received.elapsed().as_secs_f64());
                            }
                        }
                        Role::Viewer => {
                            // A viewer's voice, when it holds the floor, to the publisher.
                            if kind != MediaKind::Audio || !room.floor.speak(from, Instant::now()) {
                                continue;
                            }
                            if let Some(publisher) =
                                room.publisher.and_then(|p| self.peers.get_mut(&p))
                                && publisher.write(kind, &data)
                            {
                                publisher.drain(net, &mut more);
                            }
                        }
                    }
                }
                Forward::Keyframe { room, kind } => {
                    let now = Instant::now();
                    let Some(state) = self.rooms.get_mut(&room) else {
                        continue;
                    };
                    match state.keyframe_sent {
                        Some(sent) if now.duration_since(sent) < KEYFRAME_SPACING => {
                            // Asked recently: ask again once the spacing allows, not now.
                            state
                                .keyframe_due
                                .get_or_insert((sent + KEYFRAME_SPACING, kind));
                        }
                        _ => {
                            state.keyframe_sent = Some(now);
                            state.keyframe_due = None;
                            if let Some(publisher) =
                                state.publisher.and_then(|p| self.peers.get_mut(&p))
                            {
                                tracing::debug!(peer = %publisher.id, ?kind, "keyframe asked of a publisher");
                                if publisher.request_keyframe(kind) {
                                    publisher.drain(net, &mut more);
                                } else {
                                    // Its video is not flowing yet (a viewer came first):
                                    // ask again shortly rather than never.
                                    state.keyframe_sent = None;
                                    state.keyframe_due = Some((now + KEYFRAME_RETRY, kind));
                                }
                            }
                        }
                    }
                }
            }
            queue.extend(more);
        }
    }

    /// Lets time pass for every peer whose clock is due, sends keyframe requests that were
    /// held back, and drops peers that died or never connected.
    fn tick(&mut self, now: Instant, net: &Net) {
        let mut work = Vec::new();
        let mut dead = Vec::new();
        for peer in self.peers.values_mut() {
            if peer.timeout <= now {
                peer.input(Input::Timeout(now));
                peer.drain(net, &mut work);
            }
            if !peer.is_alive() {
                dead.push((peer.id, CloseReason::Disconnected));
            } else if !peer.connected
                && now.duration_since(peer.created) > self.config.connect_timeout
            {
                dead.push((peer.id, CloseReason::NeverConnected));
            }
        }
        for (id, reason) in dead {
            self.remove(id, reason);
        }
        for (name, room) in &mut self.rooms {
            if let Some((at, kind)) = room.keyframe_due
                && at <= now
            {
                room.keyframe_due = None;
                room.keyframe_sent = None;
                work.push(Forward::Keyframe {
                    room: name.clone(),
                    kind,
                });
            }
        }
        self.forward(work, net, now);
    }
}
