//! Where PocketSphinx's library and the US-English model are, looked for where users have
//! them: the configured path, Debian's packages (`libpocketsphinx3`, `pocketsphinx-en-us`),
//! and for the model also a `pocketsphinx` Python package, which bundles one.

use std::path::{Path, PathBuf};

/// The library's file name: the 0.8 ("5prealpha") API this crate declares. Later
/// PocketSphinx releases (5.x) changed the API and the file name.
pub const LIBRARY_NAME: &str = "libpocketsphinx.so.3";

/// What installs the library and the model on Debian and Ubuntu.
pub const INSTALL_HINT: &str = "apt-get install libpocketsphinx3 pocketsphinx-en-us";

/// System folders where a packaged PocketSphinx puts its library.
const LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/lib64",
];

/// Folders where a packaged model lives (each holds `en-us/` and `cmudict-en-us.dict`).
const MODEL_DIRS: &[&str] = &[
    "/usr/share/pocketsphinx/model/en-us",
    "/usr/local/share/pocketsphinx/model/en-us",
];

/// The acoustic model's folder name inside a model folder.
const ACOUSTIC_DIR: &str = "en-us";
/// The pronunciation dictionary's file name inside a model folder.
const DICTIONARY_FILE: &str = "cmudict-en-us.dict";

/// Where the library was found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryChoice {
    /// The library file (for `loader`, its bare name).
    pub path: PathBuf,
    /// `configured`, `library directory`, or `loader` (the bare name, left to the dynamic
    /// loader's search path).
    pub found_by: &'static str,
}

/// The model's files, and how they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// The acoustic model's folder (`mdef`, `means`, …).
    pub acoustic: PathBuf,
    /// The pronunciation dictionary.
    pub dictionary: PathBuf,
    /// `configured`, `system folder` or `python3 package`.
    pub found_by: &'static str,
}

impl ModelChoice {
    /// The folder holding both files.
    pub fn folder(&self) -> &Path {
        self.acoustic.parent().unwrap_or(&self.acoustic)
    }
}

/// Where the library is: `configured` (a file, or a folder holding [`LIBRARY_NAME`]), else
/// [`LIBRARY_NAME`] in the system's library folders, else the bare name for the loader's
/// search path.
pub fn locate_library(configured: Option<&Path>) -> LibraryChoice {
    if let Some(path) = configured {
        let path = if path.is_dir() {
            path.join(LIBRARY_NAME)
        } else {
            path.to_path_buf()
        };
        return LibraryChoice {
            path,
            found_by: "configured",
        };
    }
    if let Some(path) = LIBRARY_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(LIBRARY_NAME))
        .find(|p| p.is_file())
    {
        return LibraryChoice {
            path,
            found_by: "library directory",
        };
    }
    LibraryChoice {
        path: PathBuf::from(LIBRARY_NAME),
        found_by: "loader",
    }
}

/// Where the model is: `configured` (a folder holding `en-us/` and `cmudict-en-us.dict`),
/// else Debian's `pocketsphinx-en-us` folder, else the model inside a `pocketsphinx`
/// package on the `sys.path` of the `python3` on `PATH`. The error says where it looked.
pub fn locate_model(configured: Option<&Path>) -> Result<ModelChoice, String> {
    if let Some(dir) = configured {
        return checked_model(dir, "configured")
            .map_err(|why| format!("no usable speech model in {}: {why}", dir.display()));
    }
    if let Some(found) = MODEL_DIRS
        .iter()
        .find_map(|dir| model_in(Path::new(dir), "system folder"))
    {
        return Ok(found);
    }
    let paths = python_paths();
    if let Some(found) = python_package_model(&paths) {
        return Ok(found);
    }
    Err(format!(
        "no speech model in {} or in a pocketsphinx package of python3",
        MODEL_DIRS.join(" or ")
    ))
}

/// The model inside `dir`, when both of its parts are there and look whole.
fn model_in(dir: &Path, found_by: &'static str) -> Option<ModelChoice> {
    checked_model(dir, found_by).ok()
}

/// Files of an acoustic model PocketSphinx reads at start.
const ACOUSTIC_FILES: &[&str] = &[
    "mdef",
    "means",
    "variances",
    "transition_matrices",
    "noisedict",
];

