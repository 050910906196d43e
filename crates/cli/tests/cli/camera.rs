//! `switchboard camera` against a real server process, with real ffmpeg captures.

use crate::support::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant, SystemTime};

const TEST_SOURCE: &str = "-f lavfi -i testsrc2=size=320x240:rate=5";

/// Signs up and creates a camera: (user token, camera id, camera token).
fn camera(c: &Client, base: &str) -> (String, String, String) {
    let api = format!("{base}/api/v1");
    let reg: Value = c
        .post(format!("{api}/auth/register"))
        .json(&json!({"username": "pi.owner", "password": "quiet lantern orbit mosaic", "account_name": "Home"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = reg["token"].as_str().unwrap().to_owned();
    let cam: Value = c
        .post(format!("{api}/cameras"))
        .bearer_auth(&token)
        .json(&json!({"name": "kitchen"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    (
        token,
        cam["id"].as_str().unwrap().to_owned(),
        cam["token"].as_str().unwrap().to_owned(),
    )
}

/// The camera as `GET /api/v1/cameras` shows it.
fn camera_view(c: &Client, base: &str, user: &str, id: &str) -> Value {
    let list: Value = c
        .get(format!("{base}/api/v1/cameras"))
        .bearer_auth(user)
        .send()
        .unwrap()
        .json()
        .unwrap();
    list["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cam| cam["id"] == id)
        .unwrap()
        .clone()
}

/// The stored snapshots' `taken_at` (Unix ms) in the order the server received them, read
/// from the server's SQLite database.
fn stored_taken_at(data: &Path, camera_id: &str) -> Vec<i64> {
    let out = Command::new("sqlite3")
        .arg(data.join("switchboard.db"))
        .arg(format!(
            "SELECT taken_at FROM snapshots WHERE camera_id = '{camera_id}' ORDER BY rowid;"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// Photos waiting in a spool folder (names only, sorted).
fn spooled(spool: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(spool)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".jpg") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The taken_at (Unix ms) a spool file name carries.
fn name_millis(name: &str) -> i64 {
    name.split('-').next().unwrap().parse().unwrap()
}

fn wait_until(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `switchboard camera`, its log in a file.
struct Uploader {
    child: Child,
    log: PathBuf,
}

impl Uploader {
    fn start(base: &str, id: &str, token: &str, spool: &Path, args: &[&str]) -> Uploader {
        let log = spool.with_extension("log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["camera", "--server", base, "--camera-id", id, "--spool"])
            .arg(spool)
            .args(args)
            .args(["--log-format", "json"])
            .env("SWITCHBOARD_CAMERA_TOKEN", token)
            .env("SWITCHBOARD_LOG", "info")
            // Log lines go to stdout, errors to stderr: one file keeps their order.
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Uploader { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the uploader did not exit: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid we spawned and a standard signal has no memory effects.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.wait_exit(PATIENCE)
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a real JPEG into `dir` with the given modification time.
fn photo(dir: &Path, name: &str, n: u64, modified: SystemTime) {
    let path = dir.join(name);
    let jpeg = switchboard_media::synth::TestCard::new(64, 48, 70).render(n);
    std::fs::write(&path, jpeg).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

fn millis(t: SystemTime) -> i64 {
    i64::try_from(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn ffmpeg_captures_arrive_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"), free_port());
    let c = Client::new();
    let (user, id, token) = camera(&c, &server.base);
    let spool = dir.path().join("spool");
    let mut uploader = Uploader::start(
        &server.base,
        &id,
        &token,
        &spool,
        &["--ffmpeg-input", TEST_SOURCE, "--every", "300ms"],
    );
    wait_until("three uploads arrived", PATIENCE, || {
        camera_view(&c, &server.base, &user, &id)["uploads"].as_u64() >= Some(3)
    });
    let status = uploader.terminate();
    assert!(status.success(), "{status:?}: {}", uploader.log());
    let log = uploader.log();
    // No detector in this server: stored and answered 202 (201 if a model is present).
    assert!(
        log.contains("uploaded")
            && (log.contains(r#""status":202"#) || log.contains(r#""status":201"#)),
        "{log}"
    );
    let view = camera_view(&c, &server.base, &user, &id);
    let image = c
        .get(format!(
            "{}{}",
            server.base,
            view["last_snapshot_url"].as_str().unwrap()
        ))
        .bearer_auth(&user)
        .send()
        .unwrap();
    assert_eq!(image.status(), 200);
    let jpeg = image.bytes().unwrap();
    assert!(switchboard_media::jpeg::inspect(&jpeg).is_ok());
}

#[test]
fn inbox_photos_are_uploaded_oldest_first_with_their_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data, free_port());
    let c = Client::new();
    let (user, id, token) = camera(&c, &server.base);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let now = SystemTime::now();
    let times = [
        now - Duration::from_secs(300),
        now - Duration::from_secs(200),
        now - Duration::from_secs(100),
    ];
    // Names sort the other way round: order must come from the modification times.
    photo(&inbox, "c.jpg", 1, times[0]);
    photo(&inbox, "b.jpeg", 2, times[1]);
    photo(&inbox, "a.JPG", 3, times[2]);
    // Still being written, or not a photo: left alone.
    photo(
        &inbox,
        "being-written.jpg",
        4,
        SystemTime::now() + Duration::from_secs(60),
    );
    photo(&inbox, ".hidden.jpg", 5, times[0]);
    std::fs::write(inbox.join("notes.txt"), "x").unwrap();

    let spool = dir.path().join("spool");
    let inbox_arg = inbox.display().to_string();
    let mut uploader = Uploader::start(
        &server.base,
        &id,
        &token,
        &spool,
        &["--dir", &inbox_arg, "--once"],
    );
    let status = uploader.wait_exit(PATIENCE);
    assert!(status.success(), "{}", uploader.log());

    let expected: Vec<i64> = times.iter().map(|t| millis(*t)).collect();
    assert_eq!(stored_taken_at(&data, &id), expected);
    assert_eq!(camera_view(&c, &server.base, &user, &id)["uploads"], 3);
    assert!(spooled(&spool).is_empty());
    let mut left: Vec<String> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".hidden.jpg", "being-written.jpg", "notes.txt"]);
}

#[test]
fn an_outage_is_spooled_and_every_photo_arrives_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = ServerProcess::start(&data, port);
    let c = Client::new();
    let (user, id, token) = camera(&c, &server.base);
    let base = server.base.clone();
    assert!(server.terminate().success());

    let spool = dir.path().join("spool");
    let mut uploader = Uploader::start(
        &base,
        &id,
        &token,
        &spool,
        &["--ffmpeg-input", TEST_SOURCE, "--every", "200ms"],
    );
    wait_until("four photos are spooled", PATIENCE, || {
        spooled(&spool).len() >= 4
    });
    let during_outage: Vec<i64> = spooled(&spool).iter().map(|n| name_millis(n)).collect();

    let server = ServerProcess::start(&data, port);
    wait_until(
        "the spooled photos arrived",
        Duration::from_secs(60),
        || stored_taken_at(&data, &id).len() >= during_outage.len(),
    );
    let stored = stored_taken_at(&data, &id);
    assert_eq!(
        &stored[..during_outage.len()],
        &during_outage[..],
        "none lost, in order"
    );
    assert!(stored.windows(2).all(|w| w[0] <= w[1]), "{stored:?}");
    assert!(
        camera_view(&c, &server.base, &user, &id)["uploads"].as_u64()
            >= Some(during_outage.len() as u64)
    );
    assert!(uploader.terminate().success(), "{}", uploader.log());
    assert!(
        uploader.log().contains("upload failed"),
        "{}",
        uploader.log()
    );
}

#[test]
fn a_wrong_token_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"), free_port());
    let c = Client::new();
    let (_, id, _) = camera(&c, &server.base);
    let spool = dir.path().join("spool");
    let mut uploader = Uploader::start(
        &server.base,
        &id,
        "sbc_not-the-right-token",
        &spool,
        &["--ffmpeg-input", TEST_SOURCE, "--every", "300ms"],
    );
    let status = uploader.wait_exit(PATIENCE);
    assert!(!status.success());
    let log = uploader.log();
    assert!(log.contains("refused the camera token"), "{log}");
    // The photo stays for a run with the right token.
    assert!(!spooled(&spool).is_empty(), "{log}");
}

#[test]
fn a_refused_photo_is_set_aside_in_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"), free_port());
    let c = Client::new();
    let (user, id, token) = camera(&c, &server.base);
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::write(inbox.join("broken.jpg"), b"this is not a JPEG").unwrap();
    std::fs::File::options()
        .write(true)
        .open(inbox.join("broken.jpg"))
        .unwrap()
        .set_modified(old - Duration::from_secs(1))
        .unwrap();
    photo(&inbox, "good.jpg", 1, old);

    let spool = dir.path().join("spool");
    let inbox_arg = inbox.display().to_string();
    let mut uploader = Uploader::start(
        &server.base,
        &id,
        &token,
        &spool,
        &["--dir", &inbox_arg, "--once"],
    );
    assert!(uploader.wait_exit(PATIENCE).success(), "{}", uploader.log());
    let rejected = spooled(&spool.join("rejected"));
    assert_eq!(rejected.len(), 1, "{}", uploader.log());
    assert_eq!(
        std::fs::read(spool.join("rejected").join(&rejected[0])).unwrap(),
        b"this is not a JPEG"
    );
    assert!(spooled(&spool).is_empty());
    assert!(
        uploader.log().contains(r#""status":415"#),
        "{}",
        uploader.log()
    );
    assert_eq!(camera_view(&c, &server.base, &user, &id)["uploads"], 1);
}

#[test]
fn live_is_streamed_while_snapshots_go_on_and_stops_when_the_session_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data"), free_port());
    let c = Client::new();
    let (user, id, token) = camera(&c, &server.base);
    let spool = dir.path().join("spool");
    let mut uploader = Uploader::start(
        &server.base,
        &id,
        &token,
        &spool,
        &[
            "--ffmpeg-input",
            TEST_SOURCE,
            "--every",
            "300ms",
            "--live-fps",
            "5",
        ],
    );
    wait_until("a first upload", PATIENCE, || {
        camera_view(&c, &server.base, &user, &id)["uploads"].as_u64() >= Some(1)
    });

    let asked = c
        .post(format!("{}/api/v1/cameras/{id}/live", server.base))
        .bearer_auth(&user)
        .send()
        .unwrap();
    assert_eq!(asked.status(), 201);
    let asked: Value = asked.json().unwrap();
    let suid = asked["suid"].as_str().unwrap().to_owned();
    let session_url = format!("{}/api/v1/sessions/{suid}", server.base);
    let session = || -> Value {
        c.get(&session_url)
            .bearer_auth(&user)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    wait_until("the camera redeemed the ticket", PATIENCE, || {
        session()["state"] == "live"
    });
    assert_eq!(session()["device"]["model"], "switchboard camera");
    assert_eq!(session()["device"]["camera_id"], id.as_str());
    let mut frame = None;
    wait_until("a live frame", PATIENCE, || {
        let r = c
            .get(format!("{session_url}/frame.jpg"))
            .bearer_auth(&user)
            .send()
            .unwrap();
        if r.status() == 200 {
            frame = Some(r.bytes().unwrap());
        }
        frame.is_some()
    });
    assert!(switchboard_media::jpeg::inspect(&frame.unwrap()).is_ok());
    let frames_before = session()["frames"].as_u64().unwrap();
    wait_until("more live frames", PATIENCE, || {
        session()["frames"].as_u64().unwrap() > frames_before + 2
    });
    // Snapshots carry on while live, from the live frames.
    let uploads = camera_view(&c, &server.base, &user, &id)["uploads"]
        .as_u64()
        .unwrap();
    wait_until("snapshots while live", PATIENCE, || {
        camera_view(&c, &server.base, &user, &id)["uploads"].as_u64() > Some(uploads)
    });

    let ended = c.delete(&session_url).bearer_auth(&user).send().unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    wait_until("the uploader went back to snapshots only", PATIENCE, || {
        uploader.log().contains("live: stopped")
    });
    let uploads = camera_view(&c, &server.base, &user, &id)["uploads"]
        .as_u64()
        .unwrap();
    wait_until("snapshots after live", PATIENCE, || {
        camera_view(&c, &server.base, &user, &id)["uploads"].as_u64() > Some(uploads)
    });
    assert!(uploader.terminate().success(), "{}", uploader.log());
}
