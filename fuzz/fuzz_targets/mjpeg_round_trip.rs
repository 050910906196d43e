//! What `MjpegWriter` writes parses back to the same frames however it is cut into chunks,
//! with the part limit set to the largest frame; a stream cut short gives a prefix of the
//! frames. And the boundary of any writer's Content-Type reads back as written.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::chunks;
use switchboard_media::mjpeg::{MjpegWriter, MultipartParser, boundary_from_content_type};

#[derive(Debug, Arbitrary)]
struct Input {
    boundary: String,
    frames: Vec<Vec<u8>>,
    seed: u64,
    cut: usize,
}

fuzz_target!(|input: Input| {
    let Input {
        boundary,
        frames,
        seed,
        cut,
    } = input;
    // A Content-Type header holds no control characters, and RFC 2046 caps a boundary at
    // 70 characters.
    if boundary.is_empty() || boundary.len() > 70 || boundary.chars().any(char::is_control) {
        return;
    }
    let writer = MjpegWriter::new(boundary.as_str());
    assert_eq!(
        boundary_from_content_type(writer.content_type()).as_deref(),
        Some(boundary.as_str()),
        "content type {:?}",
        writer.content_type()
    );
    // A frame holding a delimiter after a line end cannot be told from the end of the part;
    // the writer's documentation asks for a boundary that frames never contain.
    let delimiter = format!("\n--{boundary}");
    if frames.iter().any(|f| {
        f.windows(delimiter.len())
            .any(|w| w == delimiter.as_bytes())
    }) {
        return;
    }
    let mut stream = writer.preamble().to_vec();
    for frame in &frames {
        for piece in writer.frame(&Bytes::copy_from_slice(frame)) {
            stream.extend_from_slice(&piece);
        }
    }
    let limit = frames.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let cut = if stream.is_empty() {
        0
    } else {
        cut % (stream.len() + 1)
    };
    for (data, complete) in [(&stream[..], true), (&stream[..cut], false)] {
        let mut parser = MultipartParser::new(boundary.as_str(), limit);
        let mut bodies = Vec::new();
        for chunk in chunks(data, seed) {
            parser.push(Bytes::copy_from_slice(chunk));
            while let Some(part) = parser.next_part().expect("the writer's stream parses") {
                assert_eq!(part.header("content-type"), Some("image/jpeg"));
                bodies.push(part.body.to_vec());
            }
        }
        if complete {
            assert_eq!(bodies, frames);
            parser.finish().expect("a complete stream finishes cleanly");
        } else {
            assert_eq!(
                bodies[..],
                frames[..bodies.len()],
                "a cut stream gave other frames"
            );
        }
    }
});
