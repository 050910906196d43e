//! Cheap JPEG validation and COM-segment helpers.
//!
//! [`inspect`] runs on every frame a device sends (30 fps × hundreds of sessions), so it never
//! decodes: it walks the marker segments of the header (a handful of length-prefixed blocks),
//! reads the frame header, and checks that the data ends with the end-of-image marker. The
//! entropy-coded image data between the start-of-scan header and the end marker is not read
//! at all, so the cost does not grow with the size of the frame.
//!
//! What it catches: data that is not a JPEG at all (PNG, text, an HTML error page), a frame
//! cut short anywhere (in the headers, in the image data, before the end marker), a missing
//! or empty frame header. What it does not catch: corrupt entropy-coded data, which only a
//! decoder notices; viewers' decoders skip such frames on their own.
//!
//! [`comment`] and [`with_comment`] read and add COM (comment) segments, which decoders
//! ignore. The latency benchmark stamps each frame with its sequence number and send time
//! this way and reads the stamp back at the viewer.

use std::iter::FusedIterator;

use thiserror::Error;

/// Start of image.
const SOI: u8 = 0xD8;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan: the last header segment before the entropy-coded data.
const SOS: u8 = 0xDA;
/// Comment segment.
const COM: u8 = 0xFE;
/// Temporary private use marker, which has no length field.
const TEM: u8 = 0x01;

/// The largest payload one COM segment can carry (its length field is 16 bits and counts
/// itself).
pub const MAX_COMMENT_SEGMENT: usize = u16::MAX as usize - 2;

/// What [`inspect`] learned from a JPEG's frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JpegInfo {
    /// Width in pixels (never zero).
    pub width: u16,
    /// Height in pixels (never zero).
    pub height: u16,
    /// Number of colour components: 1 for greyscale, 3 for YCbCr, 4 for CMYK.
    pub components: u8,
    /// Whether the frame is progressive (SOF2, SOF6, SOF10, SOF14) rather than sequential.
    pub progressive: bool,
}

impl JpegInfo {
    /// Width × height: what decoding the picture costs, whatever the file's size (a few
    /// hundred bytes can declare 65,535 × 65,535).
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Why [`inspect`] rejected some data as a JPEG frame.
///
/// Offsets are byte positions in the inspected data, to help whoever looks at a captured
/// frame with a hex dump.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JpegError {
    /// The data does not begin with the start-of-image marker, so it is not a JPEG at all.
    #[error("not a JPEG: the data does not start with the start-of-image marker FF D8")]
    NotJpeg,
    /// The data ends inside the header segments, before the image data starts.
    #[error("truncated JPEG: the data ends inside the header segments (at byte {offset})")]
    Truncated {
        /// Where the data ended, or where the segment that runs past the end begins.
        offset: usize,
    },
    /// A byte other than 0xFF where the next header segment should begin.
    #[error("invalid JPEG: expected a marker at byte {offset}, found 0x{found:02X}")]
    ExpectedMarker {
        /// Position of the unexpected byte.
        offset: usize,
        /// The unexpected byte.
        found: u8,
    },
    /// A marker that cannot appear among the header segments (a second SOI, or FF 00).
    #[error("invalid JPEG: marker FF {marker:02X} at byte {offset} is not allowed in the headers")]
    UnexpectedMarker {
        /// Position of the marker's 0xFF byte.
        offset: usize,
        /// The marker code (the byte after 0xFF).
        marker: u8,
    },
    /// A segment whose length field is smaller than the length field itself.
    #[error(
        "invalid JPEG: segment FF {marker:02X} at byte {offset} has an invalid length {length}"
    )]
    BadSegmentLength {
        /// Position of the marker's 0xFF byte.
        offset: usize,
        /// The marker code.
        marker: u8,
        /// The length read from the segment.
        length: u16,
    },
    /// A frame header (SOFn) too short for the fields it declares, or with no components.
    #[error("invalid JPEG: the frame header at byte {offset} is malformed")]
    BadFrameHeader {
        /// Position of the frame header's marker.
        offset: usize,
    },
    /// The image data begins (SOS) before any frame header (SOFn) said how big the image is.
    #[error("invalid JPEG: image data starts before any frame header (SOF)")]
    NoFrameHeader,
    /// The frame header declares a width or height of zero.
    #[error("invalid JPEG: the frame header declares an empty image ({width}x{height})")]
    ZeroDimensions {
        /// Declared width.
        width: u16,
        /// Declared height.
        height: u16,
    },
    /// The end-of-image marker comes before any image data (SOS).
    #[error("invalid JPEG: the image ends before any image data (no SOS segment)")]
    NoScan,
    /// The data does not end with the end-of-image marker: cut short, or followed by garbage.
    #[error("invalid JPEG: the data does not end with the end-of-image marker FF D9 (truncated?)")]
    NoEndMarker,
}

