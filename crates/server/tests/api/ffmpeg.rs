//! The real `ffmpeg` as a client: pushing MJPEG as a device (`-f mpjpeg -method POST`) and
//! pulling `video.mjpeg` as a viewer. ffmpeg is required: without it these tests fail.

use crate::helpers::*;
use bytes::Bytes;
use futures::StreamExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use switchboard_media::jpeg;
use switchboard_media::synth::TestCard;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A running ffmpeg whose stderr is being collected.
struct Ffmpeg {
    child: Child,
    stderr: JoinHandle<String>,
}

/// Starts `ffmpeg` with `args` (after quiet defaults). Fails the test if it cannot start.
fn ffmpeg(args: &[&str]) -> Ffmpeg {
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "warning",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "these tests need the `ffmpeg` binary on PATH (Debian: apt-get install ffmpeg); \
                 starting it failed: {e}"
            )
        });
    let mut pipe = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text).await;
        text
    });
    Ffmpeg { child, stderr }
}

impl Ffmpeg {
    /// What ffmpeg wrote to stderr; waits (bounded) for it to close its end.
    async fn stderr_text(self) -> String {
        match tokio::time::timeout(PATIENCE, self.stderr).await {
            Ok(Ok(text)) => text,
            _ => "(stderr did not close in time)".into(),
        }
    }

    /// Stops ffmpeg and fails the test with `why` and ffmpeg's stderr.
    async fn fail(mut self, why: &str) -> ! {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(PATIENCE, self.child.wait()).await;
        let stderr = self.stderr_text().await;
        panic!("{why}; ffmpeg's stderr:\n{stderr}");
    }

    /// Waits (bounded) for ffmpeg to exit and fails the test unless it succeeded.
    async fn succeeds(mut self, limit: Duration, what: &str) {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => {
                self.fail(&format!("{what}: ffmpeg ran past {limit:?}"))
                    .await
            }
        };
        let stderr = self.stderr_text().await;
        assert!(
            status.success(),
            "{what}: ffmpeg failed ({status}); its stderr:\n{stderr}"
        );
    }
}

/// Receives `n` binary frames on a watch socket (events are skipped).
async fn receive_frames(viewer: &mut Ws, n: usize) -> Vec<Bytes> {
    let mut frames = vec![];
    while frames.len() < n {
        match viewer.next().await {
            Some(Ok(Message::Binary(b))) => frames.push(b),
            Some(Ok(Message::Close(c))) => panic!("the watch socket closed: {c:?}"),
            Some(Ok(_)) => {}
            other => panic!("the watch socket ended: {other:?}"),
        }
    }
    frames
}

/// Asserts `data` is a JPEG of 320x240.
fn assert_320x240(data: &[u8], what: &str) {
    let info = jpeg::inspect(data).unwrap_or_else(|e| panic!("{what} is not a valid JPEG: {e}"));
    assert_eq!(
        (info.width, info.height),
        (320, 240),
        "{what} has the source's size"
    );
}

#[tokio::test]
async fn ffmpeg_pushes_mjpeg_that_viewers_receive() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;

    let url = app.url(&format!("/sessions/{suid}/stream"));
    let auth = format!("Authorization: Bearer {device}\r\n");
    let mut push = ffmpeg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=10",
        "-t",
        "3",
        "-f",
        "mpjpeg",
        "-method",
        "POST",
        "-headers",
        &auth,
        &url,
    ]);

    enum First {
        Frames(Vec<Bytes>),
        TimedOut,
        Exited(std::io::Result<ExitStatus>),
    }
    let first = tokio::select! {
        got = tokio::time::timeout(PATIENCE, receive_frames(&mut viewer, 5)) => match got {
            Ok(frames) => First::Frames(frames),
            Err(_) => First::TimedOut,
        },
        status = push.child.wait() => First::Exited(status),
    };
    let frames = match first {
        First::Frames(frames) => frames,
        First::TimedOut => {
            push.fail("the viewer did not receive 5 frames from ffmpeg in time")
                .await
        }
        First::Exited(status) => {
            push.fail(&format!(
                "ffmpeg exited ({status:?}) before the viewer received 5 frames"
            ))
            .await
        }
    };
    for (n, frame) in frames.iter().enumerate() {
        assert_320x240(frame, &format!("relayed frame {n}"));
    }
    let during = app.session(&token, &suid, None).await["frames"]
        .as_u64()
        .unwrap();
    assert!(during >= 5, "the session counts the frames: {during}");

    push.succeeds(PATIENCE, "pushing 3 s of MJPEG").await;
    let view = app.session(&token, &suid, None).await;
    let total = view["frames"].as_u64().unwrap();
    assert!(
        total > during && total >= 20,
        "3 s at 10 fps arrive: {during} while streaming, {total} at the end ({view})"
    );
    assert_eq!(
        view["state"], "live",
        "the end of a push does not end the session"
    );
}

