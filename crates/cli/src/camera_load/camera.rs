//! One simulated camera: a photo every `--every`, 503s and 429s waited out as the server
//! asks, and each stored photo followed until it is detected.

use super::figures::Tally;
use super::setup::{Camera, retry_after};
use bytes::Bytes;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How often a pending snapshot is asked about.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// What every camera task shares.
pub struct Shared {
    pub http: reqwest::Client,
    pub base: Url,
    pub photos: Vec<Bytes>,
    /// The user token of each account, to follow its pending snapshots.
    pub users: Vec<String>,
    pub every: Duration,
    pub deadline: Duration,
    /// Cameras stop uploading at this instant.
    pub stop_at: Instant,
    /// Pending snapshots are given up at this instant.
    pub give_up_at: Instant,
    pub tally: Tally,
}

/// The part of an upload answer (or of a 503's `snapshot`) this client reads.
#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    error: String,
    snapshot: Option<Uploaded>,
}

#[derive(Deserialize)]
struct SnapshotState {
    state: String,
}

/// Uploads a photo every `every` from `first_at` until `stop_at`; photos follow each other
/// from `index` on, so cameras do not all send the same one at once.
pub async fn run(shared: Arc<Shared>, camera: Camera, index: usize, first_at: Instant) {
    let Ok(url) = shared
        .base
        .join(&format!("api/v1/cameras/{}/snapshots", camera.id))
    else {
        shared.tally.errors.record("camera_url", &camera.id);
        return;
    };
    let mut next = first_at;
    let mut photo = index;
    while next < shared.stop_at {
        tokio::time::sleep_until(next).await;
        next += shared.every;
        let jpeg = shared.photos[photo % shared.photos.len()].clone();
        photo += 1;
        // A photo refused for load is sent again once the server says it may be, as the
        // camera uploader does with its spool; it keeps its place in the schedule.
        loop {
            let started = Instant::now();
            shared.tally.sent.fetch_add(1, Ordering::Relaxed);
            let resp = match shared
                .http
                .post(url.clone())
                .bearer_auth(&camera.token)
                .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
                .body(jpeg.clone())
                .send()
                .await
            {
                Ok(resp) => resp,
                Err(e) => {
                    shared.tally.errors.record("upload_send", e);
                    break;
                }
            };
            let status = resp.status();
            let wait = retry_after(&resp);
            match status {
                StatusCode::CREATED | StatusCode::OK => {
                    shared.tally.accepted.fetch_add(1, Ordering::Relaxed);
                    shared
                        .tally
                        .detected_at_once
                        .fetch_add(1, Ordering::Relaxed);
                    shared.tally.detected(started.elapsed(), shared.deadline);
                    break;
                }
                StatusCode::ACCEPTED => {
                    shared.tally.accepted.fetch_add(1, Ordering::Relaxed);
                    shared.tally.pending.fetch_add(1, Ordering::Relaxed);
                    match resp.json::<Uploaded>().await {
                        Ok(up) => follow(&shared, &camera, up.id, started),
                        Err(e) => shared.tally.errors.record("upload_answer", e),
                    }
                    break;
                }
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                    let refusal = resp.json::<Refusal>().await.ok();
                    let stored = refusal
                        .and_then(|r| (r.error == "detector_busy").then_some(r.snapshot).flatten());
                    let pause = wait.unwrap_or(Duration::from_secs(1));
                    if let Some(up) = stored {
                        // Stored as pending; the server detects it later. The next photo
                        // waits as asked.
                        shared.tally.accepted.fetch_add(1, Ordering::Relaxed);
                        shared.tally.busy.fetch_add(1, Ordering::Relaxed);
                        follow(&shared, &camera, up.id, started);
                        next = next.max(Instant::now() + pause);
                        break;
                    }
                    shared.tally.refused.fetch_add(1, Ordering::Relaxed);
                    if Instant::now() + pause >= shared.stop_at {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                other => {
                    let body = resp.text().await.unwrap_or_default();
                    shared
                        .tally
                        .errors
                        .record(format!("upload_{}", other.as_u16()), body);
                    break;
                }
            }
        }
    }
}

/// Follows a stored, pending snapshot until it is detected (or the run gives up on it).
fn follow(shared: &Arc<Shared>, camera: &Camera, id: String, started: Instant) {
    let shared = shared.clone();
    let user = shared.users[camera.account].clone();
    shared.tally.outstanding.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let tally = &shared.tally;
        let url = match shared.base.join(&format!("api/v1/snapshots/{id}")) {
            Ok(url) => url,
            Err(e) => {
                tally.errors.record("snapshot_url", e);
                tally.outstanding.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        };
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            if Instant::now() > shared.give_up_at {
                tally.never_detected.fetch_add(1, Ordering::Relaxed);
                break;
            }
            let resp = match shared.http.get(url.clone()).bearer_auth(&user).send().await {
                Ok(resp) => resp,
                Err(e) => {
                    tally.errors.record("snapshot_get", e);
                    break;
                }
            };
            match resp.status() {
                StatusCode::OK => match resp.json::<SnapshotState>().await {
                    Ok(s) if s.state == "pending" => {}
                    Ok(s) if s.state == "failed" => {
                        tally.errors.record("detection_failed", &id);
                        break;
                    }
                    Ok(_) => {
                        tally.detected(started.elapsed(), shared.deadline);
                        break;
                    }
                    Err(e) => {
                        tally.errors.record("snapshot_answer", e);
                        break;
                    }
                },
                // Dropped as a near-duplicate after its detection: detected.
                StatusCode::NOT_FOUND => {
                    tally.detected(started.elapsed(), shared.deadline);
                    break;
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {}
                other => {
                    tally
                        .errors
                        .record(format!("snapshot_{}", other.as_u16()), &id);
                    break;
                }
            }
        }
        tally.outstanding.fetch_sub(1, Ordering::Relaxed);
    });
}
