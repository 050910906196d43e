//! One peer: its str0m `Rtc`, the media sections it negotiated, and what its output means to
//! the rest of its room.

use crate::net::{Net, Source};
use crate::{CloseReason, PeerCounters, PeerEvent, PeerId, Role};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use str0m::channel::ChannelId;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc;

/// Data-channel messages kept for a channel that is not open yet.
const MAX_PENDING_TEXTS: usize = 256;

/// What a peer's output asks of the others in its room.
#[derive(Debug)]
pub enum Forward {
    /// Media the peer sent: a publisher's goes to the viewers, a viewer's voice to the
    /// publisher.
    Media {
        from: PeerId,
        kind: MediaKind,
        /// Boxed: a frame's metadata is large beside the other variants, and the box is
        /// one allocation per frame, not per viewer.
        data: Box<MediaData>,
    },
    /// The publisher should send a keyframe (a viewer asked, or one just connected).
    Keyframe {
        room: Arc<str>,
        kind: KeyframeRequestKind,
    },
}

#[derive(Debug)]
pub struct Peer {
    pub id: PeerId,
    pub room: Arc<str>,
    pub role: Role,
    pub rtc: Rtc,
    events: mpsc::UnboundedSender<PeerEvent>,
    pub counters: Arc<PeerCounters>,
    pub created: Instant,
    pub connected: bool,
    /// The media sections by kind (the first of each).
    video: Option<Mid>,
    audio: Option<Mid>,
    channel: Option<ChannelId>,
    pending_texts: VecDeque<String>,
    /// When str0m wants time to pass next.
    pub timeout: Instant,
    /// Where this peer was reached from.
    pub sources: Vec<Source>,
    /// Why the peer ended, once it did (the first reason wins).
    closed: Option<CloseReason>,
}

impl Peer {
    pub fn new(
        id: PeerId,
        room: Arc<str>,
        role: Role,
        rtc: Rtc,
        events: mpsc::UnboundedSender<PeerEvent>,
        counters: Arc<PeerCounters>,
        now: Instant,
    ) -> Self {
        Peer {
            id,
            room,
            role,
            rtc,
            events,
            counters,
            created: now,
            connected: false,
            video: None,
            audio: None,
            channel: None,
            pending_texts: VecDeque::new(),
            timeout: now,
            sources: Vec::new(),
            closed: None,
        }
    }

    pub fn is_alive(&self) -> bool {
        self.closed.is_none() && self.rtc.is_alive()
    }

