//! `switchboard camera`: the uploader that runs next to a camera (a Raspberry Pi, a PC with a
//! webcam, a script in front of an IP camera).
//!
//! Three tasks share a spool folder: capture writes every photo into the spool first, upload
//! sends the spool oldest first and deletes a photo only once the server keeps it, and live
//! streams to a session when the server's upload answer carries a ticket. A network outage
//! therefore only makes the spool grow (up to `--spool-max`), and a restart resumes it.

mod capture;
mod live;
mod spool;
mod upload;

use anyhow::Context;
use bytes::Bytes;
use bytesize::ByteSize;
use capture::Source;
use chrono::{DateTime, Utc};
use clap::Args;
use live::LiveEnd;
use spool::{Spool, SpoolEntry};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use upload::{Backoff, CameraApi, LiveTicket, Upload};

/// `switchboard camera`: capture photos and upload them to a camera of a Switchboard server.
#[derive(Debug, Args)]
pub struct CameraArgs {
    /// The server's base URL.
    #[arg(long, env = "SWITCHBOARD_CAMERA_SERVER", value_name = "URL")]
    server: String,
    /// The camera's id (from `POST /api/v1/cameras` or the web page).
    #[arg(long, env = "SWITCHBOARD_CAMERA_ID", value_name = "ID")]
    camera_id: String,
    /// The camera's token (`sbc_…`). Prefer the environment variable: flags show in `ps`.
    #[arg(
        long,
        env = "SWITCHBOARD_CAMERA_TOKEN",
        value_name = "T",
        hide_env_values = true
    )]
    token: String,
    #[command(flatten)]
    source: SourceArgs,
    /// How often to take a photo (or look into the inbox folder).
    #[arg(long, env = "SWITCHBOARD_CAMERA_EVERY", default_value = "5s", value_parser = interval)]
    every: humantime::Duration,
    /// Where photos wait for upload [default: $XDG_DATA_HOME/switchboard/camera-<id>].
    #[arg(long, env = "SWITCHBOARD_CAMERA_SPOOL", value_name = "DIR")]
    spool: Option<PathBuf>,
    /// The most the spool may hold; past it the oldest photos are dropped.
    #[arg(long, env = "SWITCHBOARD_CAMERA_SPOOL_MAX", default_value = "1GiB")]
    spool_max: ByteSize,
    /// Frames per second while streaming live.
    #[arg(long, env = "SWITCHBOARD_CAMERA_LIVE_FPS", default_value_t = 10.0, value_parser = fps)]
    live_fps: f64,
    /// Take one photo, upload everything spooled, and exit (for cron).
    #[arg(long, env = "SWITCHBOARD_CAMERA_ONCE")]
    once: bool,
    /// How log lines look.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t)]
    log_format: crate::settings::LogFormat,
}

/// Exactly one place photos come from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct SourceArgs {
    /// An inbox folder: every finished `*.jpg`/`*.jpeg` that appears is moved in and uploaded.
    #[arg(long, env = "SWITCHBOARD_CAMERA_DIR", value_name = "FOLDER")]
    dir: Option<PathBuf>,
    /// A V4L2 capture device, read with ffmpeg.
    #[arg(long, env = "SWITCHBOARD_CAMERA_DEVICE", value_name = "DEV")]
    device: Option<PathBuf>,
    /// ffmpeg input arguments (`-f lavfi -i testsrc2`), or one input URL (`rtsp://cam/stream`).
    #[arg(
        long,
        env = "SWITCHBOARD_CAMERA_FFMPEG_INPUT",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    ffmpeg_input: Option<String>,
}

fn interval(text: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = text.parse().map_err(|e| format!("{e}"))?;
    if Duration::from(d) < Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(d)
}

fn fps(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 60.0 => Ok(v),
        _ => Err("must be a number above 0 and at most 60".into()),
    }
}

/// The default spool folder: `$XDG_DATA_HOME/switchboard/camera-<id>`, else
/// `~/.local/share/switchboard/camera-<id>`.
fn default_spool(camera_id: &str) -> anyhow::Result<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: pass --spool DIR")?;
    let safe: String = camera_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(data.join("switchboard").join(format!("camera-{safe}")))
}

/// What the tasks share.
struct Camera {
    api: CameraApi,
    spool: Spool,
    source: Source,
    /// Newest live frame while a live stream holds the source (snapshots use it then).
    live_frame: watch::Sender<Option<Bytes>>,
    /// Newest photo captured, which an inbox camera sends while live.
    newest_photo: watch::Sender<Option<Bytes>>,
    /// Wakes the uploader when capture spooled something.
    spooled: Notify,
    live_fps: f64,
}

