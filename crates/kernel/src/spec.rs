//! Kernelspecs: what kernels exist and how to start them, found the way Jupyter finds them.
//!
//! Search order (the first folder holding a name wins): each entry of `JUPYTER_PATH`, the
//! user data folder (`JUPYTER_DATA_DIR`, else `$XDG_DATA_HOME/jupyter`, else
//! `~/.local/share/jupyter`), `share/jupyter` under the `sys.prefix` of `python3`, then
//! `/usr/local/share/jupyter` and `/usr/share/jupyter`; each with a `kernels/` folder of
//! `<name>/kernel.json`. When ipykernel is importable and no `python3` spec was found, a
//! built-in `python3` spec runs `python3 -m ipykernel_launcher -f {connection_file}`.
//!
//! As in `jupyter_client`, an `argv[0]` of `python`, `python3` or `python3.X` means the
//! probed interpreter's real executable, and Python specs record the interpreter's
//! installation folders so the sandbox can let the kernel read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{KernelError, Result};

/// How a kernel wants to be interrupted (the kernelspec's `interrupt_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterruptMode {
    /// `SIGINT` to the kernel's process group.
    #[default]
    Signal,
    /// An `interrupt_request` on the control channel.
    Message,
}

/// One kernel type that can be launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelSpec {
    /// The spec's name, e.g. `python3` (the folder name, lower case).
    pub name: String,
    /// The name shown to people, e.g. `Python 3 (ipykernel)`.
    pub display_name: String,
    /// The language, e.g. `python`.
    pub language: String,
    /// The command; `{connection_file}` is replaced by the connection file's path.
    pub argv: Vec<String>,
    /// Environment variables for the kernel.
    pub env: BTreeMap<String, String>,
    /// How to interrupt it.
    pub interrupt_mode: InterruptMode,
    /// The spec's free-form metadata.
    pub metadata: Map<String, Value>,
    /// The folder holding `kernel.json` and logos, if the spec came from disk.
    pub resource_dir: Option<PathBuf>,
    /// Folders (or files) the kernel must be able to read: its interpreter's installation.
    /// The sandbox grants read access to them.
    pub runtime_paths: Vec<PathBuf>,
}

impl KernelSpec {
    /// `argv` with `{connection_file}` (and `{resource_dir}`) filled in.
    pub fn command(&self, connection_file: &Path) -> Vec<String> {
        let resource_dir = self
            .resource_dir
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.argv
            .iter()
            .map(|arg| {
                arg.replace("{connection_file}", &connection_file.display().to_string())
                    .replace("{resource_dir}", &resource_dir)
            })
            .collect()
    }
}

/// What a Python interpreter told us about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `sys.executable`: the real interpreter, not a shim.
    pub executable: PathBuf,
    /// `sys.prefix`.
    pub prefix: PathBuf,
    /// `sys.base_prefix`.
    pub base_prefix: PathBuf,
    /// `sys.exec_prefix`.
    pub exec_prefix: PathBuf,
    /// `sys.path` entries.
    pub path: Vec<PathBuf>,
    /// Whether `ipykernel` is importable.
    pub ipykernel: bool,
    /// `sys.version`, first word.
    pub version: String,
}

const PROBE: &str = "import sys, json, importlib.util\n\
print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix, \
'base_prefix': sys.base_prefix, 'exec_prefix': sys.exec_prefix, \
'path': [p for p in sys.path if p], \
'ipykernel': importlib.util.find_spec('ipykernel') is not None, \
'version': sys.version.split()[0]}))";

impl PythonInfo {
    /// Runs `program -c …` (with a 20 s deadline) and parses what it prints. `Ok(None)` if
    /// the program does not exist.
    pub async fn probe(program: &str) -> Result<Option<PythonInfo>> {
        let run = tokio::process::Command::new(program)
            .arg("-c")
            .arg(PROBE)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(Duration::from_secs(20), run).await {
            Err(_) => {
                return Err(KernelError::Timeout {
                    what: "the python3 probe",
                    after: Duration::from_secs(20),
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Ok(Err(e)) => return Err(KernelError::io(format!("running {program}"), e)),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            tracing::warn!(
                program,
                stderr = %String::from_utf8_lossy(&output.stderr),
                "python probe failed"
            );
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| KernelError::Launch(format!("unexpected output from {program}: {e}")))
    }

    /// The folders and files this interpreter reads: its prefixes and `sys.path`.
    pub fn runtime_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.prefix.clone(),
            self.base_prefix.clone(),
            self.exec_prefix.clone(),
        ];
        if let Some(dir) = self.executable.parent() {
            paths.push(dir.to_path_buf());
        }
        paths.extend(self.path.iter().cloned());
        minimal_cover(paths.into_iter().filter(|p| p.exists()).collect())
    }
}

/// The kernelspecs of this host, by name.
#[derive(Debug, Clone, Default)]
pub struct KernelSpecs {
    specs: BTreeMap<String, KernelSpec>,
    python: Option<PythonInfo>,
}

impl KernelSpecs {
    /// Finds kernelspecs the way Jupyter does, probing `python3` on `PATH`.
    pub async fn discover() -> Result<Self> {
        let python = PythonInfo::probe("python3").await?;
        Ok(Self::discover_in(&kernel_dirs(python.as_ref()), python))
    }

