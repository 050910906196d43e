//! A WebRTC client made of str0m, as a browser would be one: it offers, accepts the answer,
//! connects over its own UDP socket and sends or receives media. The load generator of
//! `switchboard bench webrtc` and the tests' stand-in for a phone or a viewer. Its video
//! frames are opaque bytes shaped as VP8 keyframes, each carrying its number and when it was
//! sent, so a viewer can tell the newest it received from how many it got.

use crate::Role;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a client sends once connected.
#[derive(Debug, Clone)]
pub struct SendPlan {
    /// Video frames per second (0: none).
    pub video_fps: u32,
    /// Bytes per video frame.
    pub frame_bytes: usize,
    /// Opus-sized audio packets every 20 ms.
    pub audio: bool,
    /// Encoded video frames to send in a loop (e.g. VP8 from an IVF file) instead of stamped
    /// stand-ins of `frame_bytes`.
    pub recorded: Option<Arc<Vec<Vec<u8>>>>,
}

impl Default for SendPlan {
    fn default() -> Self {
        SendPlan {
            video_fps: 15,
            frame_bytes: 6000,
            audio: true,
            recorded: None,
        }
    }
}

/// What a client saw, counted as it happens.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub connected: AtomicBool,
    pub video_frames_in: AtomicU64,
    pub audio_frames_in: AtomicU64,
    pub video_frames_out: AtomicU64,
    pub audio_frames_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// The highest frame number received (a viewer's, of stamped frames).
    pub highest_frame: AtomicU64,
    /// Keyframe requests the client received (a publisher's).
    pub keyframe_requests: AtomicU64,
    /// Whether the data channel is open.
    pub channel_open: AtomicBool,
    /// Microseconds from the offer to the first video frame received (0 before it): how long
    /// a viewer took to join.
    pub first_video_us: AtomicU64,
}

impl ClientStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A running client.
#[derive(Debug)]
pub struct ClientHandle {
    pub stats: Arc<ClientStats>,
    /// Text messages that arrived on the data channel.
    pub texts: mpsc::UnboundedReceiver<String>,
    send_text: mpsc::UnboundedSender<String>,
    stop: CancellationToken,
}

impl ClientHandle {
    /// Sends `text` on the data channel once it is open.
    pub fn send_text(&self, text: &str) {
        let _ = self.send_text.send(text.to_string());
    }

    /// Stops the client (it sends nothing more; the server sees it go silent).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A client between its offer and its answer.
#[derive(Debug)]
pub struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// ICE over TCP instead of UDP, once connected to the server's passive candidate.
    tcp: Option<TcpLink>,
    pending: Option<SdpPendingOffer>,
    role: Role,
    video: Mid,
    audio: Mid,
    channel: Option<ChannelId>,
    offered: Instant,
}

