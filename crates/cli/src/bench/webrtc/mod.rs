//! `switchboard bench webrtc`: one WebRTC publisher and many WebRTC viewers through one
//! server (a child process), all on this machine.
//!
//! Two stages. **bandwidth**: the same test picture (ffmpeg's `testsrc2`), encoded as VP8 as
//! a browser would send it and as JPEG as the phone page sends it, at one size and frame
//! rate; a phone publishes each (WHIP, and JPEG frames on the device path) and one viewer
//! receives each (WHEP, and `video.mjpeg`); the bytes the two viewers receive per second are
//! compared. **fanout**: the VP8 recording published once and `--viewers` WebRTC viewers (str0m
//! clients of this process): per viewer the frames received of those sent, bitrate and frame
//! rate; the server's CPU per forwarded stream and memory per viewer; the time the server
//! holds a frame (packet in → copies out, from its `switchboard_webrtc_forward_seconds`).

mod metrics_text;
mod recording;

use super::child::{ServerChild, free_port};
use super::cpu::CpuSample;
use crate::load::account::ApiClient;
use crate::load::stats::LatencyHistogram;
use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use recording::{Picture, Recording};
use reqwest::Url;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::DeviceInfo;
use switchboard_sfu::Role;
use switchboard_sfu::client::{Client, ClientHandle, ClientStats, SendPlan};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Flags of `switchboard bench webrtc`.
#[derive(Debug, Clone, Args)]
pub struct WebRtcArgs {
    /// WebRTC viewers of the one publisher in the fanout stage.
    #[arg(long, default_value_t = 200)]
    pub viewers: usize,
    /// Length of each measurement window, in seconds.
    #[arg(long, default_value_t = 15.0)]
    pub seconds: f64,
    /// Streaming before each window starts, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Frames per second of the picture, on both paths.
    #[arg(long, default_value_t = 15)]
    pub fps: u32,
    /// Width of the picture.
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Height of the picture.
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// VP8 bitrate the encoder aims at, kbit/s (browsers use 0.5–1.5 Mbit/s at 640×480).
    #[arg(long, default_value_t = 800)]
    pub vp8_kbps: u32,
    /// ffmpeg's JPEG quality (2 best … 31 worst); 5 is about the phone page's default.
    #[arg(long, default_value_t = 5)]
    pub jpeg_q: u32,
    /// Sensor-like grain on the test picture, changing every frame (0: ffmpeg's clean
    /// pattern, which flatters JPEG: a camera's picture is never that clean).
    #[arg(long, default_value_t = 8)]
    pub noise: u32,
    /// Print the figures as JSON too.
    #[arg(long)]
    pub json: bool,
}

fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    ClientStats::get(c)
}

/// A WebRTC client offered to `url` with `token` and answered.
async fn connect(
    http: &reqwest::Client,
    url: Url,
    token: &str,
    role: Role,
    plan: SendPlan,
) -> anyhow::Result<ClientHandle> {
    let (mut client, offer) = Client::offer(role, LOOPBACK).await?;
    let resp = http
        .post(url.clone())
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await?;
    if resp.status() != reqwest::StatusCode::CREATED {
        bail!(
            "{url} answered {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    client
        .accept(&resp.text().await?)
        .map_err(|e| anyhow::anyhow!("the answer does not fit the offer: {e}"))?;
    Ok(client.spawn(plan))
}

/// A live session with its device registered: (suid, device token).
async fn live_session(api: &ApiClient, label: &str) -> anyhow::Result<(String, String)> {
    let created = api.create_session(label).await?;
    let ticket = created
        .ticket
        .context("a new session came without a ticket")?;
    let device = DeviceInfo {
        model: Some("switchboard bench webrtc".into()),
        ..DeviceInfo::default()
    };
    let registered = api.register_device(&ticket, &device, |_| {}).await?;
    Ok((created.suid.to_string(), registered.device_token))
}

/// Waits until `check` holds, for at most `limit`.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > limit {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// JPEG frames posted one by one at `fps`, looping, until `stop`.
fn post_jpeg(
    http: reqwest::Client,
    url: Url,
    token: String,
    frames: Arc<Vec<Vec<u8>>>,
    fps: u32,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / fps.max(1));
        let mut n = 0usize;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let frame = frames[n % frames.len()].clone();
            n += 1;
            let _ = http
                .post(url.clone())
                .bearer_auth(&token)
                .header("content-type", "image/jpeg")
                .body(frame)
                .send()
                .await;
        }
    })
}

