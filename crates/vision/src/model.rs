//! What a detector needs to know about its model, read from the ONNX file itself.

use std::path::{Path, PathBuf};

use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::prelude::Framework;

use crate::VisionError;
use crate::labels::{coco80, parse_names};

/// The input size assumed when a model's input shape is dynamic and its metadata has no
/// `imgsz` either: the size every YOLO detector is trained at.
const DEFAULT_INPUT_SIZE: u32 = 640;

/// A YOLO detector model's interface: labels, input size and tensor names.
///
/// Everything comes from the model file, so a different YOLO export (another size, another
/// label set) is a drop-in replacement: labels from the `names` metadata property that
/// Ultralytics writes, the input size from the input's static shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model file (or [`BUILTIN_MODEL_NAME`](crate::BUILTIN_MODEL_NAME) for the model
    /// built into the program).
    pub path: PathBuf,
    /// Class names, indexed by class id.
    pub labels: Vec<String>,
    /// Whether [`labels`](Self::labels) came from the model's metadata (`false`: the
    /// built-in COCO-80 list).
    pub labels_from_metadata: bool,
    /// The name of the image input tensor (`images` in Ultralytics exports).
    pub input_name: String,
    /// Input width in pixels.
    pub input_width: u32,
    /// Input height in pixels.
    pub input_height: u32,
    /// The model's `description` metadata, if any (e.g. "Ultralytics YOLOv12n model").
    pub description: Option<String>,
}

impl ModelInfo {
    /// Reads a model file's interface. See [`ModelInfo::from_proto`].
    pub fn read(path: &Path) -> Result<ModelInfo, VisionError> {
        let proto = read_proto(path)?;
        ModelInfo::from_proto(path, &proto)
    }

    /// Extracts the interface from a parsed ONNX model.
    ///
    /// The input is the first graph input that is not an initializer and must be
    /// `[1 or N, 3, H, W]`; dynamic `H`/`W` fall back to the `imgsz` metadata, then to 640.
    pub fn from_proto(path: &Path, proto: &pb::ModelProto) -> Result<ModelInfo, VisionError> {
        let err = |reason: String| VisionError::Model {
            path: path.to_path_buf(),
            reason,
        };
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| err("the file has no graph".into()))?;
        let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let input = graph
            .input
            .iter()
            .find(|i| !initializers.contains(&i.name.as_str()))
            .ok_or_else(|| err("the graph has no input".into()))?;
        let dims = tensor_dims(input);
        if dims.len() != 4 {
            return Err(err(format!(
                "expected a 4-D image input [N, 3, H, W], found {} dimensions",
                dims.len()
            )));
        }
        if let Some(channels) = dims[1]
            && channels != 3
        {
            return Err(err(format!("expected 3 input channels, found {channels}")));
        }
        let metadata = |key: &str| {
            proto
                .metadata_props
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.value.as_str())
        };
        let imgsz = metadata("imgsz").and_then(parse_imgsz);
        let (input_height, input_width) = match (dims[2], dims[3]) {
            (Some(h), Some(w)) => (h, w),
            _ => imgsz.unwrap_or((DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)),
        };
        if !(32..=8192).contains(&input_width) || !(32..=8192).contains(&input_height) {
            return Err(err(format!(
                "implausible input size {input_width}x{input_height}"
            )));
        }

        let output_classes = graph.output.first().and_then(|o| {
            let dims = tensor_dims(o);
            // [1, 4 + classes, anchors], anchors being far more numerous than classes.
            match dims.as_slice() {
                [_, Some(a), Some(b)] => Some(a.min(b).saturating_sub(4) as usize),
                _ => None,
            }
        });
        let (labels, labels_from_metadata) = match metadata("names").and_then(parse_names) {
            Some(names) => (names, true),
            None => {
                let fallback = match output_classes {
                    Some(n) if n != 80 => (0..n).map(|i| format!("class {i}")).collect(),
                    _ => coco80(),
                };
                tracing::warn!(
                    model = %path.display(),
                    "the model has no usable `names` metadata; using {} built-in labels",
                    fallback.len()
                );
                (fallback, false)
            }
        };
        if let Some(n) = output_classes
            && n != labels.len()
        {
            return Err(err(format!(
                "the output has {n} classes but the model names {} labels",
                labels.len()
            )));
        }
        if labels.len() > usize::from(u16::MAX) {
            return Err(err(format!("too many classes ({})", labels.len())));
        }

        Ok(ModelInfo {
            path: path.to_path_buf(),
            labels,
            labels_from_metadata,
            input_name: input.name.clone(),
            input_width,
            input_height,
            description: metadata("description").map(str::to_owned),
        })
    }
}

/// Reads a model file whole: the backends load it from memory, so the file and the model
/// built into the program take the same path.
pub(crate) fn read_model_file(path: &Path) -> Result<Vec<u8>, VisionError> {
    if !path.is_file() {
        return Err(VisionError::Model {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    std::fs::read(path).map_err(|e| VisionError::Model {
        path: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })
}

/// Parses an ONNX file into its protobuf form (weights included).
pub(crate) fn read_proto(path: &Path) -> Result<pb::ModelProto, VisionError> {
    parse_proto(path, &read_model_file(path)?)
}

/// Parses a model's bytes; `name` names it in errors.
pub(crate) fn parse_proto(name: &Path, bytes: &[u8]) -> Result<pb::ModelProto, VisionError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| VisionError::Model {
            path: name.to_path_buf(),
            reason: format!("not an ONNX model: {e:#}"),
        })
}

/// The dimensions of a tensor value, `None` for symbolic or missing ones.
fn tensor_dims(value: &pb::ValueInfoProto) -> Vec<Option<u32>> {
    let Some(TypeValue::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Vec::new();
    };
    let Some(shape) = tensor.shape.as_ref() else {
        return Vec::new();
    };
    shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(DimValue::DimValue(v)) if v > 0 => u32::try_from(v).ok(),
            _ => None,
        })
        .collect()
}

/// Parses Ultralytics' `imgsz` metadata, `[640, 640]` (height, width) or `640`.
fn parse_imgsz(text: &str) -> Option<(u32, u32)> {
    let numbers: Vec<u32> = text
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')' || c == ' ')
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    match numbers.as_slice() {
        [s] => Some((*s, *s)),
        [h, w] => Some((*h, *w)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imgsz_forms() {
        assert_eq!(parse_imgsz("[640, 640]"), Some((640, 640)));
        assert_eq!(parse_imgsz("[480, 640]"), Some((480, 640)));
        assert_eq!(parse_imgsz("320"), Some((320, 320)));
        assert_eq!(parse_imgsz("[a, b]"), None);
        assert_eq!(parse_imgsz("[1, 2, 3]"), None);
    }

    #[test]
    fn a_missing_file_is_a_model_error() {
        let e = ModelInfo::read(Path::new("/nonexistent/model.onnx")).unwrap_err();
        assert!(matches!(e, VisionError::Model { .. }), "{e}");
    }
}
