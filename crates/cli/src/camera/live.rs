//! Going live: redeeming the ticket a "Live" button press produced, then sending frames to
//! the session like any device until the session ends or the source stops.

use super::upload::{CameraApi, LiveTicket, error_chain};
use bytes::Bytes;
use futures::StreamExt;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use thiserror::Error;
use tokio::process::Command;
use tokio::sync::watch;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

/// How long one frame POST may take before the frame is given up (the next one is newer).
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an inbox camera sends its newest photo while live.
const INBOX_FRAME_INTERVAL: Duration = Duration::from_secs(1);

/// How long the live source may produce nothing before streaming stops (a stalled RTSP
/// camera would otherwise hold the session, and snapshots would repeat its last frame).
const SOURCE_STALL: Duration = Duration::from_secs(15);

/// The boundary `ffmpeg -f mpjpeg` writes.
const FFMPEG_BOUNDARY: &str = "ffmpeg";

/// Going live failed.
#[derive(Debug, Error)]
pub enum LiveError {
    /// The ticket could not be redeemed.
    #[error("cannot redeem live ticket {ticket}: {reason}")]
    Register {
        /// The ticket.
        ticket: String,
        /// The server's answer or the network error.
        reason: String,
        /// Whether the same ticket may work later (a network error or a 5xx, 429), as opposed
        /// to a ticket the server refused (used, expired, unknown).
        retryable: bool,
    },
    /// ffmpeg could not be started.
    #[error("cannot run ffmpeg for the live stream: {0}")]
    Spawn(#[source] std::io::Error),
    /// ffmpeg's output was not the MJPEG it should be.
    #[error("ffmpeg's live output is not valid MJPEG: {0}")]
    Stream(#[from] switchboard_media::mjpeg::MjpegError),
}

/// A redeemed ticket: this camera is the session's device.
#[derive(Debug, Clone, Deserialize)]
pub struct LiveSession {
    /// The session.
    pub suid: String,
    /// The device token, bound to this session.
    pub device_token: String,
    /// Where frames are posted, one per request.
    pub frames_url: String,
    /// The largest frame the server takes.
    pub max_frame_bytes: usize,
}

/// Why streaming stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveEnd {
    /// The server said the session is over (410), or no longer takes this device's frames.
    SessionEnded,
    /// The source stopped producing frames.
    SourceEnded,
    /// The uploader is shutting down.
    Stopped,
}

/// Redeems `ticket` as this camera (`POST /api/v1/devices/register`).
pub async fn register(api: &CameraApi, ticket: &LiveTicket) -> Result<LiveSession, LiveError> {
    let fail = |reason: String, retryable: bool| LiveError::Register {
        ticket: ticket.ticket.clone(),
        reason,
        retryable,
    };
    let body = json!({
        "ticket": ticket.ticket,
        "device": {
            "model": "switchboard camera",
            "os": os_description(),
            "app_version": env!("CARGO_PKG_VERSION"),
            "camera_id": api.camera_id(),
        },
    });
    let response = api
        .client()
        .post(format!("{}/api/v1/devices/register", api.base()))
        .json(&body)
        .timeout(FRAME_TIMEOUT)
        .send()
        .await
        .map_err(|e| fail(error_chain(&e), true))?;
    let status = response.status();
    if status != StatusCode::CREATED {
        let text = response.text().await.unwrap_or_default();
        let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        return Err(fail(format!("{status}: {}", text.trim()), retryable));
    }
    let mut session: LiveSession = response
        .json()
        .await
        .map_err(|e| fail(format!("unexpected answer: {}", error_chain(&e)), false))?;
    // The server gives absolute URLs; accept a path too, relative to the server.
    if session.frames_url.starts_with('/') {
        session.frames_url = format!("{}{}", api.base(), session.frames_url);
    }
    Ok(session)
}

/// What one frame POST came to.
enum Sent {
    Delivered,
    SessionOver,
    Failed(String),
}

async fn send_frame(api: &CameraApi, session: &LiveSession, jpeg: Bytes) -> Sent {
    let sent = api
        .client()
        .post(&session.frames_url)
        .bearer_auth(&session.device_token)
        .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
        .timeout(FRAME_TIMEOUT)
        .body(jpeg)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Sent::Delivered,
        // Ended (410), or the token no longer admits this device to the session.
        Ok(r)
            if matches!(
                r.status(),
                StatusCode::GONE
                    | StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::NOT_FOUND
            ) =>
        {
            Sent::SessionOver
        }
        Ok(r) => Sent::Failed(r.status().to_string()),
        Err(e) => Sent::Failed(error_chain(&e)),
    }
}

