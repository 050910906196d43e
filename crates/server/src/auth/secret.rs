//! The token-signing secret: random on first start, kept in the data directory so tokens
//! stay valid across restarts.

use base64::Engine;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

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
}
