//! The load engine behind `switchboard simulate` and `switchboard bench`: signs up, creates
//! sessions, registers one simulated device per session, attaches viewers, streams for a
//! warm-up and a measurement window, ends the sessions and reports what every device and
//! viewer saw.
//!
//! Latency is measured end to end without any help from the server: each device writes its
//! session, frame number and send time into the frame's JPEG comment ([`frames::Stamp`]),
//! the server relays frames untouched, and each viewer reads the stamp back on arrival.
//! Devices and viewers run in one process, so they share a clock.

pub mod account;
pub mod device;
pub mod frames;
pub mod http_stream;
mod plan;
pub mod progress;
pub mod report;
pub mod stats;
pub mod viewer;

use account::ApiClient;
use anyhow::Context;
use device::SimulatedDevice;
use frames::FrameRing;
use futures::{StreamExt, TryStreamExt};
use progress::{Phase, Progress, Window};
use report::LoadReport;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::DeviceInfo;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use viewer::{SimulatedViewer, ViewerRole};

pub use plan::{LoadPlan, Transport, ViewerKind, flag_name, open_files_warning};

/// How long viewers may take to connect before the run goes on without the late ones.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// How long viewer streams may stay open after their sessions were ended.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// How many set-up requests (sign-up aside) are in flight at once.
const SETUP_CONCURRENCY: usize = 16;

/// How many viewers may be connecting at once.
const CONNECT_CONCURRENCY: usize = 64;

/// How much video the frame ring holds: enough distinct pictures to look alive.
const RING_SECONDS: f64 = 2.0;

/// One session of the run, once its device is registered.
struct LiveSession {
    index: usize,
    suid: switchboard_core::Suid,
    registered: switchboard_server::protocol::DeviceRegistered,
}

/// Runs `plan` against the server, updating `progress` as it goes.
///
/// Errors during the run (a refused frame, a dropped viewer) are counted in
/// `progress.errors` and the run goes on; only a failure to set up (the server cannot be
/// reached, sign-up or session creation fails) ends it early with an error, after ending
/// the sessions already created.
pub async fn run(plan: &LoadPlan, progress: Arc<Progress>) -> anyhow::Result<LoadReport> {
    let base = account::normalize_base(plan.server.clone())?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build an HTTP client")?;
    let ring_len = (plan.fps * RING_SECONDS).ceil().clamp(1.0, 240.0) as usize;
    let (frames, api) = tokio::try_join!(
        FrameRing::render(ring_len, plan.frame_bytes),
        ApiClient::sign_up(http.clone(), base.clone()),
    )?;
    let frames = Arc::new(frames);
    let api = Arc::new(api);

    let sessions = match set_up_sessions(plan, &api, &progress).await {
        Ok(sessions) => sessions,
        Err((created, e)) => {
            end_sessions(&api, created.into_iter(), &progress).await;
            return Err(e);
        }
    };

    // Viewers first, so that every frame is watched from the first one.
    progress.set_phase(Phase::Connecting);
    let stop_viewers = CancellationToken::new();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let connecting = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let token: Arc<str> = Arc::from(api.token());
    let mut viewers = JoinSet::new();
    for session in &sessions {
        let roles = std::iter::repeat_n(
            match plan.viewer_kind {
                ViewerKind::Mjpeg => ViewerRole::Mjpeg,
                ViewerKind::Ws => ViewerRole::Ws,
            },
            plan.viewers,
        )
        .chain(std::iter::repeat_n(
            ViewerRole::SlowMjpeg,
            plan.slow_viewers,
        ));
        for role in roles {
            let viewer = SimulatedViewer {
                session: session.index,
                suid: session.suid,
                role,
                base: base.clone(),
                token: token.clone(),
                progress: progress.clone(),
                ready: ready_tx.clone(),
                connecting: connecting.clone(),
            };
            viewers.spawn(viewer.run(stop_viewers.clone()));
        }
    }
    drop(ready_tx);
    let connect_deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    let mut answered = 0;
    while answered < plan.total_viewers() {
        match tokio::time::timeout_at(connect_deadline, ready_rx.recv()).await {
            Ok(Some(ok)) => {
                answered += 1;
                if ok {
                    Progress::count(&progress.viewers_ready);
                }
            }
            Ok(None) => break,
            Err(_) => {
                progress.errors.record(
                    "viewer_connect_slow",
                    format!("viewers still connecting after {CONNECT_PATIENCE:?}"),
                );
                break;
            }
        }
    }

    // Stream: devices spread their first frames over one frame interval.
    let started = Instant::now();
    let window = Window {
        start: started + plan.warmup,
        end: started + plan.warmup + plan.measure,
    };
    progress.set_window(window);
    progress.set_phase(Phase::WarmingUp);
    let stop_devices = CancellationToken::new();
    let mut devices = JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / plan.fps);
    let suids: Vec<_> = sessions.iter().map(|s| s.suid).collect();
    for session in sessions {
        let offset = period.mul_f64(session.index as f64 / plan.sessions as f64);
        let device = SimulatedDevice {
            session: session.index,
            registered: session.registered,
            transport: plan.transport,
            fps: plan.fps,
            first_frame_at: started + offset,
            frames: frames.clone(),
            http: http.clone(),
            progress: progress.clone(),
        };
        devices.spawn(device.run(stop_devices.clone()));
    }
    tokio::time::sleep_until(window.start.into()).await;
    progress.set_phase(Phase::Measuring);
    tokio::time::sleep_until(window.end.into()).await;
    progress.set_phase(Phase::Draining);

    stop_devices.cancel();
    let device_reports = join_all(&mut devices, &progress).await;
    end_sessions(&api, suids.into_iter(), &progress).await;
    // Ending a session closes its viewers' streams; give them a moment, then stop the rest
    // (which count as errors: the server should have closed them).
    let close_deadline = tokio::time::Instant::now() + CLOSE_PATIENCE;
    let mut viewer_reports = Vec::with_capacity(plan.total_viewers());
    loop {
        match tokio::time::timeout_at(close_deadline, viewers.join_next()).await {
            Ok(Some(joined)) => match joined {
                Ok(report) => viewer_reports.push(report),
                Err(e) => progress.errors.record("viewer_task", e),
            },
            Ok(None) => break,
            Err(_) => {
                stop_viewers.cancel();
                viewer_reports.extend(join_all(&mut viewers, &progress).await);
                break;
            }
        }
    }
    progress.set_phase(Phase::Done);
    Ok(LoadReport {
        plan: plan.clone(),
        window,
        devices: device_reports,
        viewers: viewer_reports,
        errors: progress.errors.snapshot(),
    })
}

