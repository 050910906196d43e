//! MJPEG over HTTP: `multipart/x-mixed-replace` parsing (devices) and writing (viewers).
//!
//! # Reading what devices send
//!
//! [`MultipartParser`] is an incremental, push-based parser: [`MultipartParser::push`] the
//! chunks of a request body as they arrive, then call [`MultipartParser::next_part`] until it
//! returns `Ok(None)`. [`parts`] wraps the same loop around any `Stream` of `Bytes`. It
//! accepts what real senders produce:
//!
//! - `ffmpeg -f mpjpeg` exactly: `--ffmpeg\r\n` once, then per frame
//!   `Content-type: image/jpeg\r\nContent-length: N\r\n\r\n<jpeg>\r\n--ffmpeg\r\n`, and no
//!   closing delimiter;
//! - parts with a `Content-Length` (the body is taken by count, then the delimiter must
//!   follow, after any CR/LF) and parts without one (the body ends at the next
//!   `\r\n--boundary`; old libav and some cameras use a bare `\n`, which is accepted too);
//! - a preamble or a stray CRLF before the first delimiter, transport padding (spaces, tabs)
//!   after a delimiter, and the closing `--boundary--` (the epilogue after it is ignored);
//! - chunks split at any byte, including inside a delimiter or a header line.
//!
//! A part is returned as soon as its end is known: with a Content-Length as soon as its last
//! byte arrives, without one as soon as the delimiter after it arrives. It never waits for the
//! next part's headers, so a sender that uses advance headers (below) is relayed without
//! a frame of delay.
//!
//! Memory is bounded: a part larger than `max_part_bytes` fails with
//! [`MjpegError::PartTooLarge`] as soon as that is certain (at once if its Content-Length says
//! so, otherwise once more than the limit plus a delimiter's length is buffered), headers are
//! limited to [`MAX_HEADER_BYTES`], and a preamble is discarded as it is scanned. The search
//! for a delimiter resumes where the previous one stopped, so feeding a body one byte at a
//! time costs linear, not quadratic, time. Bodies are zero-copy `Bytes` slices of the parser's
//! buffer.
//!
//! # Writing to viewers
//!
//! [`MjpegWriter`] produces a stream that browsers show without a frame of delay. Chromium
//! displays a multipart part only once the *next* part's headers have arrived (Chromium bug
//! 527446), so a writer that sends `boundary, headers, frame` per frame always shows the
//! previous frame. The writer therefore sends **advance headers** (as ustreamer calls them):
//! the response starts with [`MjpegWriter::preamble`] (the first delimiter and part headers),
//! and every frame is followed at once by the delimiter and headers of the part that will
//! follow:
//!
//! ```text
//! --B\r\nContent-Type: image/jpeg\r\n\r\n          preamble()
//! <jpeg 1>\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n   frame(jpeg 1)
//! <jpeg 2>\r\n--B\r\nContent-Type: image/jpeg\r\n\r\n   frame(jpeg 2)
//! ```
//!
//! The headers are written before the next frame's size is known, so parts carry no
//! Content-Length; the parser handles that (the round trip is tested). [`MjpegWriter::frame`]
//! returns the JPEG itself (the same `Bytes`, no copy) and a precomputed `Bytes` with the
//! delimiter and headers, ready for a vectored write. WebKit has a related quirk (it needs the
//! last frame sent twice to show it); that is a pacing decision left to the server.

use std::error::Error as StdError;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use memchr::memmem;
use thiserror::Error;

/// The most bytes of header lines (including line ends and the blank line) a part may have.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most spaces and tabs tolerated after a delimiter before its line end.
const MAX_TRANSPORT_PADDING: usize = 64;

/// The boundary [`MjpegWriter::default`] uses.
pub const DEFAULT_BOUNDARY: &str = "switchboard-frame";

/// One part of a multipart stream: its headers and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Header lines in the order received, names as sent (compare them case-insensitively,
    /// or use [`Part::header`]), values with surrounding whitespace removed.
    pub headers: Vec<(String, String)>,
    /// The body, a zero-copy slice of the parser's buffer.
    pub body: Bytes,
}

impl Part {
    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a multipart stream could not be parsed.
///
/// All of them except [`MjpegError::Transport`] mean the sender is broken or hostile; the
/// parser stops at the first one (later calls return [`MjpegError::Aborted`]).
#[derive(Debug, Error)]
pub enum MjpegError {
    /// A part's body is larger than the parser's `max_part_bytes`.
    #[error("a multipart part is larger than the limit of {limit} bytes")]
    PartTooLarge {
        /// The configured `max_part_bytes`.
        limit: usize,
    },
    /// A part's header lines are longer than [`MAX_HEADER_BYTES`].
    #[error("a multipart part's headers are longer than {limit} bytes")]
    HeadersTooLarge {
        /// [`MAX_HEADER_BYTES`].
        limit: usize,
    },
    /// More than `max_part_bytes` arrived without a delimiter: a wrong boundary, or not a
    /// multipart stream at all.
    #[error(
        "no multipart boundary in the first {limit} bytes (wrong boundary, or not a multipart stream?)"
    )]
    NoBoundary {
        /// How many bytes were searched.
        limit: usize,
    },
    /// A header line that is not `Name: value` (no colon, an empty or invalid name, a folded
    /// continuation line, or bytes that are not UTF-8).
    #[error("malformed multipart header line {line:?}")]
    MalformedHeader {
        /// The offending line, lossily decoded and cut to 100 characters.
        line: String,
    },
    /// A Content-Length header whose value is not a decimal number.
    #[error("invalid Content-Length {value:?} in a multipart part")]
    InvalidContentLength {
        /// The header's value.
        value: String,
    },
    /// The bytes after a part with a Content-Length are not the boundary delimiter (the
    /// Content-Length was probably wrong).
    #[error("a multipart part is not followed by the boundary (wrong Content-Length?)")]
    MissingBoundary,
    /// The stream ended in the middle of something.
    #[error("the multipart stream ended {context}")]
    UnexpectedEof {
        /// Where it ended: "before the first boundary", "inside part headers", or "inside a
        /// part body".
        context: &'static str,
    },
    /// The parser already returned an error and does not resume.
    #[error("the multipart parser already failed on an earlier error")]
    Aborted,
    /// Reading the underlying body failed (only from [`parts`]); the cause is the source.
    #[error("reading the multipart stream failed")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
}