/// Streams an ffmpeg input to the session at `fps` until the session or the source ends.
/// Every frame also becomes `latest`, which snapshots use while the source is busy here;
/// `latest` is cleared when streaming stops.
pub async fn stream_ffmpeg(
    api: &CameraApi,
    session: &LiveSession,
    input: &[String],
    realtime: bool,
    fps: f64,
    latest: &watch::Sender<Option<Bytes>>,
    cancel: &CancellationToken,
) -> Result<LiveEnd, LiveError> {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    // Files and generated inputs would otherwise be read as fast as ffmpeg can.
    if realtime {
        command.arg("-re");
    }
    let mut child = command
        .args(input)
        .args(["-an", "-r", &format!("{fps}"), "-c:v", "mjpeg", "-q:v", "5"])
        .args(["-f", "mpjpeg", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(LiveError::Spawn)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(LiveError::Spawn(std::io::Error::other("no stdout")));
    };
    let parts = switchboard_media::mjpeg::parts(
        ReaderStream::new(stdout),
        FFMPEG_BOUNDARY.to_owned(),
        session.max_frame_bytes,
    );
    let mut parts = std::pin::pin!(parts);
    let mut failures = FailureLog::default();
    let end = loop {
        let part = tokio::select! {
            () = cancel.cancelled() => break Ok(LiveEnd::Stopped),
            part = tokio::time::timeout(SOURCE_STALL, parts.next()) => part,
        };
        let frame = match part {
            Err(_) => {
                tracing::warn!(after = ?SOURCE_STALL, "live: the source stalled");
                break Ok(LiveEnd::SourceEnded);
            }
            Ok(None) => break Ok(LiveEnd::SourceEnded),
            Ok(Some(Err(e))) => break Err(e.into()),
            Ok(Some(Ok(part))) => part.body,
        };
        latest.send_replace(Some(frame.clone()));
        match send_frame(api, session, frame).await {
            Sent::Delivered => failures.clear(),
            Sent::SessionOver => break Ok(LiveEnd::SessionEnded),
            Sent::Failed(why) => failures.record(&why),
        }
    };
    latest.send_replace(None);
    let _ = child.start_kill();
    let _ = child.wait().await;
    end
}

/// Sends the newest inbox photo once a second until the session ends.
pub async fn stream_inbox(
    api: &CameraApi,
    session: &LiveSession,
    newest: &watch::Receiver<Option<Bytes>>,
    cancel: &CancellationToken,
) -> LiveEnd {
    let mut tick = tokio::time::interval(INBOX_FRAME_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = FailureLog::default();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return LiveEnd::Stopped,
            _ = tick.tick() => {}
        }
        let Some(photo) = newest.borrow().clone() else {
            continue;
        };
        match send_frame(api, session, photo).await {
            Sent::Delivered => failures.clear(),
            Sent::SessionOver => return LiveEnd::SessionEnded,
            Sent::Failed(why) => failures.record(&why),
        }
    }
}

/// Logs the first of a run of failed frames and then every hundredth, not one line per frame.
#[derive(Debug, Default)]
struct FailureLog {
    run: u64,
}

impl FailureLog {
    fn record(&mut self, why: &str) {
        if self.run.is_multiple_of(100) {
            tracing::warn!(
                failed_in_a_row = self.run + 1,
                reason = why,
                "live frame not delivered"
            );
        }
        self.run += 1;
    }

    fn clear(&mut self) {
        self.run = 0;
    }
}

/// The operating system for the session's device info: `/etc/os-release`'s name (what a
/// Raspberry Pi reports as "Raspbian GNU/Linux 12 (bookworm)") and the architecture.
fn os_description() -> String {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{name} ({})", std::env::consts::ARCH)
}