#[tokio::test]
async fn a_push_without_a_content_type_as_ffmpeg_sends_it_is_accepted() {
    // ffmpeg 5.1's `-f mpjpeg -method POST` sends no Content-Type at all: the body starts
    // with its delimiter `--ffmpeg`, and that is the only place the boundary appears.
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    let mut body = vec![];
    for n in 1..=3 {
        let frame = jpeg(n);
        body.extend_from_slice(
            format!(
                "--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: {}\r\n\r\n",
                frame.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&frame);
        body.extend_from_slice(b"\r\n");
    }
    let resp = app
        .http
        .post(app.url(&format!("/sessions/{suid}/stream")))
        .bearer_auth(&device)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "an MJPEG push framed as ffmpeg frames it, without a Content-Type: {text}"
    );
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["frames"], 3, "{summary}");
    let got = next_frame(&mut viewer).await;
    assert!(
        (1..=3).any(|n| got == jpeg(n)),
        "the viewer receives a pushed frame"
    );
}

/// Posts 320x240 frames every 20 ms as `device` until `stop` fires (at most a minute).
fn post_frames_until(
    app: &TestApp,
    suid: &str,
    device: &str,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> JoinHandle<u64> {
    let cards: Vec<Bytes> = (0..10)
        .map(|n| Bytes::from(TestCard::new(320, 240, 80).render(n)))
        .collect();
    let (http, url, device) = (
        app.http.clone(),
        app.url(&format!("/sessions/{suid}/frames")),
        device.to_owned(),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut posted = 0;
        for seq in 1..=3000u64 {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            let resp = http
                .post(format!("{url}?seq={seq}"))
                .bearer_auth(&device)
                .header("content-type", "image/jpeg")
                .body(cards[seq as usize % cards.len()].clone())
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "frame {seq}: {}", resp.status());
            posted += 1;
        }
        posted
    })
}

/// Runs ffmpeg on `url` for 3 frames into a temp dir and checks they are decodable
/// 320x240 JPEGs.
async fn pull_three_frames(app: &TestApp, suid: &str, device: &str, url: &str, headers: &[&str]) {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let poster = post_frames_until(app, suid, device, stopped);
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("out%d.jpg");
    let mut args: Vec<&str> = headers.to_vec();
    args.extend(["-i", url, "-frames:v", "3", "-f", "image2", "-y"]);
    args.push(pattern.to_str().unwrap());
    ffmpeg(&args)
        .succeeds(PATIENCE, "pulling 3 frames of video.mjpeg")
        .await;
    let _ = stop.send(());
    let posted = tokio::time::timeout(PATIENCE, poster)
        .await
        .expect("the poster stops")
        .unwrap();
    assert!(posted >= 1, "frames were posted while ffmpeg read");

    for n in 1..=3 {
        let path = dir.path().join(format!("out{n}.jpg"));
        let data =
            std::fs::read(&path).unwrap_or_else(|e| panic!("ffmpeg wrote {}: {e}", path.display()));
        assert_320x240(&data, &format!("pulled frame {n}"));
        // A real decode, by ffmpeg itself: any decoder complaint fails the test.
        let decoded = ffmpeg(&[
            "-loglevel",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ]);
        let (status, stderr) = {
            let mut decoded = decoded;
            let status = tokio::time::timeout(PATIENCE, decoded.child.wait())
                .await
                .expect("decoding one JPEG finishes in time")
                .unwrap();
            (status, decoded.stderr_text().await)
        };
        assert!(
            status.success() && stderr.trim().is_empty(),
            "pulled frame {n} decodes cleanly ({status}): {stderr}"
        );
    }
    assert!(
        !dir.path().join("out4.jpg").exists(),
        "ffmpeg stopped after 3 frames"
    );
}

#[tokio::test]
async fn ffmpeg_pulls_video_mjpeg_with_a_bearer_header() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let url = app.url(&format!("/sessions/{suid}/video.mjpeg"));
    let auth = format!("Authorization: Bearer {token}\r\n");
    pull_three_frames(&app, &suid, &device, &url, &["-headers", &auth]).await;
    assert_eq!(
        app.session(&token, &suid, None).await["state"],
        "live",
        "a viewer leaving does not end the session"
    );
}

#[tokio::test]
async fn ffmpeg_pulls_video_mjpeg_with_a_token_in_the_url() {
    let app = spawn_app().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let url = app.url(&format!("/sessions/{suid}/video.mjpeg?token={token}"));
    pull_three_frames(&app, &suid, &device, &url, &[]).await;
}
