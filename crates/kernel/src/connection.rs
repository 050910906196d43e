//! The kernel's private folder and its Jupyter connection file.
//!
//! Layout of `<runtime_dir>/<kernel id>/` (mode 0700, owned by the kernel's user):
//! `connection.json` (0600; IPC transport, random HMAC-SHA256 key), the five IPC sockets
//! `ipc-1` … `ipc-5` that the kernel binds, `home/` (the kernel's working directory and
//! `HOME`) and `tmp/` (`TMPDIR`). With a size limit the folder is a tmpfs of that size
//! mounted on the host side, so the server reads and connects to what the kernel writes at
//! the same paths as without one, and a full folder fails the kernel's writes with
//! `ENOSPC`. The folder is unmounted and removed when the kernel is dropped.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use jupyter_protocol::ConnectionInfo;
use jupyter_protocol::connection_info::Transport;

use crate::error::{KernelError, Result};
use crate::wire::random_key;

/// Longest Unix socket path Linux accepts (`sun_path` is 108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A kernel's private folder. Removed on drop.
#[derive(Debug)]
pub(crate) struct KernelDir {
    path: PathBuf,
    /// A size-limited tmpfs is mounted on the folder.
    mounted: bool,
}

impl KernelDir {
    /// Creates `<runtime_dir>/<id>/` with `home/` and `tmp/`, owned by `owner` (uid, gid)
    /// when given, as a tmpfs of `size_bytes` when given (root only). The runtime folder
    /// must exist (the launcher makes it, 0711).
    pub(crate) fn create(
        runtime_dir: &Path,
        id: &str,
        owner: Option<(u32, u32)>,
        size_bytes: Option<u64>,
    ) -> Result<Self> {
        let path = runtime_dir.join(id);
        let socket = path.join("ipc-5");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(KernelError::Launch(format!(
                "runtime dir {} is too long for Unix socket paths ({} bytes > {MAX_SOCKET_PATH}); \
                 choose a shorter one",
                runtime_dir.display(),
                socket.as_os_str().len()
            )));
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| KernelError::io(format!("creating {}", path.display()), e))?;
        let mut dir = KernelDir {
            path,
            mounted: false,
        };
        if let Some(bytes) = size_bytes {
            dir.mount_tmpfs(bytes, owner)?;
        }
        for sub in ["home", "tmp"] {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.path.join(sub))
                .map_err(|e| KernelError::io(format!("creating {sub} in kernel dir"), e))?;
        }
        if let Some((uid, gid)) = owner {
            for p in [dir.path.clone(), dir.home(), dir.tmp()] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                    .map_err(|e| KernelError::io(format!("chown {}", p.display()), e))?;
            }
        }
        Ok(dir)
    }

    fn mount_tmpfs(&mut self, bytes: u64, owner: Option<(u32, u32)>) -> Result<()> {
        use nix::mount::{MsFlags, mount};
        let (uid, gid) = owner.unwrap_or_else(|| {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        });
        // Inodes cost memory the size does not count: one per 4 KiB of the limit.
        let inodes = (bytes / 4096).max(1024);
        let options = format!("size={bytes},nr_inodes={inodes},mode=0700,uid={uid},gid={gid}");
        mount(
            Some("tmpfs"),
            &self.path,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options.as_str()),
        )
        .map_err(|e| {
            KernelError::io(
                format!(
                    "mounting the kernel folder's tmpfs on {}",
                    self.path.display()
                ),
                e.into(),
            )
        })?;
        self.mounted = true;
        Ok(())
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `home/`: working directory and `HOME` of the kernel.
    pub(crate) fn home(&self) -> PathBuf {
        self.path.join("home")
    }

    /// `tmp/`: the kernel's `TMPDIR`.
    pub(crate) fn tmp(&self) -> PathBuf {
        self.path.join("tmp")
    }

    /// `connection.json`.
    pub(crate) fn connection_file(&self) -> PathBuf {
        self.path.join("connection.json")
    }

    /// A fresh connection description: IPC sockets in this folder, a random key.
    pub(crate) fn new_connection_info(&self, kernel_name: &str) -> ConnectionInfo {
        ConnectionInfo {
            ip: self.path.join("ipc").display().to_string(),
            transport: Transport::IPC,
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key: random_key(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: Some(kernel_name.to_owned()),
        }
    }

    /// The socket files the kernel binds for `info`.
    pub(crate) fn socket_paths(info: &ConnectionInfo) -> Vec<PathBuf> {
        [
            info.shell_port,
            info.iopub_port,
            info.stdin_port,
            info.control_port,
            info.hb_port,
        ]
        .iter()
        .map(|port| PathBuf::from(format!("{}-{port}", info.ip)))
        .collect()
    }

    /// Writes `connection.json` (0600, owned by `owner`), removing stale sockets first.
    pub(crate) fn write_connection(
        &self,
        info: &ConnectionInfo,
        owner: Option<(u32, u32)>,
    ) -> Result<PathBuf> {
        for socket in Self::socket_paths(info) {
            let _ = fs::remove_file(socket);
        }
        let file = self.connection_file();
        let json = serde_json::to_vec_pretty(info)
            .map_err(|e| KernelError::Launch(format!("serializing connection info: {e}")))?;
        write_private(&file, &json, owner)?;
        Ok(file)
    }
}

