//! Property tests of the parsers that read what devices send: the MJPEG multipart parser and
//! the JPEG inspector. Each runs a bounded number of cases (`PROPTEST_CASES` raises it for a
//! longer run); the fuzz targets in `fuzz/` check the same properties for as long as asked.

use bytes::Bytes;
use image::ImageFormat;
use proptest::prelude::*;
use switchboard_media::jpeg::{self, JpegError};
use switchboard_media::mjpeg::{
    MAX_HEADER_BYTES, MjpegError, MjpegWriter, MultipartParser, Part, boundary_from_content_type,
};
use switchboard_media::synth::{self, TestCard};

/// What parsing a body gave: its parts, how it ended, and the most the parser held once
/// drained.
#[derive(Debug, PartialEq)]
struct Outcome {
    parts: Vec<Part>,
    end: Result<(), String>,
    most_buffered: usize,
}

/// Parses `data` pushed in chunks of the given lengths (cycled; a zero length pushes
/// nothing), draining the parser after each push.
fn parse(boundary: &str, limit: usize, data: &[u8], lengths: &[usize]) -> Outcome {
    let mut parser = MultipartParser::new(boundary, limit);
    let mut parts = Vec::new();
    let mut most_buffered = 0;
    let mut rest = data;
    let mut lengths = lengths.iter().copied().cycle();
    while !rest.is_empty() {
        let n = lengths.next().unwrap_or(usize::MAX).min(rest.len());
        parser.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
        loop {
            match parser.next_part() {
                Ok(Some(part)) => parts.push(part),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        parts,
                        end: Err(e.to_string()),
                        most_buffered,
                    };
                }
            }
        }
        most_buffered = most_buffered.max(parser.buffered_len());
    }
    Outcome {
        parts,
        end: parser.finish().map_err(|e| e.to_string()),
        most_buffered,
    }
}

fn whole(boundary: &str, limit: usize, data: &[u8]) -> Outcome {
    parse(boundary, limit, data, &[usize::MAX])
}

/// Chunk lengths: mostly small, so delimiters and header lines get split.
fn chunk_lengths() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1..4usize, 1..64usize, 1..5000usize], 1..8)
}

fn boundary() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("b".to_owned()),
        Just("ffmpeg".to_owned()),
        Just("--x".to_owned()),
        "[a-zA-Z0-9'()+_,./:=? -]{1,20}[a-zA-Z0-9]",
    ]
}

/// Bytes that look like pieces of a multipart stream, so the parser's states are reached
/// more often than by uniform noise.
fn multipart_noise(boundary: String) -> impl Strategy<Value = Vec<u8>> {
    let pieces = vec![
        Just(format!("\r\n--{boundary}\r\n").into_bytes()).boxed(),
        Just(format!("--{boundary}--").into_bytes()).boxed(),
        Just(b"Content-Type: image/jpeg\r\n".to_vec()).boxed(),
        (0..40u32)
            .prop_map(|n| format!("Content-Length: {n}\r\n").into_bytes())
            .boxed(),
        Just(b"\r\n".to_vec()).boxed(),
        Just(b"\n".to_vec()).boxed(),
        Just(b" \t".to_vec()).boxed(),
        prop::collection::vec(any::<u8>(), 0..40).boxed(),
    ];
    prop::collection::vec(prop::strategy::Union::new(pieces), 0..40).prop_map(|p| p.concat())
}

/// The most a drained parser may hold: a part or a header block, plus a delimiter with its
/// transport padding and line end.
fn buffer_bound(boundary: &str, limit: usize) -> usize {
    limit.max(MAX_HEADER_BYTES) + boundary.len() + 3 + 128
}

/// One part of a well-formed stream: a body without the delimiter in it, with or without a
/// Content-Length, with CRLF or bare LF line ends.
#[derive(Debug, Clone)]
struct StreamPart {
    body: Vec<u8>,
    content_length: bool,
    bare_lf: bool,
}

