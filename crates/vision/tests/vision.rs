#![allow(clippy::unwrap_used)]
//! The detector on real photographs with both backends, the pool, thumbnails.
//!
//! Assets come from PyPI via `scripts/fetch-test-assets` (which `scripts/test` runs):
//! `bus.jpg` and `zidane.jpg` from the ultralytics wheel, `libonnxruntime.so.*` from the
//! onnxruntime wheel. Without the photos the tests fail and say so; without ONNX Runtime
//! the ONNX Runtime tests are skipped with a message, except under CI, where they fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use switchboard_vision::{
    BBox, BackendChoice, BackendKind, Detection, Detector, DetectorOptions, DetectorPool,
    InferenceBackend, ModelInfo, RawOutput, VisionError, annotate, bench, labels,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path() -> PathBuf {
    repo().join("models/yolov12n.onnx")
}

fn assets() -> PathBuf {
    repo().join("target/test-assets")
}

fn photo(name: &str) -> Vec<u8> {
    let path = assets().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test photo {} is missing ({e}): run scripts/fetch-test-assets first",
            path.display()
        )
    })
}

/// ONNX Runtime's library from the test assets; `None` (with a note) when absent, a failure
/// under CI.
fn onnxruntime_library() -> Option<PathBuf> {
    let dir = assets().join("onnxruntime");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ONNX Runtime is missing from {} under CI: run scripts/fetch-test-assets",
            dir.display()
        );
        eprintln!(
            "note: ONNX Runtime tests skipped, {} has no libonnxruntime.so (run scripts/fetch-test-assets)",
            dir.display()
        );
    }
    found
}

fn tract() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        let options = DetectorOptions {
            backend: BackendChoice::Tract,
            ..DetectorOptions::default()
        };
        let d = Detector::load_with(model_path(), &options).unwrap();
        assert_eq!(d.backend(), BackendKind::Tract);
        d
    })
}

fn onnxruntime() -> Option<&'static Detector> {
    static DETECTOR: OnceLock<Option<Detector>> = OnceLock::new();
    DETECTOR
        .get_or_init(|| {
            let library = onnxruntime_library()?;
            let options = DetectorOptions {
                backend: BackendChoice::OnnxRuntime,
                onnxruntime_library: Some(library),
                ..DetectorOptions::default()
            };
            let d = Detector::load_with(model_path(), &options).unwrap();
            assert_eq!(d.backend(), BackendKind::OnnxRuntime);
            Some(d)
        })
        .as_ref()
}

/// A box in the picture's pixels, for readable expectations.
fn px(b: BBox, w: f32, h: f32) -> [f32; 4] {
    [b.x * w, b.y * h, (b.x + b.w) * w, (b.y + b.h) * h]
}

fn count(detections: &[Detection], label: &str) -> usize {
    detections.iter().filter(|d| d.label == label).count()
}

/// The best match for an expected box (in picture pixels) among detections of `label`.
fn best_iou(detections: &[Detection], label: &str, expected: [f32; 4], w: f32, h: f32) -> f32 {
    let e = BBox {
        x: expected[0] / w,
        y: expected[1] / h,
        w: (expected[2] - expected[0]) / w,
        h: (expected[3] - expected[1]) / h,
    };
    detections
        .iter()
        .filter(|d| d.label == label)
        .map(|d| d.bbox.iou(&e))
        .fold(0.0, f32::max)
}

