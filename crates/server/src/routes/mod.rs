//! The HTTP surface, one module per area. Every error answers through [`crate::error::ApiError`].

mod accounts;
mod admin;
mod cameras;
mod cells;
mod controls;
mod devices;
mod events;
mod frames;
mod jupyter;
mod pages;
mod qr;
mod sessions;
mod sockets;
mod viewers;

use crate::App;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{any, delete, get, patch, post};
use serde_json::json;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Protocol versions this server speaks.
pub const SUPPORTED_VERSIONS: [&str; 1] = ["v1"];

pub(crate) fn router(app: Arc<App>) -> Router {
    // A node name that cannot be a header value (it comes from config) is shown as `unnamed`
    // rather than failing every response.
    let node = HeaderValue::from_str(&app.config.node_name())
        .unwrap_or_else(|_| HeaderValue::from_static("unnamed"));
    let origin_policy = Arc::new(crate::browser_policy::OriginPolicy::new(&app.config));
    let security_headers = Arc::new(crate::browser_policy::SecurityHeaders::new(&app.config));
    let json_limit =
        usize::try_from(app.config.network.max_json_bytes.as_u64()).unwrap_or(usize::MAX);
    // A cell's code may be larger than other JSON bodies; escaping can make its JSON up to
    // six times its size.
    let cell_limit = usize::try_from(app.config.kernels.max_cell_code_bytes.as_u64())
        .unwrap_or(usize::MAX)
        .saturating_mul(6)
        .saturating_add(4096)
        .max(json_limit);
    // Kernels of other nodes are reached, and new ones placed, through these (kernel_proxy).
    let by_id =
        axum::middleware::from_fn_with_state(app.clone(), crate::kernel_proxy::by_kernel_id);
    let placed = axum::middleware::from_fn_with_state(app.clone(), crate::kernel_proxy::place);
    let v1 = Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/me", get(accounts::me).delete(accounts::delete_me))
        .route("/account/invites", post(accounts::create_invite))
        .route("/account/users", get(accounts::list_users))
        .route("/account/users/{id}", delete(accounts::delete_user))
        .route("/sessions", post(sessions::create).get(sessions::list))
        .route("/sessions/{suid}", get(sessions::get).delete(sessions::end))
        .route("/sessions/{suid}/qr.svg", get(qr::device_qr))
        .route("/events", get(events::account_events))
        .route("/execute", post(jupyter::execute).layer(placed.clone()))
        .route(
            "/cells",
            post(cells::create)
                .layer::<_, std::convert::Infallible>(placed.clone())
                .layer(DefaultBodyLimit::max(cell_limit)),
        )
        .route("/cells/{id_or_permalink}", get(cells::get))
        .route("/cells/{id_or_permalink}/files/{name}", get(cells::file))
        .route(
            "/kernels/{id}/messages",
            post(jupyter::post_message)
                .get(jupyter::poll_messages)
                .layer(by_id.clone()),
        )
        .route("/admin/overview", get(admin::overview))
        .route("/admin/nodes", get(admin::nodes))
        .route("/admin/history", get(admin::node_history))
        .route("/admin/sessions/{suid}/end", post(admin::end_session))
        .route("/devices/register", post(devices::register))
        .route("/sessions/{suid}/frames", post(frames::post_frame))
        .route("/sessions/{suid}/stream", post(frames::post_stream))
        .route("/sessions/{suid}/device", get(devices::device_socket))
        .route("/sessions/{suid}/video.mjpeg", get(viewers::mjpeg))
        .route("/sessions/{suid}/frame.jpg", get(viewers::latest_frame))
        .route("/sessions/{suid}/watch", get(viewers::watch_socket))
        .route(
            "/sessions/{suid}/controls",
            post(controls::send).get(controls::poll),
        )
        .route("/cameras", post(cameras::create).get(cameras::list))
        .route("/cameras/{id}", patch(cameras::update))
        .route("/cameras/{id}/token", delete(cameras::rotate_token))
        .route("/cameras/{id}/live", post(cameras::go_live))
        .route("/cameras/{id}/snapshots", post(cameras::upload))
        .route("/search", get(cameras::search))
        .route("/snapshots/{id}", get(cameras::snapshot))
        .route("/snapshots/{id}/thumb.jpg", get(cameras::snapshot_thumb))
        .layer(DefaultBodyLimit::max(json_limit));
    // Jupyter Server's kernel API lives outside /api/v1, where Jupyter clients expect it.
    let jupyter = Router::new()
        .route("/api/kernelspecs", get(jupyter::kernelspecs))
        .route(
            "/api/kernels",
            get(jupyter::list).post(jupyter::start).layer(placed),
        )
        .route(
            "/api/kernels/{id}",
            get(jupyter::get)
                .delete(jupyter::delete)
                .layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/interrupt",
            post(jupyter::interrupt).layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/restart",
            post(jupyter::restart).layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/channels",
            get(jupyter::channels).layer(by_id),
        )
        .layer(DefaultBodyLimit::max(json_limit));
    Router::new()
        .nest("/api/v1", v1)
        .merge(jupyter)
        .route("/api/{version}", any(unsupported_version))
        .route("/api/{version}/{*rest}", any(unsupported_version))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::scrape))
        .merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the metrics layer, so refusals are counted by route like other answers.
        .layer(axum::middleware::from_fn_with_state(
            origin_policy,
            crate::browser_policy::check_origin,
        ))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(axum::middleware::from_fn_with_state(
            security_headers,
            crate::browser_policy::add_security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(node, name_node))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(app)
}

async fn unsupported_version(Path(params): Path<Vec<(String, String)>>) -> ApiError {
    let version = params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if SUPPORTED_VERSIONS.contains(&version) {
        return ApiError::not_found("not_found", "no such route");
    }
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "unsupported_protocol_version",
        format!("protocol version {version:?} is not supported; use v1"),
    )
    .with_extra(json!({ "supported": SUPPORTED_VERSIONS }))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}

async fn readyz(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
) -> Result<&'static str, ApiError> {
    app.store.ping().await?;
    // Disconnected from NATS, this node would miss other nodes' events and revocations.
    if !app.bus.is_connected() {
        return Err(ApiError::unavailable(
            "the bus is disconnected; try again shortly",
        ));
    }
    // Connected is not enough: a subscription can die silently after a broker failover.
    if let Some(problem) = app.bus_health.problem() {
        return Err(ApiError::unavailable(format!(
            "the bus is not delivering messages ({problem}); subscribing again, try again shortly"
        )));
    }
    Ok("ready")
}

/// Names the node that answered in `X-Switchboard-Node` on every response, so operators (and
/// tests) behind a load balancer can tell where a request went.
async fn name_node(
    axum::extract::State(node): axum::extract::State<HeaderValue>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(NODE_HEADER, node);
    resp
}

/// The response header naming the node that answered.
pub const NODE_HEADER: &str = "x-switchboard-node";

/// Every log line of a request carries its id (also sent back as `x-request-id`).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}
