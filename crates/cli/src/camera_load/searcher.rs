//! One simulated user searching their account's history while the cameras upload.

use super::camera::Shared;
use super::setup::retry_after;
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// Questions people ask, in turn.
const QUESTIONS: &[&str] = &[
    "where is my phone",
    "where is the bus",
    "person",
    "where did I leave my cup",
    "laptop",
    "is the dog in the garden",
    "backpack",
    "where are my keys",
];

/// Asks a question of account `account`, reads the whole answer, waits `pause`, and asks
/// again, until the cameras stop.
pub async fn run(shared: Arc<Shared>, account: usize, index: usize, pause: Duration) {
    let Ok(url) = shared.base.join("api/v1/search") else {
        return;
    };
    let user = shared.users[account].clone();
    let mut asked = index;
    while Instant::now() < shared.stop_at {
        let question = QUESTIONS[asked % QUESTIONS.len()];
        asked += 1;
        let started = Instant::now();
        let resp = match shared
            .http
            .get(url.clone())
            .query(&[("q", question)])
            .bearer_auth(&user)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                shared.tally.errors.record("search_send", e);
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let status = resp.status();
        let wait = retry_after(&resp);
        match resp.bytes().await {
            Ok(_) if status.is_success() => shared.tally.searched(started.elapsed()),
            Ok(_)
                if status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                shared
                    .tally
                    .searches_refused
                    .fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))).await;
                continue;
            }
            Ok(body) => shared.tally.errors.record(
                format!("search_{}", status.as_u16()),
                String::from_utf8_lossy(&body),
            ),
            Err(e) => shared.tally.errors.record("search_read", e),
        }
        tokio::time::sleep(pause).await;
    }
}
