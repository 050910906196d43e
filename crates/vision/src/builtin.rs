//! The default detector model, carried inside the program.
//!
//! An installed binary runs from any folder (a systemd unit, a container), so the model
//! cannot be a path relative to the working directory. Its bytes are part of the binary
//! (about 10 MB); a model file given by the operator replaces it.

/// The name the built-in model goes by in logs, errors and the API.
pub const BUILTIN_MODEL_NAME: &str = "built-in yolov12n.onnx";

/// The built-in model: `models/yolov12n.onnx` of the source tree this program was built from.
pub const BUILTIN_MODEL: &[u8] = include_bytes!("../../../models/yolov12n.onnx");

/// What the built-in model is and its licence, for `switchboard --version` (the full note
/// is `models/README.md`).
pub const BUILTIN_MODEL_NOTE: &str = "Detector model built in: Ultralytics YOLOv12n, COCO-80 \
classes (ONNX, 10,678,697 bytes, SHA-256 e548ab3a406227202334bf5a6623c9814ac6286ff04e68aeb4dc2357732d1a4f).\n\
Its weights are Ultralytics' and licensed under the GNU Affero General Public License v3.0 \
(https://ultralytics.com/license): distributing this program, or offering it to users over \
a network, brings the AGPL-3.0's obligations for the model with it. Another YOLO-family ONNX \
model replaces it at run time with --detector-model PATH, or inside the program by replacing \
models/yolov12n.onnx before building (see models/README.md).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_model_is_the_documented_file() {
        assert_eq!(BUILTIN_MODEL.len(), 10_678_697);
        assert!(BUILTIN_MODEL_NOTE.contains("AGPL-3.0"));
    }
}
