//! Namespaces (root only): an empty network namespace (no interface but a downed loopback),
//! and a private mount namespace in which folders the kernel's uid cannot traverse (a
//! Python installed under `/root`, a data dir under a 0700 home) are covered by an empty
//! tmpfs that holds only bind mounts of what the kernel needs. Nothing else under such a
//! folder is visible to the kernel at all.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

/// Namespaces to create in the helper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePlan {
    /// Give the kernel an empty network namespace.
    pub network: bool,
    /// Folders to cover, each with what to re-expose inside it.
    pub masks: Vec<MountMask>,
}

/// A folder covered by a tmpfs, and the paths under it that stay visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountMask {
    /// The covered folder.
    pub dir: PathBuf,
    /// Paths under `dir` bind-mounted back.
    pub expose: Vec<Exposure>,
}

/// A path bind-mounted back under a mask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The path.
    pub path: PathBuf,
    /// Writable (the kernel's folder) or read-only (everything else).
    pub writable: bool,
}

impl NamespacePlan {
    /// Plans masks so that `uid` (with a private gid) can reach every path of `read` and
    /// `read_write`: for each path, the topmost ancestor it cannot traverse is masked.
    pub fn plan(network: bool, uid: u32, read: &[PathBuf], read_write: &[PathBuf]) -> Self {
        let mut masks: Vec<MountMask> = Vec::new();
        let paths = read
            .iter()
            .map(|p| (p, false))
            .chain(read_write.iter().map(|p| (p, true)));
        for (path, writable) in paths {
            let Some(blocked) = topmost_untraversable(path, uid) else {
                continue;
            };
            let exposure = Exposure {
                path: path.clone(),
                writable,
            };
            match masks.iter_mut().find(|m| m.dir == blocked) {
                Some(mask) => mask.expose.push(exposure),
                None => masks.push(MountMask {
                    dir: blocked,
                    expose: vec![exposure],
                }),
            }
        }
        NamespacePlan { network, masks }
    }

    /// Creates the namespaces and mounts. Must run as root in a single-threaded process.
    pub fn apply(&self) -> Result<Vec<PathBuf>, String> {
        let mut flags = CloneFlags::CLONE_NEWNS;
        if self.network {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        unshare(flags).map_err(|e| format!("unshare: {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("making mounts private: {e}"))?;
        let mut exposed = Vec::new();
        for mask in &self.masks {
            mask.apply()?;
            exposed.extend(mask.expose.iter().map(|e| e.path.clone()));
        }
        Ok(exposed)
    }
}

impl MountMask {
    fn apply(&self) -> Result<(), String> {
        // Hold each exposed path open: it stays reachable through /proc/self/fd after the
        // tmpfs hides its original location.
        let held: Vec<(OwnedFd, &Exposure, bool)> = self
            .expose
            .iter()
            .map(|e| {
                let is_dir = e.path.is_dir();
                open(&e.path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .map(|fd| (fd, e, is_dir))
                    .map_err(|err| format!("opening {}: {err}", e.path.display()))
            })
            .collect::<Result<_, _>>()?;
        mount(
            Some("tmpfs"),
            &self.dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755,size=1m"),
        )
        .map_err(|e| format!("covering {}: {e}", self.dir.display()))?;
        for (fd, exposure, is_dir) in held {
            let target = &exposure.path;
            if is_dir {
                std::fs::create_dir_all(target)
                    .map_err(|e| format!("mkdir {}: {e}", target.display()))?;
            } else {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
                }
                std::fs::write(target, b"")
                    .map_err(|e| format!("touch {}: {e}", target.display()))?;
            }
            make_traversable(&self.dir, target);
            let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
            mount(
                Some(source.as_str()),
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| format!("exposing {}: {e}", target.display()))?;
            if !exposure.writable {
                mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(|e| format!("read-only {}: {e}", target.display()))?;
            }
        }
        Ok(())
    }
}

/// Gives 0755 to the tmpfs folders between `root` and `target`.
fn make_traversable(root: &Path, target: &Path) {
    for dir in target.ancestors().skip(1) {
        if !dir.starts_with(root) {
            break;
        }
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
}

/// The topmost strict ancestor of `path` that `uid` cannot traverse (`None`: all fine).
fn topmost_untraversable(path: &Path, uid: u32) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .filter(|a| *a != Path::new("/"))
        .find(|a| {
            std::fs::metadata(a).is_ok_and(|m| {
                let others_x = m.mode() & 0o001 != 0;
                let owner_x = m.uid() == uid && m.mode() & 0o100 != 0;
                !(others_x || owner_x)
            })
        })
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plans_a_mask_for_untraversable_ancestors_only() {
        let root = tempfile::tempdir().unwrap();
        let closed = root.path().join("closed");
        let inner = closed.join("deep/python");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let open_dir = root.path().join("open");
        std::fs::create_dir_all(&open_dir).unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

        let plan = NamespacePlan::plan(true, 1_999_999_999, &[inner.clone(), open_dir], &[]);
        assert_eq!(plan.masks.len(), 1);
        assert_eq!(plan.masks[0].dir, closed);
        assert_eq!(plan.masks[0].expose[0].path, inner);
        assert!(!plan.masks[0].expose[0].writable);
    }
}
