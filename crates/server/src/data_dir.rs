//! The data directory holds the node's secrets (the token secret, the self-signed TLS key)
//! and records (the SQLite database, CDR files): it is this user's alone.
//!
//! A missing directory is made with mode 0700. An existing one that others may enter (an
//! older release made it 0755) is tightened to 0700 with a warning: nothing of the node's
//! belongs to other users, and a directory they cannot enter hides every file in it whatever
//! the files' own modes. If it cannot be tightened (another owner), the node still starts and
//! says so, since the operator may have meant it (a group-shared folder). Files the node
//! creates in it are 0600 (`jwt-secret`, CDR files, the TLS key, and the SQLite database,
//! whose `-wal` and `-shm` take its mode).

use std::path::Path;

/// Creates `dir` (0700) or tightens an existing one to 0700; see the module's documentation.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::warn!(
                    path = %dir.display(),
                    from = format!("{mode:o}"),
                    "the data directory was open to other users; tightened it to 700"
                ),
                Err(e) => tracing::warn!(
                    path = %dir.display(),
                    mode = format!("{mode:o}"),
                    error = %e,
                    "the data directory is open to other users and cannot be tightened: \
                     its secrets may be readable by them (chmod 700 it)"
                ),
            }
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_is_private_and_an_open_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        prepare(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
    }
}
