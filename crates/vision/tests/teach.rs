#![allow(clippy::unwrap_used)]
//! Taught objects on real photographs: a crop pasted into another photograph is found there,
//! and not in photographs without it.
//!
//! The photographs come from PyPI via `scripts/fetch-test-assets` (which `scripts/test`
//! runs); without them the tests fail and say so.

use std::path::{Path, PathBuf};

use switchboard_vision::preprocess::{MAX_PIXELS, decode_full};
use switchboard_vision::teach_bench::{
    OBJECTS, ObjectSpec, Rng, Variation, encode_jpeg, paste, snapshot_size,
};
use switchboard_vision::{DEFAULT_MATCH_THRESHOLD, Scene, Template, VisionError};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-assets")
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

fn spec(name: &str) -> ObjectSpec {
    *OBJECTS.iter().find(|o| o.name == name).unwrap()
}

/// Teaches `object` from its original photograph.
fn teach(object: &ObjectSpec) -> Template {
    let jpeg = photo(object.photo);
    let full = decode_full(&jpeg).unwrap();
    let template =
        Template::from_jpeg(&jpeg, object.bbox(full.width(), full.height()), MAX_PIXELS).unwrap();
    // What the server stores is what it searches with.
    Template::from_bytes(&template.to_bytes()).unwrap()
}

/// `object` pasted onto `background` (both at snapshot size) with `variation`, as a JPEG,
/// and where it is.
fn composite(
    object: &ObjectSpec,
    background: &str,
    variation: &Variation,
    seed: u64,
) -> (Vec<u8>, switchboard_vision::BBox) {
    let source_full = decode_full(&photo(object.photo)).unwrap();
    let object_box = object.bbox(source_full.width(), source_full.height());
    let source = snapshot_size(&source_full);
    let back = snapshot_size(&decode_full(&photo(background)).unwrap());
    let (image, truth) = paste(&back, &source, object_box, variation, &mut Rng::new(seed));
    (encode_jpeg(&image, variation.quality).unwrap(), truth)
}

#[test]
fn a_crop_pasted_into_another_photograph_is_found_there_and_not_elsewhere() {
    let cases = [
        ("glasses", "coffee.jpg", "chelsea.jpg"),
        ("mission patch", "bus.jpg", "grass.jpg"),
        ("headlight", "zidane.jpg", "rocket.jpg"),
        ("cat's eye", "motorcycle_left.jpg", "coins.jpg"),
    ];
    let variation = Variation {
        scale: 1.2,
        rotation_deg: 6.0,
        gain: 0.8,
        offset: 10.0,
        quality: 75,
    };
    for (i, (name, with, without)) in cases.iter().enumerate() {
        let object = spec(name);
        let template = teach(&object);
        let (jpeg, truth) = composite(&object, with, &variation, i as u64);
        let scene = Scene::from_jpeg(&jpeg, MAX_PIXELS).unwrap();
        let found = scene
            .find(&template, DEFAULT_MATCH_THRESHOLD)
            .unwrap_or_else(|| {
                panic!(
                    "{name} pasted on {with} not found; best: {:?}",
                    scene.find(&template, -1.0)
                )
            });
        let iou = found.bbox.iou(&truth);
        assert!(
            iou >= 0.5,
            "{name} on {with}: {found:?} vs {truth:?} (IoU {iou:.2})"
        );

        let plain =
            encode_jpeg(&snapshot_size(&decode_full(&photo(without)).unwrap()), 85).unwrap();
        let empty = Scene::from_jpeg(&plain, MAX_PIXELS).unwrap();
        let best = empty.find(&template, -1.0).map(|m| m.score);
        assert!(
            empty.find(&template, DEFAULT_MATCH_THRESHOLD).is_none(),
            "{name} matched in {without}, which does not have it (score {best:?})"
        );
        assert!(best < Some(found.score), "{name}: {best:?} vs {found:?}");
    }
}

#[test]
fn the_taught_photograph_itself_gives_the_box_back() {
    let object = spec("video camera");
    let template = teach(&object);
    let jpeg = photo(object.photo);
    let full = decode_full(&jpeg).unwrap();
    let scene = Scene::from_jpeg(&jpeg, MAX_PIXELS).unwrap();
    let found = scene.find(&template, DEFAULT_MATCH_THRESHOLD).unwrap();
    assert!(found.score > 0.9, "{found:?}");
    assert!(
        found.bbox.iou(&object.bbox(full.width(), full.height())) > 0.7,
        "{found:?}"
    );
}

#[test]
fn limits_and_bad_input_are_errors() {
    let object = spec("spoon");
    let jpeg = photo(object.photo);
    assert!(matches!(
        Scene::from_jpeg(&jpeg, 1000),
        Err(VisionError::TooLarge { .. })
    ));
    assert!(matches!(
        Scene::from_jpeg(&jpeg[..20], MAX_PIXELS),
        Err(VisionError::Decode(_))
    ));
    let full = decode_full(&jpeg).unwrap();
    assert!(matches!(
        Template::from_jpeg(&jpeg, object.bbox(full.width(), full.height()), 1000),
        Err(VisionError::TooLarge { .. })
    ));
}
