//! The same picture encoded twice by ffmpeg: VP8 (what a browser sends over WebRTC) and JPEG
//! (what the phone page sends on its socket), at one size and frame rate, split into frames.

use anyhow::{Context, bail};
use std::path::Path;
use std::process::Command;

/// One test picture at `width`×`height` and `fps`, `seconds` long, in both codings.
#[derive(Debug)]
pub struct Recording {
    pub vp8: Vec<Vec<u8>>,
    pub jpeg: Vec<Vec<u8>>,
}

/// What ffmpeg is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: u32,
    /// VP8 target bitrate, as a browser's encoder would aim (kbit/s).
    pub vp8_kbps: u32,
    /// ffmpeg's JPEG quality scale (2 best … 31 worst); 5 is about the phone page's 0.7.
    pub jpeg_q: u32,
    /// Grain changing every frame, as a phone camera's sensor adds (0: the clean pattern).
    pub noise: u32,
}

fn ffmpeg(dir: &Path, picture: &Picture, codec: &[&str], out: &str) -> anyhow::Result<Vec<u8>> {
    let mut source = format!(
        "testsrc2=size={}x{}:rate={}",
        picture.width, picture.height, picture.fps
    );
    if picture.noise > 0 {
        source.push_str(&format!(",noise=alls={}:allf=t", picture.noise));
    }
    let path = dir.join(out);
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &source,
        ])
        .args(["-t", &picture.seconds.to_string()])
        .args(codec)
        .arg(&path)
        .status()
        .context("cannot run ffmpeg (apt-get install ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg could not encode {out} ({status})");
    }
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The frames of an IVF file: a 32-byte header, then per frame 4 bytes of size, 8 of
/// timestamp and the frame.
pub fn ivf_frames(data: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    if data.len() < 32 || &data[..4] != b"DKIF" {
        bail!("not an IVF file");
    }
    let header = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut at = header;
    let mut frames = Vec::new();
    while at + 12 <= data.len() {
        let size =
            u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let start = at + 12;
        let Some(frame) = data.get(start..start + size) else {
            bail!("an IVF frame runs past the end of the file");
        };
        frames.push(frame.to_vec());
        at = start + size;
    }
    Ok(frames)
}

/// The JPEGs of a concatenated MJPEG stream, split at each start-of-image marker.
pub fn jpeg_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = data
        .windows(3)
        .enumerate()
        .filter(|(_, w)| w == &[0xff, 0xd8, 0xff])
        .map(|(i, _)| i)
        .collect();
    starts.push(data.len());
    starts
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

impl Recording {
    pub fn make(dir: &Path, picture: &Picture) -> anyhow::Result<Recording> {
        let bitrate = format!("{}k", picture.vp8_kbps);
        // Real-time VP8 as browsers encode it: constant-ish bitrate, no look-ahead.
        let ivf = ffmpeg(
            dir,
            picture,
            &[
                "-c:v",
                "libvpx",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-b:v",
                &bitrate,
                "-g",
                "3000",
                "-f",
                "ivf",
            ],
            "picture.ivf",
        )?;
        let q = picture.jpeg_q.to_string();
        let mjpeg = ffmpeg(
            dir,
            picture,
            &[
                "-c:v", "mjpeg", "-q:v", &q, "-pix_fmt", "yuvj420p", "-f", "mjpeg",
            ],
            "picture.mjpeg",
        )?;
        let recording = Recording {
            vp8: ivf_frames(&ivf)?,
            jpeg: jpeg_frames(&mjpeg),
        };
        if recording.vp8.is_empty() || recording.jpeg.is_empty() {
            bail!("ffmpeg made no frames");
        }
        Ok(recording)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivf_and_mjpeg_streams_split_into_their_frames() {
        let mut ivf = b"DKIF".to_vec();
        ivf.extend_from_slice(&[0, 0, 32, 0]);
        ivf.resize(32, 0);
        for frame in [&b"abc"[..], &b"de"[..]] {
            ivf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            ivf.extend_from_slice(&[0; 8]);
            ivf.extend_from_slice(frame);
        }
        assert_eq!(
            ivf_frames(&ivf).unwrap(),
            vec![b"abc".to_vec(), b"de".to_vec()]
        );
        assert!(ivf_frames(b"RIFF").is_err());
        let mjpeg = [
            0xff, 0xd8, 0xff, 1, 0xff, 0xd9, 0xff, 0xd8, 0xff, 2, 0xff, 0xd9,
        ];
        assert_eq!(jpeg_frames(&mjpeg).len(), 2);
    }
}