    /// Ends the peer; the first reason given is the one its owner hears.
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
            self.rtc.disconnect();
        }
    }

    /// Tells the peer's owner it is gone, once the engine has forgotten it.
    pub fn announce_closed(self) {
        let reason = self.closed.unwrap_or(CloseReason::Disconnected);
        let _ = self.events.send(PeerEvent::Closed(reason));
    }

    /// Feeds `input`; a failure disconnects the peer.
    pub fn input(&mut self, input: Input) {
        if !self.is_alive() {
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(peer = %self.id, error = %e, "WebRTC peer failed");
            self.close(CloseReason::Disconnected);
        }
    }

    /// Runs the peer's output until str0m waits for time or input: datagrams go out on
    /// `net`, what others must act on goes to `out`.
    pub fn drain(&mut self, net: &Net, out: &mut Vec<Forward>) {
        while self.is_alive() {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.timeout = at;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    self.counters
                        .bytes_out
                        .fetch_add(t.contents.len() as u64, Ordering::Relaxed);
                    // UDP: a datagram the kernel has no room for is lost, as on the wire;
                    // NACKs and keyframe requests repair it.
                    if !net.send(t.proto, t.destination, &t.contents) {
                        metrics::counter!("switchboard_webrtc_datagrams_dropped_total", "reason" => "send").increment(1);
                    }
                }
                Ok(Output::Event(event)) => self.event(event, out),
                Err(e) => {
                    tracing::debug!(peer = %self.id, error = %e, "WebRTC peer output failed");
                    self.close(CloseReason::Disconnected);
                }
            }
        }
    }

    fn event(&mut self, event: Event, out: &mut Vec<Forward>) {
        match event {
            Event::Connected => {
                tracing::debug!(peer = %self.id, role = self.role.as_str(), "WebRTC peer connected");
                self.connected = true;
                let _ = self.events.send(PeerEvent::Connected);
                if self.role == Role::Viewer {
                    out.push(Forward::Keyframe {
                        room: self.room.clone(),
                        kind: KeyframeRequestKind::Pli,
                    });
                }
            }
            Event::IceConnectionStateChange(state) if state != IceConnectionState::Disconnected => {
                tracing::debug!(peer = %self.id, ?state, "WebRTC peer ICE state");
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.close(CloseReason::Disconnected);
            }
            Event::MediaAdded(added) => match added.kind {
                MediaKind::Video if self.video.is_none() => self.video = Some(added.mid),
                MediaKind::Audio if self.audio.is_none() => self.audio = Some(added.mid),
                _ => {}
            },
            Event::MediaData(data) => {
                let kind = if Some(data.mid) == self.video {
                    MediaKind::Video
                } else if Some(data.mid) == self.audio {
                    MediaKind::Audio
                } else {
                    return;
                };
                if kind == MediaKind::Video {
                    self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                    if !data.contiguous {
                        // A frame was lost for good: only a keyframe repairs the picture.
                        out.push(Forward::Keyframe {
                            room: self.room.clone(),
                            kind: KeyframeRequestKind::Fir,
                        });
                    }
                }
                out.push(Forward::Media {
                    from: self.id,
                    kind,
                    data: Box::new(data),
                });
            }
            Event::KeyframeRequest(req) if self.role == Role::Viewer => {
                out.push(Forward::Keyframe {
                    room: self.room.clone(),
                    kind: req.kind,
                });
            }
            Event::ChannelOpen(id, _label) => {
                self.channel = Some(id);
                while let Some(text) = self.pending_texts.pop_front() {
                    self.write_text(&text);
                }
            }
            Event::ChannelData(data) if !data.binary => {
                if let Ok(text) = String::from_utf8(data.data) {
                    let _ = self.events.send(PeerEvent::Text(text));
                }
            }
            Event::ChannelClose(id) if Some(id) == self.channel => self.channel = None,
            _ => {}
        }
    }

    /// Writes one frame of `kind` to this peer, in the payload type it negotiated for the
    /// codec the frame is in. False when the peer has no such media or codec.
    pub fn write(&mut self, kind: MediaKind, data: &MediaData) -> bool {
        let mid = match kind {
            MediaKind::Video => self.video,
            MediaKind::Audio => self.audio,
        };
        let Some(writer) = mid.and_then(|mid| self.rtc.writer(mid)) else {
            return false;
        };
        let Some(pt) = writer.match_params(data.params) else {
            return false;
        };
        match writer.write(pt, data.network_time, data.time, data.data.clone()) {
            Ok(()) => {
                if kind == MediaKind::Video {
                    self.counters.frames_out.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(e) => {
                tracing::debug!(peer = %self.id, error = %e, "cannot write to a WebRTC peer");
                false
            }
        }
    }

    /// Asks this (publishing) peer for a keyframe.
    /// False while the publisher's video is not flowing yet: str0m has no stream to ask on.
    pub fn request_keyframe(&mut self, kind: KeyframeRequestKind) -> bool {
        self.video
            .and_then(|mid| self.rtc.writer(mid))
            .is_some_and(|mut writer| writer.request_keyframe(None, kind).is_ok())
    }

    /// Sends `text` on the data channel, or keeps it until the channel opens.
    pub fn send_text(&mut self, text: String) {
        if self.channel.is_some() {
            self.write_text(&text);
        } else if self.pending_texts.len() < MAX_PENDING_TEXTS {
            self.pending_texts.push_back(text);
        }
    }

    fn write_text(&mut self, text: &str) {
        if let Some(mut channel) = self.channel.and_then(|id| self.rtc.channel(id)) {
            let _ = channel.write(false, text.as_bytes());
        }
    }
}
