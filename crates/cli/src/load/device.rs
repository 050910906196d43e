//! A simulated device: sends stamped JPEG frames at a steady rate over one of the three ways
//! the server accepts them, until told to stop.

use super::account::ApiFailure;
use super::frames::FrameRing;
use super::plan::Transport;
use super::progress::{Phase, Progress};
use anyhow::Context;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_server::protocol::{DeviceEvent, DeviceRegistered, StreamSummary};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

type DeviceSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The multipart boundary of the MJPEG upload.
const BOUNDARY: &str = "sbsim";

/// How long a device waits for the server to acknowledge the end of its upload.
const FINISH_PATIENCE: Duration = Duration::from_secs(10);

/// Everything one simulated device needs.
#[derive(Debug)]
pub struct SimulatedDevice {
    /// Index of its session in the run, written into every frame's stamp.
    pub session: usize,
    pub registered: DeviceRegistered,
    pub transport: Transport,
    pub fps: f64,
    /// When to send the first frame. Devices start spread over one frame interval, so that a
    /// run of many sessions loads the server evenly instead of in bursts.
    pub first_frame_at: Instant,
    pub frames: Arc<FrameRing>,
    pub http: reqwest::Client,
    pub progress: Arc<Progress>,
}

/// What a device did.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Frames sent inside the measurement window.
    pub window_frames: u64,
}

/// Why a frame could not be sent.
struct SendError {
    kind: String,
    detail: String,
    /// Whether the device can go on (one refused POST) or not (a broken connection).
    fatal: bool,
}

impl SendError {
    fn fatal(kind: &str, detail: impl std::fmt::Display) -> Self {
        SendError {
            kind: kind.to_owned(),
            detail: detail.to_string(),
            fatal: true,
        }
    }
}

/// The connection frames go up, one kind per [`Transport`].
enum Uplink {
    /// The device WebSocket: one binary message per frame; controls come back as text.
    Ws(Box<DeviceSocket>),
    /// One `POST frames_url?seq=N` per frame.
    Http { url: reqwest::Url, token: String },
    /// One long `POST stream_url` whose multipart body is fed from this channel.
    Mjpeg {
        body: mpsc::Sender<Result<Bytes, std::io::Error>>,
        answer: JoinHandle<anyhow::Result<StreamSummary>>,
    },
}

impl SimulatedDevice {
    /// Streams until `stop` is cancelled (or the connection breaks), then closes the
    /// connection the way a well-behaved device does.
    pub async fn run(self, stop: CancellationToken) -> DeviceReport {
        let mut report = DeviceReport::default();
        let errors = &self.progress.errors;
        let mut uplink = match self.connect().await {
            Ok(uplink) => uplink,
            Err(e) => {
                errors.record("device_connect", format!("{e:#}"));
                return report;
            }
        };
        let period = Duration::from_secs_f64(1.0 / self.fps);
        let mut tick = tokio::time::interval_at(self.first_frame_at.into(), period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut seq = 0;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                message = uplink.next_message() => {
                    if !self.on_message(message) {
                        break;
                    }
                }
                at = tick.tick() => {
                    seq += 1;
                    let (frame, _) = self.frames.stamped(self.session, seq);
                    let len = frame.len() as u64;
                    match uplink.send(&self.http, seq, frame).await {
                        Ok(()) => {
                            report.frames_sent += 1;
                            report.bytes_sent += len;
                            if self.progress.measuring_at(at.into_std()) {
                                report.window_frames += 1;
                            }
                            Progress::count(&self.progress.frames_sent);
                        }
                        Err(e) => {
                            errors.record(e.kind, e.detail);
                            if e.fatal {
                                break;
                            }
                        }
                    }
                }
            }
        }
        if let Err(e) = uplink.finish().await {
            errors.record("device_close", format!("{e:#}"));
        }
        report
    }

    async fn connect(&self) -> anyhow::Result<Uplink> {
        let token = &self.registered.device_token;
        match self.transport {
            Transport::Ws => {
                let mut request = self
                    .registered
                    .websocket_url
                    .as_str()
                    .into_client_request()?;
                request.headers_mut().insert(
                    AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {token}"))?,
                );
                // Nagle's algorithm would hold back the tail of each frame: latency is measured.
                let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
                    .await
                    .with_context(|| format!("cannot open {}", self.registered.websocket_url))?;
                Ok(Uplink::Ws(Box::new(socket)))
            }
            Transport::Http => Ok(Uplink::Http {
                url: self.registered.frames_url.parse()?,
                token: token.clone(),
            }),
            Transport::Mjpeg => {
                let (body, rx) = mpsc::channel(4);
                let request = self
                    .http
                    .post(&self.registered.stream_url)
                    .bearer_auth(token)
                    .header(
                        CONTENT_TYPE,
                        format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
                    )
                    .body(reqwest::Body::wrap_stream(rx));
                let answer = tokio::spawn(async move {
                    let resp = request.send().await?;
                    if !resp.status().is_success() {
                        return Err(ApiFailure::from_response(resp).await.into());
                    }
                    Ok(resp.json::<StreamSummary>().await?)
                });
                Ok(Uplink::Mjpeg { body, answer })
            }
        }
    }

    /// Handles a message from the device WebSocket; returns whether to go on.
    fn on_message(
        &self,
        message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> bool {
        let errors = &self.progress.errors;
        let expected_end = self.progress.phase() >= Phase::Draining;
        match message {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<DeviceEvent>(&text) {
                Ok(DeviceEvent::Error { error, message }) => {
                    errors.record(format!("device_refused_{error}"), message);
                    true
                }
                Ok(DeviceEvent::Ended { reason }) => {
                    if !expected_end {
                        errors.record("device_session_ended", format!("reason {reason:?}"));
                    }
                    false
                }
                Ok(DeviceEvent::Control { .. }) => true,
                Err(e) => {
                    errors.record("device_bad_message", format!("{e}: {text}"));
                    true
                }
            },
            Some(Ok(Message::Close(frame))) => {
                if !expected_end {
                    errors.record("device_closed", format!("{frame:?}"));
                }
                false
            }
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                errors.record("device_socket", e);
                false
            }
            None => {
                if !expected_end {
                    errors.record("device_closed", "the server closed the device socket");
                }
                false
            }
        }
    }
}