impl Drop for KernelDir {
    fn drop(&mut self) {
        if self.mounted {
            unmount(&self.path);
        }
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), error = %e, "could not remove kernel dir");
        }
    }
}

/// Detaches a kernel folder's tmpfs (lazily: a process still holding a file in it keeps
/// its memory until it exits).
pub(crate) fn unmount(path: &Path) {
    if let Err(e) = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
        && e != nix::errno::Errno::EINVAL
    {
        tracing::warn!(dir = %path.display(), error = %e, "could not unmount a kernel folder");
    }
}

/// Writes `bytes` to a new file at `path` (mode 0600, owned by `owner`), replacing what was
/// there. The kernel can write in its folder, so the old entry is removed (never followed:
/// it could be a symlink planted to make the server overwrite another file) and the new
/// file is created exclusively, without following links, and changed through its handle.
pub(crate) fn write_private(path: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let context = |what: &str| format!("{what} {}", path.display());
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(KernelError::io(context("removing"), e)),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| KernelError::io(context("creating"), e))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| KernelError::io(context("chmod"), e))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| KernelError::io(context("chown"), e))?;
    }
    file.write_all(bytes)
        .map_err(|e| KernelError::io(context("writing"), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn private_folder_and_connection_file() {
        let root = tempfile::tempdir().unwrap();
        let runtime = root.path().join("rt");
        assert!(
            KernelDir::create(&runtime, "k1", None, None).is_err(),
            "no runtime dir"
        );
        fs::create_dir(&runtime).unwrap();
        let dir = KernelDir::create(&runtime, "k1", None, None).unwrap();
        assert_eq!(fs::metadata(dir.path()).unwrap().mode() & 0o777, 0o700);
        let info = dir.new_connection_info("python3");
        let other = dir.new_connection_info("python3");
        assert_ne!(info.key, other.key, "keys are random");
        assert_eq!(info.key.len(), 64);
        let file = dir.write_connection(&info, None).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        let back: ConnectionInfo = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(back, info);
        assert_eq!(
            info.shell_url(),
            format!("ipc://{}/ipc-1", dir.path().display())
        );
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let planted = root.path().join("connection.json");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_private(&planted, b"{}", None).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&planted).unwrap(), "{}");
        assert!(
            !fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn overlong_runtime_dir_is_refused() {
        let long = PathBuf::from("/tmp").join("x".repeat(100));
        assert!(matches!(
            KernelDir::create(&long, "k", None, None),
            Err(KernelError::Launch(_))
        ));
    }
}
