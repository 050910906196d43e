//! Where photos come from: one frame grabbed with ffmpeg (a V4L2 device or any ffmpeg
//! input), or finished JPEG files appearing in an inbox folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};
use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// How long one ffmpeg grab may take before it is abandoned (a stuck RTSP source).
const GRAB_TIMEOUT: Duration = Duration::from_secs(20);

/// How recently an inbox file may have been modified and still be taken: a younger one may
/// still be being written.
const SETTLE_TIME: Duration = Duration::from_secs(1);

/// Where photos come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// ffmpeg input arguments (`-f v4l2 -i /dev/video0`, `-i rtsp://…`, `-f lavfi -i …`).
    Ffmpeg {
        /// The input arguments, before the output options.
        input: Vec<String>,
        /// A capture device, which cannot be opened twice (snapshots come from the live
        /// stream while it runs) and produces frames at its own pace.
        device: bool,
    },
    /// An inbox folder another program writes JPEG files into.
    Inbox(PathBuf),
}

/// Capturing failed; the next attempt may work.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// ffmpeg could not be started.
    #[error("cannot run ffmpeg (is it installed?): {0}")]
    Spawn(#[source] std::io::Error),
    /// ffmpeg ran but produced no picture.
    #[error("ffmpeg produced no picture ({status}): {stderr}")]
    NoPicture {
        /// ffmpeg's exit status.
        status: String,
        /// The end of what ffmpeg printed.
        stderr: String,
    },
    /// ffmpeg took longer than [`GRAB_TIMEOUT`].
    #[error("ffmpeg did not deliver a picture within {0:?}")]
    Timeout(Duration),
    /// The inbox could not be read.
    #[error("cannot read the inbox {}: {source}", path.display())]
    Inbox {
        /// The inbox folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An invalid `--ffmpeg-input`.
#[derive(Debug, Error)]
#[error("--ffmpeg-input {0:?} has unbalanced quotes or escapes")]
pub struct BadInputSpec(String);

/// Splits `--ffmpeg-input` like a shell would; a spec not starting with `-` is one input
/// URL or path (`rtsp://cam/stream` becomes `-i rtsp://cam/stream`).
pub fn ffmpeg_input(spec: &str) -> Result<Vec<String>, BadInputSpec> {
    let spec = spec.trim();
    if !spec.starts_with('-') {
        return Ok(vec!["-i".to_owned(), spec.to_owned()]);
    }
    shlex::split(spec).ok_or_else(|| BadInputSpec(spec.to_owned()))
}

/// The ffmpeg input arguments of a V4L2 device.
pub fn device_input(device: &Path) -> Vec<String> {
    vec![
        "-f".to_owned(),
        "v4l2".to_owned(),
        "-i".to_owned(),
        device.display().to_string(),
    ]
}

/// Grabs one JPEG from an ffmpeg input.
pub async fn grab(input: &[String]) -> Result<Vec<u8>, CaptureError> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(input)
        .args([
            "-frames:v",
            "1",
            "-c:v",
            "mjpeg",
            "-q:v",
            "3",
            "-f",
            "image2pipe",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(CaptureError::Spawn)?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let run = async {
        let mut jpeg = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut jpeg).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (jpeg, err, status)
    };
    let (jpeg, err, status) = tokio::time::timeout(GRAB_TIMEOUT, run)
        .await
        .map_err(|_| CaptureError::Timeout(GRAB_TIMEOUT))?;
    let status = status.map_err(CaptureError::Spawn)?;
    if status.success() && switchboard_media::jpeg::inspect(&jpeg).is_ok() {
        return Ok(jpeg);
    }
    let text = String::from_utf8_lossy(&err);
    let tail: String = text
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    Err(CaptureError::NoPicture {
        status: status.to_string(),
        stderr: tail,
    })
}

/// The inbox's finished photos (`*.jpg`, `*.jpeg`, not hidden, not `.tmp`, unchanged for a
/// second), oldest modification first, with their modification times.
pub fn inbox_photos(dir: &Path) -> Result<Vec<(PathBuf, SystemTime)>, CaptureError> {
    let inbox_err = |source| CaptureError::Inbox {
        path: dir.to_path_buf(),
        source,
    };
    let now = SystemTime::now();
    let mut photos = Vec::new();
    for item in std::fs::read_dir(dir).map_err(inbox_err)? {
        let item = item.map_err(inbox_err)?;
        let name = item.file_name();
        let name = name.to_string_lossy().to_ascii_lowercase();
        if name.starts_with('.') || !(name.ends_with(".jpg") || name.ends_with(".jpeg")) {
            continue;
        }
        // Vanished since listing, or not a regular file: not ours to take.
        let Ok(meta) = item.metadata() else { continue };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        let settled = now
            .duration_since(modified)
            .is_ok_and(|age| age >= SETTLE_TIME);
        if meta.is_file() && settled {
            photos.push((item.path(), modified));
        }
    }
    photos.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(photos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn input_specs_are_split_like_a_shell() {
        assert_eq!(
            ffmpeg_input("-f lavfi -i 'testsrc2=size=640x480:rate=5'").unwrap(),
            ["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=5"]
        );
        assert_eq!(
            ffmpeg_input(" rtsp://cam/stream ").unwrap(),
            ["-i", "rtsp://cam/stream"]
        );
        assert!(ffmpeg_input("-i 'unclosed").is_err());
    }

    #[test]
    fn the_inbox_takes_settled_jpegs_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        let older = SystemTime::now() - Duration::from_secs(120);
        for (name, mtime) in [
            ("b.JPG", Some(old)),
            ("a.jpeg", Some(older)),
            ("fresh.jpg", None),
            (".hidden.jpg", Some(old)),
            ("photo.jpg.tmp", Some(old)),
            ("notes.txt", Some(old)),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            if let Some(t) = mtime {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
        }
        let names: Vec<String> = inbox_photos(dir.path())
            .unwrap()
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.jpeg", "b.JPG"]);
    }
}