/// Extracts the boundary from a `Content-Type` header value such as
/// `multipart/x-mixed-replace; boundary="frame"` or ffmpeg's
/// `multipart/x-mixed-replace;boundary=ffmpeg`.
///
/// Accepts any `multipart/*` type, parameter names in any case, spaces around `;` and `=`,
/// and quoted values with backslash escapes. Returns `None` if the type is not multipart, has
/// no boundary parameter, or the boundary is empty. The boundary is returned as sent, without
/// the `--` that precedes it in the body.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    let (media_type, mut params) = content_type.split_once(';')?;
    let media_type = media_type.trim();
    if !media_type
        .get(..10)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("multipart/"))
    {
        return None;
    }
    loop {
        params = params.trim_start_matches([' ', '\t', ';']);
        if params.is_empty() {
            return None;
        }
        let name_end = params.find(['=', ';']).unwrap_or(params.len());
        let name = params[..name_end].trim();
        let rest = &params[name_end..];
        let Some(rest) = rest.strip_prefix('=') else {
            // A parameter without a value; skip it.
            params = rest;
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let (value, after) = match rest.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = rest.find(';').unwrap_or(rest.len());
                (rest[..end].trim().to_string(), &rest[end..])
            }
        };
        if name.eq_ignore_ascii_case("boundary") {
            return (!value.is_empty()).then_some(value);
        }
        params = after.find(';').map_or("", |i| &after[i..]);
    }
}

/// Reads a quoted string whose opening quote was already removed; returns its unescaped
/// value and what follows the closing quote, or `None` if the quote is never closed.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &s[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

/// What follows a delimiter (`--boundary`) decides whether it really is one.
enum AfterDelimiter {
    /// Not enough data yet to tell.
    NeedMore,
    /// A delimiter line: the next part's headers start at this position.
    Part(usize),
    /// The closing delimiter `--boundary--`.
    Close,
    /// Something else, so these bytes are not a delimiter.
    NotDelimiter,
}

/// Classifies the bytes at `buf[start..]`, which follow a `--boundary`.
fn after_delimiter(buf: &[u8], start: usize) -> AfterDelimiter {
    let mut i = start;
    loop {
        if i - start > MAX_TRANSPORT_PADDING {
            return AfterDelimiter::NotDelimiter;
        }
        match buf.get(i) {
            None => return AfterDelimiter::NeedMore,
            Some(b' ' | b'\t') => i += 1,
            Some(b'\n') => return AfterDelimiter::Part(i + 1),
            Some(b'\r') => {
                return match buf.get(i + 1) {
                    None => AfterDelimiter::NeedMore,
                    Some(b'\n') => AfterDelimiter::Part(i + 2),
                    Some(_) => AfterDelimiter::NotDelimiter,
                };
            }
            Some(b'-') if i == start => {
                return match buf.get(i + 1) {
                    None => AfterDelimiter::NeedMore,
                    Some(b'-') => AfterDelimiter::Close,
                    Some(_) => AfterDelimiter::NotDelimiter,
                };
            }
            Some(_) => return AfterDelimiter::NotDelimiter,
        }
    }
}

/// The headers of the part being read.
#[derive(Default)]
struct PartHead {
    headers: Vec<(String, String)>,
    content_length: Option<usize>,
    /// Header bytes consumed so far, for [`MAX_HEADER_BYTES`].
    header_bytes: usize,
}

/// Where the parser is in the stream.
enum State {
    /// Looking for the first delimiter; everything before it is discarded.
    Preamble,
    /// Reading a part's header lines, up to the blank line.
    Headers(PartHead),
    /// Reading a part's body.
    Body(PartHead),
    /// A part with a Content-Length was returned; its delimiter comes next.
    AfterBody,
    /// The closing delimiter was seen; the rest is epilogue and is ignored.
    Closed,
    /// An error was returned; the parser does not resume.
    Failed,
}

/// What one step of the state machine achieved.
enum Step {
    /// The state changed; keep going.
    Continue,
    /// More data is needed.
    NeedMore,
    /// A part is complete.
    Emit(Part),
}

/// Incremental parser for a `multipart/x-mixed-replace` (or any multipart) body.
///
/// Feed it with [`push`](Self::push) and drain it with [`next_part`](Self::next_part); see the
/// module documentation for what it accepts and how it bounds memory.
///
/// ```
/// use bytes::Bytes;
/// use switchboard_media::mjpeg::MultipartParser;
///
/// let mut parser = MultipartParser::new("ffmpeg", 1 << 20);
/// parser.push(Bytes::from_static(b"--ffmpeg\r\nContent-type: image/jpeg\r\nContent-le"));
/// assert!(parser.next_part()?.is_none());
/// parser.push(Bytes::from_static(b"ngth: 4\r\n\r\nJPEG\r\n--ffmpeg\r\n"));
/// let part = parser.next_part()?.expect("a complete part");
/// assert_eq!(part.header("content-type"), Some("image/jpeg"));
/// assert_eq!(&part.body[..], b"JPEG");
/// parser.finish()?;
/// # Ok::<(), switchboard_media::mjpeg::MjpegError>(())
/// ```
pub struct MultipartParser {
    /// Unparsed data. In [`State::Preamble`] it starts with a virtual `\n` so that a delimiter
    /// at the very start of the stream matches the same pattern as one after a line end.
    buf: BytesMut,
    /// `\n--boundary`: a delimiter is this, optionally preceded by `\r`.
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    max_part_bytes: usize,
    state: State,
    /// Where the next search in `buf` starts: no delimiter (or line end, while reading headers)
    /// starts before it.
    scan_from: usize,
    /// Bytes of preamble discarded so far.
    preamble_bytes: usize,
    /// Whether any data has been pushed.
    received: bool,
}

