//! The calls a load run makes as a person would: sign up, create sessions, end them; and the
//! one a device makes first, redeeming a ticket.

use anyhow::{Context, bail};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard_core::{DeviceInfo, Suid};
use switchboard_server::protocol::DeviceRegistered;

/// How long one device keeps retrying a rate-limited registration. Tickets live ten minutes
/// by default, so waiting longer would only end in "ticket expired".
const REGISTRATION_PATIENCE: Duration = Duration::from_secs(10 * 60);

/// The part of the sign-up answer this client uses. Answers are read into small structs of
/// their own rather than the server's full view types, so that the simulator keeps working
/// against a server one version older or newer that added a field.
#[derive(Debug, Deserialize)]
struct SignedUp {
    token: String,
}

/// The part of a session's view this client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedSession {
    pub suid: Suid,
    /// The ticket, while the session waits for its device.
    pub ticket: Option<String>,
}

/// A signed-in client of the server's HTTP API.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: String,
    /// Whether the rate-limit hint was printed already (once per run is enough).
    hinted: AtomicBool,
}

/// An error answer from the API, kept apart so callers can react to 429.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// Reads an error answer's `{"error","message"}` body and `Retry-After`.
    pub(super) async fn from_response(resp: reqwest::Response) -> ApiFailure {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let field = |name: &str| body.get(name).and_then(|v| v.as_str()).unwrap_or("");
        ApiFailure {
            status,
            code: field("error").to_owned(),
            message: field("message").to_owned(),
            retry_after,
        }
    }
}

/// Sends a request and decodes a success answer, or returns the error answer as an
/// [`ApiFailure`] (inside the `anyhow::Error`, for `downcast_ref`).
async fn call<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> anyhow::Result<T> {
    let resp = request.send().await?;
    if !resp.status().is_success() {
        return Err(ApiFailure::from_response(resp).await.into());
    }
    Ok(resp.json().await?)
}

impl ApiClient {
    /// Signs up a new user with a random name in a new account, as `switchboard simulate`
    /// needs its own sessions and must not collide with anyone's.
    pub async fn sign_up(http: reqwest::Client, base: Url) -> anyhow::Result<ApiClient> {
        let username = format!("sim-{:016x}", rand::random::<u64>());
        let password = format!("{:032x}", rand::random::<u128>());
        let url = base.join("api/v1/auth/register")?;
        let body = json!({
            "username": username,
            "password": password,
            "account_name": format!("Simulation {username}"),
        });
        let answer: SignedUp = call(http.post(url).json(&body)).await.with_context(|| {
            format!("cannot sign up at {base}: is `switchboard serve` running there?")
        })?;
        Ok(ApiClient {
            http,
            base,
            token: answer.token,
            hinted: AtomicBool::new(false),
        })
    }

    /// The same user, speaking to another node of the cluster (which shares the token
    /// secret and database).
    pub fn on(&self, base: Url) -> ApiClient {
        ApiClient {
            http: self.http.clone(),
            base,
            token: self.token.clone(),
            hinted: AtomicBool::new(false),
        }
    }

    /// The user token, for viewers.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn request(&self, method: Method, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let url = self.base.join(path)?;
        Ok(self.http.request(method, url).bearer_auth(&self.token))
    }

    /// Creates a session; the answer carries its ticket.
    pub async fn create_session(&self, label: &str) -> anyhow::Result<CreatedSession> {
        let request = self
            .request(Method::POST, "api/v1/sessions")?
            .json(&json!({ "label": label }));
        call(request).await.context("cannot create a session")
    }

    /// Redeems `ticket` as a device would. A 429 is waited out as its `Retry-After` asks,
    /// for up to ten minutes; `hint` is called once per client with advice for big runs.
    pub async fn register_device(
        &self,
        ticket: &str,
        device: &DeviceInfo,
        hint: impl Fn(String),
    ) -> anyhow::Result<DeviceRegistered> {
        let url = self.base.join("api/v1/devices/register")?;
        let body = json!({ "ticket": ticket, "device": device });
        let started = Instant::now();
        loop {
            // Devices do not sign in: this request carries no user token.
            match call(self.http.post(url.clone()).json(&body)).await {
                Ok(registered) => return Ok(registered),
                Err(e) => {
                    let Some(failure) = e.downcast_ref::<ApiFailure>() else {
                        return Err(e.context("cannot register a device"));
                    };
                    if failure.status != StatusCode::TOO_MANY_REQUESTS
                        || started.elapsed() > REGISTRATION_PATIENCE
                    {
                        return Err(e.context("cannot register a device"));
                    }
                    let wait = failure.retry_after.unwrap_or(Duration::from_secs(1));
                    if !self.hinted.swap(true, Ordering::Relaxed) {
                        hint(format!(
                            "the server limits ticket redemptions per address; waiting {}s as it asks. \
                             For big runs start it with --ticket-redemptions-per-minute 100000",
                            wait.as_secs()
                        ));
                    }
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                }
            }
        }
    }

    /// Ends a session.
    pub async fn end_session(&self, suid: Suid) -> anyhow::Result<()> {
        let request = self.request(Method::DELETE, &format!("api/v1/sessions/{suid}"))?;
        let _: serde::de::IgnoredAny = call(request)
            .await
            .with_context(|| format!("cannot end session {suid}"))?;
        Ok(())
    }
}

/// Checks that a URL is one this tool can talk to, and makes it end with `/` so that
/// relative API paths join onto it rather than replace its last segment.
pub fn normalize_base(mut url: Url) -> anyhow::Result<Url> {
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("the server URL must start with http:// or https://, not {url}");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
