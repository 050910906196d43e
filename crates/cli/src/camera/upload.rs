//! Uploading one spooled photo, and what the server's answer means for it.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;

/// How long one upload may take, so a stopping uploader never waits on a dead connection.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The server's camera API, as this camera.
#[derive(Debug, Clone)]
pub struct CameraApi {
    client: reqwest::Client,
    /// `http(s)://host:port`, without a trailing slash.
    base: String,
    camera_id: String,
    token: String,
}

/// A "Live" button press the server reported: a ticket to redeem as a device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LiveTicket {
    /// The session's ticket.
    pub ticket: String,
    /// The session it opens (for logs).
    #[serde(default)]
    pub suid: Option<String>,
}

/// What became of one upload.
#[derive(Debug)]
pub enum Upload {
    /// The server has the photo (200, 201, 202, or 503 `detector_busy`): delete it here.
    Stored {
        /// The HTTP status.
        status: StatusCode,
        /// `done` or `pending`.
        state: String,
        /// The labels detected, most confident first as the server sent them.
        labels: Vec<String>,
        /// A live session to start, if a user asked for one.
        live: Option<LiveTicket>,
    },
    /// The server refused this photo for good (413, 415, 422, other 4xx): set it aside.
    Rejected {
        /// The HTTP status.
        status: StatusCode,
        /// The server's explanation.
        message: String,
    },
    /// It may work later (network error, 5xx, 429): keep the photo and back off.
    Retry {
        /// What went wrong.
        reason: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

/// The server will not take uploads from this camera at all: stop.
#[derive(Debug, Error)]
pub enum Refused {
    /// 401: the token is wrong or was replaced.
    #[error(
        "the server refused the camera token ({0}); it is wrong or was replaced: create a new one \
         with DELETE /api/v1/cameras/{{id}}/token and pass it as SWITCHBOARD_CAMERA_TOKEN"
    )]
    Unauthorized(String),
    /// 404: the camera does not exist (deleted, or a wrong id).
    #[error("the server has no camera with this id ({0}); was it deleted? check --camera-id")]
    CameraNotFound(String),
}

impl CameraApi {
    /// An API client for camera `camera_id` of the server at `base`.
    pub fn new(base: &str, camera_id: &str, token: &str) -> reqwest::Result<CameraApi> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("switchboard-camera/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(CameraApi {
            client,
            base: base.trim_end_matches('/').to_owned(),
            camera_id: camera_id.to_owned(),
            token: token.to_owned(),
        })
    }

    /// The HTTP client (shared with the live stream).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The camera's id.
    pub fn camera_id(&self) -> &str {
        &self.camera_id
    }

    /// Uploads one photo taken at `taken_at`.
    pub async fn upload(&self, jpeg: Vec<u8>, taken_at: DateTime<Utc>) -> Result<Upload, Refused> {
        let url = format!("{}/api/v1/cameras/{}/snapshots", self.base, self.camera_id);
        let taken_at = taken_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let sent = self
            .client
            .post(url)
            .query(&[("taken_at", taken_at)])
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
            .timeout(UPLOAD_TIMEOUT)
            .body(jpeg)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Ok(Upload::Retry {
                    reason: error_chain(&e),
                    retry_after: None,
                });
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: Value = match response.json().await {
            Ok(v) => v,
            // A proxy's HTML error page, or the body broke off: judge by the status alone.
            Err(_) => Value::Null,
        };
        classify(status, &body, retry_after)
    }
}

