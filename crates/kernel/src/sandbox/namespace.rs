//! Namespaces (root only): an empty network namespace (no interface but a downed loopback,
//! which also gives the kernel its own abstract Unix socket namespace), and a private mount
//! namespace whose root is a minimal filesystem view.
//!
//! The view is a fresh tmpfs holding read-only bind mounts of what the kernel needs (the
//! interpreter, `/usr`, `/lib*`, a few `/etc` files, its kernelspec), device nodes bound
//! one by one, a `/proc` of its own (other users' processes hidden), an empty `/tmp`, and
//! its own folder read-write, all at their host paths; the helper then `pivot_root`s into
//! it and detaches the host's tree. Nothing else of the host exists for the kernel: no
//! `/run` or `/var/run` (so no database, D-Bus or other service socket to connect to), no
//! host `/tmp`, no other kernel's folder. Bind mounts cost a few system calls each, nothing
//! is copied.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

/// Namespaces to create in the helper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePlan {
    /// Give the kernel an empty network namespace.
    pub network: bool,
    /// The kernel's filesystem view (`None`: the host's, in a private mount namespace).
    pub view: Option<FilesystemView>,
}

/// What the kernel's root holds, each at its host path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemView {
    /// Bound read-only (paths under `/proc` are served by the view's own `/proc`).
    pub read: Vec<PathBuf>,
    /// Bound read-write (the kernel's folder, `/dev/null`).
    pub read_write: Vec<PathBuf>,
}

/// Where the view's tmpfs is mounted while it is built: any folder does, since the mount is
/// private to the helper's namespace and every source is held open beforehand.
const STAGING: &str = "/tmp";

impl NamespacePlan {
    /// Creates the namespaces and enters the view. Must run as root in a single-threaded
    /// process. Returns the paths the view holds.
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
        match &self.view {
            Some(view) => view.enter(),
            None => Ok(Vec::new()),
        }
    }
}

/// A path to show in the view.
enum Entry {
    /// Bind-mounted from a handle opened before the staging tmpfs hid anything.
    Bind {
        path: PathBuf,
        source: OwnedFd,
        is_dir: bool,
        writable: bool,
    },
    /// A symbolic link recreated as it is (`/lib -> usr/lib`).
    Link { path: PathBuf, target: PathBuf },
}

