//! Accounts and cameras for a camera load run, made through the API as people would.

use anyhow::{Context, bail};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long sign-up and camera creation keep waiting out 429s and 503s.
const SETUP_PATIENCE: Duration = Duration::from_secs(5 * 60);

/// A signed-in user of one simulated account.
#[derive(Debug, Clone)]
pub struct Account {
    pub token: String,
}

/// A simulated camera: its id, its token, and the account it belongs to.
#[derive(Debug, Clone)]
pub struct Camera {
    pub id: String,
    pub token: String,
    pub account: usize,
}

#[derive(Deserialize)]
struct SignedUp {
    token: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
    token: String,
}

#[derive(Deserialize)]
struct CameraList {
    detecting: bool,
    #[serde(default)]
    detector: serde_json::Value,
}

/// `Retry-After` in seconds, if the answer has one.
pub fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Sends what `make` builds until it is not refused for load (429, 503), waiting as the
/// server asks; any other failure is returned with its body.
async fn patiently(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Response> {
    let started = Instant::now();
    loop {
        let resp = make()
            .send()
            .await
            .with_context(|| format!("cannot {what}"))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let busy =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if !busy || started.elapsed() > SETUP_PATIENCE {
            let body = resp.text().await.unwrap_or_default();
            bail!("cannot {what}: {status} {body}");
        }
        let wait = retry_after(&resp).unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
    }
}

/// Signs up `accounts` users, each in an account of their own, and creates `cameras`
/// cameras spread over them, `per_account` each. Fails when the server does not detect
/// (a load run would only fill its pending list), saying why.
pub async fn prepare(
    http: &reqwest::Client,
    base: &Url,
    accounts: u32,
    cameras: u32,
    per_account: u32,
) -> anyhow::Result<(Vec<Account>, Vec<Camera>)> {
    let run = format!("{:08x}", rand::random::<u32>());
    let mut made = Vec::new();
    for a in 0..accounts {
        let username = format!("camload-{run}-{a}");
        let body = json!({
            "username": username,
            "password": format!("{:032x}", rand::random::<u128>()),
            "account_name": format!("Camera load {run} {a}"),
        });
        let url = base.join("api/v1/auth/register")?;
        let resp = patiently("sign up", || http.post(url.clone()).json(&body))
            .await
            .with_context(|| format!("is `switchboard serve` running at {base}?"))?;
        let SignedUp { token } = resp.json().await?;
        made.push(Account { token });
    }
    let list_url = base.join("api/v1/cameras")?;
    if let Some(first) = made.first() {
        let list: CameraList = patiently("list cameras", || {
            http.get(list_url.clone()).bearer_auth(&first.token)
        })
        .await?
        .json()
        .await?;
        if !list.detecting {
            let why = list.detector["off_because"]
                .as_str()
                .unwrap_or("no reason given");
            bail!("the server at {base} does not detect objects: {why}");
        }
    }
    let mut out = Vec::new();
    for c in 0..cameras {
        let account = (c / per_account) as usize;
        let Some(owner) = made.get(account) else {
            bail!("camera {c} has no account");
        };
        let body = json!({ "name": format!("cam-{c}") });
        let resp = patiently("create a camera", || {
            http.post(list_url.clone())
                .bearer_auth(&owner.token)
                .json(&body)
        })
        .await?;
        let Created { id, token } = resp.json().await?;
        out.push(Camera { id, token, account });
    }
    Ok((made, out))
}