/// Maps the server's answer to what the uploader does with the photo.
fn classify(
    status: StatusCode,
    body: &Value,
    retry_after: Option<Duration>,
) -> Result<Upload, Refused> {
    let code = body["error"].as_str().unwrap_or("");
    let message = body["message"]
        .as_str()
        .map_or_else(|| status.to_string(), str::to_owned);
    let stored = |snapshot: &Value| {
        let labels = snapshot["detections"]
            .as_array()
            .map(|found| {
                found
                    .iter()
                    .filter_map(|d| d["label"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // Absent (a server without live support) means the same as null.
        let live = serde_json::from_value(snapshot["live"].clone()).ok();
        Upload::Stored {
            status,
            state: snapshot["state"].as_str().unwrap_or("pending").to_owned(),
            labels,
            live,
        }
    };
    Ok(match status {
        // 200: a duplicate or discarded picture, which the server has handled too.
        StatusCode::OK | StatusCode::CREATED | StatusCode::ACCEPTED => stored(body),
        StatusCode::SERVICE_UNAVAILABLE if code == "detector_busy" => stored(&body["snapshot"]),
        StatusCode::UNAUTHORIZED => return Err(Refused::Unauthorized(message)),
        StatusCode::NOT_FOUND => return Err(Refused::CameraNotFound(message)),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Upload::Retry {
            reason: format!("{status}: {message}"),
            retry_after,
        },
        // The body broke off on the way: the photo itself is fine.
        StatusCode::BAD_REQUEST if code == "body_read_failed" => Upload::Retry {
            reason: format!("{status}: {message}"),
            retry_after,
        },
        s if s.is_client_error() => Upload::Rejected { status, message },
        _ => Upload::Retry {
            reason: format!("{status}: {message}"),
            retry_after,
        },
    })
}

/// An error with its causes, for one log line ("error sending request: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Exponential backoff with jitter: 1 s doubling to 60 s, each wait drawn between half and
/// all of the current step, so many cameras behind one outage do not retry in step.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    /// The wait before the next attempt, at least the server's `Retry-After`.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let step = Self::FIRST
            .saturating_mul(1 << self.failures.min(6))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        let jittered = rand::rng().random_range(step / 2..=step);
        jittered.max(retry_after.unwrap_or_default().min(Self::MAX))
    }

    /// After a success: the next failure waits one second again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_doubles_to_a_minute_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let steps = [1, 2, 4, 8, 16, 32, 60, 60];
        for secs in steps {
            let d = b.next(None);
            let step = Duration::from_secs(secs);
            assert!(d >= step / 2 && d <= step, "{d:?} for step {step:?}");
        }
        b.reset();
        assert!(b.next(None) <= Duration::from_secs(1));
        assert!(b.next(Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    #[test]
    fn answers_decide_what_happens_to_the_photo() {
        let done = json!({"state": "done", "detections": [{"label": "cup"}, {"label": "person"}],
                          "live": {"ticket": "ABCD-EFGH", "suid": "s1"}});
        match classify(StatusCode::CREATED, &done, None).unwrap() {
            Upload::Stored {
                labels,
                live,
                state,
                ..
            } => {
                assert_eq!(labels, ["cup", "person"]);
                assert_eq!(state, "done");
                assert_eq!(live.unwrap().ticket, "ABCD-EFGH");
            }
            other => panic!("{other:?}"),
        }
        let pending = json!({"state": "pending"});
        assert!(matches!(
            classify(StatusCode::ACCEPTED, &pending, None).unwrap(),
            Upload::Stored { live: None, .. }
        ));
        let busy = json!({"error": "detector_busy", "message": "busy",
                          "snapshot": {"state": "pending", "live": null}});
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &busy, None).unwrap(),
            Upload::Stored { live: None, .. }
        ));
        let down = json!({"error": "unavailable", "message": "database"});
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &down, None).unwrap(),
            Upload::Retry { .. }
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &Value::Null, None).unwrap(),
            Upload::Retry { .. }
        ));
        for status in [
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(matches!(
                classify(status, &Value::Null, None).unwrap(),
                Upload::Rejected { .. }
            ));
        }
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &Value::Null, None),
            Err(Refused::Unauthorized(_))
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &Value::Null, None),
            Err(Refused::CameraNotFound(_))
        ));
    }
}