/// Runs the uploader until SIGINT/SIGTERM (exit 0) or the server refuses the camera (error).
pub async fn run(args: CameraArgs) -> anyhow::Result<()> {
    crate::settings::init_logging(args.log_format);
    let source = if let Some(dir) = args.source.dir {
        anyhow::ensure!(dir.is_dir(), "the inbox {} is not a folder", dir.display());
        Source::Inbox(dir)
    } else if let Some(device) = args.source.device {
        Source::Ffmpeg {
            input: capture::device_input(&device),
            device: true,
        }
    } else if let Some(spec) = args.source.ffmpeg_input {
        Source::Ffmpeg {
            input: capture::ffmpeg_input(&spec)?,
            device: false,
        }
    } else {
        anyhow::bail!("pass one of --dir, --device or --ffmpeg-input");
    };
    let spool_dir = match args.spool {
        Some(dir) => dir,
        None => default_spool(&args.camera_id)?,
    };
    let spool = Spool::open(&spool_dir, args.spool_max.as_u64())
        .context("cannot open the spool (choose another with --spool)")?;
    let waiting = spool.entries()?.len();
    tracing::info!(
        spool = %spool.dir().display(),
        waiting,
        server = %args.server,
        camera = %args.camera_id,
        "camera uploader starting"
    );
    let api = CameraApi::new(&args.server, &args.camera_id, &args.token)
        .context("cannot set up the HTTP client")?;
    let camera = Arc::new(Camera {
        api,
        spool,
        source,
        live_frame: watch::channel(None).0,
        newest_photo: watch::channel(None).0,
        spooled: Notify::new(),
        live_fps: args.live_fps,
    });
    if args.once {
        return run_once(&camera).await;
    }

    let cancel = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let (tickets_tx, tickets_rx) = mpsc::channel(4);
    tracker.spawn(capture_loop(
        camera.clone(),
        args.every.into(),
        cancel.clone(),
    ));
    tracker.spawn(live_loop(camera.clone(), tickets_rx, cancel.clone()));
    {
        let cancel = cancel.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = crate::shutdown_signal() => {
                    tracing::info!("stopping: finishing the current upload");
                    cancel.cancel();
                }
                () = cancel.cancelled() => {}
            }
        });
    }
    tracker.close();
    let result = upload_loop(&camera, &tickets_tx, &cancel).await;
    cancel.cancel();
    tracker.wait().await;
    let left = camera.spool.entries().map(|e| e.len()).unwrap_or(0);
    tracing::info!(left_in_spool = left, "camera uploader stopped");
    result
}

/// `--once`: one capture, then every spooled photo, then exit. A retryable failure leaves
/// the rest in the spool for the next run; it and a failed capture exit non-zero (cron
/// reports them).
async fn run_once(camera: &Camera) -> anyhow::Result<()> {
    let captured = capture_into_spool(camera).await;
    for entry in camera.spool.entries()? {
        match upload_one(camera, &entry).await? {
            Some(Upload::Stored { live: Some(t), .. }) => {
                tracing::info!(ticket = %t.ticket, "live requested; --once does not stream");
            }
            Some(Upload::Retry { reason, .. }) => {
                let left = camera.spool.entries()?.len();
                anyhow::bail!("upload failed ({reason}); {left} photos stay in the spool");
            }
            _ => {}
        }
    }
    captured.context("capture failed")?;
    Ok(())
}

/// Takes a photo every `every` into the spool (or moves the inbox's new files in).
async fn capture_loop(camera: Arc<Camera>, every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match capture_into_spool(&camera).await {
            Ok(0) => {}
            Ok(_) => camera.spooled.notify_one(),
            Err(e) => tracing::warn!(error = %e, "capture failed; trying again at the next tick"),
        }
    }
}

/// One capture: returns how many photos were spooled.
async fn capture_into_spool(camera: &Camera) -> anyhow::Result<usize> {
    let spooled = match &camera.source {
        Source::Ffmpeg { input, .. } => {
            // While live the stream holds the source (a V4L2 device cannot be opened twice,
            // an RTSP camera should not be asked twice): its newest frame is the photo.
            let live = camera.live_frame.borrow().clone();
            let jpeg = match live {
                Some(frame) => frame,
                None => Bytes::from(capture::grab(input).await?),
            };
            camera.spool.write(&jpeg, Utc::now())?;
            camera.newest_photo.send_replace(Some(jpeg));
            1
        }
        Source::Inbox(dir) => {
            let photos = capture::inbox_photos(dir)?;
            for (path, modified) in &photos {
                let entry = camera.spool.adopt(path, DateTime::<Utc>::from(*modified))?;
                tracing::debug!(from = %path.display(), to = %entry.path.display(), "photo taken from the inbox");
                if let Ok(jpeg) = std::fs::read(&entry.path) {
                    camera.newest_photo.send_replace(Some(Bytes::from(jpeg)));
                }
            }
            photos.len()
        }
    };
    let dropped = camera.spool.enforce_limit()?;
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "the spool is over its bound: dropped the oldest photos"
        );
    }
    Ok(spooled)
}