impl std::fmt::Debug for MultipartParser {
    /// Shows where the parser is, not the buffered bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Preamble => "preamble",
            State::Headers(_) => "headers",
            State::Body(_) => "body",
            State::AfterBody => "after body",
            State::Closed => "closed",
            State::Failed => "failed",
        };
        f.debug_struct("MultipartParser")
            .field("delimiter", &String::from_utf8_lossy(&self.delimiter[1..]))
            .field("state", &state)
            .field("buffered", &self.buf.len())
            .field("max_part_bytes", &self.max_part_bytes)
            .finish()
    }
}

impl MultipartParser {
    /// A parser for parts separated by `--boundary` (pass the boundary without the dashes, as
    /// [`boundary_from_content_type`] returns it), refusing parts larger than
    /// `max_part_bytes`.
    pub fn new(boundary: impl Into<String>, max_part_bytes: usize) -> Self {
        let boundary = boundary.into();
        let mut delimiter = Vec::with_capacity(boundary.len() + 3);
        delimiter.extend_from_slice(b"\n--");
        delimiter.extend_from_slice(boundary.as_bytes());
        let finder = memmem::Finder::new(&delimiter).into_owned();
        MultipartParser {
            buf: BytesMut::from(&b"\n"[..]),
            delimiter,
            finder,
            max_part_bytes,
            state: State::Preamble,
            scan_from: 0,
            preamble_bytes: 0,
            received: false,
        }
    }

    /// Appends a chunk of the body. Data after the closing delimiter or after an error is
    /// dropped.
    ///
    /// Call [`next_part`](Self::next_part) until it returns `Ok(None)` between pushes: the
    /// parser only bounds its buffer while it is being drained.
    pub fn push(&mut self, chunk: Bytes) {
        if matches!(self.state, State::Closed | State::Failed) || chunk.is_empty() {
            return;
        }
        self.received = true;
        self.buf.extend_from_slice(&chunk);
    }

    /// Returns the next complete part, or `Ok(None)` if more data is needed (or the stream
    /// was closed).
    ///
    /// # Errors
    ///
    /// Any [`MjpegError`] except `Transport` and `UnexpectedEof`. The parser then stops: its
    /// buffer is dropped and later calls return [`MjpegError::Aborted`].
    pub fn next_part(&mut self) -> Result<Option<Part>, MjpegError> {
        let result = self.run();
        if result.is_err() {
            self.state = State::Failed;
            self.buf = BytesMut::new();
        }
        result
    }

    /// Checks, once the body has ended, that it did not end in the middle of a part.
    ///
    /// A body that ends right after a delimiter is fine (ffmpeg never sends the closing one),
    /// and so is one that ends right after a part's headers (a writer using advance headers
    /// announces a part that never comes). Call it after draining
    /// [`next_part`](Self::next_part).
    ///
    /// # Errors
    ///
    /// [`MjpegError::UnexpectedEof`] if the body ended before the first delimiter, inside a
    /// part's headers, or inside a part's body.
    pub fn finish(&self) -> Result<(), MjpegError> {
        let only_line_ends = self.buf.iter().all(|&b| b == b'\r' || b == b'\n');
        match &self.state {
            State::Preamble if self.received => Err(MjpegError::UnexpectedEof {
                context: "before the first boundary",
            }),
            State::Headers(head) if head.header_bytes > 0 || !only_line_ends => {
                Err(MjpegError::UnexpectedEof {
                    context: "inside part headers",
                })
            }
            State::Body(_) if !self.buf.is_empty() => Err(MjpegError::UnexpectedEof {
                context: "inside a part body",
            }),
            _ => Ok(()),
        }
    }