    /// Finds kernelspecs in the given `kernels/` folders (first one wins), with `python` as
    /// the interpreter behind `python`/`python3` argv and the built-in spec.
    pub fn discover_in(dirs: &[PathBuf], python: Option<PythonInfo>) -> Self {
        let mut specs = BTreeMap::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let Some(name) = entry.file_name().to_str().map(str::to_lowercase) else {
                    continue;
                };
                if !valid_name(&name) || specs.contains_key(&name) {
                    continue;
                }
                match load_spec(&entry.path(), &name, python.as_ref()) {
                    Ok(Some(spec)) => {
                        specs.insert(name, spec);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "skipping kernelspec"),
                }
            }
        }
        if let Some(info) = python.as_ref().filter(|p| p.ipykernel) {
            specs
                .entry("python3".to_owned())
                .or_insert_with(|| builtin_python3(info));
        }
        KernelSpecs { specs, python }
    }

    /// The spec called `name`.
    pub fn get(&self, name: &str) -> Result<&KernelSpec> {
        self.specs
            .get(&name.to_lowercase())
            .ok_or_else(|| KernelError::NoSuchSpec {
                name: name.to_owned(),
                available: self.names(),
            })
    }

    /// All names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.specs.keys().cloned().collect()
    }

    /// All specs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &KernelSpec> {
        self.specs.values()
    }

    /// The default spec's name: `python3` if present, else the first one.
    pub fn default_name(&self) -> Option<&str> {
        if self.specs.contains_key("python3") {
            Some("python3")
        } else {
            self.specs.keys().next().map(String::as_str)
        }
    }

    /// Adds (or replaces) a spec.
    pub fn insert(&mut self, spec: KernelSpec) {
        self.specs.insert(spec.name.clone(), spec);
    }

    /// The interpreter `python3` resolved to, if any.
    pub fn python(&self) -> Option<&PythonInfo> {
        self.python.as_ref()
    }
}

/// The `kernels/` folders Jupyter searches, in order of precedence.
pub fn kernel_dirs(python: Option<&PythonInfo>) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("JUPYTER_PATH") {
        roots.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
        roots.push(PathBuf::from(dir));
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        roots.push(PathBuf::from(dir).join("jupyter"));
    } else if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".local/share/jupyter"));
    }
    if let Some(info) = python {
        roots.push(info.prefix.join("share/jupyter"));
    }
    roots.push(PathBuf::from("/usr/local/share/jupyter"));
    roots.push(PathBuf::from("/usr/share/jupyter"));
    let mut seen = std::collections::HashSet::new();
    roots
        .into_iter()
        .map(|r| r.join("kernels"))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

fn builtin_python3(info: &PythonInfo) -> KernelSpec {
    KernelSpec {
        name: "python3".into(),
        display_name: "Python 3 (ipykernel)".into(),
        language: "python".into(),
        argv: vec![
            info.executable.display().to_string(),
            "-m".into(),
            "ipykernel_launcher".into(),
            "-f".into(),
            "{connection_file}".into(),
        ],
        env: BTreeMap::new(),
        interrupt_mode: InterruptMode::Signal,
        metadata: Map::new(),
        resource_dir: None,
        runtime_paths: info.runtime_paths(),
    }
}

fn is_python_alias(arg: &str) -> bool {
    arg == "python"
        || arg == "python3"
        || arg
            .strip_prefix("python3.")
            .is_some_and(|minor| !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit()))
}

