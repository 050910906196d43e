//! `GET /metrics`: the Prometheus text format of what `crate::metrics` records, with gauges
//! of the current state computed at scrape time. On the main listener it is for the metrics
//! token or an operator; with `metrics_listen`, it lives only on that listener.

use crate::App;
use crate::auth::CurrentUser;
use crate::browser_policy::{SecurityHeaders, add_security_headers};
use crate::error::ApiError;
use crate::protocol::ErrorCode;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use switchboard_core::{Role, SessionState};

/// `GET /metrics` on the main listener: for the metrics token, or an operator's user token.
/// With `metrics_listen` set, `/metrics` lives only there and this answers 404.
pub(super) async fn scrape(
    State(app): State<Arc<App>>,
    req: Request,
) -> Result<Response, ApiError> {
    if app.config.operations.metrics_listen.is_some() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    }
    if !app.metrics_access.admits(req.headers()) {
        let (mut parts, _) = req.into_parts();
        let caller = CurrentUser::from_request_parts(&mut parts, &app).await?;
        if caller.user.role != Role::Operator {
            return Err(ApiError::forbidden(
                "/metrics is for operators and for the metrics token",
            ));
        }
    }
    Ok(render(&app))
}

/// `GET /metrics` on the metrics listener: to anyone who reaches it, unless a metrics token
/// is set.
async fn scrape_dedicated(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if app.metrics_access.has_token() && !app.metrics_access.admits(&headers) {
        return Err(ApiError::unauthorized(
            "send the metrics token: Authorization: Bearer <token>",
        ));
    }
    Ok(render(&app))
}

/// The metrics listener's routes: `/metrics` and nothing else.
pub(crate) fn dedicated_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(scrape_dedicated))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(SecurityHeaders::plain_http()),
            add_security_headers,
        ))
        .with_state(app)
}

/// Serves [`dedicated_router`] on `listener` until the node begins to stop.
pub(crate) async fn serve_dedicated(app: Arc<App>, listener: tokio::net::TcpListener) {
    let stopping = app.shutdown.clone();
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving /metrics apart");
    }
    let serving = axum::serve(listener, dedicated_router(app))
        .with_graceful_shutdown(async move { stopping.cancelled().await });
    if let Err(e) = serving.await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// Prometheus text format of everything recorded, with the gauges of the current state.
fn render(app: &App) -> Response {
    let mut by_state = [0u64; 3];
    let mut viewers = 0u64;
    let mut devices = 0u64;
    let now_ms = chrono::Utc::now().timestamp_millis();
    for h in app.sessions.all() {
        let st = h.status();
        let i = match st.state {
            SessionState::Waiting => 0,
            SessionState::Live => 1,
            SessionState::Ended => 2,
        };
        by_state[i] += 1;
        viewers += u64::from(st.viewers);
        // A device counts while it sent a frame in the last 10 s.
        if st.state == SessionState::Live
            && h.stats()
                .last_frame_ms()
                .is_some_and(|t| now_ms - t < 10_000)
        {
            devices += 1;
        }
        if st.state == SessionState::Live {
            metrics::gauge!("switchboard_session_fps", "suid" => h.suid().to_string())
                .set(h.stats().fps());
        }
    }
    for (state, n) in [("waiting", by_state[0]), ("live", by_state[1])] {
        metrics::gauge!("switchboard_sessions", "state" => state, "kind" => "video").set(n as f64);
    }
    metrics::gauge!("switchboard_viewers").set(viewers as f64);
    metrics::gauge!("switchboard_devices_streaming").set(devices as f64);
    metrics::gauge!("switchboard_kernels").set(app.compute.running() as f64);
    metrics::gauge!("switchboard_kernels_warm").set(app.compute.warm() as f64);
    metrics::gauge!("switchboard_active_user_tokens").set(app.tokens.active_count() as f64);
    let body = app.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
