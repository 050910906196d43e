//! Reading a spoken question from a WAV file: RIFF chunks walked by hand (the format is
//! small), and the one sample format the acoustic model takes checked before any sample is
//! read.

use crate::error::WavError;
use std::time::Duration;

/// The sample rate of the US-English acoustic model.
pub const SAMPLE_RATE: u32 = 16_000;

/// `WAVE_FORMAT_PCM`.
const FORMAT_PCM: u16 = 1;
/// `WAVE_FORMAT_EXTENSIBLE`: the real format is the first two bytes of its sub-format GUID.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// What a recording must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavLimits {
    /// The longest recording taken.
    pub max_duration: Duration,
}

/// A recording's samples: mono, 16-bit, [`SAMPLE_RATE`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pcm {
    /// The samples, in order.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// How long the recording lasts.
    pub fn duration(&self) -> Duration {
        duration_of(self.samples.len())
    }

    /// The loudest sample's magnitude (0 to 32768).
    pub fn peak(&self) -> u32 {
        self.samples
            .iter()
            .map(|s| i32::from(*s).unsigned_abs())
            .max()
            .unwrap_or(0)
    }

    /// Whether nothing in it is loud enough to be speech: no sample reaches 1% of full
    /// scale (−40 dBFS), below any voice near a microphone and above a quiet room's
    /// noise. Such a recording is not decoded at all: a grammar always finds *some* phrase
    /// in noise.
    pub fn is_silent(&self) -> bool {
        self.peak() < SILENCE_PEAK
    }
}

/// A sample below this magnitude (1% of full scale) is silence.
pub const SILENCE_PEAK: u32 = 328;

fn duration_of(samples: usize) -> Duration {
    Duration::from_secs_f64(samples as f64 / f64::from(SAMPLE_RATE))
}

/// The format a `fmt ` chunk declares.
#[derive(Debug, Clone, Copy)]
struct Format {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
}

impl Format {
    fn is_accepted(self) -> bool {
        self.tag == FORMAT_PCM
            && self.channels == 1
            && self.sample_rate == SAMPLE_RATE
            && self.bits == 16
    }

    fn describe(self) -> String {
        let coding = match self.tag {
            FORMAT_PCM => format!("{}-bit PCM", self.bits),
            3 => format!("{}-bit floating point", self.bits),
            6 => "A-law".to_owned(),
            7 => "µ-law".to_owned(),
            other => format!("format {other:#06x}"),
        };
        let channels = match self.channels {
            1 => "mono".to_owned(),
            2 => "stereo".to_owned(),
            n => format!("{n} channels"),
        };
        format!("{} Hz, {channels}, {coding}", self.sample_rate)
    }
}

/// What a question must be, in words, for error messages.
pub fn expected_format() -> String {
    format!("a WAV file of {SAMPLE_RATE} Hz, mono, 16-bit PCM")
}