/// The model inside `dir`, or what is wrong with it.
///
/// PocketSphinx's loaders end the whole process on a file they cannot parse (its fatal
/// errors call `exit`), so what can be checked cheaply is checked here, before any file
/// reaches it: every file is there, the mixture weights in one of their two forms, and the
/// model definition starts as one does (binary `BMDF`, or text version `0.3`).
fn checked_model(dir: &Path, found_by: &'static str) -> Result<ModelChoice, String> {
    let acoustic = dir.join(ACOUSTIC_DIR);
    let dictionary = dir.join(DICTIONARY_FILE);
    let missing: Vec<&str> = ACOUSTIC_FILES
        .iter()
        .copied()
        .filter(|f| !acoustic.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no {} in {}",
            missing.join(", "),
            acoustic.display()
        ));
    }
    if !acoustic.join("sendump").is_file() && !acoustic.join("mixture_weights").is_file() {
        return Err(format!(
            "no sendump or mixture_weights in {}",
            acoustic.display()
        ));
    }
    let mut head = [0u8; 4];
    let read = std::fs::File::open(acoustic.join("mdef"))
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| format!("cannot read {}: {e}", acoustic.join("mdef").display()))?;
    if !(head[..read] == *b"BMDF" || head[..read.min(3)] == *b"0.3") {
        return Err(format!(
            "{} is not a PocketSphinx model definition",
            acoustic.join("mdef").display()
        ));
    }
    match std::fs::metadata(&dictionary) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        _ => return Err(format!("no dictionary {}", dictionary.display())),
    }
    Ok(ModelChoice {
        acoustic,
        dictionary,
        found_by,
    })
}

/// The model bundled in a `pocketsphinx` package in one of `paths` (a Python `sys.path`).
fn python_package_model(paths: &[PathBuf]) -> Option<ModelChoice> {
    paths.iter().find_map(|dir| {
        model_in(
            &dir.join("pocketsphinx").join("model").join("en-us"),
            "python3 package",
        )
    })
}

/// The `sys.path` of the `python3` on `PATH` (empty without one). Only the interpreter
/// starts; no package is imported. `-P` keeps the working directory off the path, and
/// relative entries are dropped, so nothing lying in the server's working directory is
/// taken.
fn python_paths() -> Vec<PathBuf> {
    let out = std::process::Command::new("python3")
        .args(["-P", "-c", "import sys\nfor p in sys.path:\n    print(p)"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_model(dir: &Path) {
        std::fs::create_dir_all(dir.join("en-us")).unwrap();
        for file in ACOUSTIC_FILES.iter().chain(&["sendump"]) {
            std::fs::write(dir.join("en-us").join(file), b"BMDF").unwrap();
        }
        std::fs::write(dir.join("cmudict-en-us.dict"), b"phone F OW N\n").unwrap();
    }

    #[test]
    fn a_model_with_a_file_missing_or_not_a_model_is_refused_before_pocketsphinx_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        fake_model(dir.path());
        assert!(locate_model(Some(dir.path())).is_ok());
        std::fs::write(dir.path().join("en-us").join("mdef"), b"not a model").unwrap();
        let err = locate_model(Some(dir.path())).unwrap_err();
        assert!(err.contains("not a PocketSphinx model definition"), "{err}");
        std::fs::write(dir.path().join("en-us").join("mdef"), b"0.3\n").unwrap();
        assert!(locate_model(Some(dir.path())).is_ok());
        std::fs::remove_file(dir.path().join("en-us").join("means")).unwrap();
        let err = locate_model(Some(dir.path())).unwrap_err();
        assert!(err.contains("no means"), "{err}");
        fake_model(dir.path());
        std::fs::remove_file(dir.path().join("en-us").join("sendump")).unwrap();
        assert!(
            locate_model(Some(dir.path()))
                .unwrap_err()
                .contains("sendump")
        );
        fake_model(dir.path());
        std::fs::write(dir.path().join("cmudict-en-us.dict"), b"").unwrap();
        assert!(
            locate_model(Some(dir.path()))
                .unwrap_err()
                .contains("dictionary")
        );
    }

    #[test]
    fn a_configured_model_folder_is_taken_or_refused_with_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate_model(Some(dir.path())).unwrap_err();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        fake_model(dir.path());
        let found = locate_model(Some(dir.path())).unwrap();
        assert_eq!(found.found_by, "configured");
        assert_eq!(found.acoustic, dir.path().join("en-us"));
        assert_eq!(found.dictionary, dir.path().join("cmudict-en-us.dict"));
        assert_eq!(found.folder(), dir.path());
    }

    #[test]
    fn a_python_package_model_is_found_on_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        fake_model(&site.join("pocketsphinx").join("model").join("en-us"));
        let paths = vec![dir.path().join("elsewhere"), site.clone()];
        let found = python_package_model(&paths).unwrap();
        assert_eq!(found.found_by, "python3 package");
        assert!(found.acoustic.starts_with(&site));
        assert_eq!(python_package_model(&paths[..1]), None);
    }

    #[test]
    fn a_configured_library_folder_stands_for_the_library_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let choice = locate_library(Some(dir.path()));
        assert_eq!(choice.path, dir.path().join(LIBRARY_NAME));
        assert_eq!(choice.found_by, "configured");
        let file = dir.path().join("libpocketsphinx.so.3.0.0");
        assert_eq!(locate_library(Some(&file)).path, file);
    }
}