/// The figures of the bandwidth stage.
#[derive(Debug, serde::Serialize)]
struct Bandwidth {
    webrtc_kbit_s: f64,
    webrtc_fps: f64,
    mjpeg_kbit_s: f64,
    mjpeg_fps: f64,
    vp8_bytes_per_frame: f64,
    jpeg_bytes_per_frame: f64,
    ratio: f64,
}

async fn bandwidth(
    args: &WebRtcArgs,
    server: &ServerChild,
    api: &ApiClient,
    recording: &Recording,
) -> anyhow::Result<Bandwidth> {
    let http = reqwest::Client::new();
    let base = server.base().clone();
    let stop = tokio_util::sync::CancellationToken::new();
    // WebRTC: a phone publishing the VP8 recording, one viewer.
    let (suid, device) = live_session(api, "webrtc").await?;
    let vp8 = Arc::new(recording.vp8.clone());
    let _phone = connect(
        &http,
        base.join(&format!("api/v1/sessions/{suid}/whip"))?,
        &device,
        Role::Publisher,
        SendPlan {
            video_fps: args.fps,
            frame_bytes: 0,
            audio: false,
            recorded: Some(vp8),
        },
    )
    .await?;
    // The viewer may join once the phone is connected.
    let whep = base.join(&format!("api/v1/sessions/{suid}/whep"))?;
    let started = Instant::now();
    let viewer = loop {
        match connect(&http, whep.clone(), api.token(), Role::Viewer, quiet()).await {
            Ok(v) => break v,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                tracing::debug!(error = %e, "the publisher is not connected yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    // MJPEG: the JPEG recording posted at the same rate, one `video.mjpeg` viewer.
    let (jpeg_suid, jpeg_device) = live_session(api, "mjpeg").await?;
    let poster = post_jpeg(
        http.clone(),
        base.join(&format!("api/v1/sessions/{jpeg_suid}/frames"))?,
        jpeg_device,
        Arc::new(recording.jpeg.clone()),
        args.fps,
        stop.clone(),
    );
    let mjpeg = http
        .get(base.join(&format!("api/v1/sessions/{jpeg_suid}/video.mjpeg"))?)
        .bearer_auth(api.token())
        .send()
        .await?;
    let mjpeg_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mjpeg_frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (bytes, frames) = (mjpeg_bytes.clone(), mjpeg_frames.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut body = mjpeg.bytes_stream();
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    chunk = body.next() => match chunk {
                        Some(Ok(chunk)) => {
                            bytes.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                            let eoi = chunk.windows(2).filter(|w| w == &[0xff, 0xd9]).count();
                            frames.fetch_add(eoi as u64, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => return,
                    },
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let (rtc_bytes0, rtc_frames0) = (
        counter(&viewer.stats.bytes_in),
        counter(&viewer.stats.video_frames_in),
    );
    let (jpeg_bytes0, jpeg_frames0) = (counter(&mjpeg_bytes), counter(&mjpeg_frames));
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let secs = window.elapsed().as_secs_f64();
    let rtc_bytes = counter(&viewer.stats.bytes_in) - rtc_bytes0;
    let rtc_frames = counter(&viewer.stats.video_frames_in) - rtc_frames0;
    let jpeg_bytes = counter(&mjpeg_bytes) - jpeg_bytes0;
    let jpeg_frames = counter(&mjpeg_frames) - jpeg_frames0;
    stop.cancel();
    let _ = poster.await;
    let _ = reader.await;
    for suid in [suid, jpeg_suid] {
        api.end_session(suid.parse()?).await?;
    }
    let per_frame = |bytes: u64, frames: u64| bytes as f64 / frames.max(1) as f64;
    let vp8_bytes_per_frame = per_frame(rtc_bytes, rtc_frames);
    let jpeg_bytes_per_frame = per_frame(jpeg_bytes, jpeg_frames);
    Ok(Bandwidth {
        webrtc_kbit_s: rtc_bytes as f64 * 8.0 / 1000.0 / secs,
        webrtc_fps: rtc_frames as f64 / secs,
        mjpeg_kbit_s: jpeg_bytes as f64 * 8.0 / 1000.0 / secs,
        mjpeg_fps: jpeg_frames as f64 / secs,
        vp8_bytes_per_frame,
        jpeg_bytes_per_frame,
        // At the same frame rate: what a frame costs on each path.
        ratio: jpeg_bytes_per_frame / vp8_bytes_per_frame.max(1.0),
    })
}

fn quiet() -> SendPlan {
    SendPlan {
        video_fps: 0,
        frame_bytes: 0,
        audio: false,
        recorded: None,
    }
}

/// The figures of the fanout stage.
#[derive(Debug, serde::Serialize)]
struct Fanout {
    viewers: usize,
    connected: usize,
    frames_sent: u64,
    /// Viewers that received at least 95 % of the frames sent in the window.
    viewers_at_95_percent: usize,
    worst_share: f64,
    median_kbit_s: f64,
    median_fps: f64,
    server_cpu_percent: f64,
    server_cpu_percent_per_stream: f64,
    load_generator_cpu_percent: f64,
    others_cpu_percent: f64,
    memory_per_viewer_kib: f64,
    forward_p50_ms: Option<f64>,
    forward_p99_ms: Option<f64>,
    /// From a viewer's offer to its first video frame (WHEP, ICE, DTLS, the first forward).
    join_p50_ms: Option<f64>,
    join_p99_ms: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn fanout(
    args: &WebRtcArgs,
    server: &ServerChild,
    metrics: &Url,
    api: &ApiClient,
    recording: &Recording,
) -> anyhow::Result<Fanout> {
    let http = reqwest::Client::new();
    let base = server.base().clone();
    let (suid, device) = live_session(api, "fanout").await?;
    let phone = connect(
        &http,
        base.join(&format!("api/v1/sessions/{suid}/whip"))?,
        &device,
        Role::Publisher,
        SendPlan {
            video_fps: args.fps,
            frame_bytes: 0,
            audio: true,
            recorded: Some(Arc::new(recording.vp8.clone())),
        },
    )
    .await?;
    until("the publisher to connect", Duration::from_secs(10), || {
        phone
            .stats
            .connected
            .load(std::sync::atomic::Ordering::Relaxed)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_bytes()?;
    let whep = base.join(&format!("api/v1/sessions/{suid}/whep"))?;
    let viewers: Vec<ClientHandle> = futures::stream::iter(0..args.viewers)
        .map(|_| connect(&http, whep.clone(), api.token(), Role::Viewer, quiet()))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let _ = until("every viewer to connect", Duration::from_secs(60), || {
        viewers
            .iter()
            .all(|v| v.stats.connected.load(std::sync::atomic::Ordering::Relaxed))
    })
    .await;
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let connected = viewers
        .iter()
        .filter(|v| v.stats.connected.load(std::sync::atomic::Ordering::Relaxed))
        .count();
    let start: Vec<(u64, u64)> = viewers
        .iter()
        .map(|v| {
            (
                counter(&v.stats.video_frames_in),
                counter(&v.stats.bytes_in),
            )
        })
        .collect();
    let sent0 = counter(&phone.stats.video_frames_out);
    let hist0 =
        metrics_text::histogram(&http, metrics, "switchboard_webrtc_forward_seconds").await?;
    let cpu0 = CpuSample::take(server.pid())?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    let cpu = CpuSample::take(server.pid())?.since(&cpu0);
    let secs = window.elapsed().as_secs_f64();
    // After the window: the peers' resend buffers have filled by then.
    let rss_after = server.rss_bytes()?;
    let sent = counter(&phone.stats.video_frames_out) - sent0;
    let hist = metrics_text::histogram(&http, metrics, "switchboard_webrtc_forward_seconds")
        .await?
        .since(&hist0);
    let mut shares = Vec::new();
    let mut rates = Vec::new();
    let mut fps = Vec::new();
    for (v, (f0, b0)) in viewers.iter().zip(start) {
        let frames = counter(&v.stats.video_frames_in) - f0;
        let bytes = counter(&v.stats.bytes_in) - b0;
        shares.push(frames as f64 / sent.max(1) as f64);
        rates.push(bytes as f64 * 8.0 / 1000.0 / secs);
        fps.push(frames as f64 / secs);
    }
    let mut joins = LatencyHistogram::default();
    for v in &viewers {
        match counter(&v.stats.first_video_us) {
            0 => {}
            us => joins.record(us),
        }
    }
    let join_ms = |q| joins.quantile(q).map(|us| us as f64 / 1000.0);
    drop(viewers);
    drop(phone);
    api.end_session(suid.parse()?).await?;
    let n = args.viewers.max(1) as f64;
    Ok(Fanout {
        viewers: args.viewers,
        connected,
        frames_sent: sent,
        viewers_at_95_percent: shares.iter().filter(|s| **s >= 0.95).count(),
        worst_share: shares.iter().copied().fold(f64::INFINITY, f64::min),
        median_kbit_s: median(rates),
        median_fps: median(fps),
        server_cpu_percent: cpu.server / secs * 100.0,
        server_cpu_percent_per_stream: cpu.server / secs * 100.0 / n,
        load_generator_cpu_percent: cpu.load_generator / secs * 100.0,
        others_cpu_percent: cpu.others() / secs * 100.0,
        memory_per_viewer_kib: rss_after.saturating_sub(rss_before) as f64 / 1024.0 / n,
        forward_p50_ms: hist.quantile(0.5).map(|s| s * 1000.0),
        forward_p99_ms: hist.quantile(0.99).map(|s| s * 1000.0),
        join_p50_ms: join_ms(0.5),
        join_p99_ms: join_ms(0.99),
    })
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// Runs both stages and prints their figures against the goals.
pub async fn run(args: WebRtcArgs) -> anyhow::Result<()> {
    // With --json, the JSON alone.
    macro_rules! say {
        ($($t:tt)*) => {
            if !args.json {
                println!($($t)*);
            }
        };
    }
    let dir = tempfile::tempdir()?;
    let window = (args.warmup + args.seconds).ceil() as u32 + 2;
    say!(
        "encoding the test picture ({}x{} at {} fps, grain {}) as VP8 at {} kbit/s and JPEG at q {} with ffmpeg…",
        args.width,
        args.height,
        args.fps,
        args.noise,
        args.vp8_kbps,
        args.jpeg_q
    );
    let recording = Recording::make(
        dir.path(),
        &Picture {
            width: args.width,
            height: args.height,
            fps: args.fps,
            seconds: window.min(20),
            vp8_kbps: args.vp8_kbps,
            jpeg_q: args.jpeg_q,
            noise: args.noise,
        },
    )?;
    let metrics_port = free_port()?;
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let max = (args.viewers + 10).to_string();
    let mut server_args: Vec<&str> = super::fanout::SERVER_ARGS.to_vec();
    server_args.extend([
        "--webrtc-udp-port",
        "0",
        "--webrtc-max-viewers",
        &max,
        "--metrics-listen",
        &metrics_listen,
    ]);
    let server = ServerChild::start(&server_args).await?;
    let metrics: Url = format!("http://{metrics_listen}/metrics").parse()?;
    let api = ApiClient::sign_up(reqwest::Client::new(), server.base().clone()).await?;

    say!("bandwidth: the same picture to one WebRTC viewer and one MJPEG viewer…");
    let bw = bandwidth(&args, &server, &api, &recording).await?;
    say!(
        "  WebRTC {:.0} kbit/s at {:.1} fps ({:.0} B/frame) · MJPEG {:.0} kbit/s at {:.1} fps ({:.0} B/frame)",
        bw.webrtc_kbit_s,
        bw.webrtc_fps,
        bw.vp8_bytes_per_frame,
        bw.mjpeg_kbit_s,
        bw.mjpeg_fps,
        bw.jpeg_bytes_per_frame
    );
    say!(
        "  MJPEG ÷ WebRTC per frame: {:.1}×  (goal ≥ 5×) {}",
        bw.ratio,
        verdict(bw.ratio >= 5.0)
    );

    say!("fanout: one publisher, {} WebRTC viewers…", args.viewers);
    let fan = fanout(&args, &server, &metrics, &api, &recording).await?;
    say!(
        "  connected {}/{} · frames sent {} · viewers with ≥95 % of them {}/{} (worst {:.1} %) {}",
        fan.connected,
        fan.viewers,
        fan.frames_sent,
        fan.viewers_at_95_percent,
        fan.viewers,
        fan.worst_share * 100.0,
        verdict(fan.viewers_at_95_percent == fan.viewers)
    );
    say!(
        "  per viewer (median): {:.0} kbit/s, {:.1} fps · memory per viewer {:.1} KiB",
        fan.median_kbit_s,
        fan.median_fps,
        fan.memory_per_viewer_kib
    );
    say!(
        "  server CPU {:.1} % of a core ({:.3} % per forwarded stream) · load generator {:.1} % · others {:.1} %",
        fan.server_cpu_percent,
        fan.server_cpu_percent_per_stream,
        fan.load_generator_cpu_percent,
        fan.others_cpu_percent
    );
    match (fan.forward_p50_ms, fan.forward_p99_ms) {
        (Some(p50), Some(p99)) => say!(
            "  server-added delay (packet in → copies out): p50 ≤ {p50:.2} ms, p99 ≤ {p99:.2} ms (goal p99 < 5 ms) {}",
            verdict(p99 < 5.0)
        ),
        _ => say!("  server-added delay: no frames were forwarded in the window"),
    }
    match (fan.join_p50_ms, fan.join_p99_ms) {
        (Some(p50), Some(p99)) => say!(
            "  joining (offer → first video frame, {} viewers at once): p50 {p50:.0} ms, p99 {p99:.0} ms (goal < 1500 ms) {}",
            fan.viewers,
            verdict(p99 < 1500.0)
        ),
        _ => say!("  joining: no viewer received a video frame"),
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "bandwidth": bw, "fanout": fan }))?
        );
    }
    server.stop().await?;
    Ok(())
}