/// Reads `bytes` as a WAV file of 16 kHz mono 16-bit PCM no longer than `limits` allow.
///
/// Chunks other than `fmt ` and `data` (`LIST`, `fact`, …) are skipped. A `data` chunk that
/// declares more bytes than follow (or 0) is read to the end: recorders writing to a pipe
/// put a placeholder there (ffmpeg 0xFFFFFFFF, espeak-ng 0x7FFFF000), so the declared length
/// is never trusted. The duration is that of the samples present, checked before they are
/// copied.
pub fn parse(bytes: &[u8], limits: &WavLimits) -> Result<Pcm, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav(
            "it does not start with a RIFF/WAVE header".to_owned(),
        ));
    }
    let mut format: Option<Format> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let declared =
            u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body_start = at + 8;
        let available = bytes.len() - body_start;
        let size = usize::try_from(declared).unwrap_or(usize::MAX);
        match id {
            b"fmt " => {
                if size < 16 || size > available {
                    return Err(WavError::NotWav("its fmt chunk is cut short".to_owned()));
                }
                format = Some(read_format(&bytes[body_start..body_start + size]));
            }
            b"data" => {
                let Some(format) = format else {
                    return Err(WavError::NotWav(
                        "its data chunk comes before any fmt chunk".to_owned(),
                    ));
                };
                if !format.is_accepted() {
                    return Err(WavError::Unsupported {
                        found: format.describe(),
                        expected: format!("{SAMPLE_RATE} Hz, mono (1 channel), 16-bit PCM"),
                    });
                }
                let size = if size == 0 || size > available {
                    available
                } else {
                    size
                };
                let seconds = duration_of(size / 2);
                if seconds > limits.max_duration {
                    return Err(WavError::TooLong {
                        seconds: seconds.as_secs_f64(),
                        max_seconds: limits.max_duration.as_secs_f64(),
                    });
                }
                let samples = bytes[body_start..body_start + size]
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                return Ok(Pcm { samples });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        let next = body_start.saturating_add(size).saturating_add(size & 1);
        if next > bytes.len() {
            break;
        }
        at = next;
    }
    Err(WavError::NotWav(
        if format.is_some() {
            "it has no data chunk"
        } else {
            "it has no fmt chunk"
        }
        .to_owned(),
    ))
}

fn read_format(chunk: &[u8]) -> Format {
    let u16_at = |i: usize| u16::from_le_bytes([chunk[i], chunk[i + 1]]);
    let mut tag = u16_at(0);
    // WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format GUID (byte 24 on).
    if tag == FORMAT_EXTENSIBLE && chunk.len() >= 26 {
        tag = u16_at(24);
    }
    Format {
        tag,
        channels: u16_at(2),
        sample_rate: u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        bits: u16_at(14),
    }
}

