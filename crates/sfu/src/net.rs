//! The engine's transports: one UDP socket for every peer, and ICE over TCP (RFC 6544: the
//! node's candidates are passive, browsers connect) on the same port number, for networks
//! that let no UDP through. Each TCP packet is framed as RFC 4571 says: a 2-byte length,
//! then the packet. A connection is read by a task of its own and written through a small
//! queue, so a stalled one loses its own packets (as UDP would) and never holds the engine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use str0m::net::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The largest framed packet taken over TCP; a browser's are under 1,500 bytes. A larger
/// length is garbage, and the connection is closed.
const MAX_TCP_PACKET: usize = 4096;

/// Packets queued to one TCP connection; past this the newest is dropped, as a full UDP
/// buffer would.
const TCP_QUEUE: usize = 256;

/// A TCP connection with nothing read this long is closed (ICE consent checks come every
/// few seconds from a live peer).
const TCP_IDLE: Duration = Duration::from_secs(30);

/// Where a packet came from: the transport and the remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub proto: Protocol,
    pub addr: SocketAddr,
}

/// What the TCP connection tasks tell the engine.
#[derive(Debug)]
pub enum TcpEvent {
    Packet(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

struct TcpConn {
    out: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
}

/// The UDP socket and the open TCP connections, by remote address.
pub struct Net {
    pub udp: UdpSocket,
    tcp: HashMap<SocketAddr, TcpConn>,
    max_tcp: usize,
}

impl Net {
    pub fn new(udp: UdpSocket, max_tcp: usize) -> Self {
        Net {
            udp,
            tcp: HashMap::new(),
            max_tcp,
        }
    }

    /// Sends one packet; false if it was dropped (no room, or no such connection).
    pub fn send(&self, proto: Protocol, destination: SocketAddr, contents: &[u8]) -> bool {
        match proto {
            Protocol::Udp => self.udp.try_send_to(contents, destination).is_ok(),
            _ => self
                .tcp
                .get(&destination)
                .is_some_and(|c| c.out.try_send(contents.to_vec()).is_ok()),
        }
    }

    /// Takes a connection a browser opened: its reader and writer run as tasks, telling
    /// `events` what arrives. Past `max_tcp` open connections it is closed at once.
    pub fn accept(
        &mut self,
        stream: TcpStream,
        remote: SocketAddr,
        events: mpsc::Sender<TcpEvent>,
    ) {
        if self.tcp.len() >= self.max_tcp {
            metrics::counter!("switchboard_webrtc_datagrams_dropped_total", "reason" => "tcp_full")
                .increment(1);
            return;
        }
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (out, mut queue) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
        let stop = CancellationToken::new();
        let read_stop = stop.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_TCP_PACKET];
            loop {
                let read = async {
                    let len = usize::from(reader.read_u16().await?);
                    if len == 0 || len > MAX_TCP_PACKET {
                        return Err(std::io::ErrorKind::InvalidData.into());
                    }
                    reader.read_exact(&mut buf[..len]).await?;
                    Ok::<_, std::io::Error>(buf[..len].to_vec())
                };
                let packet = tokio::select! {
                    () = read_stop.cancelled() => break,
                    read = tokio::time::timeout(TCP_IDLE, read) => match read {
                        Ok(Ok(packet)) => packet,
                        _ => break,
                    },
                };
                if events.send(TcpEvent::Packet(remote, packet)).await.is_err() {
                    break;
                }
            }
            read_stop.cancel();
            let _ = events.send(TcpEvent::Closed(remote)).await;
        });
        let write_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let packet = tokio::select! {
                    () = write_stop.cancelled() => break,
                    packet = queue.recv() => match packet {
                        Some(p) => p,
                        None => break,
                    },
                };
                let Ok(len) = u16::try_from(packet.len()) else {
                    continue;
                };
                let mut framed = Vec::with_capacity(packet.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&packet);
                if writer.write_all(&framed).await.is_err() {
                    break;
                }
            }
            write_stop.cancel();
        });
        if let Some(old) = self.tcp.insert(remote, TcpConn { out, stop }) {
            old.stop.cancel();
        }
    }

    /// Forgets a connection its tasks ended.
    pub fn closed(&mut self, remote: SocketAddr) {
        if let Some(conn) = self.tcp.get(&remote)
            && conn.stop.is_cancelled()
        {
            self.tcp.remove(&remote);
        }
    }

    /// Closes the connection from `remote` (garbage on it, or its peer is gone).
    pub fn close(&mut self, remote: SocketAddr) {
        if let Some(conn) = self.tcp.remove(&remote) {
            conn.stop.cancel();
        }
    }
}
