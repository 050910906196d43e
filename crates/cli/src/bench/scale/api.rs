//! The API calls the scale bench makes beyond the load engine's ([`ApiClient`]): reading a
//! session back and a device sending one frame over HTTP, each retried while the server is
//! not up yet (a restart is timed by them).

use crate::load::account::ApiClient;
use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use switchboard_core::{DeviceInfo, Suid};
use switchboard_server::protocol::DeviceRegistered;

/// Requests in flight at once while setting up or checking sessions: enough to keep the
/// server busy, well below its `api` request class (1,024) and the per-address cap.
pub const CONCURRENCY: usize = 32;

/// The part of a session's view the bench reads.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionView {
    pub state: String,
    pub end_reason: Option<String>,
    pub live_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl SessionView {
    /// Whether the session is still open (waiting or live).
    pub fn is_open(&self) -> bool {
        self.state == "waiting" || self.state == "live"
    }
}

/// `GET /api/v1/sessions/{suid}`.
pub async fn session(
    http: &reqwest::Client,
    base: &Url,
    token: &str,
    suid: Suid,
) -> anyhow::Result<SessionView> {
    let url = base.join(&format!("api/v1/sessions/{suid}"))?;
    let answer = http.get(url).bearer_auth(token).send().await?;
    let status = answer.status();
    if !status.is_success() {
        anyhow::bail!("session {suid}: {status}");
    }
    Ok(answer.json().await?)
}

/// `POST frames_url?seq=N` with a device token, sent to the node at `base` (the path is the
/// device's `frames_url`'s: after a restart a node may listen elsewhere): whether the server
/// accepted the frame.
pub async fn send_frame(
    http: &reqwest::Client,
    base: &Url,
    device: &DeviceRegistered,
    seq: u64,
    frame: Bytes,
) -> anyhow::Result<()> {
    let given: Url = device
        .frames_url
        .parse()
        .with_context(|| format!("frames_url {:?} is not a URL", device.frames_url))?;
    let url = base.join(given.path())?;
    let answer = http
        .post(url)
        .query(&[("seq", seq)])
        .bearer_auth(&device.device_token)
        .header(CONTENT_TYPE, "image/jpeg")
        .body(frame)
        .send()
        .await?;
    let status = answer.status();
    if !status.is_success() {
        anyhow::bail!("frame for session {}: {status}", device.suid);
    }
    Ok(())
}

/// What the bench's devices say about themselves.
pub fn device_info() -> DeviceInfo {
    DeviceInfo {
        model: Some("switchboard bench scale".into()),
        os: Some(std::env::consts::OS.into()),
        app_version: Some(env!("CARGO_PKG_VERSION").into()),
        ..DeviceInfo::default()
    }
}

/// Creates `count` sessions labelled `label n`; `tick` is called after each.
pub async fn create_sessions(
    api: &ApiClient,
    label: &str,
    count: usize,
    tick: impl Fn() + Sync,
) -> anyhow::Result<Vec<(Suid, Option<String>)>> {
    futures::stream::iter(0..count)
        .map(|n| {
            let tick = &tick;
            async move {
                let created = api.create_session(&format!("{label} {n}")).await?;
                tick();
                anyhow::Ok((created.suid, created.ticket))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
}

/// Creates a session and redeems its ticket as a device would.
pub async fn create_live(api: &ApiClient, label: &str) -> anyhow::Result<DeviceRegistered> {
    let created = api.create_session(label).await?;
    let ticket = created
        .ticket
        .with_context(|| format!("session {} came without a ticket", created.suid))?;
    api.register_device(&ticket, &device_info(), |_| {}).await
}
