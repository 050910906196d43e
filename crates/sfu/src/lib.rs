//! Switchboard's WebRTC forwarding unit (an SFU). Publishers (WHIP) and viewers (WHEP) of a
//! room meet on one UDP port; what a publisher sends reaches every viewer of its room as it
//! came, never decoded or encoded again. Viewers' keyframe requests go to the publisher, loss
//! is repaired with NACKs and retransmissions, and one viewer at a time may talk back.
//!
//! ICE, DTLS, SRTP and SCTP are str0m's (sans-IO). This crate owns the socket and the time:
//! one thread runs all peers of the node (`engine.rs`), handlers reach it through [`Sfu`].
//! It knows rooms by name only; who may publish or watch is the caller's business.

pub mod client;
mod engine;
mod error;
pub mod floor;
mod net;
pub mod offer;
mod peer;

pub use error::SfuError;
pub use offer::Role;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How the forwarding unit listens and what it allows.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP socket all peers share.
    pub bind: SocketAddr,
    /// Addresses written into answers as host candidates, on the bound port. Empty: the
    /// bound address, which must then not be unspecified.
    pub announce: Vec<IpAddr>,
    /// Publishers this node serves at once.
    pub max_publishers: usize,
    /// Viewers this node serves at once.
    pub max_viewers: usize,
    /// A peer that has not connected this long after its answer is dropped.
    pub connect_timeout: Duration,
    /// Also take ICE over TCP (passive) on the same port number.
    pub tcp: bool,
}

impl SfuConfig {
    /// The defaults around `bind`.
    pub fn new(bind: SocketAddr) -> Self {
        SfuConfig {
            bind,
            announce: Vec::new(),
            max_publishers: 1000,
            max_viewers: 1000,
            connect_timeout: Duration::from_secs(20),
            tcp: true,
        }
    }
}

/// A peer of the forwarding unit, unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What happens to a peer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up: media flows.
    Connected,
    /// A text message on the peer's data channel.
    Text(String),
    /// The peer is gone; nothing follows.
    Closed(CloseReason),
}

/// Why a peer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// [`Sfu::leave`] was called.
    Left,
    /// The remote side went away (ICE consent lost, DTLS closed).
    Disconnected,
    /// It never connected within the connect timeout.
    NeverConnected,
    /// The node is shutting down.
    Shutdown,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Left => "left",
            CloseReason::Disconnected => "disconnected",
            CloseReason::NeverConnected => "never_connected",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// A peer's traffic, counted by the forwarding unit as it happens.
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// Datagram bytes received from the peer.
    pub bytes_in: AtomicU64,
    /// Datagram bytes sent to the peer.
    pub bytes_out: AtomicU64,
    /// Video frames received from the peer (a publisher's).
    pub frames_in: AtomicU64,
    /// Video frames forwarded to the peer (a viewer's).
    pub frames_out: AtomicU64,
}

impl PeerCounters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A peer that was answered.
#[derive(Debug)]
pub struct Joined {
    pub peer: PeerId,
    /// The SDP answer, with this node's host candidates in it.
    pub answer: String,
    /// What happens to the peer, until `Closed`.
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
    pub counters: Arc<PeerCounters>,
}

/// Peers the node serves now, by role.
#[derive(Debug, Default)]
struct Counts {
    publishers: AtomicUsize,
    viewers: AtomicUsize,
}

#[derive(Debug)]
enum Command {
    Join {
        room: Arc<str>,
        role: Role,
        offer: Box<str0m::change::SdpOffer>,
        reply: oneshot::Sender<Result<Joined, SfuError>>,
    },
    Leave(PeerId),
    Text(PeerId, String),
}

/// The handle to the node's forwarding unit; cheap to clone.
#[derive(Debug, Clone)]
pub struct Sfu {
    commands: mpsc::UnboundedSender<Command>,
    local: SocketAddr,
    counts: Arc<Counts>,
}

/// The UDP socket, and the TCP listener on the same port number for ICE over TCP (networks
/// that block UDP). With port 0, a number free for both: the one the UDP socket got may be
/// some TCP connection's, so a few are tried. A fixed port taken for TCP leaves TCP off,
/// logged; UDP is what matters.
fn bind(
    config: &SfuConfig,
) -> std::io::Result<(std::net::UdpSocket, Option<std::net::TcpListener>)> {
    let tries = if config.bind.port() == 0 { 20 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let socket = std::net::UdpSocket::bind(config.bind)?;
        if !config.tcp {
            return Ok((socket, None));
        }
        let local = socket.local_addr()?;
        match std::net::TcpListener::bind(local).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        }) {
            Ok(listener) => return Ok((socket, Some(listener))),
            Err(_) if attempt < tries => continue,
            Err(e) => {
                tracing::warn!(tcp = %local, error = %e, "WebRTC over TCP is off: cannot listen on the port");
                return Ok((socket, None));
            }
        }
    }
}

impl Sfu {
    /// Binds the UDP socket (and the TCP listener) and starts the engine's thread, which runs until `shutdown`.
    pub fn start(config: SfuConfig, shutdown: CancellationToken) -> std::io::Result<Sfu> {
        let (socket, tcp) = bind(&config)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let announce: Vec<IpAddr> = if config.announce.is_empty() {
            if local.ip().is_unspecified() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "WebRTC listens on an unspecified address: name the addresses to announce",
                ));
            }
            vec![local.ip()]
        } else {
            config.announce.clone()
        };
        let candidates = announce
            .into_iter()
            .map(|ip| SocketAddr::new(ip, local.port()))
            .collect();
        let (commands, rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        let engine = engine::Engine::new(config, candidates, local, counts.clone(), tcp.is_some());
        std::thread::Builder::new()
            .name("sfu".into())
            .spawn(move || engine.run(socket, tcp, rx, shutdown))?;
        Ok(Sfu {
            commands,
            local,
            counts,
        })
    }

    /// The UDP address peers reach.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Checks `offer` for `role` and answers it: the peer joins `room`.
    pub async fn join(&self, room: &str, role: Role, offer: &str) -> Result<Joined, SfuError> {
        let offer = offer::check(offer, role)?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Join {
                room: room.into(),
                role,
                offer: Box::new(offer),
                reply,
            })
            .map_err(|_| SfuError::Stopped)?;
        answer.await.map_err(|_| SfuError::Stopped)?
    }

    /// Drops `peer`; its events end with `Closed(Left)`.
    pub fn leave(&self, peer: PeerId) {
        let _ = self.commands.send(Command::Leave(peer));
    }

    /// Sends `text` on `peer`'s data channel (kept until the channel opens).
    pub fn send_text(&self, peer: PeerId, text: String) {
        let _ = self.commands.send(Command::Text(peer, text));
    }

    /// Peers of `role` the node serves now.
    pub fn peers(&self, role: Role) -> usize {
        match role {
            Role::Publisher => self.counts.publishers.load(Ordering::Relaxed),
            Role::Viewer => self.counts.viewers.load(Ordering::Relaxed),
        }
    }
}