/// The epoch frame timestamps count from; one per process, so sender and receiver agree.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Client {
    /// A client on `ip` making its offer for `role`: a publisher sends video and audio and
    /// opens a data channel; a viewer receives video and talks back with audio.
    pub async fn offer(role: Role, ip: IpAddr) -> std::io::Result<(Client, String)> {
        Client::offer_with(role, ip, true).await
    }

    /// A client that will reach the server over ICE-TCP alone, as a browser on a network
    /// that blocks UDP: its offer names no candidate; after the answer, [`Client::connect_tcp`].
    pub async fn offer_tcp_only(role: Role, ip: IpAddr) -> std::io::Result<(Client, String)> {
        Client::offer_with(role, ip, false).await
    }

    async fn offer_with(
        role: Role,
        ip: IpAddr,
        udp_candidate: bool,
    ) -> std::io::Result<(Client, String)> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(Instant::now());
        if udp_candidate {
            let candidate = Candidate::host(local, "udp").map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            })?;
            rtc.add_local_candidate(candidate);
        }
        let mut change = rtc.sdp_api();
        let (video_dir, channel) = match role {
            Role::Publisher => (Direction::SendOnly, true),
            Role::Viewer => (Direction::RecvOnly, false),
        };
        let video = change.add_media(MediaKind::Video, video_dir, None, None, None);
        let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        if channel {
            change.add_channel("controls".into());
        }
        let Some((offer, pending)) = change.apply() else {
            return Err(std::io::Error::other("nothing to offer"));
        };
        let client = Client {
            rtc,
            socket,
            local,
            pending: Some(pending),
            role,
            video,
            audio,
            channel: None,
            offered: Instant::now(),
            tcp: None,
        };
        Ok((client, offer.to_sdp_string()))
    }

    /// Connects to the server's passive TCP candidate from `answer` (the one
    /// [`Client::accept`] took) and offers the connection as this client's (active) candidate.
    pub async fn connect_tcp(&mut self, answer: &str) -> std::io::Result<()> {
        let server = answer
            .lines()
            .filter(|l| l.starts_with("a=candidate:") && l.contains("tcptype passive"))
            .find_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                // a=candidate:<foundation> <component> tcp <priority> <ip> <port> typ host …
                let ip: IpAddr = fields.get(4)?.parse().ok()?;
                let port: u16 = fields.get(5)?.parse().ok()?;
                Some(SocketAddr::new(ip, port))
            })
            .ok_or_else(|| std::io::Error::other("the answer offers no TCP candidate"))?;
        let stream = tokio::net::TcpStream::connect(server).await?;
        let local = stream.local_addr()?;
        let candidate = Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        self.rtc.add_local_candidate(candidate);
        self.tcp = Some(TcpLink::start(stream, server, local));
        Ok(())
    }

    /// Takes the server's answer.
    pub fn accept(&mut self, answer: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| e.to_string())?;
        let pending = self.pending.take().ok_or("the answer was already taken")?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())
    }

    /// Runs the client on a task until it is stopped or its connection dies.
    pub fn spawn(self, plan: SendPlan) -> ClientHandle {
        let stats = Arc::new(ClientStats::default());
        let (texts_tx, texts) = mpsc::unbounded_channel();
        let (send_text, outgoing) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        tokio::spawn(self.run(plan, stats.clone(), texts_tx, outgoing, stop.clone()));
        ClientHandle {
            stats,
            texts,
            send_text,
            stop,
        }
    }

    async fn run(
        mut self,
        plan: SendPlan,
        stats: Arc<ClientStats>,
        texts: mpsc::UnboundedSender<String>,
        mut outgoing: mpsc::UnboundedReceiver<String>,
        stop: CancellationToken,
    ) {
        let start = Instant::now();
        let video_every = (plan.video_fps > 0 && self.role == Role::Publisher)
            .then(|| Duration::from_secs(1) / plan.video_fps);
        let audio_every = plan.audio.then_some(Duration::from_millis(20));
        let mut next_video = start;
        let mut next_audio = start;
        let mut frame_no: u64 = 0;
        let mut audio_no: u64 = 0;
        let mut queued_texts: Vec<String> = Vec::new();
        let mut buf = vec![0u8; 2048];
        loop {
            // Run the connection's output until it wants time.
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        stats
                            .bytes_out
                            .fetch_add(t.contents.len() as u64, Ordering::Relaxed);
                        match (&self.tcp, t.proto) {
                            (Some(link), Protocol::Tcp) => link.send(&t.contents),
                            _ => {
                                let _ = self.socket.try_send_to(&t.contents, t.destination);
                            }
                        }
                    }
                    Ok(Output::Event(e)) => self.event(e, &stats, &texts, &mut queued_texts),
                    Err(e) => {
                        tracing::debug!(error = %e, "a test client failed");
                        return;
                    }
                }
            };
            if !self.rtc.is_alive() {
                tracing::debug!("a test client's connection closed");
                return;
            }
            let now = Instant::now();
            let connected = stats.connected.load(Ordering::Relaxed);
            if connected {
                if let Some(every) = video_every
                    && now >= next_video
                {
                    next_video += every;
                    frame_no += 1;
                    if self.write_video(frame_no, &plan, now) {
                        stats.video_frames_out.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                if let Some(every) = audio_every
                    && now >= next_audio
                {
                    next_audio += every;
                    audio_no += 1;
                    if self.write_audio(audio_no) {
                        stats.audio_frames_out.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
            } else {
                next_video = now;
                next_audio = now;
            }
            let mut wake = timeout;
            if connected {
                if video_every.is_some() {
                    wake = wake.min(next_video);
                }
                if audio_every.is_some() {
                    wake = wake.min(next_audio);
                }
            }
            let wake = wake.max(now).min(now + Duration::from_millis(100));
            tokio::select! {
                () = stop.cancelled() => return,
                text = outgoing.recv() => {
                    if let Some(text) = text {
                        queued_texts.push(text);
                        self.flush_texts(&mut queued_texts);
                    }
                }
                read = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = read {
                        stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                        if let Ok(contents) = DatagramRecv::try_from(&buf[..n]) {
                            let input = Input::Receive(Instant::now(), Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: self.local,
                                contents,
                            });
                            if let Err(e) = self.rtc.handle_input(input) {
                                tracing::debug!(error = %e, "a test client failed");
                                return;
                            }
                        }
                    }
                }
                packet = async {
                    match self.tcp.as_mut() {
                        Some(link) => link.incoming.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(packet) = packet else {
                        tracing::debug!("a test client's TCP connection closed");
                        return;
                    };
                    stats.bytes_in.fetch_add(packet.len() as u64, Ordering::Relaxed);
                    let Some(link) = &self.tcp else { return };
                    let (source, destination) = (link.remote, link.local);
                    if let Ok(contents) = DatagramRecv::try_from(packet.as_slice()) {
                        let input = Input::Receive(Instant::now(), Receive {
                            proto: Protocol::Tcp,
                            source,
                            destination,
                            contents,
                        });
                        if let Err(e) = self.rtc.handle_input(input) {
                            tracing::debug!(error = %e, "a test client failed");
                            return;
                        }
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        tracing::debug!(error = %e, "a test client failed");
                        return;
                    }
                }
            }
        }
    }

    fn event(
        &mut self,
        event: Event,
        stats: &ClientStats,
        texts: &mpsc::UnboundedSender<String>,
        queued: &mut Vec<String>,
    ) {
        match event {
            Event::Connected => stats.connected.store(true, Ordering::Relaxed),
            Event::MediaData(data) if data.mid == self.video => {
                if stats.video_frames_in.fetch_add(1, Ordering::Relaxed) == 0 {
                    let us = self.offered.elapsed().as_micros().max(1);
                    stats
                        .first_video_us
                        .store(u64::try_from(us).unwrap_or(u64::MAX), Ordering::Relaxed);
                }
                if let Some((number, _sent_us)) = read_stamp(&data.data) {
                    stats.highest_frame.fetch_max(number, Ordering::Relaxed);
                }
            }
            Event::MediaData(data) if data.mid == self.audio => {
                stats.audio_frames_in.fetch_add(1, Ordering::Relaxed);
            }
            Event::KeyframeRequest(_) => {
                stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            }
            Event::ChannelOpen(id, _) => {
                self.channel = Some(id);
                stats.channel_open.store(true, Ordering::Relaxed);
                self.flush_texts(queued);
            }
            Event::ChannelData(data) => {
                if let Ok(text) = String::from_utf8(data.data) {
                    let _ = texts.send(text);
                }
            }
            _ => {}
        }
    }

    fn flush_texts(&mut self, queued: &mut Vec<String>) {
        let Some(mut channel) = self.channel.and_then(|id| self.rtc.channel(id)) else {
            return;
        };
        for text in queued.drain(..) {
            let _ = channel.write(false, text.as_bytes());
        }
    }

    fn write_video(&mut self, number: u64, plan: &SendPlan, now: Instant) -> bool {
        let Some(writer) = self.rtc.writer(self.video) else {
            return false;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt())
        else {
            return false;
        };
        let frame = match &plan.recorded {
            Some(frames) if !frames.is_empty() => {
                frames[(number as usize - 1) % frames.len()].clone()
            }
            _ => stamped_frame(
                number,
                epoch().elapsed().as_micros() as u64,
                plan.frame_bytes,
            ),
        };
        let time = MediaTime::from_90khz(number * u64::from(90_000 / plan.video_fps.max(1)));
        writer.write(pt, now, time, frame).is_ok()
    }

    fn write_audio(&mut self, number: u64) -> bool {
        let Some(writer) = self.rtc.writer(self.audio) else {
            return false;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt())
        else {
            return false;
        };
        // An Opus packet of silence-sized payload: the server never decodes it.
        let time = MediaTime::new(number * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
        writer
            .write(pt, Instant::now(), time, vec![0xf8, 0xff, 0xfe])
            .is_ok()
    }
}

/// A VP8 keyframe's first bytes (a frame tag with the key bit clear and the start code),
/// then the frame's number and send time, then filler up to `bytes`.
pub fn stamped_frame(number: u64, sent_us: u64, bytes: usize) -> Vec<u8> {
    let mut frame = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    frame.extend_from_slice(&number.to_be_bytes());
    frame.extend_from_slice(&sent_us.to_be_bytes());
    frame.resize(bytes.max(frame.len()), 0x5a);
    frame
}

/// The number and send time a [`stamped_frame`] carries.
pub fn read_stamp(frame: &[u8]) -> Option<(u64, u64)> {
    let number = u64::from_be_bytes(frame.get(10..18)?.try_into().ok()?);
    let sent = u64::from_be_bytes(frame.get(18..26)?.try_into().ok()?);
    Some((number, sent))
}

/// A client's ICE-TCP connection: packets framed with their 2-byte length (RFC 4571), read
/// and written by tasks of their own.
#[derive(Debug)]
struct TcpLink {
    remote: SocketAddr,
    local: SocketAddr,
    incoming: mpsc::Receiver<Vec<u8>>,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
}

impl TcpLink {
    fn start(stream: tokio::net::TcpStream, remote: SocketAddr, local: SocketAddr) -> TcpLink {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut reader, mut writer) = stream.into_split();
        let (to_client, incoming) = mpsc::channel(256);
        let (outgoing, mut to_server) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Ok(len) = reader.read_u16().await {
                let mut packet = vec![0u8; usize::from(len)];
                if reader.read_exact(&mut packet).await.is_err()
                    || to_client.send(packet).await.is_err()
                {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(packet) = to_server.recv().await {
                let Ok(len) = u16::try_from(packet.len()) else {
                    continue;
                };
                let mut framed = len.to_be_bytes().to_vec();
                framed.extend_from_slice(&packet);
                if writer.write_all(&framed).await.is_err() {
                    break;
                }
            }
        });
        TcpLink {
            remote,
            local,
            incoming,
            outgoing,
        }
    }

    fn send(&self, packet: &[u8]) {
        let _ = self.outgoing.send(packet.to_vec());
    }
}
