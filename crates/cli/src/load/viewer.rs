//! A simulated viewer: watches one session over MJPEG (a raw socket, cheap enough to run
//! hundreds beside the server) or the watch WebSocket, and checks and times every frame.

use super::frames::{Stamp, unix_micros};
use super::http_stream::{ChunkedDecoder, MAX_HEAD_BYTES, ResponseHead, head_end, parse_head};
use super::progress::{Phase, Progress};
use super::stats::LatencyHistogram;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::Suid;
use switchboard_media::mjpeg::{MultipartParser, boundary_from_content_type};
use switchboard_server::protocol::WatchEvent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

/// How much a normal MJPEG viewer asks the socket for at once: a 50 KB frame in one or two
/// reads keeps the system-call count (and so the load generator's share of the CPU) low.
const READ_SIZE: usize = 128 * 1024;

/// How much the slow viewer reads at once, and its socket's receive buffer: small, so the
/// server's writes to it block quickly, which is the situation the slow scenario tests.
const SLOW_READ_SIZE: usize = 4 * 1024;

/// How often the slow viewer takes a frame.
const SLOW_PERIOD: Duration = Duration::from_secs(1);

/// The largest frame a viewer accepts.
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// How a viewer watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewerRole {
    /// `video.mjpeg` read as fast as it comes.
    Mjpeg,
    /// The watch WebSocket.
    Ws,
    /// `video.mjpeg` read one frame a second through a small socket buffer.
    SlowMjpeg,
}

/// Everything one simulated viewer needs.
#[derive(Debug)]
pub struct SimulatedViewer {
    /// Index of the session in the run; frames stamped for another session are an error.
    pub session: usize,
    pub suid: Suid,
    pub role: ViewerRole,
    /// The server's base URL, ending with `/`.
    pub base: Url,
    pub token: Arc<str>,
    pub progress: Arc<Progress>,
    /// Receives `true` once the stream is open, `false` if it could not be.
    pub ready: mpsc::UnboundedSender<bool>,
    /// Limits how many viewers connect at once, so hundreds do not all knock together.
    pub connecting: Arc<Semaphore>,
}

/// What a viewer received.
#[derive(Debug, Clone)]
pub struct ViewerReport {
    pub session: usize,
    pub role: ViewerRole,
    pub frames: u64,
    pub bytes: u64,
    /// Frames and bytes received inside the measurement window.
    pub window_frames: u64,
    pub window_bytes: u64,
    /// Device-to-viewer latency of the frames inside the window.
    pub latency: LatencyHistogram,
}

/// How a stream ended without error.
enum End {
    /// The server closed it.
    Closed,
    /// The run told the viewer to stop.
    Stopped,
}

/// Why a viewer failed, with a kind for the error tally.
struct ViewerError {
    kind: String,
    detail: String,
}

impl ViewerError {
    fn new(kind: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        ViewerError {
            kind: kind.into(),
            detail: detail.to_string(),
        }
    }

    /// The stream could not be opened.
    fn connect(detail: impl std::fmt::Display) -> Self {
        Self::new("viewer_connect", detail)
    }

    /// The server's answer is not the stream it should be.
    fn bad_stream(detail: impl std::fmt::Display) -> Self {
        Self::new("viewer_bad_stream", detail)
    }
}

/// Sends `false` on drop unless `true` was sent, so the run always hears from every viewer.
struct Ready(Option<mpsc::UnboundedSender<bool>>);

impl Ready {
    fn set(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(true);
        }
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(false);
        }
    }
}