/// Checks that `data` is one complete JPEG image and returns what its frame header says.
///
/// The checks, in order: the data starts with SOI (FF D8); the header segments are well
/// formed (fill bytes 0xFF before a marker are skipped, RSTn and TEM have no length field,
/// every other segment's length stays within the data) up to the first SOS; a frame header
/// (any of SOF0–3, 5–7, 9–11, 13–15) comes before that SOS and declares a nonzero width and
/// height; the data ends with EOI (FF D9), possibly followed by zero bytes that some
/// cameras pad frames with. The entropy-coded data is not read, so the cost is independent
/// of the frame's size.
///
/// If a JPEG has several frame headers (hierarchical mode), the first one is reported.
///
/// # Errors
///
/// The [`JpegError`] variant names the first check that failed.
///
/// ```
/// use switchboard_media::{jpeg, synth::TestCard};
///
/// let frame = TestCard::new(320, 240, 80).render(1);
/// let info = jpeg::inspect(&frame)?;
/// assert_eq!((info.width, info.height), (320, 240));
/// let cut = &frame[..frame.len() - 100];
/// assert_eq!(jpeg::inspect(cut), Err(jpeg::JpegError::NoEndMarker));
/// assert_eq!(jpeg::inspect(b"GIF89a"), Err(jpeg::JpegError::NotJpeg));
/// # Ok::<(), jpeg::JpegError>(())
/// ```
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if !data.starts_with(&[0xFF, SOI]) {
        return Err(JpegError::NotJpeg);
    }
    let mut frame = None;
    for segment in Segments::new(data) {
        let segment = segment?;
        match segment.marker {
            marker if is_frame_header(marker) && frame.is_none() => {
                frame = Some(parse_frame_header(&segment)?);
            }
            SOS => {
                let info = frame.ok_or(JpegError::NoFrameHeader)?;
                let scan_start = segment.end;
                let end = data
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |last| last + 1);
                if end < scan_start + 2 || data[end - 2..end] != [0xFF, EOI] {
                    return Err(JpegError::NoEndMarker);
                }
                return Ok(info);
            }
            EOI => return Err(JpegError::NoScan),
            _ => {}
        }
    }
    // The walk only stops early after SOS or EOI, both handled above, or with an error.
    Err(JpegError::Truncated { offset: data.len() })
}

