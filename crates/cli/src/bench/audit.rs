//! `switchboard bench audit`: what the audit trail sustains and what it costs.
//!
//! 1. Records per second the node's chain writer stores, fed as fast as possible: batched
//!    records (reads, ends of viewings) and records actions wait on (`--concurrency` callers
//!    at once), on a fresh SQLite database (or `--database-url`).
//! 2. What recording adds to requests: two servers, one with the trail on and one with it
//!    off (`--audit-trail false`), asked in turn, sample by sample, for a sign-in, the start of a
//!    viewing (the MJPEG answer's headers) and a snapshot upload; their medians and 99th
//!    percentiles side by side, as ratios on ÷ off.

use super::child::ServerChild;
use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_kernel::bench::Percentiles;
use switchboard_server::services::audit::AuditLog;

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Records stored for the throughput figures.
    #[arg(long, default_value_t = 50_000)]
    pub records: usize,
    /// Actions waiting on their record at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Samples of each request per server.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Measure the writer on this database instead of a fresh SQLite file (it gets a chain
    /// named `bench-…` of its own).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

const PASSWORD: &str = "quiet lantern orbit mosaic";

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let (batched, durable) = writer_throughput(&args).await?;
    eprintln!("requests: {} samples per server …", args.samples);
    let costs = request_costs(args.samples).await?;
    if args.json {
        let rows: Vec<Value> = costs
            .iter()
            .map(|c| {
                json!({
                    "request": c.name,
                    "on_p50_ms": ms(c.on.p50), "on_p99_ms": ms(c.on.p99),
                    "off_p50_ms": ms(c.off.p50), "off_p99_ms": ms(c.off.p99),
                    "p50_ratio": ratio(c.on.p50, c.off.p50),
                    "p99_ratio": ratio(c.on.p99, c.off.p99),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "records_per_second_batched": batched,
                "records_per_second_durable": durable,
                "concurrency": args.concurrency,
                "requests": rows,
            }))?
        );
        return Ok(());
    }
    println!("== audit writer ({} records)", args.records);
    println!("  batched records        {batched:>10.0} records/s");
    println!(
        "  waited-on records      {durable:>10.0} records/s ({} callers at once)",
        args.concurrency
    );
    println!("\n== what recording adds (trail on ÷ off, same invocation, requests interleaved)");
    println!(
        "  {:<22} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "request", "on p50", "off p50", "on p99", "off p99", "p50 ÷", "p99 ÷"
    );
    for c in &costs {
        println!(
            "  {:<22} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>9.3} {:>9.3}",
            c.name,
            ms(c.on.p50),
            ms(c.off.p50),
            ms(c.on.p99),
            ms(c.off.p99),
            ratio(c.on.p50, c.off.p50),
            ratio(c.on.p99, c.off.p99)
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        return f64::NAN;
    }
    a.as_secs_f64() / b.as_secs_f64()
}

/// A log of its own over a fresh database: (batched records/s, waited-on records/s).
async fn writer_throughput(args: &AuditArgs) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut config = switchboard_server::Config::default();
    config.operations.data_dir = dir.path().to_owned();
    config.operations.database_url = args.database_url.clone();
    config.cluster.node_name = Some(format!("bench-{}", uuid::Uuid::new_v4().simple()));
    let store = switchboard_store::connect(&config.database_url())
        .await
        .context("cannot open the database")?;
    let event = || {
        AuditEvent::new(Actor::user("bench"), Action::FrameViewed)
            .target("session", "bench")
            .detail(json!({"bench": true}))
    };

    eprintln!("audit writer: {} batched records …", args.records);
    let log = AuditLog::start(&config, store.clone()).await?;
    let started = Instant::now();
    for _ in 0..args.records {
        log.note(event());
    }
    log.close().await;
    let batched = args.records as f64 / started.elapsed().as_secs_f64();

    eprintln!(
        "audit writer: {} waited-on records, {} at once …",
        args.records, args.concurrency
    );
    let log = Arc::new(AuditLog::start(&config, store).await?);
    let per_task = args.records.div_ceil(args.concurrency.max(1));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    log.record_durable(event()).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await.context("a recording task failed")??;
    }
    let durable = (per_task * args.concurrency.max(1)) as f64 / started.elapsed().as_secs_f64();
    log.close().await;
    Ok((batched, durable))
}

