//! `switchboard bench detect`: the object detector's speed on this machine, per backend
//! (ONNX Runtime and tract), one thread and one per core, plus decoding a 12-megapixel photo;
//! then object search over a million stored detections (see `search.rs`).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use switchboard_vision::bench::{BenchSetup, NamedImage, run as run_bench};

/// Flags of `switchboard bench detect`.
#[derive(Debug, Clone, Args)]
pub struct DetectArgs {
    /// The detector model file (default: the model built into the program).
    #[arg(long, env = "SWITCHBOARD_DETECTOR_MODEL")]
    pub model: Option<PathBuf>,
    /// ONNX Runtime's library, a file or folder (default: ORT_DYLIB_PATH).
    #[arg(long, env = "SWITCHBOARD_ONNXRUNTIME_LIBRARY")]
    pub onnxruntime_library: Option<PathBuf>,
    /// JPEG photos to detect (e.g. target/test-assets/bus.jpg).
    #[arg(long = "image", required = true)]
    pub images: Vec<PathBuf>,
    /// Detections per photo and backend.
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Detections stored for the search benchmark (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    pub search_detections: u64,
    /// Searches timed per kind of question.
    #[arg(long, default_value_t = 200)]
    pub search_queries: usize,
}

/// Runs the benchmark off the async workers and prints its report as JSON.
pub async fn run(args: DetectArgs) -> anyhow::Result<()> {
    let mut images = Vec::new();
    for path in &args.images {
        let jpeg =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        images.push(NamedImage {
            name: path.display().to_string(),
            jpeg: jpeg.into(),
        });
    }
    let setup = BenchSetup {
        model: args
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(switchboard_vision::BUILTIN_MODEL_NAME)),
        onnxruntime_library: args.onnxruntime_library.clone(),
    };
    let iterations = args.iterations;
    let report = tokio::task::spawn_blocking(move || run_bench(&setup, &images, iterations))
        .await
        .context("the benchmark panicked")?
        .context("the detector benchmark failed")?;
    let search = if args.search_detections > 0 {
        let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
        Some(super::search::run(dir.path(), args.search_detections, args.search_queries).await?)
    } else {
        None
    };
    let both = serde_json::json!({ "detector": report, "search": search });
    println!("{}", serde_json::to_string_pretty(&both)?);
    Ok(())
}