    /// Whether the closing delimiter `--boundary--` has been seen.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// How many bytes the parser holds (for metrics and tests of its memory bound).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    fn run(&mut self) -> Result<Option<Part>, MjpegError> {
        loop {
            // A handler that fails leaves the state at Failed.
            let (next, step) = match std::mem::replace(&mut self.state, State::Failed) {
                State::Preamble => self.preamble()?,
                State::Headers(head) => self.headers(head)?,
                State::Body(head) => self.body(head)?,
                State::AfterBody => self.after_body()?,
                State::Closed => (State::Closed, Step::NeedMore),
                State::Failed => return Err(MjpegError::Aborted),
            };
            self.state = next;
            match step {
                Step::Continue => {}
                Step::NeedMore => return Ok(None),
                Step::Emit(part) => return Ok(Some(part)),
            }
        }
    }

    fn preamble(&mut self) -> Result<(State, Step), MjpegError> {
        loop {
            let Some(found) = self.finder.find(&self.buf[self.scan_from..]) else {
                // Keep only what could be the start of a delimiter.
                let discard = self
                    .buf
                    .len()
                    .saturating_sub(self.delimiter.len() - 1)
                    .max(self.scan_from);
                return self.discard_preamble(discard);
            };
            let at = self.scan_from + found;
            // The limit applies to where the delimiter starts, however the body was split:
            // found in one large chunk or only after earlier chunks were discarded.
            if self.preamble_bytes + at > self.max_part_bytes {
                return Err(MjpegError::NoBoundary {
                    limit: self.max_part_bytes,
                });
            }
            match after_delimiter(&self.buf, at + self.delimiter.len()) {
                AfterDelimiter::NeedMore => return self.discard_preamble(at),
                AfterDelimiter::NotDelimiter => self.scan_from = at + 1,
                AfterDelimiter::Part(next) => {
                    self.buf.advance(next);
                    self.scan_from = 0;
                    return Ok((State::Headers(PartHead::default()), Step::Continue));
                }
                AfterDelimiter::Close => return Ok(self.close()),
            }
        }
    }

    fn discard_preamble(&mut self, discard: usize) -> Result<(State, Step), MjpegError> {
        self.buf.advance(discard);
        self.scan_from = 0;
        self.preamble_bytes += discard;
        if self.preamble_bytes > self.max_part_bytes {
            return Err(MjpegError::NoBoundary {
                limit: self.max_part_bytes,
            });
        }
        Ok((State::Preamble, Step::NeedMore))
    }

    fn headers(&mut self, mut head: PartHead) -> Result<(State, Step), MjpegError> {
        loop {
            let Some(found) = memchr::memchr(b'\n', &self.buf[self.scan_from..]) else {
                self.scan_from = self.buf.len();
                if head.header_bytes + self.buf.len() > MAX_HEADER_BYTES {
                    return Err(MjpegError::HeadersTooLarge {
                        limit: MAX_HEADER_BYTES,
                    });
                }
                return Ok((State::Headers(head), Step::NeedMore));
            };
            let line_end = self.scan_from + found + 1;
            head.header_bytes += line_end;
            if head.header_bytes > MAX_HEADER_BYTES {
                return Err(MjpegError::HeadersTooLarge {
                    limit: MAX_HEADER_BYTES,
                });
            }
            let line = &self.buf[..line_end - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                self.buf.advance(line_end);
                self.scan_from = 0;
                if head.content_length.is_some_and(|n| n > self.max_part_bytes) {
                    return Err(MjpegError::PartTooLarge {
                        limit: self.max_part_bytes,
                    });
                }
                return Ok((State::Body(head), Step::Continue));
            }
            let (name, value) = parse_header(line)?;
            if name.eq_ignore_ascii_case("content-length") && head.content_length.is_none() {
                let length = value
                    .parse()
                    .map_err(|_| MjpegError::InvalidContentLength {
                        value: value.clone(),
                    })?;
                head.content_length = Some(length);
            }
            head.headers.push((name, value));
            self.buf.advance(line_end);
            self.scan_from = 0;
        }
    }

    fn body(&mut self, head: PartHead) -> Result<(State, Step), MjpegError> {
        if let Some(length) = head.content_length {
            if self.buf.len() < length {
                return Ok((State::Body(head), Step::NeedMore));
            }
            let body = self.buf.split_to(length).freeze();
            let part = Part {
                headers: head.headers,
                body,
            };
            return Ok((State::AfterBody, Step::Emit(part)));
        }
        loop {
            let Some(found) = self.finder.find(&self.buf[self.scan_from..]) else {
                self.scan_from = self
                    .buf
                    .len()
                    .saturating_sub(self.delimiter.len() - 1)
                    .max(self.scan_from);
                // A delimiter found later starts at scan_from or after; the body before it
                // (less an optional \r) would be over the limit.
                if self.scan_from > self.max_part_bytes + 1 {
                    return Err(self.too_large());
                }
                return Ok((State::Body(head), Step::NeedMore));
            };
            let at = self.scan_from + found;
            let end = if at > 0 && self.buf[at - 1] == b'\r' {
                at - 1
            } else {
                at
            };
            let after = after_delimiter(&self.buf, at + self.delimiter.len());
            if !matches!(after, AfterDelimiter::NotDelimiter) && end > self.max_part_bytes {
                return Err(self.too_large());
            }
            match after {
                AfterDelimiter::NeedMore => {
                    self.scan_from = at;
                    return Ok((State::Body(head), Step::NeedMore));
                }
                AfterDelimiter::NotDelimiter => self.scan_from = at + 1,
                AfterDelimiter::Part(next) => {
                    let body = self.buf.split_to(end).freeze();
                    self.buf.advance(next - end);
                    self.scan_from = 0;
                    let part = Part {
                        headers: head.headers,
                        body,
                    };
                    return Ok((State::Headers(PartHead::default()), Step::Emit(part)));
                }
                AfterDelimiter::Close => {
                    let body = self.buf.split_to(end).freeze();
                    let (state, _) = self.close();
                    let part = Part {
                        headers: head.headers,
                        body,
                    };
                    return Ok((state, Step::Emit(part)));
                }
            }
        }
    }

    fn after_body(&mut self) -> Result<(State, Step), MjpegError> {
        let line_ends = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        self.buf.advance(line_ends);
        // The delimiter without its leading line end: `--boundary`.
        let dashes = &self.delimiter[1..];
        let available = self.buf.len().min(dashes.len());
        if self.buf[..available] != dashes[..available] {
            return Err(MjpegError::MissingBoundary);
        }
        if available < dashes.len() {
            return Ok((State::AfterBody, Step::NeedMore));
        }
        match after_delimiter(&self.buf, dashes.len()) {
            AfterDelimiter::NeedMore => Ok((State::AfterBody, Step::NeedMore)),
            AfterDelimiter::NotDelimiter => Err(MjpegError::MissingBoundary),
            AfterDelimiter::Part(next) => {
                self.buf.advance(next);
                self.scan_from = 0;
                Ok((State::Headers(PartHead::default()), Step::Continue))
            }
            AfterDelimiter::Close => Ok(self.close()),
        }
    }

    fn close(&mut self) -> (State, Step) {
        self.buf = BytesMut::new();
        self.scan_from = 0;
        (State::Closed, Step::NeedMore)
    }

    fn too_large(&self) -> MjpegError {
        MjpegError::PartTooLarge {
            limit: self.max_part_bytes,
        }
    }
}

/// Splits a header line into a name and a trimmed value.
fn parse_header(line: &[u8]) -> Result<(String, String), MjpegError> {
    let malformed = || MjpegError::MalformedHeader {
        line: String::from_utf8_lossy(line).chars().take(100).collect(),
    };
    let colon = memchr::memchr(b':', line).ok_or_else(malformed)?;
    let name = &line[..colon];
    let valid_name = !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    if !valid_name {
        return Err(malformed());
    }
    let value = std::str::from_utf8(&line[colon + 1..]).map_err(|_| malformed())?;
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, value.trim_matches([' ', '\t']).to_string()))
}

