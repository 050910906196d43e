//! `switchboard bench at-rest`: what encryption at rest costs the requests that touch stored
//! pictures. Two servers run side by side, one storing snapshots plain
//! (`--encrypt-at-rest false`) and one sealing them; each sample uploads one snapshot to
//! both, then reads one thumbnail from both, alternating which goes first, so drift of the
//! machine hits both alike. `measure` is what other benchmarks reuse.

use super::child::ServerChild;
use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_kernel::bench::Percentiles;
use tokio::time::Instant;

/// Flags of `switchboard bench at-rest`.
#[derive(Debug, Clone, Args)]
pub struct AtRestArgs {
    /// Snapshots uploaded (and thumbnails read) per server.
    #[arg(long, default_value_t = 200)]
    pub snapshots: usize,
    /// Width of the test pictures, in pixels.
    #[arg(long, default_value_t = 1280)]
    pub width: u16,
    /// Height of the test pictures, in pixels.
    #[arg(long, default_value_t = 720)]
    pub height: u16,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// p50/p99 of one kind of request, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl From<Percentiles> for Latency {
    fn from(p: Percentiles) -> Self {
        Latency {
            p50_ms: p.p50.as_secs_f64() * 1e3,
            p99_ms: p.p99.as_secs_f64() * 1e3,
        }
    }
}

/// One server's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Side {
    pub upload: Latency,
    pub thumbnail: Latency,
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct AtRestReport {
    pub snapshots: usize,
    /// Bytes of each test picture (about).
    pub picture_bytes: usize,
    /// Stored plain.
    pub off: Side,
    /// Sealed with the account's data key.
    pub on: Side,
}

impl AtRestReport {
    /// on / off, per figure.
    fn ratios(&self) -> [(&'static str, f64, f64, f64); 4] {
        let row = |name, off: f64, on: f64| (name, off, on, if off > 0.0 { on / off } else { 0.0 });
        [
            row("upload p50", self.off.upload.p50_ms, self.on.upload.p50_ms),
            row("upload p99", self.off.upload.p99_ms, self.on.upload.p99_ms),
            row(
                "thumbnail p50",
                self.off.thumbnail.p50_ms,
                self.on.thumbnail.p50_ms,
            ),
            row(
                "thumbnail p99",
                self.off.thumbnail.p99_ms,
                self.on.thumbnail.p99_ms,
            ),
        ]
    }
}

/// Runs the benchmark and prints its table (or JSON).
pub async fn run(args: AtRestArgs) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["ratios"] = report
            .ratios()
            .iter()
            .map(|(name, _, _, ratio)| ((*name).to_owned(), json!(ratio)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "encryption at rest: {} snapshots of {}x{} (~{} KB) per server\n",
        report.snapshots,
        args.width,
        args.height,
        report.picture_bytes / 1000
    );
    println!(
        "{:<15} {:>12} {:>12} {:>8}",
        "", "off (ms)", "on (ms)", "on/off"
    );
    for (name, off, on, ratio) in report.ratios() {
        println!("{name:<15} {off:>12.3} {on:>12.3} {ratio:>8.2}");
    }
    Ok(())
}

/// A server under test with a signed-in user and a camera.
struct Target {
    server: ServerChild,
    user: String,
    camera: String,
    camera_token: String,
    uploads: Vec<Duration>,
    thumbnails: Vec<Duration>,
    snapshot_ids: Vec<String>,
}

/// Starts the two servers, measures them side by side, and stops them.
pub async fn measure(args: &AtRestArgs) -> anyhow::Result<AtRestReport> {
    if args.snapshots == 0 {
        bail!("--snapshots must be at least 1");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut off = Target::start(&http, false).await?;
    let mut on = Target::start(&http, true).await?;
    let card = switchboard_media::synth::TestCard::new(args.width, args.height, 85);
    let mut picture_bytes = 0;
    for n in 0..args.snapshots {
        let picture = card.render(n as u64);
        picture_bytes = picture.len();
        let (first, second) = if n % 2 == 0 {
            (&mut off, &mut on)
        } else {
            (&mut on, &mut off)
        };
        first.upload(&http, &picture).await?;
        second.upload(&http, &picture).await?;
    }
    for n in 0..args.snapshots {
        let (first, second) = if n % 2 == 0 {
            (&mut off, &mut on)
        } else {
            (&mut on, &mut off)
        };
        first.thumbnail(&http, n).await?;
        second.thumbnail(&http, n).await?;
    }
    let report = AtRestReport {
        snapshots: args.snapshots,
        picture_bytes,
        off: off.side(),
        on: on.side(),
    };
    off.server.stop().await?;
    on.server.stop().await?;
    Ok(report)
}

impl Target {
    async fn start(http: &reqwest::Client, encrypt: bool) -> anyhow::Result<Target> {
        let encrypt = encrypt.to_string();
        // No detector: detection would dominate uploads and is the same either way.
        let server = ServerChild::start(&[
            "--encrypt-at-rest",
            &encrypt,
            "--detector-model",
            "/nonexistent/model.onnx",
        ])
        .await?;
        let api = server.base().join("api/v1/")?;
        let registered: Value = http
            .post(api.join("auth/register")?)
            .json(&json!({
                "username": "bench.at.rest",
                "password": "velvet harbour quartz lantern",
                "account_name": "At-rest bench",
            }))
            .send()
            .await?
            .error_for_status()
            .context("cannot sign up on the server under test")?
            .json()
            .await?;
        let user = registered["token"]
            .as_str()
            .context("no token in the sign-up answer")?
            .to_owned();
        let camera: Value = http
            .post(api.join("cameras")?)
            .bearer_auth(&user)
            .json(&json!({"name": "bench"}))
            .send()
            .await?
            .error_for_status()
            .context("cannot register a camera")?
            .json()
            .await?;
        Ok(Target {
            server,
            user,
            camera: camera["id"].as_str().context("no camera id")?.to_owned(),
            camera_token: camera["token"]
                .as_str()
                .context("no camera token")?
                .to_owned(),
            uploads: Vec::new(),
            thumbnails: Vec::new(),
            snapshot_ids: Vec::new(),
        })
    }

    async fn upload(&mut self, http: &reqwest::Client, picture: &[u8]) -> anyhow::Result<()> {
        let url = self
            .server
            .base()
            .join(&format!("api/v1/cameras/{}/snapshots", self.camera))?;
        let started = Instant::now();
        let answer: Value = http
            .post(url)
            .bearer_auth(&self.camera_token)
            .header("content-type", "image/jpeg")
            .body(picture.to_vec())
            .send()
            .await?
            .error_for_status()
            .context("an upload failed")?
            .json()
            .await?;
        self.uploads.push(started.elapsed());
        self.snapshot_ids
            .push(answer["id"].as_str().context("no snapshot id")?.to_owned());
        Ok(())
    }

    async fn thumbnail(&mut self, http: &reqwest::Client, n: usize) -> anyhow::Result<()> {
        let id = self.snapshot_ids.get(n).context("no such snapshot")?;
        let url = self
            .server
            .base()
            .join(&format!("api/v1/snapshots/{id}/thumb.jpg"))?;
        let started = Instant::now();
        http.get(url)
            .bearer_auth(&self.user)
            .send()
            .await?
            .error_for_status()
            .context("a thumbnail failed")?
            .bytes()
            .await?;
        self.thumbnails.push(started.elapsed());
        Ok(())
    }

    fn side(&self) -> Side {
        Side {
            upload: Percentiles::of(self.uploads.clone()).into(),
            thumbnail: Percentiles::of(self.thumbnails.clone()).into(),
        }
    }
}