/// Waits for every task of `set`; a task that panicked is counted as an error.
async fn join_all<T: 'static>(set: &mut JoinSet<T>, progress: &Progress) -> Vec<T> {
    let mut results = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => progress.errors.record("task_failed", e),
        }
    }
    results
}

/// Creates the sessions and registers their devices. On failure returns the sessions
/// created so far, so the caller can end them.
async fn set_up_sessions(
    plan: &LoadPlan,
    api: &ApiClient,
    progress: &Progress,
) -> Result<Vec<LiveSession>, (Vec<switchboard_core::Suid>, anyhow::Error)> {
    let created: Vec<_> = futures::stream::iter(0..plan.sessions)
        .map(|index| async move {
            let label = format!("simulated session {}", index + 1);
            (index, api.create_session(&label).await)
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let mut ok = Vec::with_capacity(created.len());
    let mut first_error = None;
    for (index, result) in created {
        match result {
            Ok(view) => ok.push((index, view)),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let suids: Vec<_> = ok.iter().map(|(_, view)| view.suid).collect();
    if let Some(e) = first_error {
        return Err((suids, e));
    }
    let device = DeviceInfo {
        model: Some("switchboard simulate".into()),
        os: Some(std::env::consts::OS.into()),
        app_version: Some(env!("CARGO_PKG_VERSION").into()),
        ..DeviceInfo::default()
    };
    let registered = futures::stream::iter(ok)
        .map(|(index, view)| {
            let device = &device;
            async move {
                let ticket = view
                    .ticket
                    .with_context(|| format!("session {} came without a ticket", view.suid))?;
                let registered = api
                    .register_device(&ticket, device, |hint| progress.note(hint))
                    .await?;
                Progress::count(&progress.devices_ready);
                Ok::<_, anyhow::Error>(LiveSession {
                    index,
                    suid: view.suid,
                    registered,
                })
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await;
    match registered {
        Ok(mut sessions) => {
            sessions.sort_by_key(|s| s.index);
            Ok(sessions)
        }
        Err(e) => Err((suids, e)),
    }
}

/// Ends every session, counting failures as errors of the run.
async fn end_sessions(
    api: &ApiClient,
    suids: impl Iterator<Item = switchboard_core::Suid>,
    progress: &Progress,
) {
    futures::stream::iter(suids)
        .for_each_concurrent(SETUP_CONCURRENCY, |suid| async move {
            if let Err(e) = api.end_session(suid).await {
                progress.errors.record("end_session", format!("{e:#}"));
            }
        })
        .await;
}