fn describe(detections: &[Detection], w: f32, h: f32) -> String {
    detections
        .iter()
        .map(|d| {
            let [x1, y1, x2, y2] = px(d.bbox, w, h);
            format!(
                "{} {:.2} [{x1:.0} {y1:.0} {x2:.0} {y2:.0}]",
                d.label, d.confidence
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// bus.jpg (810×1080): a bus filling the middle and four people in front of it.
fn check_bus(detections: &[Detection]) {
    let (w, h) = (810.0, 1080.0);
    let all = describe(detections, w, h);
    assert_eq!(count(detections, "bus"), 1, "{all}");
    let persons = count(detections, "person");
    assert!((3..=5).contains(&persons), "expected 3–5 persons: {all}");
    for d in detections {
        assert!(d.confidence >= 0.25 && d.confidence <= 1.0, "{all}");
        let b = d.bbox;
        assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 1.0001 && b.y + b.h <= 1.0001);
    }
    let bus = detections.iter().find(|d| d.label == "bus").unwrap();
    assert!(bus.confidence > 0.7, "{all}");
    assert!(
        best_iou(detections, "bus", [17.0, 230.0, 801.0, 770.0], w, h) > 0.8,
        "{all}"
    );
    // The three people standing fully in view, left to right.
    for expected in [
        [48.0, 398.0, 245.0, 903.0],
        [223.0, 406.0, 344.0, 857.0],
        [670.0, 380.0, 810.0, 875.0],
    ] {
        assert!(
            best_iou(detections, "person", expected, w, h) > 0.7,
            "no person near {expected:?}: {all}"
        );
    }
}

/// zidane.jpg (1280×720): two men, one of them wearing a tie.
fn check_zidane(detections: &[Detection]) {
    let (w, h) = (1280.0, 720.0);
    let all = describe(detections, w, h);
    assert_eq!(count(detections, "person"), 2, "{all}");
    assert!(count(detections, "tie") >= 1, "{all}");
    assert!(
        best_iou(detections, "person", [747.0, 41.0, 1141.0, 712.0], w, h) > 0.75,
        "{all}"
    );
    assert!(
        best_iou(detections, "person", [144.0, 200.0, 1110.0, 713.0], w, h) > 0.6,
        "{all}"
    );
    assert!(
        best_iou(detections, "tie", [437.0, 437.0, 524.0, 716.0], w, h) > 0.5,
        "{all}"
    );
}

#[test]
fn the_model_describes_itself() {
    let info = ModelInfo::read(&model_path()).unwrap();
    assert!(
        info.labels_from_metadata,
        "labels must come from the `names` metadata"
    );
    assert_eq!(info.labels, labels::coco80());
    assert_eq!((info.input_width, info.input_height), (640, 640));
    assert_eq!(info.input_name, "images");
    assert!(info.description.unwrap_or_default().contains("YOLOv12n"));
}

#[test]
fn tract_finds_the_bus_and_the_people() {
    check_bus(&tract().detect(&photo("bus.jpg")).unwrap());
}

#[test]
fn tract_finds_two_men_and_a_tie() {
    check_zidane(&tract().detect(&photo("zidane.jpg")).unwrap());
}

#[test]
fn onnxruntime_finds_the_bus_and_the_people() {
    let Some(ort) = onnxruntime() else { return };
    check_bus(&ort.detect(&photo("bus.jpg")).unwrap());
}

#[test]
fn onnxruntime_finds_two_men_and_a_tie() {
    let Some(ort) = onnxruntime() else { return };
    check_zidane(&ort.detect(&photo("zidane.jpg")).unwrap());
}

#[test]
fn both_backends_agree() {
    let Some(ort) = onnxruntime() else { return };
    for name in ["bus.jpg", "zidane.jpg"] {
        let jpeg = photo(name);
        let a = ort.detect(&jpeg).unwrap();
        let b = tract().detect(&jpeg).unwrap();
        assert_eq!(a.len(), b.len(), "{name}: {a:?} vs {b:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.label, y.label, "{name}");
            assert!(
                (x.confidence - y.confidence).abs() < 0.02,
                "{name}: {x:?} vs {y:?}"
            );
            assert!(x.bbox.iou(&y.bbox) > 0.98, "{name}: {x:?} vs {y:?}");
        }
    }
}

#[test]
fn auto_picks_onnxruntime_when_its_library_loads() {
    let Some(library) = onnxruntime_library() else {
        return;
    };
    let options = DetectorOptions {
        onnxruntime_library: Some(library),
        ..DetectorOptions::default()
    };
    let d = Detector::load_with(model_path(), &options).unwrap();
    assert_eq!(d.backend(), BackendKind::OnnxRuntime);
}

#[test]
fn a_12_megapixel_photo_is_detected_like_the_original() {
    // The bus photo upscaled to 3000×4000: decoded at 1/4 scale, same people found.
    let source = image::load_from_memory(&photo("bus.jpg")).unwrap();
    let big = source.resize_exact(3000, 4000, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    big.to_rgb8()
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let decoded = switchboard_vision::preprocess::decode_jpeg(&jpeg, 640, 640).unwrap();
    assert_eq!(decoded.image.dimensions(), (750, 1000));
    check_bus(&tract().detect(&jpeg).unwrap());
}

#[test]
fn bad_input_is_a_decode_error_and_tiny_pictures_work() {
    assert!(matches!(
        tract().detect(b"definitely not a jpeg"),
        Err(VisionError::Decode(_))
    ));
    let jpeg = photo("zidane.jpg");
    assert!(matches!(
        tract().detect(&jpeg[..100]),
        Err(VisionError::Decode(_))
    ));
    let tiny = image::RgbImage::from_pixel(1, 1, image::Rgb([10, 20, 30]));
    let mut out = Vec::new();
    tiny.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    assert!(tract().detect(&out).unwrap().is_empty());
}

#[test]
fn thumbnails_show_the_detections() {
    let jpeg = photo("zidane.jpg");
    let detections = tract().detect(&jpeg).unwrap();
    let thumb = annotate(&jpeg, &detections, 320).unwrap();
    let img = image::load_from_memory(&thumb).unwrap();
    assert_eq!((img.width(), img.height()), (320, 180));
    assert!(thumb.len() < jpeg.len());
    // Zidane's box's left edge (x ≈ 747/4) is drawn in the person colour.
    let person = switchboard_vision::class_color(0);
    let [x1, y1, _, y2] = px(
        detections
            .iter()
            .filter(|d| d.label == "person")
            .max_by(|a, b| a.bbox.x.total_cmp(&b.bbox.x))
            .unwrap()
            .bbox,
        320.0,
        180.0,
    );
    let p = img.to_rgb8();
    let edge = p.get_pixel(x1 as u32 + 1, ((y1 + y2) / 2.0) as u32);
    let close = edge
        .0
        .iter()
        .zip(person.0)
        .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() < 60);
    assert!(close, "{edge:?} is not {person:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_detects_off_the_runtime() {
    let pool = DetectorPool::new(tract().clone(), 2, 4).unwrap();
    assert_eq!(pool.backend(), BackendKind::Tract);
    let (bus, zidane) = tokio::join!(
        pool.detect(Bytes::from(photo("bus.jpg"))),
        pool.try_detect(Bytes::from(photo("zidane.jpg")))
    );
    check_bus(&bus.unwrap());
    check_zidane(&zidane.unwrap());
}

/// A backend that reports each call and then waits for the test to let it finish; panics
/// when told to.
struct Gate {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: Mutex<std::sync::mpsc::Receiver<bool>>,
}

impl InferenceBackend for Gate {
    fn kind(&self) -> BackendKind {
        BackendKind::Tract
    }

    fn run(&self, _input: &[f32], _shape: [usize; 4]) -> Result<RawOutput, VisionError> {
        let _ = self.started.send(());
        let panic = self.release.lock().unwrap().recv().unwrap();
        assert!(!panic, "told to panic");
        Ok(RawOutput {
            shape: vec![1, 84, 1],
            data: vec![0.0; 84],
        })
    }
}

fn gated_pool(
    workers: usize,
    capacity: usize,
) -> (
    DetectorPool,
    tokio::sync::mpsc::UnboundedReceiver<()>,
    std::sync::mpsc::Sender<bool>,
) {
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let gate = Gate {
        started: started_tx,
        release: Mutex::new(release_rx),
    };
    let info = ModelInfo {
        path: PathBuf::from("gate.onnx"),
        labels: labels::coco80(),
        labels_from_metadata: false,
        input_name: "images".into(),
        input_width: 64,
        input_height: 64,
        description: None,
    };
    let detector =
        Detector::from_backend(Box::new(gate), info, &DetectorOptions::default()).unwrap();
    (
        DetectorPool::new(detector, workers, capacity).unwrap(),
        started,
        release,
    )
}

fn small_jpeg() -> Bytes {
    let img = image::RgbImage::from_pixel(32, 32, image::Rgb([200, 100, 50]));
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    Bytes::from(out)
}

#[tokio::test]
async fn a_full_queue_answers_busy_at_once() {
    let (pool, mut started, release) = gated_pool(1, 1);
    let pool = Arc::new(pool);
    // Job A runs (the worker holds it at the gate), job B waits in the queue.
    let a = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    let b = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    while pool.queued() < 1 {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        pool.try_detect(small_jpeg()).await,
        Err(VisionError::Busy)
    ));
    release.send(false).unwrap();
    assert_eq!(a.await.unwrap().unwrap(), []);
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert_eq!(b.await.unwrap().unwrap(), []);
    // Room again.
    let c = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.try_detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert_eq!(c.await.unwrap().unwrap(), []);
}

#[tokio::test]
async fn a_panicking_detection_fails_alone() {
    let (pool, mut started, release) = gated_pool(1, 2);
    let pool = Arc::new(pool);
    let a = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    release.send(true).unwrap();
    assert!(matches!(a.await.unwrap(), Err(VisionError::Inference(_))));
    // The same worker serves the next job.
    let b = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert_eq!(b.await.unwrap().unwrap(), []);
}

#[tokio::test]
async fn work_after_a_detection_runs_on_its_worker_with_its_picture() {
    let (pool, mut started, release) = gated_pool(1, 1);
    let pool = Arc::new(pool);
    let (seen_tx, seen) = tokio::sync::oneshot::channel();
    let picture = small_jpeg();
    let a = tokio::spawn({
        let pool = Arc::clone(&pool);
        let picture = picture.clone();
        async move {
            pool.analyze_then(
                picture,
                Box::new(move |jpeg: &[u8]| {
                    let worker = std::thread::current().name().map(str::to_owned);
                    let _ = seen_tx.send((jpeg.to_vec(), worker));
                }),
            )
            .await
        }
    });
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert!(a.await.unwrap().is_ok());
    let (bytes, worker) = seen.await.unwrap();
    assert_eq!(bytes, picture.to_vec());
    assert_eq!(worker.as_deref(), Some("detector-0"));

    // A panic in that work is caught; the worker serves the next job.
    let b = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move {
            pool.analyze_then(
                small_jpeg(),
                Box::new(|_: &[u8]| panic!("the work after panics")),
            )
            .await
        }
    });
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert!(b.await.unwrap().is_ok());
    let c = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    release.send(false).unwrap();
    assert_eq!(c.await.unwrap().unwrap(), []);

    // Refused at a full queue: the work is dropped unrun.
    let held = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    started.recv().await.unwrap();
    let queued = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.detect(small_jpeg()).await }
    });
    while pool.queued() < 1 {
        tokio::task::yield_now().await;
    }
    let (never_tx, never) = tokio::sync::oneshot::channel::<()>();
    let refused = pool
        .try_analyze_then(
            small_jpeg(),
            Box::new(move |_: &[u8]| {
                let _ = never_tx.send(());
            }),
        )
        .await;
    assert!(matches!(refused, Err(VisionError::Busy)), "{refused:?}");
    assert!(never.await.is_err(), "refused work is dropped unrun");
    release.send(false).unwrap();
    started.recv().await.unwrap();
    release.send(false).unwrap();
    held.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
}