/// Uploads one spooled photo and acts on the answer; logs one line. `None`: the photo was
/// dropped from the spool (by its bound) before it could be sent.
async fn upload_one(camera: &Camera, entry: &SpoolEntry) -> anyhow::Result<Option<Upload>> {
    let jpeg = match std::fs::read(&entry.path) {
        Ok(jpeg) => jpeg,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", entry.path.display()));
        }
    };
    let started = Instant::now();
    let taken_at = entry
        .taken_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let outcome = camera.api.upload(jpeg, entry.taken_at).await?;
    let ms = started.elapsed().as_millis();
    match &outcome {
        Upload::Stored {
            status,
            state,
            labels,
            ..
        } => {
            camera.spool.remove(entry)?;
            let detections = if labels.is_empty() {
                "none".to_owned()
            } else {
                labels.join(", ")
            };
            tracing::info!(status = status.as_u16(), %taken_at, state, detections, ms, "uploaded");
        }
        Upload::Rejected { status, message } => {
            let moved = camera.spool.reject(entry)?;
            tracing::warn!(status = status.as_u16(), %taken_at, message, ms, kept = %moved.display(), "the server refused the photo; it will not be retried");
        }
        Upload::Retry { reason, .. } => {
            tracing::warn!(%taken_at, reason, ms, "upload failed; the photo stays in the spool");
        }
    }
    Ok(Some(outcome))
}

/// Sends the spool oldest first until cancelled; an error only when the server refuses
/// the camera itself (401, 404).
async fn upload_loop(
    camera: &Camera,
    tickets: &mpsc::Sender<LiveTicket>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::default();
    // The spool is listed once per batch, not once per photo: after an outage it may hold
    // tens of thousands.
    let mut batch = std::collections::VecDeque::new();
    while !cancel.is_cancelled() {
        if batch.is_empty() {
            batch.extend(camera.spool.entries()?);
        }
        let Some(entry) = batch.front().cloned() else {
            tokio::select! {
                () = camera.spooled.notified() => {}
                () = cancel.cancelled() => {}
            }
            continue;
        };
        // The upload itself is not raced against `cancel`: a stop finishes it first.
        let Some(outcome) = upload_one(camera, &entry).await? else {
            batch.pop_front();
            continue;
        };
        if !matches!(outcome, Upload::Retry { .. }) {
            batch.pop_front();
        }
        match outcome {
            Upload::Stored { live, .. } => {
                backoff.reset();
                if let Some(ticket) = live {
                    // Full means tickets are already queued; the next upload repeats it.
                    let _ = tickets.try_send(ticket);
                }
            }
            Upload::Rejected { .. } => {}
            Upload::Retry { retry_after, .. } => {
                let wait = backoff.next(retry_after);
                tracing::info!(retry_in_ms = wait.as_millis(), "backing off");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => {}
                }
            }
        }
    }
    Ok(())
}

/// Redeems each new live ticket and streams until that session ends.
async fn live_loop(
    camera: Arc<Camera>,
    mut tickets: mpsc::Receiver<LiveTicket>,
    cancel: CancellationToken,
) {
    // The server repeats a ticket in every upload answer while it is open: redeem it once.
    let mut redeemed: Option<String> = None;
    loop {
        let ticket = tokio::select! {
            () = cancel.cancelled() => return,
            t = tickets.recv() => match t {
                Some(t) => t,
                None => return,
            },
        };
        if redeemed.as_deref() == Some(ticket.ticket.as_str()) {
            continue;
        }
        redeemed = Some(ticket.ticket.clone());
        tracing::info!(ticket = %ticket.ticket, suid = ticket.suid.as_deref().unwrap_or("?"), "live requested");
        let session = match live::register(&camera.api, &ticket).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot go live");
                // The upload answers repeat the ticket while it is open: try it again then.
                if matches!(
                    e,
                    live::LiveError::Register {
                        retryable: true,
                        ..
                    }
                ) {
                    redeemed = None;
                }
                continue;
            }
        };
        tracing::info!(suid = %session.suid, "live: streaming");
        let end = match &camera.source {
            Source::Ffmpeg { input, device } => {
                live::stream_ffmpeg(
                    &camera.api,
                    &session,
                    input,
                    !device,
                    camera.live_fps,
                    &camera.live_frame,
                    &cancel,
                )
                .await
            }
            Source::Inbox(_) => Ok(live::stream_inbox(
                &camera.api,
                &session,
                &camera.newest_photo.subscribe(),
                &cancel,
            )
            .await),
        };
        match end {
            Ok(LiveEnd::Stopped) => return,
            Ok(end) => tracing::info!(suid = %session.suid, ?end, "live: stopped; snapshots only"),
            Err(e) => {
                tracing::warn!(suid = %session.suid, error = %e, "live: stream failed; snapshots only")
            }
        }
    }
}
