//! `switchboard bench teach`: taught objects, measured twice. First the matcher alone
//! (`switchboard_vision::teach_bench`: objects boxed on real photographs, pasted onto the
//! others at other scales, angles and brightness; recall and false matches per threshold,
//! and the time a snapshot with three templates costs beside detection). Then what matching
//! adds to an upload through a real server: one server child with the detector, two
//! accounts uploading the same photographs alternately, one with three taught objects and
//! one with none, so the difference of their upload latencies is the matching.

use super::at_rest::Latency;
use super::child::ServerChild;
use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_kernel::bench::Percentiles;
use switchboard_vision::bench::{BenchSetup, NamedImage};
use switchboard_vision::teach_bench::{self, OBJECTS, ObjectSpec, TeachBenchSetup, load_photos};
use tokio::time::Instant;

/// Flags of `switchboard bench teach`.
#[derive(Debug, Clone, Args)]
pub struct TeachArgs {
    /// The folder of the test photographs (`scripts/fetch-test-assets` fills it).
    #[arg(long, default_value = "target/test-assets")]
    pub assets: PathBuf,
    /// The detector model, to compare with (and to run in the server).
    #[arg(
        long,
        env = "SWITCHBOARD_DETECTOR_MODEL",
        default_value = "models/yolov12n.onnx"
    )]
    pub model: PathBuf,
    /// ONNX Runtime's library, a file or folder (default: `<assets>/onnxruntime` when there,
    /// else ORT_DYLIB_PATH).
    #[arg(long, env = "SWITCHBOARD_ONNXRUNTIME_LIBRARY")]
    pub onnxruntime_library: Option<PathBuf>,
    /// Pastes of each object on each other photograph.
    #[arg(long, default_value_t = 3)]
    pub variations: usize,
    /// Seed of the random pastes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Passes over the pictures when timing the matcher.
    #[arg(long, default_value_t = 3)]
    pub iterations: usize,
    /// Uploads per account through the server (0 skips that part).
    #[arg(long, default_value_t = 39)]
    pub uploads: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// What matching adds to uploads through the server.
#[derive(Debug, Clone, Serialize)]
pub struct UploadCost {
    pub uploads: usize,
    /// The account that taught nothing: detection only.
    pub untaught: Latency,
    /// The account with three taught objects: detection, then matching on the same thread.
    pub three_taught: Latency,
}

/// The three objects the server's account teaches: one per photograph, of three sizes.
const TAUGHT: [usize; 3] = [0, 2, 4];

/// Runs both parts and prints them.
pub async fn run(args: TeachArgs) -> anyhow::Result<()> {
    let library = args.onnxruntime_library.clone().or_else(|| {
        let bundled = args.assets.join("onnxruntime");
        bundled.is_dir().then_some(bundled)
    });
    let photos = load_photos(&args.assets).context("the test photographs")?;
    let setup = TeachBenchSetup {
        photos: photos.clone(),
        objects: OBJECTS.to_vec(),
        variations: args.variations,
        seed: args.seed,
        detector: args.model.is_file().then(|| BenchSetup {
            model: args.model.clone(),
            onnxruntime_library: library.clone(),
        }),
        timing_iterations: args.iterations,
    };
    let matcher = tokio::task::spawn_blocking(move || teach_bench::run(&setup))
        .await
        .context("the matcher's measurement panicked")?
        .context("the matcher's measurement failed")?;
    let server = if args.uploads > 0 {
        Some(upload_cost(&args, library.as_deref(), &photos).await?)
    } else {
        None
    };
    if args.json {
        let both = json!({ "matcher": matcher, "server": server });
        println!("{}", serde_json::to_string_pretty(&both)?);
        return Ok(());
    }
    print!("{matcher}");
    if let Some(cost) = server {
        println!(
            "\nuploads through a server with the detector ({} per account, alternating):",
            cost.uploads
        );
        println!("{:<22} {:>10} {:>10}", "", "p50 (ms)", "p99 (ms)");
        for (name, l) in [
            ("nothing taught", cost.untaught),
            ("three taught objects", cost.three_taught),
        ] {
            println!("{name:<22} {:>10.1} {:>10.1}", l.p50_ms, l.p99_ms);
        }
        let ratio = if cost.untaught.p50_ms > 0.0 {
            cost.three_taught.p50_ms / cost.untaught.p50_ms
        } else {
            0.0
        };
        println!("{:<22} {ratio:>10.2}", "p50 ratio");
    }
    Ok(())
}

/// A signed-up account with one camera on the server under test.
struct Uploader {
    user: String,
    camera: String,
    camera_token: String,
    took: Vec<Duration>,
}