impl SimulatedViewer {
    /// Watches until the server ends the stream or `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) -> ViewerReport {
        let mut report = ViewerReport {
            session: self.session,
            role: self.role,
            frames: 0,
            bytes: 0,
            window_frames: 0,
            window_bytes: 0,
            latency: LatencyHistogram::default(),
        };
        let mut checker = FrameChecker {
            report: &mut report,
            progress: &self.progress,
            last_seq: None,
        };
        let mut ready = Ready(Some(self.ready.clone()));
        let result = match self.role {
            ViewerRole::Mjpeg | ViewerRole::SlowMjpeg => {
                self.watch_mjpeg(&mut checker, &mut ready, &stop).await
            }
            ViewerRole::Ws => self.watch_ws(&mut checker, &mut ready, &stop).await,
        };
        drop(ready);
        let errors = &self.progress.errors;
        let draining = self.progress.phase() >= Phase::Draining;
        match result {
            Ok(End::Closed) if !draining => errors.record(
                "viewer_stream_ended_early",
                "the server ended the stream while the session was live",
            ),
            Ok(End::Stopped) if draining => errors.record(
                "viewer_not_closed",
                "the stream stayed open after its session was ended",
            ),
            Ok(_) => {}
            Err(e) => errors.record(e.kind, e.detail),
        }
        report
    }

    async fn watch_mjpeg(
        &self,
        checker: &mut FrameChecker<'_>,
        ready: &mut Ready,
        stop: &CancellationToken,
    ) -> Result<End, ViewerError> {
        let slow = self.role == ViewerRole::SlowMjpeg;
        let read_size = if slow { SLOW_READ_SIZE } else { READ_SIZE };
        let permit = self.connecting.acquire().await;
        let (mut stream, head, mut buf) = self.open_mjpeg(slow, read_size).await?;
        let boundary = head
            .content_type
            .as_deref()
            .and_then(boundary_from_content_type)
            .ok_or_else(|| {
                ViewerError::bad_stream(format!(
                    "not a multipart stream: Content-Type {:?}",
                    head.content_type
                ))
            })?;
        drop(permit);
        ready.set();

        let mut parser = MultipartParser::new(&boundary, MAX_FRAME_BYTES);
        let mut chunked = head.chunked.then(ChunkedDecoder::default);
        let mut pace = tokio::time::interval(SLOW_PERIOD);
        // A slow viewer that fell further behind still takes one frame a second, not a burst.
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !buf.is_empty() {
                // Zero-copy: the frozen bytes are sliced into the parser, which copies what
                // it keeps; once they are dropped the read buffer's memory is reused.
                let data = buf.split().freeze();
                match &mut chunked {
                    Some(decoder) => decoder
                        .feed(&data, |range| parser.push(data.slice(range)))
                        .map_err(|e| ViewerError::bad_stream(format!("{e:#}")))?,
                    None => parser.push(data),
                }
                while let Some(part) = parser.next_part().map_err(ViewerError::bad_stream)? {
                    checker.frame(&part.body);
                    if slow && self.progress.phase() < Phase::Draining {
                        tokio::select! {
                            () = stop.cancelled() => return Ok(End::Stopped),
                            _ = pace.tick() => {}
                        }
                    }
                }
                if chunked.as_ref().is_some_and(ChunkedDecoder::is_done) {
                    return Ok(End::Closed);
                }
            }
            buf.reserve(read_size);
            let read = tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(End::Stopped),
                read = read_some(&mut stream, &mut buf, read_size) => read,
            };
            let n = read.map_err(|e| ViewerError::new("viewer_read", e))?;
            if n == 0 {
                if chunked.is_some() {
                    return Err(ViewerError::new(
                        "viewer_stream_cut",
                        "the connection closed before the end of the chunked body",
                    ));
                }
                parser.finish().map_err(ViewerError::bad_stream)?;
                return Ok(End::Closed);
            }
        }
    }

    /// Connects, sends the GET request and reads the response head. Returns the socket, the
    /// head, and what was read of the body already.
    async fn open_mjpeg(
        &self,
        slow: bool,
        read_size: usize,
    ) -> Result<(TcpStream, ResponseHead, BytesMut), ViewerError> {
        let url = self
            .base
            .join(&format!("api/v1/sessions/{}/video.mjpeg", self.suid))
            .map_err(ViewerError::connect)?;
        let mut stream = connect(&url, slow)
            .await
            .map_err(|e| ViewerError::connect(format!("{e:#}")))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {host}{port}\r\nAuthorization: Bearer {}\r\n\
             Accept: multipart/x-mixed-replace\r\nUser-Agent: switchboard-simulate\r\n\r\n",
            url.path(),
            self.token
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(ViewerError::connect)?;

        let mut buf = BytesMut::with_capacity(read_size);
        let end = loop {
            if let Some(end) = head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Err(ViewerError::bad_stream("no end to the response head"));
            }
            buf.reserve(read_size);
            let n = stream
                .read_buf(&mut buf)
                .await
                .map_err(ViewerError::connect)?;
            if n == 0 {
                return Err(ViewerError::connect(
                    "the server closed the connection without answering",
                ));
            }
        };
        let head =
            parse_head(&buf[..end]).map_err(|e| ViewerError::bad_stream(format!("{e:#}")))?;
        if head.status != 200 {
            let body = String::from_utf8_lossy(&buf[end..buf.len().min(end + 300)]).into_owned();
            return Err(ViewerError::new(
                format!("viewer_http_{}", head.status),
                body,
            ));
        }
        buf.advance(end);
        Ok((stream, head, buf))
    }

    async fn watch_ws(
        &self,
        checker: &mut FrameChecker<'_>,
        ready: &mut Ready,
        stop: &CancellationToken,
    ) -> Result<End, ViewerError> {
        let mut url = self
            .base
            .join(&format!("api/v1/sessions/{}/watch", self.suid))
            .map_err(ViewerError::connect)?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| ViewerError::connect(format!("cannot make a WebSocket URL of {url}")))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(ViewerError::connect)?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(ViewerError::connect)?;
        request.headers_mut().insert(AUTHORIZATION, auth);
        let permit = self.connecting.acquire().await;
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .map_err(|e| ViewerError::connect(format!("{url}: {e}")))?;
        drop(permit);
        ready.set();
        loop {
            let message = tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(End::Stopped),
                message = socket.next() => message,
            };
            match message {
                Some(Ok(Message::Binary(frame))) => checker.frame(&frame),
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = serde_json::from_str::<WatchEvent>(&text) {
                        self.progress
                            .errors
                            .record("viewer_bad_event", format!("{e}: {text}"));
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ok(End::Closed),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ViewerError::new("viewer_read", e)),
            }
        }
    }
}