/// Reads `<dir>/kernel.json`. `Ok(None)` when there is no such file.
fn load_spec(dir: &Path, name: &str, python: Option<&PythonInfo>) -> Result<Option<KernelSpec>> {
    let file = dir.join("kernel.json");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KernelError::io(format!("reading {}", file.display()), e)),
    };
    let raw: jupyter_protocol::JupyterKernelspec =
        serde_json::from_str(&text).map_err(|e| KernelError::InvalidSpec {
            path: file.clone(),
            reason: e.to_string(),
        })?;
    let mut argv = raw.argv;
    if argv.is_empty() {
        return Err(KernelError::InvalidSpec {
            path: file,
            reason: "argv is empty".into(),
        });
    }
    let interrupt_mode = match raw.interrupt_mode.as_deref() {
        None | Some("signal") => InterruptMode::Signal,
        Some("message") => InterruptMode::Message,
        Some(other) => {
            return Err(KernelError::InvalidSpec {
                path: file,
                reason: format!("unknown interrupt_mode {other:?}"),
            });
        }
    };
    let mut runtime_paths = vec![dir.to_path_buf()];
    if is_python_alias(&argv[0]) {
        match python {
            Some(info) => {
                argv[0] = info.executable.display().to_string();
                runtime_paths.extend(info.runtime_paths());
            }
            None => {
                return Err(KernelError::InvalidSpec {
                    path: file,
                    reason: "argv[0] is python but no python3 was found on PATH".into(),
                });
            }
        }
    } else if let Some(install) = Path::new(&argv[0]).parent().and_then(Path::parent)
        && install.is_absolute()
        && install != Path::new("/")
    {
        runtime_paths.push(install.to_path_buf());
    }
    Ok(Some(KernelSpec {
        name: name.to_owned(),
        display_name: raw.display_name,
        language: raw.language,
        argv,
        env: raw.env.unwrap_or_default().into_iter().collect(),
        interrupt_mode,
        metadata: raw
            .metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        resource_dir: Some(dir.to_path_buf()),
        runtime_paths: minimal_cover(runtime_paths),
    }))
}

/// Sorts, dedups and drops paths that lie under another path of the list.
pub(crate) fn minimal_cover(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fake_python() -> PythonInfo {
        PythonInfo {
            executable: "/opt/py/bin/python3.11".into(),
            prefix: "/opt/py".into(),
            base_prefix: "/opt/py".into(),
            exec_prefix: "/opt/py".into(),
            path: vec!["/opt/py/lib/python3.11".into()],
            ipykernel: true,
            version: "3.11.7".into(),
        }
    }

    #[test]
    fn first_folder_wins_and_python_alias_is_resolved() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (root, display) in [(&a, "A"), (&b, "B")] {
            let dir = root.path().join("Python3");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("kernel.json"),
                format!(
                    r#"{{"argv":["python","-m","ipykernel_launcher","-f","{{connection_file}}"],
                        "display_name":"{display}","language":"python","metadata":{{"x":1}}}}"#
                ),
            )
            .unwrap();
        }
        let other = b.path().join("bash");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("kernel.json"),
            r#"{"argv":["/usr/bin/bash-kernel","{connection_file}"],"display_name":"Bash",
                "language":"bash","interrupt_mode":"message","env":{"A":"1"}}"#,
        )
        .unwrap();
        let broken = b.path().join("broken");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("kernel.json"), "{not json").unwrap();

        let specs = KernelSpecs::discover_in(
            &[a.path().to_path_buf(), b.path().to_path_buf()],
            Some(fake_python()),
        );
        assert_eq!(specs.names(), vec!["bash", "python3"]);
        let py = specs.get("PYTHON3").unwrap();
        assert_eq!(py.display_name, "A");
        assert_eq!(py.argv[0], "/opt/py/bin/python3.11");
        assert!(py.runtime_paths.contains(&a.path().join("Python3")));
        assert_eq!(
            py.command(Path::new("/k/c.json")),
            vec![
                "/opt/py/bin/python3.11",
                "-m",
                "ipykernel_launcher",
                "-f",
                "/k/c.json"
            ]
        );
        let bash = specs.get("bash").unwrap();
        assert_eq!(bash.interrupt_mode, InterruptMode::Message);
        assert_eq!(bash.env.get("A").map(String::as_str), Some("1"));
        assert!(matches!(
            specs.get("nope"),
            Err(KernelError::NoSuchSpec { .. })
        ));
    }

    #[test]
    fn builtin_python3_when_none_on_disk() {
        let specs = KernelSpecs::discover_in(&[], Some(fake_python()));
        let spec = specs.get("python3").unwrap();
        assert_eq!(spec.argv[1..3], ["-m", "ipykernel_launcher"]);
        let mut no_ipykernel = fake_python();
        no_ipykernel.ipykernel = false;
        assert!(
            KernelSpecs::discover_in(&[], Some(no_ipykernel))
                .names()
                .is_empty()
        );
    }

    #[test]
    fn minimal_cover_drops_nested_paths() {
        let cover = minimal_cover(vec![
            "/a/b".into(),
            "/a".into(),
            "/c".into(),
            "/a/b/c".into(),
            "/c".into(),
        ]);
        assert_eq!(cover, vec![PathBuf::from("/a"), PathBuf::from("/c")]);
    }
}
