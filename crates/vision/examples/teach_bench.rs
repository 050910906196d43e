//! Runs [`switchboard_vision::teach_bench::run`] on the test photographs and prints the
//! report (what `switchboard bench teach` will print).
//!
//! ```text
//! ./scripts/fetch-test-assets
//! cargo run --release -p switchboard-vision --example teach_bench
//! ```
//!
//! Environment: `ASSETS` (the photographs' folder, default `target/test-assets`), `MODEL`
//! (default `models/yolov12n.onnx`; `none` times the matcher alone), `ORT_DYLIB_PATH` (ONNX
//! Runtime's library or folder, default `$ASSETS/onnxruntime`), `VARIATIONS` (pastes per
//! object and photograph, default 3), `SEED`, `ITERATIONS` (timing passes, default 3),
//! `JSON=1` for JSON output.

use std::path::PathBuf;

use switchboard_vision::bench::BenchSetup;
use switchboard_vision::teach_bench::{self, OBJECTS, TeachBenchSetup, load_photos};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let assets = std::env::var_os("ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/test-assets"));
    let model = std::env::var("MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("models/yolov12n.onnx"));
    let detector = (model.as_os_str() != "none").then(|| BenchSetup {
        model,
        onnxruntime_library: Some(
            std::env::var_os("ORT_DYLIB_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| assets.join("onnxruntime")),
        ),
    });
    let setup = TeachBenchSetup {
        photos: load_photos(&assets)?,
        objects: OBJECTS.to_vec(),
        variations: env_or("VARIATIONS", 3),
        seed: env_or("SEED", 1),
        detector,
        timing_iterations: env_or("ITERATIONS", 3),
    };
    let report = teach_bench::run(&setup)?;
    if std::env::var_os("JSON").is_some() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
