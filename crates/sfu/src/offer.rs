//! What an SDP offer must hold before the forwarding unit answers it: it must parse, and a
//! publisher must send video while a viewer must be able to receive it. Pure functions, so
//! the refusals are tested without a socket.

use crate::error::SfuError;
use str0m::change::SdpOffer;

/// Who a peer is in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the room's video and audio (WHIP); hears the talking viewer.
    Publisher,
    /// Receives the publisher's media (WHEP); may talk back with its microphone.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }
}

/// One `m=` section of an offer, as far as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    kind: String,
    /// The offerer's direction (`a=sendrecv` when none is written, RFC 8866).
    direction: String,
    /// Port 0: the section is rejected or stopped.
    disabled: bool,
    /// It offers VP8 (`a=rtpmap:<pt> VP8/90000`), the one video codec forwarded.
    vp8: bool,
}

/// Largest offer read, in bytes: a browser's offer with every codec is about 6 KB.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

fn sections(sdp: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
            let disabled = parts.next() == Some("0");
            out.push(Section {
                kind,
                direction: "sendrecv".into(),
                disabled,
                vp8: false,
            });
        } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
            if let Some(section) = out.last_mut()
                && map
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|c| c.to_ascii_uppercase().starts_with("VP8/"))
            {
                section.vp8 = true;
            }
        } else if let Some(dir) = line
            .strip_prefix("a=")
            .filter(|a| matches!(*a, "sendrecv" | "sendonly" | "recvonly" | "inactive"))
        {
            // A direction before any section is not read: str0m wants one per section.
            if let Some(section) = out.last_mut() {
                section.direction = dir.to_string();
            }
        }
    }
    out
}

/// Parses `sdp` and checks it can be answered for `role`.
pub fn check(sdp: &str, role: Role) -> Result<SdpOffer, SfuError> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(SfuError::BadOffer(format!(
            "the offer is {} bytes; at most {MAX_OFFER_BYTES} are read",
            sdp.len()
        )));
    }
    if !sdp.trim_start().starts_with("v=0") {
        return Err(SfuError::BadOffer(
            "this is not an SDP offer: it must begin with v=0".into(),
        ));
    }
    let offer = SdpOffer::from_sdp_string(sdp)
        .map_err(|e| SfuError::BadOffer(format!("the SDP offer does not parse: {e}")))?;
    let video = sections(sdp)
        .into_iter()
        .filter(|s| s.kind == "video" && !s.disabled)
        .collect::<Vec<_>>();
    let wanted: &[&str] = match role {
        Role::Publisher => &["sendonly", "sendrecv"],
        Role::Viewer => &["recvonly", "sendrecv"],
    };
    if !video.iter().any(|s| wanted.contains(&s.direction.as_str())) {
        let what = match role {
            Role::Publisher => "a publisher's offer must send video (m=video, a=sendonly)",
            Role::Viewer => "a viewer's offer must receive video (m=video, a=recvonly)",
        };
        return Err(SfuError::MissingMedia(what.into()));
    }
    if !video
        .iter()
        .any(|s| s.vp8 && wanted.contains(&s.direction.as_str()))
    {
        return Err(SfuError::MissingMedia(
            "the offer's video has no codec this server forwards: it needs VP8".into(),
        ));
    }
    Ok(offer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISH: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
        a=setup:actpass\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
        a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn a_publishers_offer_that_sends_video_passes() {
        check(PUBLISH, Role::Publisher).unwrap();
    }

    #[test]
    fn the_same_offer_is_not_a_viewers() {
        let err = check(PUBLISH, Role::Viewer).unwrap_err();
        assert!(matches!(err, SfuError::MissingMedia(_)), "{err}");
    }

    #[test]
    fn a_viewer_offer_receives_video() {
        let offer = PUBLISH.replace("a=sendonly", "a=recvonly");
        check(&offer, Role::Viewer).unwrap();
        assert!(matches!(
            check(&offer, Role::Publisher),
            Err(SfuError::MissingMedia(_))
        ));
    }

    #[test]
    fn audio_only_and_a_stopped_video_are_missing_media() {
        let audio = PUBLISH.replace("m=video 9", "m=audio 9");
        assert!(matches!(
            check(&audio, Role::Publisher),
            Err(SfuError::MissingMedia(_))
        ));
        let stopped = PUBLISH.replace("m=video 9", "m=video 0");
        assert!(matches!(
            check(&stopped, Role::Publisher),
            Err(SfuError::MissingMedia(_))
        ));
    }

    #[test]
    fn video_without_vp8_is_missing_media() {
        let h264 = PUBLISH.replace("VP8/90000", "H264/90000");
        let err = check(&h264, Role::Publisher).unwrap_err();
        assert!(err.to_string().contains("VP8"), "{err}");
    }

    #[test]
    fn text_that_is_not_sdp_and_huge_offers_are_bad() {
        for bad in ["hello", "", "{\"sdp\": 1}", "v=1\r\n"] {
            assert!(matches!(
                check(bad, Role::Publisher),
                Err(SfuError::BadOffer(_))
            ));
        }
        let huge = format!("{PUBLISH}{}", "a=x\r\n".repeat(MAX_OFFER_BYTES / 4));
        assert!(matches!(
            check(&huge, Role::Publisher),
            Err(SfuError::BadOffer(_))
        ));
    }
}
