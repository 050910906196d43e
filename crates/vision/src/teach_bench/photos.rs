//! The real photographs the measurement is made from, and the objects taught from them.

use std::path::Path;

use bytes::Bytes;

use crate::bench::NamedImage;
use crate::{BBox, VisionError};

/// The photographs, as `scripts/fetch-test-assets` leaves them in `target/test-assets/`
/// (all from PyPI wheels: ultralytics' `bus.jpg` and `zidane.jpg`, matplotlib's
/// `grace_hopper.jpg`, and scikit-image's `data/` photos turned into JPEGs).
pub const PHOTOS: &[&str] = &[
    "astronaut.jpg",
    "bus.jpg",
    "camera.jpg",
    "chelsea.jpg",
    "coffee.jpg",
    "coins.jpg",
    "grace_hopper.jpg",
    "grass.jpg",
    "gravel.jpg",
    "brick.jpg",
    "motorcycle_left.jpg",
    "rocket.jpg",
    "zidane.jpg",
];

/// An object to teach: a box on one of the [`PHOTOS`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectSpec {
    /// What it is, for the report.
    pub name: &'static str,
    /// The photograph it is taught from (one of [`PHOTOS`]).
    pub photo: &'static str,
    /// Its box in the photograph's pixels: left, top, width, height.
    pub pixels: [u32; 4],
}

impl ObjectSpec {
    /// The box normalized to a `width × height` photograph.
    pub fn bbox(&self, width: u32, height: u32) -> BBox {
        let [x, y, w, h] = self.pixels.map(|v| v as f32);
        BBox {
            x: x / width as f32,
            y: y / height as f32,
            w: w / width as f32,
            h: h / height as f32,
        }
    }
}

const fn object(name: &'static str, photo: &'static str, pixels: [u32; 4]) -> ObjectSpec {
    ObjectSpec {
        name,
        photo,
        pixels,
    }
}

/// Fifteen objects of the kind people would teach (things, faces, parts of things), small
/// and large, square and elongated, colourful and grey.
pub const OBJECTS: &[ObjectSpec] = &[
    object("mission patch", "astronaut.jpg", [133, 345, 80, 80]),
    object("shuttle model", "astronaut.jpg", [352, 0, 120, 278]),
    object("spoon", "coffee.jpg", [318, 195, 92, 135]),
    object("cat's eye", "chelsea.jpg", [132, 82, 78, 68]),
    object("headlight", "motorcycle_left.jpg", [503, 112, 84, 82]),
    object("engine", "motorcycle_left.jpg", [332, 240, 148, 130]),
    object("rocket", "rocket.jpg", [300, 122, 48, 180]),
    object("glasses", "grace_hopper.jpg", [172, 162, 190, 75]),
    object("ribbons", "grace_hopper.jpg", [318, 484, 138, 44]),
    object("cap badge", "grace_hopper.jpg", [195, 22, 148, 85]),
    object("bus logo", "bus.jpg", [380, 525, 125, 140]),
    object("sneaker", "bus.jpg", [668, 822, 78, 58]),
    object("pointing hand", "zidane.jpg", [985, 398, 168, 95]),
    object("face", "zidane.jpg", [893, 45, 182, 230]),
    object("video camera", "camera.jpg", [252, 135, 78, 62]),
];

/// Reads the [`PHOTOS`] from `dir`; a missing one is an error that says how to get it.
pub fn load_photos(dir: &Path) -> Result<Vec<NamedImage>, VisionError> {
    PHOTOS
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let jpeg = std::fs::read(&path).map_err(|e| {
                VisionError::Decode(format!(
                    "photo {} is missing ({e}): run scripts/fetch-test-assets",
                    path.display()
                ))
            })?;
            Ok(NamedImage {
                name: (*name).to_string(),
                jpeg: Bytes::from(jpeg),
            })
        })
        .collect()
}