impl Uplink {
    /// The next message from the server; never completes for transports that have none.
    async fn next_message(
        &mut self,
    ) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        match self {
            Uplink::Ws(socket) => socket.next().await,
            Uplink::Http { .. } | Uplink::Mjpeg { .. } => std::future::pending().await,
        }
    }

    async fn send(
        &mut self,
        http: &reqwest::Client,
        seq: u64,
        frame: Bytes,
    ) -> Result<(), SendError> {
        match self {
            Uplink::Ws(socket) => socket
                .send(Message::Binary(frame))
                .await
                .map_err(|e| SendError::fatal("device_send", e)),
            Uplink::Http { url, token } => {
                let resp = http
                    .post(url.clone())
                    .query(&[("seq", seq)])
                    .bearer_auth(&*token)
                    .header(CONTENT_TYPE, "image/jpeg")
                    .body(frame)
                    .send()
                    .await
                    .map_err(|e| SendError::fatal("device_send", e))?;
                if resp.status().is_success() {
                    return Ok(());
                }
                let failure = ApiFailure::from_response(resp).await;
                Err(SendError {
                    kind: format!("device_http_{}", failure.status.as_u16()),
                    fatal: failure.status == reqwest::StatusCode::GONE,
                    detail: failure.to_string(),
                })
            }
            Uplink::Mjpeg { body, .. } => {
                let head = format!(
                    "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    frame.len()
                );
                for chunk in [Bytes::from(head), frame, Bytes::from_static(b"\r\n")] {
                    if body.send(Ok(chunk)).await.is_err() {
                        return Err(SendError::fatal(
                            "device_stream",
                            "the server stopped reading the upload",
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Closes the connection: a WebSocket close, or the multipart closing delimiter and the
    /// server's answer.
    async fn finish(self) -> anyhow::Result<()> {
        match self {
            Uplink::Ws(mut socket) => {
                // The server may have closed first; that is fine.
                let _ = socket.send(Message::Close(None)).await;
                let drain = async { while socket.next().await.is_some() {} };
                let _ = tokio::time::timeout(FINISH_PATIENCE, drain).await;
                Ok(())
            }
            Uplink::Http { .. } => Ok(()),
            Uplink::Mjpeg { mut body, answer } => {
                let close = Bytes::from(format!("--{BOUNDARY}--\r\n"));
                let _ = body.send(Ok(close)).await;
                body.close_channel();
                tokio::time::timeout(FINISH_PATIENCE, answer)
                    .await
                    .context("the server did not answer the end of the upload")?
                    .context("the upload task failed")?
                    .context("the upload was refused")?;
                Ok(())
            }
        }
    }
}
