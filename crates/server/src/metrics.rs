//! Prometheus metrics. Counters and histograms are recorded where things happen; gauges that
//! describe current state (sessions by state, viewers, per-session fps) are computed from the
//! registry when `/metrics` is scraped, so they can never drift.
//!
//! `/metrics` names live sessions, so it is not public: on the main listener it needs the
//! metrics token or an operator's user token; with `metrics_listen` it is served on that
//! address alone (with the token when one is set). See [`ScrapeAccess`].

use crate::config::{Config, ConfigError};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use switchboard_core::{EndReason, ServiceStatus};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls reuse it, as when tests run several
/// servers in one process).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                // A session's gauges disappear a while after it ends.
                .idle_timeout(
                    metrics_util::MetricKindMask::GAUGE,
                    Some(Duration::from_secs(300)),
                )
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Times every request. Every label comes from a closed set, whatever a client sends: the
/// route pattern (not the path; `unmatched` for no route), the method among the standard
/// ones (else `other`), and the status when it is a registered code (else its class, `5xx`).
/// A label taken from the request would let anyone grow `/metrics` and the recorder without
/// bound.
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = status_label(resp.status());
    metrics::counter!("switchboard_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The `method` label: a standard method's name, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `status` label: a registered status code (`200`, `404`), else its class (`5xx`).
fn status_label(status: StatusCode) -> String {
    if status.canonical_reason().is_some() {
        status.as_u16().to_string()
    } else {
        format!("{}xx", status.as_u16() / 100)
    }
}

/// Counters a viewer connection bumps per frame, looked up once per connection.
#[derive(Clone)]
pub struct ViewerMeters {
    frames: metrics::Counter,
    bytes: metrics::Counter,
    delivery: metrics::Histogram,
}

impl ViewerMeters {
    pub fn new(transport: &'static str) -> Self {
        ViewerMeters {
            frames: metrics::counter!("switchboard_frames_out_total", "transport" => transport, "path" => "jpeg"),
            bytes: metrics::counter!("switchboard_frame_bytes_out_total", "transport" => transport, "path" => "jpeg"),
            delivery: metrics::histogram!("switchboard_frame_delivery_seconds", "transport" => transport),
        }
    }

    /// A frame went out `since` after the device's frame arrived.
    pub fn sent(&self, bytes: usize, since: Instant) {
        self.frames.increment(1);
        self.bytes.increment(bytes as u64);
        self.delivery.record(since.elapsed().as_secs_f64());
    }
}

/// A session ended.
pub fn session_ended(reason: EndReason, incomplete: bool) {
    metrics::counter!("switchboard_sessions_ended_total", "reason" => reason.as_str()).increment(1);
    if incomplete {
        metrics::counter!("switchboard_incomplete_attempts_total").increment(1);
    }
}

/// A snapshot was analysed and this many objects found.
pub fn detections(found: usize) {
    metrics::counter!("switchboard_snapshots_detected_total").increment(1);
    metrics::counter!("switchboard_detections_total").increment(found as u64);
}

/// Taught objects found in snapshots and kept (one per object and snapshot).
pub fn taught_matches(kept: u64) {
    metrics::counter!("switchboard_taught_matches_total").increment(kept);
}

/// A detected snapshot dropped by its camera's rules (`duplicate` or `no_person`).
pub fn snapshot_dropped(why: switchboard_store::Discard) {
    let reason = match why {
        switchboard_store::Discard::Duplicate => "duplicate",
        switchboard_store::Discard::NoPerson => "no_person",
    };
    metrics::counter!("switchboard_snapshots_dropped_total", "reason" => reason).increment(1);
}

/// Counts a stored blob that failed its integrity check (truncated, altered, swapped, or
/// its key gone); `object` is a fixed name (`snapshot`, `cell_file`, `taught_object`), never
/// request bytes.
pub fn integrity_error(object: &'static str) {
    metrics::counter!("switchboard_integrity_errors_total", "object" => object).increment(1);
}

/// Bus probes that did not come back (see `crate::bus_probe`); `0` makes the series visible
/// before the first failure.
pub fn bus_probe_failures(n: u64) {
    metrics::counter!("switchboard_bus_probe_failures_total").increment(n);
}

/// A sign-in attempt.
pub fn login(success: bool) {
    let result = if success { "success" } else { "failure" };
    metrics::counter!("switchboard_logins_total", "result" => result).increment(1);
}

/// The process figures of the monitor's newest sample.
pub fn record_process(st: &ServiceStatus) {
    metrics::gauge!("switchboard_process_cpu_percent").set(st.cpu_percent);
    metrics::gauge!("switchboard_process_resident_bytes").set(st.resident_bytes as f64);
    metrics::gauge!("switchboard_load_average_1m").set(st.load);
}

/// Who may read `/metrics`, besides an operator on the main listener.
#[derive(Debug)]
pub struct ScrapeAccess {
    /// SHA-256 of the metrics token, when one is set; comparing digests keeps the time a
    /// comparison takes from telling how much of a guess was right.
    token_digest: Option<[u8; 32]>,
}

impl ScrapeAccess {
    /// Whether a metrics token is set.
    pub(crate) fn has_token(&self) -> bool {
        self.token_digest.is_some()
    }

    /// The metrics token from `metrics_token` or `metrics_token_file`.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let token = match (
            &config.operations.metrics_token,
            &config.operations.metrics_token_file,
        ) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => {
                let token = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "cannot read metrics_token_file {}: {e}",
                        path.display()
                    ))
                })?;
                crate::config::check_metrics_token(&token)?;
                Some(token)
            }
            (None, None) => None,
        };
        Ok(ScrapeAccess {
            token_digest: token.map(|t| digest(t.trim())),
        })
    }

    /// Whether the request carries the metrics token as `Authorization: Bearer …`.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token_digest else {
            return false;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && digest(token.trim()) == *expected
            })
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
