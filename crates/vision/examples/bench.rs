//! Runs [`switchboard_vision::bench::run`] on JPEG files and prints the report (what
//! `switchboard bench detect` will print).
//!
//! ```text
//! cargo run --release -p switchboard-vision --example bench -- models/yolov12n.onnx \
//!     target/test-assets/bus.jpg target/test-assets/zidane.jpg
//! ```
//!
//! Environment: `ORT_DYLIB_PATH` (ONNX Runtime's library or its folder), `ITERATIONS`
//! (default 5), `JSON=1` for JSON output.

use std::path::PathBuf;

use bytes::Bytes;
use switchboard_vision::bench::{self, BenchSetup, NamedImage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: bench MODEL.onnx PHOTO.jpg…")?;
    let images = args
        .map(|path| {
            Ok(NamedImage {
                name: path.clone(),
                jpeg: Bytes::from(std::fs::read(&path)?),
            })
        })
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    let iterations = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let setup = BenchSetup {
        model: PathBuf::from(model),
        onnxruntime_library: std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
    };
    let report = bench::run(&setup, &images, iterations)?;
    if std::env::var_os("JSON").is_some() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