/// Reads at most `limit` bytes into `buf`: the slow viewer must not drain a large socket
/// buffer in one go, or it would not be slow.
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: usize,
) -> std::io::Result<usize> {
    let mut limited = (&mut *stream).take(limit as u64);
    limited.read_buf(buf).await
}

/// Opens a TCP connection to the URL's host, with a small receive buffer for the slow viewer.
async fn connect(url: &Url, small_buffer: bool) -> anyhow::Result<TcpStream> {
    if url.scheme() != "http" {
        anyhow::bail!("MJPEG viewers speak plain HTTP only; use --viewer-kind ws for {url}");
    }
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} has no address"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if small_buffer {
        socket.set_recv_buffer_size(SLOW_READ_SIZE as u32)?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Checks each frame's stamp and counts it into a viewer's report.
struct FrameChecker<'a> {
    report: &'a mut ViewerReport,
    progress: &'a Progress,
    last_seq: Option<u64>,
}

impl FrameChecker<'_> {
    fn frame(&mut self, jpeg: &[u8]) {
        let now = Instant::now();
        let report = &mut *self.report;
        report.frames += 1;
        report.bytes += jpeg.len() as u64;
        Progress::count(&self.progress.frames_received);
        let errors = &self.progress.errors;
        let Some(stamp) = Stamp::of_jpeg(jpeg) else {
            errors.record(
                "viewer_unstamped_frame",
                format!("a {} byte frame without a simulator stamp", jpeg.len()),
            );
            return;
        };
        if stamp.session != report.session {
            errors.record(
                "viewer_wrong_session",
                format!(
                    "session {}'s viewer got a frame of session {}",
                    report.session, stamp.session
                ),
            );
        }
        if let Some(last) = self.last_seq
            && stamp.seq <= last
        {
            errors.record(
                "viewer_out_of_order",
                format!("frame {} arrived after frame {last}", stamp.seq),
            );
        }
        self.last_seq = Some(stamp.seq);
        if self.progress.measuring_at(now) {
            report.window_frames += 1;
            report.window_bytes += jpeg.len() as u64;
            report
                .latency
                .record(unix_micros().saturating_sub(stamp.sent_micros));
        }
    }
}
