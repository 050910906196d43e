//! Detects objects in JPEG files and prints them; optionally writes annotated thumbnails.
//!
//! ```text
//! cargo run -p switchboard-vision --example detect -- models/yolov12n.onnx photo.jpg [more.jpg …]
//! ```
//!
//! Environment: `ORT_DYLIB_PATH` (ONNX Runtime's library), `BACKEND` (`auto`, `onnxruntime`
//! or `tract`), `THUMBNAILS` (a folder to write `<name>.annotated.jpg` files into).

use std::path::PathBuf;

use switchboard_vision::{BackendChoice, Detector, DetectorOptions, annotate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: detect MODEL.onnx PHOTO.jpg…")?;
    let backend: BackendChoice = std::env::var("BACKEND")
        .unwrap_or_else(|_| "auto".into())
        .parse()?;
    let options = DetectorOptions {
        backend,
        ..DetectorOptions::default()
    };
    let detector = Detector::load_with(&model, &options)?;
    println!("{detector:?}");
    let thumbnails = std::env::var_os("THUMBNAILS").map(PathBuf::from);
    for photo in args {
        let jpeg = std::fs::read(&photo)?;
        let (detections, times) = detector.detect_timed(&jpeg)?;
        println!(
            "{photo}: {} detection(s) in {:.1} ms (decode {:.1}, model {:.1}, post {:.2})",
            detections.len(),
            times.total().as_secs_f64() * 1000.0,
            times.preprocess.as_secs_f64() * 1000.0,
            times.inference.as_secs_f64() * 1000.0,
            times.postprocess.as_secs_f64() * 1000.0,
        );
        for d in &detections {
            let b = d.bbox;
            println!(
                "  {:<14} {:.2}  x {:.3} y {:.3} w {:.3} h {:.3}",
                d.label, d.confidence, b.x, b.y, b.w, b.h
            );
        }
        if let Some(dir) = &thumbnails {
            let name = PathBuf::from(&photo);
            let stem = name.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
            let out = dir.join(format!("{stem}.annotated.jpg"));
            std::fs::write(&out, annotate(&jpeg, &detections, 640)?)?;
            println!("  wrote {}", out.display());
        }
    }
    Ok(())
}
