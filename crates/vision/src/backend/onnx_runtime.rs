//! The ONNX Runtime backend, loaded at run time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use super::{BackendKind, InferenceBackend, RawOutput};
use crate::{ModelInfo, VisionError};

/// The library name the dynamic loader searches for when nothing is configured.
const DEFAULT_LIBRARY: &str = "libonnxruntime.so";

/// ONNX Runtime allows one environment per process; it is created on first success and
/// shared by every session after that. A failed load leaves it empty, so a later call with
/// another library path can still succeed.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Where ONNX Runtime's library was found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryChoice {
    /// The library file (or, for `loader`, its bare name).
    pub path: PathBuf,
    /// `configured`, `ORT_DYLIB_PATH`, `library directory`, `python3 package` or `loader`
    /// (the bare name, left to the dynamic loader's search path).
    pub found_by: &'static str,
}

/// System folders where a packaged ONNX Runtime puts its library.
const LIBRARY_DIRS: &[&str] = &[
    "/usr/local/lib",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/opt/onnxruntime/lib",
];

/// Where ONNX Runtime's library is, looked for where users have it: `configured` if given,
/// else the `ORT_DYLIB_PATH` environment variable, else a `libonnxruntime.so*` in the
/// system's library folders, else the one inside an `onnxruntime` package of the `python3`
/// on `PATH` (`…/onnxruntime/capi/`), else the bare name for the loader's search path. A
/// directory stands for the first `libonnxruntime.so*` file inside it.
pub fn locate_library(configured: Option<&Path>) -> LibraryChoice {
    if let Some(path) = configured {
        return LibraryChoice {
            path: in_directory(path),
            found_by: "configured",
        };
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return LibraryChoice {
            path: in_directory(Path::new(&path)),
            found_by: "ORT_DYLIB_PATH",
        };
    }
    if let Some(path) = LIBRARY_DIRS
        .iter()
        .find_map(|dir| first_library(Path::new(dir)))
    {
        return LibraryChoice {
            path,
            found_by: "library directory",
        };
    }
    if let Some(path) = python_package_library(&python_paths()) {
        return LibraryChoice {
            path,
            found_by: "python3 package",
        };
    }
    LibraryChoice {
        path: PathBuf::from(DEFAULT_LIBRARY),
        found_by: "loader",
    }
}

/// `path`, or the first `libonnxruntime.so*` inside it when it is a folder.
fn in_directory(path: &Path) -> PathBuf {
    first_library(path).unwrap_or_else(|| path.to_path_buf())
}

/// The first `libonnxruntime.so*` file in `dir`, by name.
fn first_library(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut libs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    libs.sort();
    libs.into_iter().next()
}

/// The library inside an `onnxruntime` package in one of `paths` (a Python `sys.path`).
fn python_package_library(paths: &[PathBuf]) -> Option<PathBuf> {
    paths
        .iter()
        .find_map(|dir| first_library(&dir.join("onnxruntime").join("capi")))
}

/// The `sys.path` of the `python3` on `PATH` (empty without one). Only the interpreter
/// starts; no package is imported. `-P` (Python ≥ 3.11) keeps the working directory off the
/// path, and [`absolute_paths`] drops what is left relative, so a library lying in the
/// server's working directory is never loaded.
fn python_paths() -> Vec<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-P", "-c", "import sys\nfor p in sys.path:\n    print(p)"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => absolute_paths(&String::from_utf8_lossy(&out.stdout)),
        _ => Vec::new(),
    }
}

/// The absolute paths among `listing`'s lines (`""` and relative entries name the working
/// directory).
fn absolute_paths(listing: &str) -> Vec<PathBuf> {
    listing
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect()
}

/// Loads the library (once per process) and returns the shared environment.
fn environment(library: &Path) -> Result<Environment, VisionError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let env = ort::init_from(library)
        .map_err(|e| VisionError::BackendUnavailable(format!("ONNX Runtime: {e}")))?
        .with_name("switchboard-vision")
        .build()
        .map_err(|e| VisionError::BackendUnavailable(format!("ONNX Runtime: {e}")))?;
    *slot = Some(env.clone());
    Ok(env)
}

/// Runs models with ONNX Runtime.
///
/// One session serves every caller: ONNX Runtime already spreads one inference over
/// `threads` cores, so calls are serialized on the session while pool workers decode the
/// next pictures in parallel.
pub struct OnnxRuntimeBackend {
    session: Mutex<Session>,
}

impl OnnxRuntimeBackend {
    /// Loads ONNX Runtime from `library` (see [`locate_library`]) and the model (`info`
    /// describes `model`, the ONNX file's bytes) into a
    /// session using `threads` intra-op threads, which do not spin while idle (this is a
    /// server: idle detectors must not burn the cores the sessions need).
    ///
    /// Fails with [`VisionError::BackendUnavailable`] when the library cannot be loaded
    /// or is older than ONNX Runtime 1.17.
    pub fn load(
        info: &ModelInfo,
        model: &[u8],
        library: &Path,
        threads: usize,
    ) -> Result<OnnxRuntimeBackend, VisionError> {
        let env = environment(library)?;
        let model_err = |e: ort::Error| VisionError::Model {
            path: info.path.clone(),
            reason: format!("ONNX Runtime cannot load it: {e}"),
        };
        let session = Session::builder(&env)
            .map_err(model_err)?
            .with_intra_threads(threads.max(1))
            .map_err(|e| model_err(e.into()))?
            .with_inter_threads(1)
            .map_err(|e| model_err(e.into()))?
            .with_intra_op_spinning(false)
            .map_err(|e| model_err(e.into()))?
            .with_inter_op_spinning(false)
            .map_err(|e| model_err(e.into()))?
            .commit_from_memory(model)
            .map_err(model_err)?;
        Ok(OnnxRuntimeBackend {
            session: Mutex::new(session),
        })
    }
}

impl InferenceBackend for OnnxRuntimeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::OnnxRuntime
    }

    fn run(&self, input: &[f32], shape: [usize; 4]) -> Result<RawOutput, VisionError> {
        let err = |e: ort::Error| VisionError::Inference(e.to_string());
        let tensor = TensorRef::from_array_view((shape, input)).map_err(err)?;
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(ort::inputs![tensor]).map_err(err)?;
        if outputs.len() == 0 {
            return Err(VisionError::Output("the model has no output".into()));
        }
        let (out_shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(RawOutput {
            shape: out_shape
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(0))
                .collect(),
            data: data.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_package_library_is_found_and_folders_stand_for_their_library() {
        let dir = tempfile::tempdir().expect("dir");
        let capi = dir.path().join("site").join("onnxruntime").join("capi");
        std::fs::create_dir_all(&capi).expect("dirs");
        let lib = capi.join("libonnxruntime.so.1.31.1");
        std::fs::write(&lib, b"").expect("lib");
        let paths = vec![dir.path().join("elsewhere"), dir.path().join("site")];
        assert_eq!(python_package_library(&paths), Some(lib.clone()));
        assert_eq!(python_package_library(&paths[..1]), None);
        let configured = locate_library(Some(&capi));
        assert_eq!(configured.path, lib);
        assert_eq!(configured.found_by, "configured");
    }

    #[test]
    fn the_working_directory_is_never_searched_for_a_python_package() {
        assert_eq!(
            absolute_paths("\n.\nsite-packages\n/usr/lib/python3/dist-packages\n"),
            vec![PathBuf::from("/usr/lib/python3/dist-packages")]
        );
    }
}
