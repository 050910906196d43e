//! The spool: a folder of photos waiting to be uploaded, so nothing is lost while the server
//! is unreachable or the uploader restarts.
//!
//! A photo's file name carries its order and its `taken_at`:
//! `<unix milliseconds, 15 digits>-<counter, 6 digits>.jpg`. Names therefore sort oldest
//! first, and a restarted uploader knows when every photo was taken without any index file.
//! Files are written under a hidden temporary name and renamed into place, so a crash never
//! leaves half a photo under a real name.

use chrono::{DateTime, TimeZone, Utc};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// The folder inside the spool for photos the server refused for good (413, 415, 422).
pub const REJECTED_DIR: &str = "rejected";

/// A spool operation failed.
#[derive(Debug, Error)]
#[error("{action} {}: {source}", path.display())]
pub struct SpoolError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |source| SpoolError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// One photo in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Where the photo is.
    pub path: PathBuf,
    /// When it was taken (from its name).
    pub taken_at: DateTime<Utc>,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A folder of photos waiting for upload, bounded to `max_bytes`.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Distinguishes photos taken in the same millisecond; starts past the spool's highest.
    counter: AtomicU64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, removing temporary files a crash left.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir.join(REJECTED_DIR)).map_err(io_err("cannot create", dir))?;
        let mut highest = 0;
        for item in fs::read_dir(dir).map_err(io_err("cannot read", dir))? {
            let item = item.map_err(io_err("cannot read", dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") {
                let path = item.path();
                fs::remove_file(&path).map_err(io_err("cannot remove", &path))?;
            } else if let Some((_, n)) = parse_name(&name) {
                highest = highest.max(n + 1);
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            counter: AtomicU64::new(highest),
        })
    }

    /// The spool's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn next_name(&self, taken_at: DateTime<Utc>) -> String {
        let millis = u64::try_from(taken_at.timestamp_millis()).unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        format!("{millis:015}-{n:06}.jpg")
    }

    /// Writes a photo into the spool (temporary file, flushed, then renamed).
    pub fn write(&self, jpeg: &[u8], taken_at: DateTime<Utc>) -> Result<SpoolEntry, SpoolError> {
        self.write_named(&self.next_name(taken_at), jpeg, taken_at)
    }

    /// Moves a finished photo (from the inbox) into the spool. Within one file system this
    /// is a rename; across file systems the photo is copied in first, then removed.
    pub fn adopt(&self, file: &Path, taken_at: DateTime<Utc>) -> Result<SpoolEntry, SpoolError> {
        let name = self.next_name(taken_at);
        let path = self.dir.join(&name);
        if fs::rename(file, &path).is_err() {
            let jpeg = fs::read(file).map_err(io_err("cannot read", file))?;
            let entry = self.write_named(&name, &jpeg, taken_at)?;
            fs::remove_file(file).map_err(io_err("cannot remove", file))?;
            return Ok(entry);
        }
        let bytes = fs::metadata(&path)
            .map_err(io_err("cannot read", &path))?
            .len();
        Ok(SpoolEntry {
            path,
            taken_at,
            bytes,
        })
    }

    fn write_named(
        &self,
        name: &str,
        jpeg: &[u8],
        taken_at: DateTime<Utc>,
    ) -> Result<SpoolEntry, SpoolError> {
        let tmp = self.dir.join(format!(".tmp-{name}"));
        let path = self.dir.join(name);
        let mut file = fs::File::create(&tmp).map_err(io_err("cannot create", &tmp))?;
        file.write_all(jpeg).map_err(io_err("cannot write", &tmp))?;
        file.sync_all().map_err(io_err("cannot flush", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("cannot rename", &tmp))?;
        Ok(SpoolEntry {
            path,
            taken_at,
            bytes: jpeg.len() as u64,
        })
    }

    /// Every photo waiting, oldest first.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(io_err("cannot read", &self.dir))? {
            let item = item.map_err(io_err("cannot read", &self.dir))?;
            let name = item.file_name();
            let Some((taken_at, _)) = parse_name(&name.to_string_lossy()) else {
                continue;
            };
            // A file removed between listing and here (uploaded or dropped) is just skipped.
            let Ok(meta) = item.metadata() else { continue };
            if meta.is_file() {
                entries.push(SpoolEntry {
                    path: item.path(),
                    taken_at,
                    bytes: meta.len(),
                });
            }
        }
        entries.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        Ok(entries)
    }

    /// Removes an uploaded photo (already gone is fine).
    pub fn remove(&self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("cannot remove", &entry.path)(e))
            }
            _ => Ok(()),
        }
    }

    /// Moves a photo the server refused for good into `rejected/`, where it is kept for
    /// inspection but never sent again. Returns its new path.
    pub fn reject(&self, entry: &SpoolEntry) -> Result<PathBuf, SpoolError> {
        let name = entry.path.file_name().unwrap_or_default();
        let to = self.dir.join(REJECTED_DIR).join(name);
        fs::rename(&entry.path, &to).map_err(io_err("cannot move", &entry.path))?;
        Ok(to)
    }

    /// Drops the oldest photos until the spool holds at most `max_bytes`; returns how many
    /// were dropped. The newest photo is always kept, even if it alone is over the bound.
    pub fn enforce_limit(&self) -> Result<usize, SpoolError> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let mut dropped = 0;
        let keep_newest = entries.len().saturating_sub(1);
        for entry in entries.iter().take(keep_newest) {
            if total <= self.max_bytes {
                break;
            }
            self.remove(entry)?;
            total -= entry.bytes;
            dropped += 1;
        }
        Ok(dropped)
    }
}