/// Returns the payload of the first COM (comment) segment before the image data, if any.
///
/// Returns `None` for data that is not a JPEG or whose headers are malformed before a
/// comment is found; it does not check the rest of the image (use [`inspect`] for that).
pub fn comment(data: &[u8]) -> Option<&[u8]> {
    if !data.starts_with(&[0xFF, SOI]) {
        return None;
    }
    for segment in Segments::new(data) {
        match segment {
            Ok(segment) if segment.marker == COM => return Some(segment.payload),
            Ok(segment) if segment.marker == SOS || segment.marker == EOI => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Returns a copy of `jpeg` with a COM segment holding `text` inserted right after SOI, so
/// that [`comment`] finds it first.
///
/// A text longer than [`MAX_COMMENT_SEGMENT`] bytes is split over several consecutive COM
/// segments (and [`comment`] then returns only the first piece). Each segment adds four bytes
/// of overhead. If `jpeg` does not start with SOI it is returned unchanged, since there is
/// no header to add a segment to.
pub fn with_comment(jpeg: &[u8], text: &[u8]) -> Vec<u8> {
    if !jpeg.starts_with(&[0xFF, SOI]) {
        return jpeg.to_vec();
    }
    let segments = text.len().div_ceil(MAX_COMMENT_SEGMENT).max(1);
    let mut out = Vec::with_capacity(jpeg.len() + text.len() + 4 * segments);
    out.extend_from_slice(&jpeg[..2]);
    let mut pieces = text.chunks(MAX_COMMENT_SEGMENT);
    let first = pieces.next().unwrap_or_default();
    for piece in std::iter::once(first).chain(pieces) {
        // A piece is at most MAX_COMMENT_SEGMENT bytes, so the length fits in 16 bits.
        let length = u16::try_from(piece.len() + 2).unwrap_or(u16::MAX);
        out.extend_from_slice(&[0xFF, COM]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The offset of the first SOS marker, where segments can be inserted before the image
/// data, or `None` if the headers before it are not well formed.
pub(crate) fn scan_start(data: &[u8]) -> Option<usize> {
    if !data.starts_with(&[0xFF, SOI]) {
        return None;
    }
    for segment in Segments::new(data) {
        match segment {
            Ok(segment) if segment.marker == SOS => return Some(segment.offset),
            Ok(segment) if segment.marker == EOI => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Whether `marker` is one of the SOFn frame header markers. C4 (DHT), C8 (reserved for
/// extensions) and CC (DAC) share the range but are not frame headers.
fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Reads precision, height, width and component count from a SOFn segment.
fn parse_frame_header(segment: &Segment<'_>) -> Result<JpegInfo, JpegError> {
    let bad = JpegError::BadFrameHeader {
        offset: segment.offset,
    };
    let p = segment.payload;
    if p.len() < 6 {
        return Err(bad);
    }
    let height = u16::from_be_bytes([p[1], p[2]]);
    let width = u16::from_be_bytes([p[3], p[4]]);
    let components = p[5];
    if components == 0 || p.len() < 6 + 3 * usize::from(components) {
        return Err(bad);
    }
    if width == 0 || height == 0 {
        return Err(JpegError::ZeroDimensions { width, height });
    }
    Ok(JpegInfo {
        width,
        height,
        components,
        progressive: matches!(segment.marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
    })
}

/// One marker segment of the header.
struct Segment<'a> {
    /// The marker code (the byte after 0xFF).
    marker: u8,
    /// Position of the marker's 0xFF byte (the last one, after any fill bytes).
    offset: usize,
    /// The bytes after the length field; empty for markers without one.
    payload: &'a [u8],
    /// Position just past the segment.
    end: usize,
}

/// Walks the marker segments after SOI, up to and including the first SOS (or an EOI), and
/// stops after the first error.
struct Segments<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Segments<'a> {
    /// Starts walking right after the SOI marker, which the caller has checked.
    fn new(data: &'a [u8]) -> Self {
        Segments {
            data,
            pos: 2,
            done: false,
        }
    }

    fn next_segment(&mut self) -> Result<Segment<'a>, JpegError> {
        let data = self.data;
        let mut pos = self.pos;
        match data.get(pos) {
            None => return Err(JpegError::Truncated { offset: pos }),
            Some(0xFF) => {}
            Some(&found) => return Err(JpegError::ExpectedMarker { offset: pos, found }),
        }
        // Any number of 0xFF fill bytes may precede a marker code.
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = data.get(pos) else {
            return Err(JpegError::Truncated { offset: pos });
        };
        let offset = pos - 1;
        pos += 1;
        match marker {
            0x00 | SOI => Err(JpegError::UnexpectedMarker { offset, marker }),
            TEM | 0xD0..=0xD7 | EOI => {
                self.pos = pos;
                Ok(Segment {
                    marker,
                    offset,
                    payload: &[],
                    end: pos,
                })
            }
            _ => {
                let Some(length) = data.get(pos..pos + 2) else {
                    return Err(JpegError::Truncated { offset });
                };
                let length = u16::from_be_bytes([length[0], length[1]]);
                if length < 2 {
                    return Err(JpegError::BadSegmentLength {
                        offset,
                        marker,
                        length,
                    });
                }
                let end = pos + usize::from(length);
                let Some(payload) = data.get(pos + 2..end) else {
                    return Err(JpegError::Truncated { offset });
                };
                self.pos = end;
                Ok(Segment {
                    marker,
                    offset,
                    payload,
                    end,
                })
            }
        }
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = Result<Segment<'a>, JpegError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let segment = self.next_segment();
        self.done = match &segment {
            Ok(segment) => matches!(segment.marker, SOS | EOI),
            Err(_) => true,
        };
        Some(segment)
    }
}

impl FusedIterator for Segments<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ExtendedColorType;
    use image::codecs::jpeg::JpegEncoder;

    /// A small baseline JPEG from the image crate's encoder.
    fn encoded(width: u32, height: u32, color: ExtendedColorType) -> Vec<u8> {
        let channels = if color == ExtendedColorType::L8 { 1 } else { 3 };
        let pixels: Vec<u8> = (0..width * height * channels)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 80)
            .encode(&pixels, width, height, color)
            .unwrap();
        out
    }

    /// A hand-made JPEG: SOI, a frame header with the given marker and size, SOS, a few
    /// bytes of "entropy data", EOI. Not decodable, but structurally what `inspect` checks.
    fn handmade(sof: u8, width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(&[0xFF, sof, 0, 11, 8]);
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[1, 1, 0x11, 0]);
        v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        v.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x56]);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    #[test]
    fn accepts_image_crate_baseline_rgb() {
        let info = inspect(&encoded(33, 17, ExtendedColorType::Rgb8)).unwrap();
        assert_eq!(
            info,
            JpegInfo {
                width: 33,
                height: 17,
                components: 3,
                progressive: false
            }
        );
    }

    #[test]
    fn accepts_image_crate_greyscale() {
        let info = inspect(&encoded(8, 300, ExtendedColorType::L8)).unwrap();
        assert_eq!((info.width, info.height, info.components), (8, 300, 1));
    }

    #[test]
    fn accepts_synth_frames() {
        let card = crate::synth::TestCard::new(320, 240, 75);
        for n in [0, 1, 99, 123_456_789] {
            let info = inspect(&card.render(n)).unwrap();
            assert_eq!((info.width, info.height, info.components), (320, 240, 3));
        }
    }

    #[test]
    fn reports_progressive_and_other_frame_types() {
        for sof in [0xC0, 0xC1, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF] {
            let info = inspect(&handmade(sof, 10, 20)).unwrap();
            assert!(!info.progressive, "SOF {sof:02X}");
            assert_eq!((info.width, info.height), (10, 20));
        }
        for sof in [0xC2, 0xC6, 0xCA, 0xCE] {
            assert!(inspect(&handmade(sof, 10, 20)).unwrap().progressive);
        }
    }

    #[test]
    fn dht_dac_and_jpg_markers_are_not_frame_headers() {
        for marker in [0xC4, 0xC8, 0xCC] {
            assert_eq!(
                inspect(&handmade(marker, 10, 20)),
                Err(JpegError::NoFrameHeader)
            );
        }
    }

    #[test]
    fn tolerates_fill_bytes_standalone_markers_and_zero_padding() {
        let jpeg = encoded(16, 16, ExtendedColorType::Rgb8);
        // Fill bytes before the first marker after SOI, plus RST0 and TEM, which have no
        // length field.
        let mut v = jpeg[..2].to_vec();
        v.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xD0, 0xFF, 0x01]);
        v.extend_from_slice(&jpeg[2..]);
        v.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(inspect(&v).unwrap().width, 16);
    }

    #[test]
    fn rejects_png_text_and_empty() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0";
        assert_eq!(inspect(png), Err(JpegError::NotJpeg));
        assert_eq!(
            inspect(b"<html>502 Bad Gateway</html>"),
            Err(JpegError::NotJpeg)
        );
        assert_eq!(inspect(b""), Err(JpegError::NotJpeg));
        assert_eq!(inspect(&[0xFF]), Err(JpegError::NotJpeg));
        assert_eq!(
            inspect(&[0xFF, 0xD8]),
            Err(JpegError::Truncated { offset: 2 })
        );
    }

    #[test]
    fn rejects_every_truncation() {
        let jpeg = crate::synth::TestCard::new(48, 32, 60).render(7);
        assert!(inspect(&jpeg).is_ok());
        for cut in 0..jpeg.len() {
            let result = inspect(&jpeg[..cut]);
            assert!(result.is_err(), "cut at {cut} of {} accepted", jpeg.len());
        }
        // A few specific kinds of cut give specific errors.
        assert_eq!(inspect(&jpeg[..5]), Err(JpegError::Truncated { offset: 2 }));
        assert_eq!(
            inspect(&jpeg[..jpeg.len() - 1]),
            Err(JpegError::NoEndMarker)
        );
        assert_eq!(
            inspect(&jpeg[..jpeg.len() - 20]),
            Err(JpegError::NoEndMarker)
        );
    }

    #[test]
    fn rejects_zero_dimensions() {
        assert_eq!(
            inspect(&handmade(0xC0, 0, 20)),
            Err(JpegError::ZeroDimensions {
                width: 0,
                height: 20
            })
        );
        assert_eq!(
            inspect(&handmade(0xC2, 5, 0)),
            Err(JpegError::ZeroDimensions {
                width: 5,
                height: 0
            })
        );
    }

    #[test]
    fn rejects_missing_or_misplaced_end_marker() {
        let jpeg = encoded(16, 16, ExtendedColorType::Rgb8);
        let mut garbage = jpeg.clone();
        garbage.extend_from_slice(b"junk");
        assert_eq!(inspect(&garbage), Err(JpegError::NoEndMarker));
        let mut swapped = jpeg[..jpeg.len() - 2].to_vec();
        swapped.extend_from_slice(&[0xD9, 0xFF]);
        assert_eq!(inspect(&swapped), Err(JpegError::NoEndMarker));
        // SOI, SOF, SOS, then only zeros: the zero padding does not hide the missing EOI.
        let mut zeros = handmade(0xC0, 4, 4);
        zeros.truncate(zeros.len() - 2);
        zeros.extend_from_slice(&[0; 8]);
        assert_eq!(inspect(&zeros), Err(JpegError::NoEndMarker));
    }

    #[test]
    fn rejects_structural_errors() {
        // SOS before SOF.
        let no_sof = [
            0xFF, 0xD8, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 1, 2, 0xFF, 0xD9,
        ];
        assert_eq!(inspect(&no_sof), Err(JpegError::NoFrameHeader));
        // EOI straight after SOI.
        assert_eq!(inspect(&[0xFF, 0xD8, 0xFF, 0xD9]), Err(JpegError::NoScan));
        // A non-marker byte where a segment should start.
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0x12, 0xFF, 0xD9]),
            Err(JpegError::ExpectedMarker {
                offset: 2,
                found: 0x12
            })
        );
        // A second SOI, and a stuffed zero outside entropy data.
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0xD8, 0xFF, 0xD9]),
            Err(JpegError::UnexpectedMarker {
                offset: 2,
                marker: 0xD8
            })
        );
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0x00, 0xFF, 0xD9]),
            Err(JpegError::UnexpectedMarker {
                offset: 2,
                marker: 0x00
            })
        );
        // A segment length smaller than the length field.
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 0xFF, 0xD9]),
            Err(JpegError::BadSegmentLength {
                offset: 2,
                marker: 0xE0,
                length: 1
            })
        );
        // A segment running past the end of the data.
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 200, 0xFF, 0xD9]),
            Err(JpegError::Truncated { offset: 2 })
        );
        // A frame header declaring more components than it holds.
        let mut short_sof = handmade(0xC0, 4, 4);
        short_sof[11] = 3;
        assert_eq!(
            inspect(&short_sof),
            Err(JpegError::BadFrameHeader { offset: 2 })
        );
    }

    #[test]
    fn error_messages_are_sentences() {
        assert_eq!(
            JpegError::NoEndMarker.to_string(),
            "invalid JPEG: the data does not end with the end-of-image marker FF D9 (truncated?)"
        );
        assert_eq!(
            JpegError::ZeroDimensions {
                width: 0,
                height: 480
            }
            .to_string(),
            "invalid JPEG: the frame header declares an empty image (0x480)"
        );
    }

    #[test]
    fn comment_round_trip() {
        let jpeg = encoded(16, 16, ExtendedColorType::Rgb8);
        assert_eq!(comment(&jpeg), None);
        let stamped = with_comment(&jpeg, b"seq=42 sent=1700000000123");
        assert_eq!(stamped.len(), jpeg.len() + 4 + 25);
        assert_eq!(comment(&stamped), Some(&b"seq=42 sent=1700000000123"[..]));
        assert_eq!(inspect(&stamped), inspect(&jpeg));
        let decoded = image::load_from_memory(&stamped).unwrap();
        assert_eq!(decoded.width(), 16);
        // A second stamp goes first.
        let restamped = with_comment(&stamped, b"newer");
        assert_eq!(comment(&restamped), Some(&b"newer"[..]));
        // Empty comments are valid segments.
        assert_eq!(comment(&with_comment(&jpeg, b"")), Some(&b""[..]));
    }

    #[test]
    fn long_comments_are_split_over_segments() {
        let jpeg = encoded(16, 16, ExtendedColorType::Rgb8);
        let text = vec![b'x'; MAX_COMMENT_SEGMENT * 2 + 10];
        let stamped = with_comment(&jpeg, &text);
        assert_eq!(stamped.len(), jpeg.len() + text.len() + 3 * 4);
        assert_eq!(
            comment(&stamped).map(<[u8]>::len),
            Some(MAX_COMMENT_SEGMENT)
        );
        assert!(inspect(&stamped).is_ok());
        assert!(image::load_from_memory(&stamped).is_ok());
    }

    #[test]
    fn comment_ignores_non_jpeg_and_comments_after_sos() {
        assert_eq!(comment(b"hello"), None);
        assert_eq!(with_comment(b"hello", b"x"), b"hello".to_vec());
        let mut v = handmade(0xC0, 4, 4);
        let eoi = v.len() - 2;
        v.splice(eoi..eoi, [0xFF, 0xFE, 0, 3, b'x']);
        assert_eq!(comment(&v), None);
    }
}