fn stream_part() -> impl Strategy<Value = StreamPart> {
    (
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(body, content_length, bare_lf)| StreamPart {
            body,
            content_length,
            bare_lf,
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    /// Arbitrary bytes: no panic, the same parts and outcome however they are chunked, a
    /// bounded buffer, no part over the limit.
    #[test]
    fn parser_on_any_bytes_is_bounded_and_chunking_blind(
        (boundary, data) in boundary().prop_flat_map(|b| (Just(b.clone()), multipart_noise(b))),
        limit in 1..2000usize,
        lengths in chunk_lengths(),
    ) {
        let expected = whole(&boundary, limit, &data);
        let split = parse(&boundary, limit, &data, &lengths);
        prop_assert_eq!(&expected.parts, &split.parts);
        prop_assert_eq!(&expected.end, &split.end);
        prop_assert!(split.most_buffered <= buffer_bound(&boundary, limit),
            "{} bytes held", split.most_buffered);
        for part in &split.parts {
            prop_assert!(part.body.len() <= limit);
        }
    }

    /// Uniform noise, too, including bytes no multipart stream has.
    #[test]
    fn parser_on_noise_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        lengths in chunk_lengths(),
    ) {
        let expected = whole("b", 500, &data);
        let split = parse("b", 500, &data, &lengths);
        prop_assert_eq!(expected.parts, split.parts);
        prop_assert_eq!(expected.end, split.end);
    }

    /// A well-formed stream (ffmpeg's framing, advance headers, bare LFs, a closing
    /// delimiter or none) gives back exactly its bodies, however it is chunked.
    #[test]
    fn well_formed_streams_give_back_their_bodies(
        boundary in boundary(),
        parts in prop::collection::vec(stream_part(), 0..6),
        closed in any::<bool>(),
        lengths in chunk_lengths(),
    ) {
        let delimiter = format!("\n--{boundary}");
        prop_assume!(parts
            .iter()
            .all(|p| p.content_length || !contains(&p.body, delimiter.as_bytes())));
        // Without a Content-Length, a body ending in CR before a bare-LF delimiter reads as
        // a CRLF delimiter (the standard one): the CR is the delimiter's, by design.
        prop_assume!(parts
            .iter()
            .all(|p| p.content_length || !p.bare_lf || p.body.last() != Some(&b'\r')));
        let mut data = Vec::new();
        for part in &parts {
            let eol: &[u8] = if part.bare_lf { b"\n" } else { b"\r\n" };
            data.extend_from_slice(b"--");
            data.extend_from_slice(boundary.as_bytes());
            data.extend_from_slice(eol);
            data.extend_from_slice(b"Content-Type: image/jpeg");
            data.extend_from_slice(eol);
            if part.content_length {
                data.extend_from_slice(format!("Content-Length: {}", part.body.len()).as_bytes());
                data.extend_from_slice(eol);
            }
            data.extend_from_slice(eol);
            data.extend_from_slice(&part.body);
            data.extend_from_slice(eol);
        }
        data.extend_from_slice(b"--");
        data.extend_from_slice(boundary.as_bytes());
        data.extend_from_slice(if closed { b"--\r\n" } else { b"\r\n" });
        let outcome = parse(&boundary, 1000, &data, &lengths);
        prop_assert_eq!(outcome.end, Ok(()));
        let bodies: Vec<&[u8]> = outcome.parts.iter().map(|p| &p.body[..]).collect();
        let expected: Vec<&[u8]> = parts.iter().map(|p| &p.body[..]).collect();
        prop_assert_eq!(bodies, expected);
    }

    /// What MjpegWriter writes parses back to the same frames however it is split, with the
    /// limit exactly at the largest frame; a stream cut short gives a prefix of the frames.
    #[test]
    fn writer_output_parses_back_to_the_same_frames(
        boundary in boundary(),
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 0..6),
        lengths in chunk_lengths(),
        cut in any::<prop::sample::Index>(),
    ) {
        let delimiter = format!("\n--{boundary}");
        prop_assume!(frames.iter().all(|f| !contains(f, delimiter.as_bytes())));
        let writer = MjpegWriter::new(boundary.as_str());
        prop_assert_eq!(boundary_from_content_type(writer.content_type()), Some(boundary.clone()));
        let mut data = writer.preamble().to_vec();
        for frame in &frames {
            for piece in writer.frame(&Bytes::copy_from_slice(frame)) {
                data.extend_from_slice(&piece);
            }
        }
        let limit = frames.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let outcome = parse(&boundary, limit, &data, &lengths);
        prop_assert_eq!(outcome.end, Ok(()));
        let bodies: Vec<&[u8]> = outcome.parts.iter().map(|p| &p.body[..]).collect();
        let expected: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        prop_assert_eq!(&bodies, &expected);

        let cut = cut.index(data.len() + 1);
        let outcome = parse(&boundary, limit, &data[..cut], &lengths);
        let bodies: Vec<&[u8]> = outcome.parts.iter().map(|p| &p.body[..]).collect();
        prop_assert!(bodies.len() <= expected.len());
        prop_assert_eq!(&bodies[..], &expected[..bodies.len()]);
    }

    /// Endless headers are refused once they pass MAX_HEADER_BYTES, however they arrive,
    /// without holding more than that.
    #[test]
    fn over_long_headers_are_refused(
        line in "X-[A-Za-z-]{1,20}: [ -~]{0,200}",
        lengths in chunk_lengths(),
        bare_lf in any::<bool>(),
    ) {
        let eol = if bare_lf { "\n" } else { "\r\n" };
        let mut data = format!("--b{eol}").into_bytes();
        while data.len() <= MAX_HEADER_BYTES + 10 {
            data.extend_from_slice(line.as_bytes());
            data.extend_from_slice(eol.as_bytes());
        }
        let outcome = parse("b", 1 << 20, &data, &lengths);
        prop_assert!(outcome.parts.is_empty());
        let refused = MjpegError::HeadersTooLarge { limit: MAX_HEADER_BYTES }.to_string();
        prop_assert_eq!(outcome.end, Err(refused));
        prop_assert!(outcome.most_buffered <= MAX_HEADER_BYTES + 3);
    }

    /// A part over the limit is refused, with or without a Content-Length, and the parser
    /// never holds much more than the limit while finding out.
    #[test]
    fn over_long_parts_are_refused(
        limit in 1..3000usize,
        excess in 1..3000usize,
        content_length in any::<bool>(),
        lengths in chunk_lengths(),
    ) {
        let body = vec![b'x'; limit + excess];
        let mut data = b"--b\r\n".to_vec();
        if content_length {
            data.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(&body);
        data.extend_from_slice(b"\r\n--b\r\n");
        let outcome = parse("b", limit, &data, &lengths);
        prop_assert!(outcome.parts.is_empty());
        prop_assert_eq!(outcome.end, Err(MjpegError::PartTooLarge { limit }.to_string()));
        prop_assert!(outcome.most_buffered <= buffer_bound("b", limit));
    }

    /// Any boundary a writer uses reads back from its Content-Type, and no Content-Type
    /// makes the reader panic.
    #[test]
    fn boundaries_read_back_from_content_types(
        boundary in "\\PC{1,70}",
        content_type in "\\PC{0,100}",
    ) {
        let writer = MjpegWriter::new(boundary.as_str());
        prop_assert_eq!(boundary_from_content_type(writer.content_type()), Some(boundary));
        let _ = boundary_from_content_type(&content_type);
        let _ = boundary_from_content_type(&format!("multipart/x-mixed-replace; {content_type}"));
    }

    /// On a real encoder's frames, of any size and quality, `inspect` reads what a real
    /// decoder reads.
    #[test]
    fn inspect_agrees_with_a_decoder(
        width in 1..200u16,
        height in 1..200u16,
        quality in 1..=100u8,
        frame_no in any::<u64>(),
        padding in 0..3000usize,
    ) {
        let frame = TestCard::new(width, height, quality).render(frame_no);
        let target = frame.len() + padding;
        let frame = synth::pad_to(frame, target);
        let info = jpeg::inspect(&frame).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded = image::load_from_memory_with_format(&frame, ImageFormat::Jpeg)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(u32::from(info.width), decoded.width());
        prop_assert_eq!(u32::from(info.height), decoded.height());
        prop_assert_eq!(usize::from(info.components), usize::from(decoded.color().channel_count()));
        prop_assert!(!info.progressive);
    }

    /// A frame cut anywhere before its end marker is refused, and a comment added to it
    /// changes nothing `inspect` says and is what `comment` reads.
    #[test]
    fn inspect_refuses_cut_frames_and_ignores_comments(
        width in 1..64u16,
        height in 1..64u16,
        cut in any::<prop::sample::Index>(),
        text in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let frame = TestCard::new(width, height, 75).render(0);
        let cut = cut.index(frame.len());
        prop_assert!(jpeg::inspect(&frame[..cut]).is_err());
        let stamped = jpeg::with_comment(&frame, &text);
        prop_assert_eq!(jpeg::inspect(&stamped), jpeg::inspect(&frame));
        prop_assert_eq!(jpeg::comment(&stamped), Some(&text[..]));
    }

    /// Real frames with bytes overwritten, and noise after a start-of-image marker: never a
    /// panic, and whatever is accepted has a nonzero size.
    #[test]
    fn inspect_never_panics_on_damaged_frames(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20),
        noise in prop::collection::vec(any::<u8>(), 0..500),
    ) {
        let mut frame = TestCard::new(32, 24, 60).render(1);
        for (at, byte) in edits {
            let at = at.index(frame.len());
            frame[at] = byte;
        }
        let mut noisy = vec![0xFF, 0xD8];
        noisy.extend_from_slice(&noise);
        for data in [&frame[..], &noisy[..], &noise[..]] {
            match jpeg::inspect(data) {
                Ok(info) => prop_assert!(info.width > 0 && info.height > 0),
                Err(JpegError::NotJpeg) => prop_assert!(!data.starts_with(&[0xFF, 0xD8])),
                Err(_) => {}
            }
            let _ = jpeg::comment(data);
        }
    }
}