/// Reads `<millis>-<counter>.jpg` back into the time taken and the counter.
fn parse_name(name: &str) -> Option<(DateTime<Utc>, u64)> {
    let stem = name.strip_suffix(".jpg")?;
    let (millis, counter) = stem.split_once('-')?;
    if millis.len() != 15 || counter.len() != 6 {
        return None;
    }
    let millis: i64 = millis.parse().ok()?;
    let counter: u64 = counter.parse().ok()?;
    let taken_at = Utc.timestamp_millis_opt(millis).single()?;
    Some((taken_at, counter))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(millis: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(millis).unwrap()
    }

    #[test]
    fn names_sort_by_time_taken_and_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        // Written out of order, and two in the same millisecond.
        spool.write(b"c", at(1_800_000_000_300)).unwrap();
        spool.write(b"a", at(1_800_000_000_100)).unwrap();
        spool.write(b"b1", at(1_800_000_000_200)).unwrap();
        spool.write(b"b2", at(1_800_000_000_200)).unwrap();
        let entries = spool.entries().unwrap();
        let bodies: Vec<Vec<u8>> = entries.iter().map(|e| fs::read(&e.path).unwrap()).collect();
        assert_eq!(bodies, [&b"a"[..], b"b1", b"b2", b"c"]);
        assert_eq!(entries[0].taken_at, at(1_800_000_000_100));
        assert_eq!(entries[3].taken_at, at(1_800_000_000_300));
        assert_eq!(entries[1].bytes, 2);
    }

    #[test]
    fn a_reopened_spool_resumes_and_forgets_half_written_files() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path(), u64::MAX).unwrap();
            spool.write(b"first", at(1_000)).unwrap();
            spool.write(b"second", at(1_000)).unwrap();
        }
        fs::write(dir.path().join(".tmp-000000000002000-000009.jpg"), b"half").unwrap();
        fs::write(dir.path().join("notes.txt"), b"not a photo").unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        assert!(!dir.path().join(".tmp-000000000002000-000009.jpg").exists());
        // The counter continues past what is there, so a photo of the same millisecond
        // taken after the restart still sorts after the earlier ones.
        spool.write(b"third", at(1_000)).unwrap();
        let bodies: Vec<Vec<u8>> = spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| fs::read(&e.path).unwrap())
            .collect();
        assert_eq!(bodies, [&b"first"[..], b"second", b"third"]);
    }

    #[test]
    fn the_bound_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 25).unwrap();
        for i in 0..5 {
            spool.write(&[b'x'; 10], at(1_000 + i)).unwrap();
        }
        assert_eq!(spool.enforce_limit().unwrap(), 3);
        let left: Vec<_> = spool.entries().unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].taken_at, at(1_003));
        assert_eq!(spool.enforce_limit().unwrap(), 0);
        // One photo larger than the whole bound is still kept.
        let tiny_dir = tempfile::tempdir().unwrap();
        let tiny = Spool::open(tiny_dir.path(), 1).unwrap();
        tiny.write(&[0; 10], at(5)).unwrap();
        assert_eq!(tiny.enforce_limit().unwrap(), 0);
        assert_eq!(tiny.entries().unwrap().len(), 1);
    }

    #[test]
    fn rejected_photos_leave_the_queue_but_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        let entry = spool.write(b"bad", at(1)).unwrap();
        let moved = spool.reject(&entry).unwrap();
        assert_eq!(fs::read(moved).unwrap(), b"bad");
        assert!(spool.entries().unwrap().is_empty());
    }

    #[test]
    fn adopted_files_are_moved_in_with_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        let photo = inbox.path().join("IMG_0001.jpg");
        fs::write(&photo, b"photo").unwrap();
        let spool = Spool::open(dir.path(), u64::MAX).unwrap();
        let entry = spool.adopt(&photo, at(42_000)).unwrap();
        assert!(!photo.exists());
        assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&entry));
        assert_eq!(entry.taken_at, at(42_000));
        assert_eq!(entry.bytes, 5);
    }

    #[test]
    fn foreign_names_are_not_photos() {
        assert!(parse_name("000000000001000-000001.jpg").is_some());
        assert!(parse_name("1000-1.jpg").is_none());
        assert!(parse_name("000000000001000-000001.jpeg").is_none());
        assert!(parse_name(".tmp-000000000001000-000001.jpg").is_none());
    }
}