impl FilesystemView {
    fn enter(&self) -> Result<Vec<PathBuf>, String> {
        let entries = self.entries()?;
        let root = Path::new(STAGING);
        mount(
            Some("tmpfs"),
            root,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755,size=1m,nr_inodes=4096"),
        )
        .map_err(|e| format!("mounting the kernel's root: {e}"))?;
        let mut shown = Vec::new();
        for entry in &entries {
            match entry {
                Entry::Link { path, target } => {
                    let at = inside(root, path);
                    make_parent(root, &at)?;
                    std::os::unix::fs::symlink(target, &at)
                        .map_err(|e| format!("linking {}: {e}", path.display()))?;
                    shown.push(path.clone());
                }
                Entry::Bind {
                    path,
                    source,
                    is_dir,
                    writable,
                } => {
                    bind(root, path, source, *is_dir, *writable)?;
                    shown.push(path.clone());
                }
            }
        }
        let proc_dir = root.join("proc");
        create_dir(&proc_dir)?;
        // Its own /proc: the host's would show other processes' command lines; hidepid=2
        // hides every process of another uid (each kernel has its own).
        mount(
            Some("proc"),
            &proc_dir,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("hidepid=2"),
        )
        .map_err(|e| format!("mounting /proc: {e}"))?;
        create_dir(&root.join("tmp"))?;
        mount(
            None::<&str>,
            root,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .map_err(|e| format!("making the kernel's root read-only: {e}"))?;
        nix::unistd::chdir(root).map_err(|e| format!("chdir to the kernel's root: {e}"))?;
        nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
        // The host's tree now sits under the new root: detach it, nothing of it stays
        // reachable.
        umount2(".", MntFlags::MNT_DETACH)
            .map_err(|e| format!("detaching the host's root: {e}"))?;
        nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
        Ok(shown)
    }

    /// The view's entries, parents before children, every bind source opened now.
    fn entries(&self) -> Result<Vec<Entry>, String> {
        let mut wanted: Vec<(PathBuf, bool)> = self
            .read
            .iter()
            .map(|p| (p.clone(), false))
            .chain(self.read_write.iter().map(|p| (p.clone(), true)))
            .filter(|(p, _)| p.is_absolute() && !p.starts_with("/proc"))
            .collect();
        // A link is recreated, and what it points to is bound unless already covered.
        let mut links = Vec::new();
        let mut i = 0;
        while i < wanted.len() {
            let (path, writable) = wanted[i].clone();
            let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
            if is_link {
                let target = std::fs::read_link(&path)
                    .map_err(|e| format!("reading link {}: {e}", path.display()))?;
                links.push((path.clone(), target));
                wanted.remove(i);
                if let Ok(real) = std::fs::canonicalize(&path)
                    && !wanted.iter().any(|(w, _)| real.starts_with(w))
                {
                    wanted.push((real, writable));
                }
                continue;
            }
            i += 1;
        }
        wanted.sort_by_key(|(p, _)| (p.components().count(), p.clone()));
        wanted.dedup_by(|a, b| a.0 == b.0);
        let mut entries: Vec<Entry> = links
            .into_iter()
            .map(|(path, target)| Entry::Link { path, target })
            .collect();
        for (path, writable) in wanted {
            let source = match open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) {
                Ok(fd) => fd,
                // Gone since the plan was made (e.g. an optional /etc file): skip it.
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(e) => return Err(format!("opening {}: {e}", path.display())),
            };
            entries.push(Entry::Bind {
                is_dir: path.is_dir(),
                path,
                source,
                writable,
            });
        }
        Ok(entries)
    }
}

/// `path` (absolute) inside `root`, without following anything.
fn inside(root: &Path, path: &Path) -> PathBuf {
    let mut at = root.to_path_buf();
    for part in path.components() {
        if let Component::Normal(name) = part {
            at.push(name);
        }
    }
    at
}

/// Bind-mounts `source` at `path` inside `root`, read-only unless `writable`.
fn bind(
    root: &Path,
    path: &Path,
    source: &OwnedFd,
    is_dir: bool,
    writable: bool,
) -> Result<(), String> {
    let target = inside(root, path);
    make_parent(root, &target)?;
    if is_dir {
        create_dir(&target)?;
    } else if !target.exists() {
        std::fs::write(&target, b"").map_err(|e| format!("touch {}: {e}", target.display()))?;
    }
    let from = format!("/proc/self/fd/{}", source.as_raw_fd());
    mount(
        Some(from.as_str()),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("binding {}: {e}", path.display()))?;
    if !writable {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID,
            None::<&str>,
        )
        .map_err(|e| format!("making {} read-only: {e}", path.display()))?;
    }
    Ok(())
}

/// Creates the folders above `target` inside `root`, each traversable by anyone (the
/// kernel's uid must reach what is bound below them).
fn make_parent(root: &Path, target: &Path) -> Result<(), String> {
    let Some(parent) = target.parent() else {
        return Ok(());
    };
    if parent.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    for dir in parent.ancestors() {
        if !dir.starts_with(root) || dir == root {
            break;
        }
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("mkdir {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_land_inside_the_root_whatever_they_contain() {
        let root = Path::new("/tmp");
        assert_eq!(
            inside(root, Path::new("/usr/lib/../lib")),
            Path::new("/tmp/usr/lib/lib")
        );
        assert_eq!(
            inside(root, Path::new("/etc/hosts")),
            Path::new("/tmp/etc/hosts")
        );
    }
}
