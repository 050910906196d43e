//! The token-signing secret: random on first start, kept in the data directory so tokens
//! stay valid across restarts.

use base64::Engine;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

/// The shortest secret accepted from a `token_secret_file`: HS256 wants at least its hash size.
const MIN_SECRET_BYTES: usize = 32;

/// Reads a secret shared by the nodes of a cluster (`token_secret_file`): base64 of at least
/// 32 bytes. Unlike [`load_or_create_secret`] it never creates the file, since nodes that each
/// made their own would refuse each other's tokens.
pub fn read_secret_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD;
    let invalid = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} {why}; make one with `head -c 64 /dev/urandom | base64 -w0 > {}`",
                path.display(),
                path.display()
            ),
        )
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let secret = engine
        .decode(text.trim())
        .map_err(|e| invalid(format!("is not base64 ({e})")))?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(invalid(format!(
            "holds {} bytes, fewer than {MIN_SECRET_BYTES}",
            secret.len()
        )));
    }
    Ok(secret)
}

/// Reads `<data_dir>/jwt-secret`, creating it (mode 0600) with 64 random bytes if missing.
pub fn load_or_create_secret(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    let engine = base64::engine::general_purpose::STANDARD;
    match std::fs::read_to_string(&path) {
        Ok(text) => engine.decode(text.trim()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is not base64 ({e}); delete it to make a new one",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; 64];
            rand::rng().fill_bytes(&mut secret);
            std::fs::create_dir_all(data_dir)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path)?;
            f.write_all(engine.encode(&secret).as_bytes())?;
            f.sync_all()?;
            Ok(secret)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_secret_persists() {
        let dir = tempfile::tempdir().unwrap();
        let a = super::load_or_create_secret(dir.path()).unwrap();
        let b = super::load_or_create_secret(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_shared_secret_file_must_exist_and_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared");
        assert!(super::read_secret_file(&path).is_err(), "missing");
        std::fs::write(&path, "c2hvcnQ=\n").unwrap();
        let err = super::read_secret_file(&path).unwrap_err();
        assert!(err.to_string().contains("fewer than 32"), "{err}");
        std::fs::write(&path, "not base64!").unwrap();
        assert!(super::read_secret_file(&path).is_err());
        let made = super::load_or_create_secret(dir.path()).unwrap();
        let shared = super::read_secret_file(&dir.path().join("jwt-secret")).unwrap();
        assert_eq!(made, shared);
    }
}
