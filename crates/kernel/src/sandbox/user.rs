//! The user a kernel runs as: leasing a private uid, and becoming it in the helper.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
use serde::{Deserialize, Serialize};

use crate::error::{KernelError, Result};

/// A uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Identity {
    /// Drops every supplementary group and sets real, effective and saved ids; a root
    /// process loses all capabilities doing so.
    pub fn become_it(self) -> std::result::Result<(), String> {
        setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
        let gid = Gid::from_raw(self.gid);
        setresgid(gid, gid, gid).map_err(|e| format!("setresgid({}): {e}", self.gid))?;
        let uid = Uid::from_raw(self.uid);
        setresuid(uid, uid, uid).map_err(|e| format!("setresuid({}): {e}", self.uid))?;
        if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
            return Err("still root after setresuid".into());
        }
        Ok(())
    }
}

/// A uid leased to one kernel: an exclusive lock on `<lock_dir>/<uid>.lock`, held while the
/// lease lives and released by the OS if the server dies.
#[derive(Debug)]
pub(crate) struct UidLease {
    identity: Identity,
    _lock: File,
}

impl UidLease {
    /// Leases the first free uid of `first .. first + count`. Any process still running as
    /// that uid (left by a server that was killed) is killed first.
    pub(crate) fn acquire(first: u32, count: u32, lock_dir: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(lock_dir)
            .map_err(|e| KernelError::io(format!("creating {}", lock_dir.display()), e))?;
        for uid in first..first.saturating_add(count) {
            let path = lock_dir.join(format!("{uid}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| KernelError::io(format!("opening {}", path.display()), e))?;
            if file.try_lock().is_err() {
                continue;
            }
            let killed = crate::process_group::kill_uid(uid);
            if killed > 0 {
                tracing::warn!(uid, killed, "killed orphaned processes of a kernel uid");
            }
            return Ok(UidLease {
                identity: Identity { uid, gid: uid },
                _lock: file,
            });
        }
        Err(KernelError::Sandbox(format!(
            "all {count} kernel uids from {first} are in use; raise sandbox.run_as.count"
        )))
    }

    /// The leased identity (gid = uid).
    pub(crate) fn identity(&self) -> Identity {
        self.identity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn leases_are_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let base = 1_999_000_000;
        let a = UidLease::acquire(base, 2, dir.path()).unwrap();
        let b = UidLease::acquire(base, 2, dir.path()).unwrap();
        assert_ne!(a.identity().uid, b.identity().uid);
        assert!(UidLease::acquire(base, 2, dir.path()).is_err());
        let freed = a.identity().uid;
        drop(a);
        assert_eq!(
            UidLease::acquire(base, 2, dir.path())
                .unwrap()
                .identity()
                .uid,
            freed
        );
    }
}