/// One request kind's latencies on both servers.
struct Cost {
    name: &'static str,
    on: Percentiles,
    off: Percentiles,
}

/// A server with a signed-up user, a live session with a frame, and a camera.
struct Fixture {
    server: ServerChild,
    api: String,
    token: String,
    suid: String,
    camera: String,
    camera_token: String,
}

async fn fixture(http: &reqwest::Client, audit: bool) -> anyhow::Result<Fixture> {
    let server = ServerChild::start(&[
        "--audit-trail",
        if audit { "true" } else { "false" },
        // Sign-ins are what is measured, not the per-address limit on them.
        "--auth-attempts-per-minute",
        "1000000",
        // Uploads are stored and answered without waiting for detection.
        "--detector-model",
        "/nonexistent/bench-model.onnx",
    ])
    .await?;
    let api = format!("{}api/v1", server.base());
    let reg: Value = http
        .post(format!("{api}/auth/register"))
        .json(&json!({"username": "bench", "password": PASSWORD, "account_name": "Bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = reg["token"].as_str().context("no token")?.to_owned();
    let session: Value = http
        .post(format!("{api}/sessions"))
        .bearer_auth(&token)
        .json(&json!({"kind": "video"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let device: Value = http
        .post(format!("{api}/devices/register"))
        .json(&json!({"ticket": session["ticket"], "device": {"model": "bench"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let suid = session["suid"].as_str().context("no suid")?.to_owned();
    http.post(format!("{api}/sessions/{suid}/frames?seq=1"))
        .bearer_auth(device["device_token"].as_str().context("no device token")?)
        .header("content-type", "image/jpeg")
        .body(switchboard_media::synth::TestCard::new(320, 240, 70).render(1))
        .send()
        .await?
        .error_for_status()?;
    let camera: Value = http
        .post(format!("{api}/cameras"))
        .bearer_auth(&token)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(Fixture {
        server,
        camera: camera["id"].as_str().context("no camera id")?.to_owned(),
        camera_token: camera["token"]
            .as_str()
            .context("no camera token")?
            .to_owned(),
        api,
        token,
        suid,
    })
}

/// Times one request of kind `kind` against `f`.
async fn sample(
    http: &reqwest::Client,
    f: &Fixture,
    kind: usize,
    n: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    match kind {
        0 => {
            http.post(format!("{}/auth/login", f.api))
                .json(&json!({"username": "bench", "password": PASSWORD}))
                .send()
                .await?
                .error_for_status()?;
        }
        1 => {
            // A viewing starts once the stream's headers are answered; then it is dropped.
            let resp = http
                .get(format!("{}/sessions/{}/video.mjpeg", f.api, f.suid))
                .bearer_auth(&f.token)
                .send()
                .await?
                .error_for_status()?;
            let elapsed = started.elapsed();
            drop(resp);
            return Ok(elapsed);
        }
        _ => {
            http.post(format!("{}/cameras/{}/snapshots", f.api, f.camera))
                .bearer_auth(&f.camera_token)
                .header("content-type", "image/jpeg")
                .body(switchboard_media::synth::TestCard::new(320, 240, 70).render(n))
                .send()
                .await?
                .error_for_status()?;
        }
    }
    Ok(started.elapsed())
}

async fn request_costs(samples: usize) -> anyhow::Result<Vec<Cost>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let on = fixture(&http, true).await?;
    let off = fixture(&http, false).await?;
    let names = ["sign-in", "viewing start", "snapshot upload"];
    let mut times: Vec<[Vec<Duration>; 2]> =
        names.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for i in 0..samples {
        for (kind, pair) in times.iter_mut().enumerate() {
            // Alternate which server goes first, so neither always meets a warmer machine.
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let fixture = if which == 0 { &on } else { &off };
                pair[which].push(sample(&http, fixture, kind, i as u64 + 2).await?);
            }
        }
    }
    on.server.stop().await?;
    off.server.stop().await?;
    Ok(names
        .iter()
        .zip(times)
        .map(|(name, [on, off])| Cost {
            name,
            on: Percentiles::of(on),
            off: Percentiles::of(off),
        })
        .collect())
}
