//! Whether session timers fire on time with the server full: a batch of live sessions that
//! nobody watches, each due to end `timeout` after it went live (the no-viewers timeout the
//! server was started with). Lateness is the server's own `ended_at` minus that due time,
//! so it measures when the timer fired, not how fast the bench noticed.

use super::api::{self, CONCURRENCY, SessionView};
use crate::load::account::ApiClient;
use crate::load::stats::LatencyHistogram;
use futures::StreamExt;
use indicatif::ProgressBar;
use reqwest::Url;
use std::time::Duration;
use switchboard_core::Suid;
use tokio::time::Instant;

/// How long past the due time a session may stay open before it counts as never ended.
const GIVE_UP_AFTER: Duration = Duration::from_secs(15);

/// How often sessions still open past their due time are read again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What the batch showed.
#[derive(Debug, Default)]
pub struct TimerReport {
    /// Lateness of every session that ended for the expected reason, in microseconds.
    pub lateness: LatencyHistogram,
    /// Sessions that ended for another reason, or not within [`GIVE_UP_AFTER`].
    pub wrong: u64,
}

/// Starts `count` unwatched live sessions and waits until each has ended.
pub async fn measure(
    api: &ApiClient,
    http: &reqwest::Client,
    base: &Url,
    count: usize,
    timeout: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<TimerReport> {
    let suids: Vec<Suid> = futures::stream::iter(0..count)
        .map(|n| async move {
            let registered = api::create_live(api, &format!("timer {n}")).await?;
            bar.inc(1);
            anyhow::Ok(registered.suid)
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    // Every session went live before now, so all are due before now + timeout.
    let all_due = Instant::now() + timeout;
    tokio::time::sleep_until(all_due + POLL_INTERVAL).await;
    let mut report = TimerReport::default();
    let mut open = suids;
    let give_up = all_due + GIVE_UP_AFTER;
    while !open.is_empty() && Instant::now() < give_up {
        let views: Vec<(Suid, anyhow::Result<SessionView>)> = futures::stream::iter(open)
            .map(|suid| async move { (suid, api::session(http, base, api.token(), suid).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        open = Vec::new();
        for (suid, view) in views {
            match view {
                Ok(view) if view.is_open() => open.push(suid),
                Ok(view) => report.record(&view, timeout),
                Err(_) => open.push(suid),
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    report.wrong += open.len() as u64;
    Ok(report)
}

impl TimerReport {
    /// Counts an ended session: its lateness if it ended for lack of viewers.
    fn record(&mut self, view: &SessionView, timeout: Duration) {
        let due = view
            .live_at
            .and_then(|live| chrono::Duration::from_std(timeout).ok().map(|t| live + t));
        match (view.end_reason.as_deref(), due, view.ended_at) {
            (Some("no_viewers"), Some(due), Some(ended)) => {
                let late = (ended - due).num_microseconds().unwrap_or(i64::MAX);
                self.lateness.record(u64::try_from(late).unwrap_or(0));
            }
            _ => self.wrong += 1,
        }
    }
}
