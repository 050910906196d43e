//! Kernelspec resources: the logos (`logo-*`), `kernel.js` and `kernel.css` in a kernelspec's
//! folder, listed in `/api/kernelspecs` and served at `/kernelspecs/{name}/{file}` as Jupyter
//! Server does, so a Jupyter Server in front (gateway mode) shows the kernels' logos.
//!
//! Only what the listing names is ever served: the folders are read once at start, and a
//! request names a file of that list or gets 404, so no path from a request reaches the file
//! system. Symbolic links and files past [`MAX_RESOURCE_BYTES`] are left out.

use crate::services::compute::ComputeError;
use crate::services::compute::error::printable;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use switchboard_kernel::KernelSpecs;

/// The largest resource file served (logos are a few KB).
pub const MAX_RESOURCE_BYTES: u64 = 1024 * 1024;

/// One resource file.
#[derive(Debug, Clone)]
struct Resource {
    /// The key Jupyter Server lists it under: the file name without extension for a logo
    /// (`logo-64x64`), the file name for `kernel.js` and `kernel.css`.
    key: String,
    path: PathBuf,
}

/// A resource's content, read for an answer.
#[derive(Debug)]
pub struct ResourceFile {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// Every kernelspec's resources, by kernelspec and file name.
#[derive(Debug, Default)]
pub struct SpecResources {
    by_spec: HashMap<String, BTreeMap<String, Resource>>,
}

impl SpecResources {
    /// Reads the folders of `specs` (once, at start).
    pub fn find(specs: &KernelSpecs) -> SpecResources {
        let by_spec = specs
            .iter()
            .map(|spec| {
                let files = spec
                    .resource_dir
                    .as_deref()
                    .map(resources_in)
                    .unwrap_or_default();
                (spec.name.clone(), files)
            })
            .collect();
        SpecResources { by_spec }
    }

    /// The listing of kernelspec `spec`: key → URL path, as Jupyter Server answers.
    pub fn listing(&self, spec: &str) -> BTreeMap<String, String> {
        self.by_spec
            .get(spec)
            .map(|files| {
                files
                    .iter()
                    .map(|(file, r)| (r.key.clone(), format!("/kernelspecs/{spec}/{file}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The content of `spec`'s resource `file`, when the listing names it.
    pub async fn read(&self, spec: &str, file: &str) -> Result<ResourceFile, ComputeError> {
        let not_found = || ComputeError::ResourceNotFound {
            spec: printable(spec),
            file: printable(file),
        };
        let resource = self
            .by_spec
            .get(spec)
            .and_then(|files| files.get(file))
            .ok_or_else(not_found)?;
        let bytes = tokio::fs::read(&resource.path).await.map_err(|e| {
            tracing::warn!(path = %resource.path.display(), error = %e, "cannot read a kernelspec resource");
            not_found()
        })?;
        if bytes.len() as u64 > MAX_RESOURCE_BYTES {
            tracing::warn!(path = %resource.path.display(), "a kernelspec resource grew past its limit");
            return Err(not_found());
        }
        Ok(ResourceFile {
            bytes,
            content_type: content_type(file),
        })
    }
}

/// The resources in one kernelspec folder, by file name.
fn resources_in(dir: &Path) -> BTreeMap<String, Resource> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    let mut found = BTreeMap::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(key) = resource_key(&name) else {
            continue;
        };
        // `DirEntry::metadata` does not follow links: a link is no regular file here.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_RESOURCE_BYTES {
            tracing::debug!(file = %entry.path().display(), "kernelspec resource left out");
            continue;
        }
        found.insert(
            name,
            Resource {
                key,
                path: entry.path(),
            },
        );
    }
    found
}

/// The key of a resource file, or `None` for a file that is not one.
fn resource_key(name: &str) -> Option<String> {
    let safe = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !safe {
        return None;
    }
    if name == "kernel.js" || name == "kernel.css" {
        return Some(name.to_owned());
    }
    name.starts_with("logo-").then(|| {
        name.rsplit_once('.')
            .map_or(name, |(stem, _)| stem)
            .to_owned()
    })
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_kernel::{InterruptMode, KernelSpec};

    fn spec_in(dir: &Path) -> KernelSpecs {
        let mut specs = KernelSpecs::default();
        specs.insert(KernelSpec {
            name: "python3".into(),
            display_name: "Python 3".into(),
            language: "python".into(),
            argv: vec!["python3".into()],
            env: BTreeMap::new(),
            interrupt_mode: InterruptMode::Signal,
            metadata: serde_json::Map::new(),
            resource_dir: Some(dir.to_path_buf()),
            runtime_paths: Vec::new(),
        });
        specs
    }

    #[tokio::test]
    async fn logos_and_kernel_js_are_listed_and_served_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("logo-64x64.png"), b"\x89PNG").unwrap();
        std::fs::write(d.join("logo-svg.svg"), b"<svg/>").unwrap();
        std::fs::write(d.join("kernel.js"), b"// js").unwrap();
        std::fs::write(d.join("kernel.json"), b"{}").unwrap();
        std::fs::write(d.join(".logo-hidden.png"), b"x").unwrap();
        std::fs::write(
            d.join("logo-huge.png"),
            vec![0; MAX_RESOURCE_BYTES as usize + 1],
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("logo-link.png")).unwrap();
        let resources = SpecResources::find(&spec_in(d));
        let listing = resources.listing("python3");
        assert_eq!(
            listing,
            BTreeMap::from([
                ("kernel.js".into(), "/kernelspecs/python3/kernel.js".into()),
                (
                    "logo-64x64".into(),
                    "/kernelspecs/python3/logo-64x64.png".into()
                ),
                (
                    "logo-svg".into(),
                    "/kernelspecs/python3/logo-svg.svg".into()
                ),
            ])
        );
        let logo = resources.read("python3", "logo-64x64.png").await.unwrap();
        assert_eq!(logo.bytes, b"\x89PNG");
        assert_eq!(logo.content_type, "image/png");
        assert_eq!(
            resources
                .read("python3", "logo-svg.svg")
                .await
                .unwrap()
                .content_type,
            "image/svg+xml"
        );
        for absent in [
            "kernel.json",
            "logo-link.png",
            "logo-huge.png",
            ".logo-hidden.png",
            "../kernel.json",
            "logo-64x64.png/..",
        ] {
            assert!(resources.read("python3", absent).await.is_err(), "{absent}");
        }
        assert!(resources.read("bash", "logo-64x64.png").await.is_err());
        assert!(resources.listing("bash").is_empty());
    }
}
