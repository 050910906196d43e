//! The MJPEG multipart parser on arbitrary bytes: it never panics, its buffer stays bounded
//! while it is drained, and the parts and the outcome do not depend on how the body is split
//! into chunks.
//!
//! Input: one byte choosing the boundary, two bytes for the part limit, eight bytes seeding
//! the chunk lengths, then the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::chunks;
use switchboard_media::mjpeg::{MAX_HEADER_BYTES, MultipartParser, Part};

const BOUNDARIES: [&str; 4] = ["b", "ffmpeg", "switchboard-frame", "--x"];

/// What parsing a body gave: the parts, how it ended, and the most it ever held.
#[derive(Debug, PartialEq)]
struct Outcome {
    parts: Vec<Part>,
    end: Result<(), String>,
    most_buffered: usize,
}

fn parse<'a>(boundary: &str, limit: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut parser = MultipartParser::new(boundary, limit);
    let mut parts = Vec::new();
    let mut most_buffered = 0;
    for chunk in chunks {
        parser.push(Bytes::copy_from_slice(chunk));
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

fuzz_target!(|input: &[u8]| {
    let Some((head, body)) = input.split_at_checked(11) else {
        return;
    };
    let boundary = BOUNDARIES[usize::from(head[0]) % BOUNDARIES.len()];
    let limit = 1 + usize::from(u16::from_le_bytes([head[1], head[2]])) % 4096;
    let seed = u64::from_le_bytes(head[3..11].try_into().unwrap_or_default());

    let whole = parse(boundary, limit, [body]);
    let split = parse(boundary, limit, chunks(body, seed));
    assert_eq!(whole.parts, split.parts, "parts depend on the chunking");
    assert_eq!(whole.end, split.end, "the outcome depends on the chunking");

    // Drained, the parser holds at most one part or one header block, plus a delimiter
    // with its transport padding.
    let bound = limit.max(MAX_HEADER_BYTES) + boundary.len() + 3 + 128;
    assert!(
        split.most_buffered <= bound,
        "{} bytes buffered, bound {bound}",
        split.most_buffered
    );
    let total: usize = split.parts.iter().map(|p| p.body.len()).sum();
    assert!(total <= body.len());
    for part in &split.parts {
        assert!(
            part.body.len() <= limit,
            "a part over the limit was returned"
        );
    }
});
