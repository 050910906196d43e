//! Just enough HTTP/1.1 to read one streamed response off a raw socket: the status line and
//! headers, then a body that may use chunked transfer coding.
//!
//! The load generator shares the machine with the server it measures, so its MJPEG viewers
//! skip an HTTP client's per-request machinery and read the socket themselves; this module
//! is the part of HTTP they need. It does not allocate per chunk: [`ChunkedDecoder`] reports
//! the ranges of payload inside the bytes it is given.

use anyhow::{Context, bail};
use std::ops::Range;

/// The most bytes a response head may take.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What the status line and headers said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: Option<String>,
    pub chunked: bool,
}

/// Finds the end of a response head in `buf`: the position just past the blank line.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a response head (everything up to and including the blank line).
pub fn parse_head(head: &[u8]) -> anyhow::Result<ResponseHead> {
    let text = std::str::from_utf8(head).context("the response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(status)) = (parts.next(), parts.next()) else {
        bail!("malformed status line {status_line:?}");
    };
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 response: {status_line:?}");
    }
    let status = status
        .parse()
        .with_context(|| format!("malformed status line {status_line:?}"))?;
    let mut head = ResponseHead {
        status,
        content_type: None,
        chunked: false,
    };
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            bail!("malformed header line {line:?}");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    Ok(head)
}

/// Where a [`ChunkedDecoder`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hexadecimal size; `extension` once a `;` started chunk extensions.
    Size {
        size: u64,
        digits: u8,
        extension: bool,
    },
    /// Expecting the LF after the size line's CR.
    SizeLf { size: u64 },
    /// Inside a chunk's payload, with this many bytes to go.
    Data { remaining: u64 },
    /// Expecting the CR after a payload.
    DataCr,
    /// Expecting the LF after a payload.
    DataLf,
    /// The last (empty) chunk was seen; trailers and all else are ignored.
    Done,
}

/// An incremental decoder of the chunked transfer coding (RFC 9112, section 7.1).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size {
                size: 0,
                digits: 0,
                extension: false,
            },
        }
    }
}

impl ChunkedDecoder {
    /// Feeds `input` and calls `payload` with each range of `input` that is payload, in
    /// order. Returns an error for bytes that break the coding.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut payload: impl FnMut(Range<usize>),
    ) -> anyhow::Result<()> {
        let mut i = 0;
        while i < input.len() {
            let byte = input[i];
            self.state = match self.state {
                ChunkState::Size {
                    size,
                    digits,
                    extension,
                } => match byte {
                    b'\r' if digits > 0 => ChunkState::SizeLf { size },
                    _ if extension => self.state,
                    b';' | b' ' | b'\t' if digits > 0 => ChunkState::Size {
                        size,
                        digits,
                        extension: true,
                    },
                    _ => {
                        let digit = char::from(byte)
                            .to_digit(16)
                            .with_context(|| format!("bad chunk size byte 0x{byte:02X}"))?;
                        if digits >= 15 {
                            bail!("chunk size too large");
                        }
                        ChunkState::Size {
                            size: size * 16 + u64::from(digit),
                            digits: digits + 1,
                            extension,
                        }
                    }
                },
                ChunkState::SizeLf { size } => match byte {
                    b'\n' if size == 0 => ChunkState::Done,
                    b'\n' => ChunkState::Data { remaining: size },
                    _ => bail!("chunk size line without LF"),
                },
                ChunkState::Data { remaining } => {
                    let available = (input.len() - i) as u64;
                    let take = remaining.min(available) as usize;
                    payload(i..i + take);
                    i += take;
                    self.state = match remaining - take as u64 {
                        0 => ChunkState::DataCr,
                        remaining => ChunkState::Data { remaining },
                    };
                    continue;
                }
                ChunkState::DataCr if byte == b'\r' => ChunkState::DataLf,
                ChunkState::DataLf if byte == b'\n' => ChunkState::Size {
                    size: 0,
                    digits: 0,
                    extension: false,
                },
                ChunkState::DataCr | ChunkState::DataLf => bail!("chunk payload without CRLF"),
                ChunkState::Done => return Ok(()),
            };
            i += 1;
        }
        Ok(())
    }

    /// Whether the last chunk was seen, so the body ended properly.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(data: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        for chunk in data.chunks(piece) {
            decoder
                .feed(chunk, |r| out.extend_from_slice(&chunk[r]))
                .unwrap();
        }
        (out, decoder.is_done())
    }

    #[test]
    fn decodes_chunks_split_anywhere() {
        let data =
            b"5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX: y\r\n\r\n";
        for piece in 1..data.len() {
            let (out, done) = decode_in_pieces(data, piece);
            assert_eq!(out, b"helloabcdefghijklmnopqrstuvwxyz", "piece {piece}");
            assert!(done);
        }
        let (_, done) = decode_in_pieces(b"5\r\nhello\r\n", 3);
        assert!(!done);
    }

    #[test]
    fn refuses_broken_coding() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"3\rX",
            b"fffffffffffffffff\r\n",
        ] {
            let mut decoder = ChunkedDecoder::default();
            assert!(decoder.feed(bad, |_| {}).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_a_response_head() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: multipart/x-mixed-replace; boundary=b\r\n\
                    Transfer-Encoding: chunked\r\n\r\nbody";
        let end = head_end(raw).unwrap();
        assert_eq!(&raw[end..], b"body");
        let head = parse_head(&raw[..end]).unwrap();
        assert_eq!(head.status, 200);
        assert!(head.chunked);
        assert_eq!(
            head.content_type.as_deref(),
            Some("multipart/x-mixed-replace; boundary=b")
        );
        let head = parse_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
        assert_eq!((head.status, head.chunked), (404, false));
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }
}