/// Parses a multipart body stream into parts: the [`MultipartParser`] loop around a `Stream`.
///
/// The stream ends when the body ends (with [`MjpegError::UnexpectedEof`] first if it ended
/// inside a part), right after the closing delimiter (without reading the epilogue), or
/// right after the first error. A transport error is wrapped in [`MjpegError::Transport`]. The returned stream is
/// `Send` when `body` is.
pub fn parts<S, E>(
    body: S,
    boundary: String,
    max_part_bytes: usize,
) -> impl Stream<Item = Result<Part, MjpegError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: StdError + Send + Sync + 'static,
{
    let parser = MultipartParser::new(boundary, max_part_bytes);
    let state = (Box::pin(body), parser, false);
    futures::stream::unfold(state, |(mut body, mut parser, failed)| async move {
        if failed {
            return None;
        }
        loop {
            match parser.next_part() {
                Ok(Some(part)) => return Some((Ok(part), (body, parser, false))),
                Ok(None) if parser.is_closed() => return None,
                Ok(None) => {}
                Err(e) => return Some((Err(e), (body, parser, true))),
            }
            match body.next().await {
                Some(Ok(chunk)) => parser.push(chunk),
                Some(Err(e)) => {
                    let e = MjpegError::Transport(Box::new(e));
                    return Some((Err(e), (body, parser, true)));
                }
                None => {
                    return match parser.finish() {
                        Ok(()) => None,
                        Err(e) => Some((Err(e), (body, parser, true))),
                    };
                }
            }
        }
    })
}

/// Writes JPEG frames as a `multipart/x-mixed-replace` stream with advance headers, so
/// browsers show each frame as soon as it arrives (see the module documentation).
#[derive(Debug, Clone)]
pub struct MjpegWriter {
    boundary: String,
    content_type: String,
    /// `\r\n--boundary\r\nContent-Type: image/jpeg\r\n\r\n`, sent after every frame.
    after_frame: Bytes,
}

impl MjpegWriter {
    /// A writer using `boundary` (without the leading dashes). Choose one that cannot occur in
    /// a frame after a line end; [`DEFAULT_BOUNDARY`] is fine.
    pub fn new(boundary: impl Into<String>) -> Self {
        let boundary = boundary.into();
        let is_token = !boundary.is_empty()
            && boundary
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"'+_-.".contains(&b));
        let content_type = if is_token {
            format!("multipart/x-mixed-replace; boundary={boundary}")
        } else {
            let escaped = boundary.replace('\\', "\\\\").replace('"', "\\\"");
            format!("multipart/x-mixed-replace; boundary=\"{escaped}\"")
        };
        let after_frame = Bytes::from(format!(
            "\r\n--{boundary}\r\nContent-Type: image/jpeg\r\n\r\n"
        ));
        MjpegWriter {
            boundary,
            content_type,
            after_frame,
        }
    }

    /// The boundary, without the leading dashes.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The value for the response's `Content-Type` header:
    /// `multipart/x-mixed-replace; boundary=...`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The first delimiter and part headers, to send as soon as the response starts (before
    /// the first frame is available).
    pub fn preamble(&self) -> Bytes {
        self.after_frame.slice(2..)
    }

    /// The bytes to send for one frame: the JPEG itself (the same `Bytes`, no copy) and then
    /// the delimiter and headers of the next part (a shared precomputed `Bytes`).
    pub fn frame(&self, jpeg: &Bytes) -> [Bytes; 2] {
        [jpeg.clone(), self.after_frame.clone()]
    }
}