/// Writes `samples` as a WAV file of [`SAMPLE_RATE`] Hz, mono, 16-bit PCM (for tests,
/// benchmarks and tools that make questions).
pub fn encode(samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len)).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WavLimits = WavLimits {
        max_duration: Duration::from_secs(10),
    };

    /// A WAV header with the given format fields, then `data` with `samples` zero bytes.
    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data_bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits) / 8).to_le_bytes());
        out.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&u32::try_from(data_bytes).unwrap().to_le_bytes());
        out.extend(std::iter::repeat_n(0u8, data_bytes));
        out
    }

    #[test]
    fn a_round_trip_keeps_the_samples() {
        let samples: Vec<i16> = (0..1600).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let pcm = parse(&encode(&samples), &LIMITS).unwrap();
        assert_eq!(pcm.samples, samples);
        assert_eq!(pcm.duration(), Duration::from_millis(100));
        assert_eq!(pcm.peak(), 1000);
        assert!(!pcm.is_silent());
    }

    #[test]
    fn other_chunks_are_skipped_and_odd_ones_padded() {
        let plain = encode(&[1, -2, 3]);
        // A LIST chunk of odd length (5 bytes + 1 pad) between fmt and data, as ffmpeg
        // writes one.
        let mut with_list = plain[..36].to_vec();
        with_list.extend_from_slice(b"LIST");
        with_list.extend_from_slice(&5u32.to_le_bytes());
        with_list.extend_from_slice(b"INFO\0\0");
        with_list.extend_from_slice(&plain[36..]);
        assert_eq!(parse(&with_list, &LIMITS).unwrap().samples, vec![1, -2, 3]);
    }

    #[test]
    fn a_streamed_length_is_read_to_the_end() {
        let mut streamed = encode(&[5, 6, 7, 8]);
        streamed[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&streamed, &LIMITS).unwrap().samples, vec![5, 6, 7, 8]);
        streamed[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse(&streamed, &LIMITS).unwrap().samples, vec![5, 6, 7, 8]);
        // A declared day of audio is not trusted either: the samples present are short.
        streamed[40..44].copy_from_slice(&(86_400u32 * 32_000).to_le_bytes());
        assert_eq!(parse(&streamed, &LIMITS).unwrap().samples, vec![5, 6, 7, 8]);
    }

    #[test]
    fn what_is_not_a_wav_says_so() {
        for bytes in [
            &b""[..],
            b"RIFF",
            b"\xff\xd8\xff\xe0 a jpeg",
            b"RIFF\0\0\0\0AVI LIST",
        ] {
            assert!(
                matches!(parse(bytes, &LIMITS), Err(WavError::NotWav(_))),
                "{bytes:?}"
            );
        }
        // A header and nothing else; a fmt chunk cut short; data before fmt.
        assert!(matches!(
            parse(b"RIFF\0\0\0\0WAVE", &LIMITS),
            Err(WavError::NotWav(_))
        ));
        let full = encode(&[1, 2]);
        assert!(matches!(
            parse(&full[..30], &LIMITS),
            Err(WavError::NotWav(_))
        ));
        let mut data_first = b"RIFF\0\0\0\0WAVE".to_vec();
        data_first.extend_from_slice(&full[36..]);
        assert!(matches!(
            parse(&data_first, &LIMITS),
            Err(WavError::NotWav(_))
        ));
    }

    #[test]
    fn other_formats_are_named_with_what_is_expected() {
        for (bytes, found) in [
            (wav(1, 1, 44_100, 16, 8), "44100 Hz, mono, 16-bit PCM"),
            (wav(1, 2, 16_000, 16, 8), "16000 Hz, stereo, 16-bit PCM"),
            (wav(1, 1, 16_000, 8, 8), "16000 Hz, mono, 8-bit PCM"),
            (
                wav(3, 1, 16_000, 32, 8),
                "16000 Hz, mono, 32-bit floating point",
            ),
        ] {
            match parse(&bytes, &LIMITS) {
                Err(e @ WavError::Unsupported { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains(found), "{message}");
                    assert!(message.contains("16000 Hz, mono"), "{message}");
                }
                other => panic!("{found}: {other:?}"),
            }
        }
        // Extensible PCM is PCM.
        let mut extensible = wav(FORMAT_EXTENSIBLE, 1, 16_000, 16, 4);
        extensible[16..20].copy_from_slice(&40u32.to_le_bytes());
        let mut ext_fmt = extensible[..36].to_vec();
        ext_fmt.extend_from_slice(&22u16.to_le_bytes());
        ext_fmt.extend_from_slice(&16u16.to_le_bytes());
        ext_fmt.extend_from_slice(&0u32.to_le_bytes());
        ext_fmt.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        ext_fmt.extend_from_slice(&[0; 14]);
        ext_fmt.extend_from_slice(&extensible[36..]);
        assert_eq!(parse(&ext_fmt, &LIMITS).unwrap().samples, vec![0, 0]);
    }

    #[test]
    fn a_long_recording_is_refused_before_it_is_read() {
        let eleven_seconds = wav(1, 1, 16_000, 16, 16_000 * 2 * 11);
        match parse(&eleven_seconds, &LIMITS) {
            Err(WavError::TooLong {
                seconds,
                max_seconds,
            }) => {
                assert!((seconds - 11.0).abs() < 1e-9);
                assert!((max_seconds - 10.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        let ten = wav(1, 1, 16_000, 16, 16_000 * 2 * 10);
        assert_eq!(parse(&ten, &LIMITS).unwrap().samples.len(), 160_000);
    }

    #[test]
    fn silence_and_emptiness_are_told_apart_from_speech() {
        assert!(Pcm::default().is_silent());
        assert!(
            Pcm {
                samples: vec![0, 300, -327]
            }
            .is_silent()
        );
        assert!(
            !Pcm {
                samples: vec![0, -328]
            }
            .is_silent()
        );
        assert!(
            !Pcm {
                samples: vec![i16::MIN]
            }
            .is_silent()
        );
        assert_eq!(
            parse(&wav(1, 1, 16_000, 16, 0), &LIMITS).unwrap(),
            Pcm::default()
        );
    }
}
