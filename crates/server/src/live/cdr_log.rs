//! CDRs as JSON Lines, one file a day (`<data_dir>/cdr/YYYY-MM-DD.jsonl`, by end date, UTC).
//! The database holds the authoritative copy; these files are for billing pipelines that
//! read plain files.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use switchboard_core::Cdr;

/// Appends CDR lines. One line per `append`, written with a single `write` call so
/// concurrent appends never interleave.
#[derive(Debug, Clone)]
pub struct CdrLog {
    dir: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl CdrLog {
    pub fn new(dir: PathBuf) -> Self {
        CdrLog {
            dir,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The file a CDR belongs in.
    pub fn path_for(&self, cdr: &Cdr) -> PathBuf {
        self.dir
            .join(format!("{}.jsonl", cdr.ended_at.format("%Y-%m-%d")))
    }

    /// Appends one CDR line.
    pub async fn append(&self, cdr: &Cdr) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(cdr)?;
        line.push(b'\n');
        let path = self.path_for(cdr);
        let dir = self.dir.clone();
        let lock = self.lock.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Billing records are the operator's alone: 0700 folder, 0600 files.
            let mut folder = std::fs::DirBuilder::new();
            folder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
            folder.create(&dir)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path)?;
            f.write_all(&line)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