impl Default for MjpegWriter {
    /// A writer using [`DEFAULT_BOUNDARY`].
    fn default() -> Self {
        MjpegWriter::new(DEFAULT_BOUNDARY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for split points (xorshift64*).
    struct Splitter(u64);

    impl Splitter {
        fn next(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
        }
    }

    fn frames() -> Vec<Vec<u8>> {
        let card = crate::synth::TestCard::new(64, 48, 70);
        (0..4).map(|n| card.render(n)).collect()
    }

    /// Exactly what `ffmpeg -f mpjpeg` writes for these frames.
    fn ffmpeg_stream(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"--ffmpeg\r\n".to_vec();
        for f in frames {
            out.extend_from_slice(b"Content-type: image/jpeg\r\n");
            out.extend_from_slice(format!("Content-length: {}\r\n\r\n", f.len()).as_bytes());
            out.extend_from_slice(f);
            out.extend_from_slice(b"\r\n--ffmpeg\r\n");
        }
        out
    }

    /// Feeds `data` in the given chunk lengths (the last chunk takes the rest), draining the
    /// parser after each, and checks `finish`.
    fn parse_in_chunks(
        boundary: &str,
        data: &[u8],
        mut chunk_len: impl FnMut() -> usize,
    ) -> Result<Vec<Part>, MjpegError> {
        let mut parser = MultipartParser::new(boundary, 1 << 20);
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = chunk_len().clamp(1, rest.len());
            parser.push(Bytes::copy_from_slice(&rest[..n]));
            rest = &rest[n..];
            while let Some(part) = parser.next_part()? {
                out.push(part);
            }
        }
        parser.finish()?;
        Ok(out)
    }

    /// Parses `data` whole, byte by byte, and in 20 random splittings, and checks that every
    /// way gives the same parts, which it returns.
    fn parse_every_way(boundary: &str, data: &[u8]) -> Vec<Part> {
        let whole = parse_in_chunks(boundary, data, || usize::MAX).unwrap();
        let bytewise = parse_in_chunks(boundary, data, || 1).unwrap();
        assert_eq!(whole, bytewise);
        for seed in 1..=20u64 {
            let mut rng = Splitter(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let max = [3, 17, 200, 5000][seed as usize % 4];
            let split = parse_in_chunks(boundary, data, || 1 + rng.next(max)).unwrap();
            assert_eq!(whole, split, "seed {seed}");
        }
        whole
    }

    fn bodies(parts: &[Part]) -> Vec<&[u8]> {
        parts.iter().map(|p| &p.body[..]).collect()
    }

    #[test]
    fn boundary_from_content_type_variants() {
        let cases = [
            ("multipart/x-mixed-replace;boundary=ffmpeg", Some("ffmpeg")),
            ("multipart/x-mixed-replace; boundary=frame", Some("frame")),
            (
                "Multipart/X-Mixed-Replace ; BOUNDARY = \"my frame\"",
                Some("my frame"),
            ),
            (
                "multipart/x-mixed-replace; charset=utf-8; boundary=\"a\\\"b\"; x=y",
                Some("a\"b"),
            ),
            ("multipart/mixed; foo; boundary=abc ; q=1", Some("abc")),
            ("multipart/x-mixed-replace; x=\"boundary=no\"", None),
            (
                "multipart/x-mixed-replace;boundary=--myboundary",
                Some("--myboundary"),
            ),
            ("multipart/x-mixed-replace", None),
            ("multipart/x-mixed-replace; boundary=", None),
            ("multipart/x-mixed-replace; boundary=\"unterminated", None),
            ("image/jpeg; boundary=ffmpeg", None),
            ("", None),
        ];
        for (ct, expected) in cases {
            assert_eq!(
                boundary_from_content_type(ct).as_deref(),
                expected,
                "content type {ct:?}"
            );
        }
    }

    #[test]
    fn parses_ffmpeg_framing_exactly() {
        let frames = frames();
        let data = ffmpeg_stream(&frames);
        let parts = parse_every_way("ffmpeg", &data);
        assert_eq!(
            bodies(&parts),
            frames.iter().map(|f| &f[..]).collect::<Vec<_>>()
        );
        let first = &parts[0];
        assert_eq!(first.header("content-type"), Some("image/jpeg"));
        assert_eq!(
            first.header("Content-Length"),
            Some(frames[0].len().to_string().as_str())
        );
        assert_eq!(first.headers[0].0, "Content-type");
        for part in &parts {
            assert!(crate::jpeg::inspect(&part.body).is_ok());
        }
    }

    #[test]
    fn part_with_content_length_is_returned_before_its_delimiter() {
        let frame = &frames()[0];
        let mut parser = MultipartParser::new("ffmpeg", 1 << 20);
        let head = format!(
            "--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: {}\r\n\r\n",
            frame.len()
        );
        parser.push(Bytes::from(head));
        parser.push(Bytes::copy_from_slice(frame));
        let part = parser.next_part().unwrap().unwrap();
        assert_eq!(&part.body[..], &frame[..]);
        assert!(parser.next_part().unwrap().is_none());
    }

    #[test]
    fn parses_parts_without_content_length() {
        let frames = frames();
        let mut data = b"--b\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        for f in &frames {
            data.extend_from_slice(f);
            data.extend_from_slice(b"\r\n--b\r\nContent-Type: image/jpeg\r\n\r\n");
        }
        let parts = parse_every_way("b", &data);
        assert_eq!(
            bodies(&parts),
            frames.iter().map(|f| &f[..]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn parses_bare_line_feeds() {
        // Old libav's mpjpeg muxer, and some cameras, use \n alone.
        let mut data = b"--avserver\n".to_vec();
        for body in [&b"first"[..], b"second\r\nline"] {
            data.extend_from_slice(format!("Content-length: {}\n", body.len()).as_bytes());
            data.extend_from_slice(b"Content-type: image/jpeg\n\n");
            data.extend_from_slice(body);
            data.extend_from_slice(b"\n--avserver\n");
        }
        data.extend_from_slice(b"Content-type: text/plain\n\nno length\n--avserver--\n");
        let parts = parse_every_way("avserver", &data);
        assert_eq!(
            bodies(&parts),
            vec![&b"first"[..], b"second\r\nline", b"no length"]
        );
    }

    #[test]
    fn skips_preamble_and_leading_line_ends() {
        let data = b"\r\n--b\r\nX-A: 1\r\n\r\none\r\n--b--\r\n";
        assert_eq!(bodies(&parse_every_way("b", data)), vec![&b"one"[..]]);
        let data = b"This is a preamble.\r\nIt mentions --b but not at a line start.\r\n\
                     --bogus is not it either\r\n--b\r\n\r\ntwo\r\n--b--";
        let parts = parse_every_way("b", data);
        assert_eq!(bodies(&parts), vec![&b"two"[..]]);
        assert!(parts[0].headers.is_empty());
    }

    #[test]
    fn tolerates_transport_padding_after_delimiters() {
        let data = b"--b \t\r\nA: 1\r\n\r\nx\r\n--b  \r\n\r\ny\r\n--b-- trailing";
        assert_eq!(
            bodies(&parse_every_way("b", data)),
            vec![&b"x"[..], &b"y"[..]]
        );
    }

    #[test]
    fn boundary_lookalikes_inside_a_body_do_not_split_it() {
        let body = b"a\r\n--bx\r\nb--b\r\n\r\n--b-c\r\n-\r\n--";
        let mut data = b"--b\r\n\r\n".to_vec();
        data.extend_from_slice(body);
        data.extend_from_slice(b"\r\n--b\r\n\r\nnext\r\n--b--");
        assert_eq!(
            bodies(&parse_every_way("b", &data)),
            vec![&body[..], &b"next"[..]]
        );
    }

    #[test]
    fn empty_bodies() {
        let data = b"--b\r\nContent-Length: 0\r\n\r\n\r\n--b\r\n\r\n\r\n--b--\r\n";
        assert_eq!(
            bodies(&parse_every_way("b", data)),
            vec![&b""[..], &b""[..]]
        );
    }

    #[test]
    fn closing_delimiter_ends_the_stream() {
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(
            b"--b\r\n\r\nlast\r\n--b--\r\nepilogue --b\r\n",
        ));
        assert_eq!(&parser.next_part().unwrap().unwrap().body[..], b"last");
        assert!(parser.next_part().unwrap().is_none());
        assert!(parser.is_closed());
        parser.push(Bytes::from_static(b"--b\r\n\r\nmore\r\n--b\r\n"));
        assert!(parser.next_part().unwrap().is_none());
        assert_eq!(parser.buffered_len(), 0);
        assert!(parser.finish().is_ok());
    }

    #[test]
    fn writer_round_trip_gives_back_exact_frames() {
        let frames: Vec<Bytes> = frames().into_iter().map(Bytes::from).collect();
        let writer = MjpegWriter::new("switchboard");
        let mut data = writer.preamble().to_vec();
        for f in &frames {
            let [jpeg, next] = writer.frame(f);
            assert_eq!(jpeg.as_ptr(), f.as_ptr(), "the frame is not copied");
            data.extend_from_slice(&jpeg);
            data.extend_from_slice(&next);
        }
        let parts = parse_every_way("switchboard", &data);
        assert_eq!(parts.len(), frames.len());
        for (part, frame) in parts.iter().zip(&frames) {
            assert_eq!(&part.body, frame);
            assert_eq!(part.header("content-type"), Some("image/jpeg"));
            assert_eq!(part.header("content-length"), None);
        }
    }

    #[test]
    fn writer_frames_are_complete_without_the_next_frame() {
        // The advance headers make each frame parseable the moment it is written.
        let writer = MjpegWriter::default();
        let mut parser = MultipartParser::new(writer.boundary(), 1 << 20);
        parser.push(writer.preamble());
        assert!(parser.next_part().unwrap().is_none());
        for f in frames() {
            for chunk in writer.frame(&Bytes::from(f.clone())) {
                parser.push(chunk);
            }
            assert_eq!(&parser.next_part().unwrap().unwrap().body[..], &f[..]);
            assert!(parser.next_part().unwrap().is_none());
        }
        assert!(parser.finish().is_ok());
    }

    #[test]
    fn writer_content_type_and_preamble() {
        let writer = MjpegWriter::new("frame");
        assert_eq!(
            writer.content_type(),
            "multipart/x-mixed-replace; boundary=frame"
        );
        assert_eq!(
            &writer.preamble()[..],
            b"--frame\r\nContent-Type: image/jpeg\r\n\r\n"
        );
        let [_, next] = writer.frame(&Bytes::from_static(b"x"));
        assert_eq!(
            &next[..],
            b"\r\n--frame\r\nContent-Type: image/jpeg\r\n\r\n"
        );
        let odd = MjpegWriter::new("a b\"c");
        assert_eq!(
            odd.content_type(),
            "multipart/x-mixed-replace; boundary=\"a b\\\"c\""
        );
        assert_eq!(
            boundary_from_content_type(odd.content_type()).as_deref(),
            Some("a b\"c")
        );
    }

    #[test]
    fn content_length_over_the_limit_fails_before_the_body_arrives() {
        let mut parser = MultipartParser::new("b", 1000);
        parser.push(Bytes::from_static(b"--b\r\nContent-Length: 1001\r\n\r\n"));
        assert!(matches!(
            parser.next_part(),
            Err(MjpegError::PartTooLarge { limit: 1000 })
        ));
        assert!(matches!(parser.next_part(), Err(MjpegError::Aborted)));
    }

    #[test]
    fn part_at_the_limit_is_accepted() {
        let body = vec![b'x'; 1000];
        let mut data = b"--b\r\n\r\n".to_vec();
        data.extend_from_slice(&body);
        data.extend_from_slice(b"\r\n--b--");
        let mut parser = MultipartParser::new("b", 1000);
        parser.push(Bytes::from(data));
        assert_eq!(parser.next_part().unwrap().unwrap().body.len(), 1000);
    }

    #[test]
    fn oversized_part_without_length_fails_with_bounded_buffer() {
        let limit = 10_000;
        let mut parser = MultipartParser::new("b", limit);
        parser.push(Bytes::from_static(
            b"--b\r\nContent-Type: image/jpeg\r\n\r\n",
        ));
        assert!(parser.next_part().unwrap().is_none());
        let chunk = Bytes::from(vec![b'x'; 100]);
        let mut pushed = 0;
        let err = loop {
            parser.push(chunk.clone());
            pushed += chunk.len();
            match parser.next_part() {
                Ok(None) => assert!(parser.buffered_len() <= limit + 2 + 4 + chunk.len()),
                Ok(Some(_)) => panic!("no part expected"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, MjpegError::PartTooLarge { limit: 10_000 }));
        assert!(
            pushed <= limit + 2 + 4 + chunk.len(),
            "detected late: {pushed}"
        );
        // A delimiter that arrives just after the limit is passed also fails.
        let mut data = b"--b\r\n\r\n".to_vec();
        data.extend_from_slice(&vec![b'y'; limit + 1]);
        data.extend_from_slice(b"\r\n--b\r\n");
        let mut parser = MultipartParser::new("b", limit);
        parser.push(Bytes::from(data));
        assert!(matches!(
            parser.next_part(),
            Err(MjpegError::PartTooLarge { .. })
        ));
    }

    #[test]
    fn endless_preamble_fails() {
        let mut parser = MultipartParser::new("b", 1000);
        let err = loop {
            parser.push(Bytes::from(vec![b'z'; 300]));
            assert!(parser.buffered_len() < 310);
            match parser.next_part() {
                Ok(None) => {}
                Ok(Some(_)) => panic!("no part expected"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, MjpegError::NoBoundary { limit: 1000 }));
    }

    #[test]
    fn overlong_preamble_fails_however_it_is_split() {
        // Found by the property tests: a delimiter past the limit was accepted when the
        // preamble before it arrived in the same chunk, and refused when it came in pieces.
        let mut data = b"Content-Type: image/jpeg\r\n \t".to_vec();
        data.extend_from_slice(&[0; 14]);
        data.extend_from_slice(b"Content-Type: image/jpeg\r\n\r\n--b\r\n");
        for chunk_len in [1, 7, usize::MAX] {
            let mut parser = MultipartParser::new("b", 1);
            let mut err = None;
            for chunk in data.chunks(chunk_len.min(data.len())) {
                parser.push(Bytes::copy_from_slice(chunk));
                if let Err(e) = parser.next_part() {
                    err = Some(e);
                    break;
                }
            }
            assert!(
                matches!(err, Some(MjpegError::NoBoundary { limit: 1 })),
                "chunks of {chunk_len}: {err:?}"
            );
        }
        // A preamble within the limit is still skipped.
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(b"hello\r\n--b\r\n\r\nx\r\n--b--"));
        assert_eq!(&parser.next_part().unwrap().unwrap().body[..], b"x");
    }

    #[test]
    fn malformed_headers_fail() {
        let bad = [
            &b"--b\r\nno colon here\r\n\r\nx\r\n--b--"[..],
            b"--b\r\n: empty name\r\n\r\nx\r\n--b--",
            b"--b\r\nBad Name: x\r\n\r\nx\r\n--b--",
            b"--b\r\nA: 1\r\n folded: continuation\r\n\r\nx\r\n--b--",
            b"--b\r\nA: \xff\xfe\r\n\r\nx\r\n--b--",
        ];
        for data in bad {
            let mut parser = MultipartParser::new("b", 100);
            parser.push(Bytes::from_static(data));
            let err = parser.next_part().unwrap_err();
            assert!(
                matches!(err, MjpegError::MalformedHeader { .. }),
                "{data:?}: {err}"
            );
        }
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(b"--b\r\nContent-Length: 12x\r\n\r\n"));
        let err = parser.next_part().unwrap_err();
        assert!(matches!(err, MjpegError::InvalidContentLength { ref value } if value == "12x"));
        assert_eq!(
            err.to_string(),
            "invalid Content-Length \"12x\" in a multipart part"
        );
    }

    #[test]
    fn endless_headers_fail() {
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(b"--b\r\n"));
        let line = Bytes::from_static(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        let err = loop {
            parser.push(line.clone());
            match parser.next_part() {
                Ok(None) => assert!(parser.buffered_len() <= MAX_HEADER_BYTES),
                Ok(Some(_)) => panic!("no part expected"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, MjpegError::HeadersTooLarge { .. }));
        // One endless line, too.
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(b"--b\r\nX: "));
        let err = loop {
            parser.push(Bytes::from_static(b"aaaaaaaaaaaaaaaa"));
            if let Err(e) = parser.next_part() {
                break e;
            }
        };
        assert!(matches!(err, MjpegError::HeadersTooLarge { .. }));
    }

    #[test]
    fn wrong_content_length_fails() {
        let mut parser = MultipartParser::new("b", 100);
        parser.push(Bytes::from_static(
            b"--b\r\nContent-Length: 3\r\n\r\nabcd\r\n--b\r\n",
        ));
        assert_eq!(&parser.next_part().unwrap().unwrap().body[..], b"abc");
        assert!(matches!(
            parser.next_part(),
            Err(MjpegError::MissingBoundary)
        ));
    }

    #[test]
    fn finish_reports_where_the_stream_was_cut() {
        let cut = |data: &'static [u8]| {
            let mut parser = MultipartParser::new("b", 100);
            parser.push(Bytes::from_static(data));
            while parser.next_part().unwrap().is_some() {}
            parser.finish()
        };
        assert!(cut(b"").is_ok());
        assert!(cut(b"--b\r\n").is_ok());
        assert!(cut(b"--b\r\nA: 1\r\n\r\n").is_ok());
        assert!(cut(b"--b\r\nContent-Length: 2\r\n\r\nab\r\n--b\r\n").is_ok());
        assert!(cut(b"--b\r\n\r\nab\r\n--b--\r\n").is_ok());
        let context = |r: Result<(), MjpegError>| match r {
            Err(MjpegError::UnexpectedEof { context }) => context,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(context(cut(b"hello")), "before the first boundary");
        assert_eq!(context(cut(b"--b\r\nA: 1")), "inside part headers");
        assert_eq!(context(cut(b"--b\r\nA: 1\r\n")), "inside part headers");
        assert_eq!(context(cut(b"--b\r\n\r\npartial")), "inside a part body");
        assert_eq!(
            context(cut(b"--b\r\nContent-Length: 9\r\n\r\npartial")),
            "inside a part body"
        );
    }

    #[test]
    fn bytewise_feeding_of_a_large_body_is_linear() {
        let body = vec![b'\r'; 200_000];
        let mut data = b"--b\r\n\r\n".to_vec();
        data.extend_from_slice(&body);
        data.extend_from_slice(b"\r\n--b--");
        let started = std::time::Instant::now();
        let parts = parse_in_chunks("b", &data, || 1).unwrap();
        assert_eq!(parts[0].body.len(), body.len());
        // Quadratic rescanning would take minutes here.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[tokio::test]
    async fn stream_adaptor_yields_parts() {
        let frames = frames();
        let data = Bytes::from(ffmpeg_stream(&frames));
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = parts(futures::stream::iter(chunks), "ffmpeg".into(), 1 << 20);
        let parts: Vec<Part> = stream.map(|p| p.unwrap()).collect::<Vec<_>>().await;
        assert_eq!(
            bodies(&parts),
            frames.iter().map(|f| &f[..]).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn stream_adaptor_reports_transport_errors_and_stops() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"--b\r\n\r\none\r\n--b\r\n\r\ntw")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
            Ok(Bytes::from_static(b"o\r\n--b--")),
        ];
        let results: Vec<_> = parts(futures::stream::iter(chunks), "b".into(), 100)
            .collect()
            .await;
        assert_eq!(results.len(), 2);
        assert_eq!(&results[0].as_ref().unwrap().body[..], b"one");
        let err = results[1].as_ref().unwrap_err();
        assert!(matches!(err, MjpegError::Transport(_)));
        assert_eq!(
            std::error::Error::source(err).map(ToString::to_string),
            Some("reset".to_string())
        );
    }

    #[tokio::test]
    async fn stream_adaptor_reports_a_cut_body() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"--b\r\n\r\none\r\n--b\r\n\r\ntw"))];
        let results: Vec<_> = parts(futures::stream::iter(chunks), "b".into(), 100)
            .collect()
            .await;
        assert_eq!(results.len(), 2);
        assert!(matches!(
            results[1],
            Err(MjpegError::UnexpectedEof {
                context: "inside a part body"
            })
        ));
    }

    #[tokio::test]
    async fn stream_adaptor_ends_at_the_closing_delimiter() {
        // The body never ends, but the closing delimiter ends the parts.
        let head = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
            b"--b\r\n\r\nonly\r\n--b--\r\n",
        ))]);
        let body = head.chain(futures::stream::pending());
        let results: Vec<_> = parts(body, "b".into(), 100).collect().await;
        assert_eq!(results.len(), 1);
        assert_eq!(&results[0].as_ref().unwrap().body[..], b"only");
    }

    #[test]
    fn stream_adaptor_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let body = futures::stream::empty::<Result<Bytes, std::io::Error>>();
        assert_send(&parts(body, "b".into(), 100));
    }
}