#[tokio::test]
async fn undecodable_uploads_fail_without_reaching_the_model() {
    let (pool, mut started, _release) = gated_pool(1, 1);
    assert!(matches!(
        pool.detect(Bytes::from_static(b"\xff\xd8garbage")).await,
        Err(VisionError::Decode(_))
    ));
    assert!(started.try_recv().is_err());
}

#[test]
fn the_benchmark_measures_every_available_backend() {
    let setup = bench::BenchSetup {
        model: model_path(),
        onnxruntime_library: onnxruntime_library(),
    };
    let images = [bench::NamedImage {
        name: "zidane.jpg".into(),
        jpeg: Bytes::from(photo("zidane.jpg")),
    }];
    let report = bench::run(&setup, &images, 1).unwrap();
    assert_eq!(report.backends.len(), 2);
    let tract = &report.backends[1];
    assert_eq!(tract.backend, BackendKind::Tract);
    assert!(tract.unavailable.is_none() && tract.ms_per_image > 0.0);
    assert_eq!(tract.detections, [3]);
    let decode = report.decode_12mp.as_ref().unwrap();
    assert_eq!((decode.width, decode.height), (4000, 3000));
    assert!(decode.scaled_ms > 0.0 && decode.full_decode_ms > 0.0);
    let text = report.to_string();
    assert!(text.contains("tract"), "{text}");
    eprintln!("{text}");
}
