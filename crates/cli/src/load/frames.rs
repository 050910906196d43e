//! The frames simulated devices send: real JPEGs rendered once, up front, and a stamp added
//! to each as it is sent so that viewers can tell where it came from and how late it is.

use anyhow::Context;
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard_media::{jpeg, synth};

/// Distinct pre-rendered frames, shared by every simulated device.
///
/// Rendering a 640×480 test card takes about 6 ms, which at 30 fps for hundreds of devices
/// would cost more than the server under test; so a couple of seconds' worth is rendered at
/// start-up and devices cycle through them. Each frame shows its own number, so a person
/// watching a viewer sees the picture change.
#[derive(Debug)]
pub struct FrameRing {
    frames: Vec<Bytes>,
}

impl FrameRing {
    /// Renders `count` frames of about `frame_bytes` each, spread over the blocking thread
    /// pool (one batch per core) so start-up takes a fraction of a second.
    pub async fn render(count: usize, frame_bytes: usize) -> anyhow::Result<FrameRing> {
        let count = count.max(1);
        let workers = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2)
            .min(count);
        let batches = (0..workers).map(|worker| {
            tokio::task::spawn_blocking(move || {
                (worker..count)
                    .step_by(workers)
                    .map(|n| (n, Bytes::from(synth::sized(n as u64, frame_bytes))))
                    .collect::<Vec<_>>()
            })
        });
        let mut numbered = Vec::with_capacity(count);
        for batch in futures::future::join_all(batches).await {
            numbered.extend(batch.context("a frame-rendering thread failed")?);
        }
        numbered.sort_by_key(|(n, _)| *n);
        Ok(FrameRing {
            frames: numbered.into_iter().map(|(_, frame)| frame).collect(),
        })
    }

    /// The frame for sequence number `seq` of the device of session `session`: devices start
    /// at different points of the ring, so neighbouring sessions do not show the same picture.
    pub fn frame(&self, session: usize, seq: u64) -> &Bytes {
        let n = self.frames.len() as u64;
        // The ring is never empty: `render` makes at least one frame.
        &self.frames[((seq + session as u64 * 7) % n) as usize]
    }

    /// A copy of that frame carrying a [`Stamp`] for `session` and `seq` with the current
    /// time, ready to send. Returns the frame and the stamp.
    pub fn stamped(&self, session: usize, seq: u64) -> (Bytes, Stamp) {
        let stamp = Stamp {
            session,
            seq,
            sent_micros: unix_micros(),
        };
        let text = stamp.to_string();
        let frame = jpeg::with_comment(self.frame(session, seq), text.as_bytes());
        (Bytes::from(frame), stamp)
    }
}

/// Microseconds since the Unix epoch: the clock stamps use, shared by devices and viewers of
/// one process, so their difference is the end-to-end latency.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What a simulated device writes into each frame's JPEG comment (COM) segment, which
/// decoders ignore and the server relays untouched: `sbsim s=<session> q=<seq> t=<µs>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the session in the run (not its SUID, to keep the stamp short).
    pub session: usize,
    /// The device's frame number.
    pub seq: u64,
    /// When the device sent it, in [`unix_micros`].
    pub sent_micros: u64,
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sbsim s={} q={} t={}",
            self.session, self.seq, self.sent_micros
        )
    }
}

impl Stamp {
    /// Reads the stamp from a JPEG, or `None` if it has none (or another comment first).
    pub fn of_jpeg(jpeg: &[u8]) -> Option<Stamp> {
        Self::parse(jpeg::comment(jpeg)?)
    }

    /// Parses a stamp's text.
    pub fn parse(text: &[u8]) -> Option<Stamp> {
        let text = std::str::from_utf8(text).ok()?;
        let mut fields = text.strip_prefix("sbsim ")?.split(' ');
        let mut field =
            |name: &str| -> Option<u64> { fields.next()?.strip_prefix(name)?.parse().ok() };
        Some(Stamp {
            session: usize::try_from(field("s=")?).ok()?,
            seq: field("q=")?,
            sent_micros: field("t=")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stamped_frames_are_valid_jpegs_that_carry_their_stamp() {
        let ring = FrameRing::render(3, 5_000).await.unwrap();
        assert_eq!(ring.frames.len(), 3);
        assert_ne!(ring.frame(0, 0), ring.frame(0, 1));
        let (frame, stamp) = ring.stamped(4, 17);
        assert!(jpeg::inspect(&frame).is_ok());
        assert!(
            frame.len() >= 5_000 && frame.len() < 5_100,
            "{}",
            frame.len()
        );
        assert_eq!(Stamp::of_jpeg(&frame), Some(stamp));
        assert_eq!((stamp.session, stamp.seq), (4, 17));
    }

    #[test]
    fn stamps_round_trip_and_garbage_is_refused() {
        let s = Stamp {
            session: 12,
            seq: 345,
            sent_micros: 1_700_000_000_000_000,
        };
        assert_eq!(Stamp::parse(s.to_string().as_bytes()), Some(s));
        for bad in [
            &b"sbsim s=1 q=2"[..],
            b"hello",
            b"sbsim s=x q=1 t=2",
            b"\xff",
        ] {
            assert_eq!(Stamp::parse(bad), None);
        }
    }
}