async fn upload_cost(
    args: &TeachArgs,
    library: Option<&Path>,
    photos: &[NamedImage],
) -> anyhow::Result<UploadCost> {
    let model = std::fs::canonicalize(&args.model)
        .with_context(|| format!("the detector model {}", args.model.display()))?;
    let model = model.display().to_string();
    let library = library
        .map(std::fs::canonicalize)
        .transpose()
        .context("ONNX Runtime's library")?
        .map(|p| p.display().to_string());
    let mut flags = vec![
        "--detector-model",
        model.as_str(),
        // Every upload is detected before it is answered, and none is dropped as a copy.
        "--detect-wait",
        "60s",
        "--snapshot-dedup-distance",
        "0",
    ];
    if let Some(library) = &library {
        flags.extend(["--onnxruntime-library", library.as_str()]);
    }
    let server = ServerChild::start(&flags).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let api = server.base().join("api/v1/")?;
    let mut untaught = Uploader::start(&http, &api, "bench.untaught").await?;
    let mut taught = Uploader::start(&http, &api, "bench.taught").await?;
    for &index in &TAUGHT {
        let object = OBJECTS.get(index).context("the bench's objects changed")?;
        taught.teach(&http, &api, photos, object).await?;
    }
    for n in 0..args.uploads {
        let photo = &photos[n % photos.len()];
        let (first, second) = if n % 2 == 0 {
            (&mut untaught, &mut taught)
        } else {
            (&mut taught, &mut untaught)
        };
        first.upload(&http, &api, &photo.jpeg).await?;
        second.upload(&http, &api, &photo.jpeg).await?;
    }
    let complaints = server.complaints();
    server.stop().await?;
    if !complaints.is_empty() {
        bail!("the server complained: {}", complaints.join("; "));
    }
    Ok(UploadCost {
        uploads: args.uploads,
        untaught: Percentiles::of(untaught.took).into(),
        three_taught: Percentiles::of(taught.took).into(),
    })
}

impl Uploader {
    async fn start(
        http: &reqwest::Client,
        api: &reqwest::Url,
        username: &str,
    ) -> anyhow::Result<Uploader> {
        let registered: Value = http
            .post(api.join("auth/register")?)
            .json(&json!({
                "username": username,
                "password": "velvet harbour quartz lantern",
                "account_name": username,
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
            .json(&json!({ "name": "bench" }))
            .send()
            .await?
            .error_for_status()
            .context("cannot register a camera")?
            .json()
            .await?;
        Ok(Uploader {
            user,
            camera: camera["id"].as_str().context("no camera id")?.to_owned(),
            camera_token: camera["token"]
                .as_str()
                .context("no camera token")?
                .to_owned(),
            took: Vec::new(),
        })
    }

    /// Uploads one picture (timed) and answers the stored snapshot's id.
    async fn upload(
        &mut self,
        http: &reqwest::Client,
        api: &reqwest::Url,
        jpeg: &[u8],
    ) -> anyhow::Result<String> {
        let url = api.join(&format!("cameras/{}/snapshots", self.camera))?;
        let started = Instant::now();
        let answer: Value = http
            .post(url)
            .bearer_auth(&self.camera_token)
            .header("content-type", "image/jpeg")
            .body(jpeg.to_vec())
            .send()
            .await?
            .error_for_status()
            .context("an upload failed")?
            .json()
            .await?;
        self.took.push(started.elapsed());
        Ok(answer["id"].as_str().context("no snapshot id")?.to_owned())
    }

    /// Uploads the object's photograph (untimed) and teaches the object from it.
    async fn teach(
        &mut self,
        http: &reqwest::Client,
        api: &reqwest::Url,
        photos: &[NamedImage],
        object: &ObjectSpec,
    ) -> anyhow::Result<()> {
        let photo = photos
            .iter()
            .find(|p| p.name == object.photo)
            .with_context(|| format!("no photograph {}", object.photo))?;
        let info = switchboard_media::jpeg::inspect(&photo.jpeg)
            .with_context(|| format!("{} is no JPEG", object.photo))?;
        let snapshot = self.upload(http, api, &photo.jpeg).await?;
        self.took.clear();
        let b = object.bbox(u32::from(info.width), u32::from(info.height));
        http.post(api.join("taught-objects")?)
            .bearer_auth(&self.user)
            .json(&json!({
                "snapshot_id": snapshot,
                "box": { "x": b.x, "y": b.y, "w": b.w, "h": b.h },
                "name": object.name,
            }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("cannot teach {}", object.name))?;
        Ok(())
    }
}
