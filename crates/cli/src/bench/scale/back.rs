//! Whether the sessions a stage opened are back after a restart: every one answers as open
//! and every device's token has a frame accepted, each asked again until a deadline.

use super::api::{self, CONCURRENCY};
use super::bar;
use crate::load::account::ApiClient;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::Url;
use switchboard_core::Suid;
use switchboard_server::protocol::DeviceRegistered;
use tokio::time::Instant;

/// How often a session or device not yet back is asked again.
const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// The sessions the stage opened.
pub struct Opened {
    pub suids: Vec<Suid>,
    pub devices: Vec<DeviceRegistered>,
}

/// Asks whether the opened sessions and devices are back.
pub struct Probe<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a Url,
    pub token: &'a str,
    pub opened: &'a Opened,
    pub frame: Bytes,
}

impl Probe<'_> {
    /// Waits until every session answers as open and every device has a frame (number
    /// `seq`) accepted, or `deadline`; returns how many did.
    pub async fn all_back(&self, seq: u64, deadline: Instant) -> anyhow::Result<usize> {
        let sessions = futures::stream::iter(&self.opened.suids)
            .map(|&suid| {
                retry_until(deadline, move || async move {
                    let view = api::session(self.http, self.base, self.token, suid).await?;
                    anyhow::ensure!(view.is_open(), "session {suid} is {}", view.state);
                    Ok(())
                })
            })
            .buffer_unordered(CONCURRENCY)
            .filter(|ok| std::future::ready(*ok))
            .count();
        let devices = futures::stream::iter(&self.opened.devices)
            .map(|device| {
                retry_until(deadline, move || {
                    api::send_frame(self.http, self.base, device, seq, self.frame.clone())
                })
            })
            .buffer_unordered(CONCURRENCY)
            .filter(|ok| std::future::ready(*ok))
            .count();
        let (sessions, devices) = tokio::join!(sessions, devices);
        Ok(sessions + devices)
    }
}

/// Calls `attempt` until it succeeds (true) or `deadline` passes (false).
async fn retry_until<F, Fut>(deadline: Instant, attempt: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    loop {
        if attempt().await.is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

/// Ends every session.
pub async fn end_all(api: &ApiClient, suids: &[Suid]) -> anyhow::Result<()> {
    let progress = bar(suids.len() as u64, "ending sessions");
    let ended: Vec<anyhow::Result<()>> = futures::stream::iter(suids)
        .map(|&suid| {
            let progress = &progress;
            async move {
                api.end_session(suid).await?;
                progress.inc(1);
                Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    progress.finish_and_clear();
    ended.into_iter().collect()
}
