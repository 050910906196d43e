//! The HTTP surface, one module per area. Every error answers through [`crate::error::ApiError`].

mod accounts;
mod admin;
mod audit;
mod cameras;
mod cells;
mod controls;
mod devices;
mod docs;
mod events;
mod frames;
mod jupyter;
mod kernel_forwarding;
mod limits;
mod pages;
mod qr;
mod runs;
pub(crate) mod scrape;
mod security;
mod sessions;
mod table;
mod taught_objects;
mod viewers;
mod webrtc;
mod webrtc_forwarding;

pub use table::Route;

use crate::App;
use crate::error::ApiError;
use crate::protocol::ErrorCode;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, Method};
use axum::routing::{any, delete, get, patch, post};
use std::sync::Arc;
use table::Table;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Protocol versions this server speaks.
pub const SUPPORTED_VERSIONS: [&str; 1] = ["v1"];

/// The node's router, and the API routes it serves (for the OpenAPI check).
pub(crate) fn router(app: Arc<App>) -> (Router, Vec<Route>) {
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
    // Kernels of other nodes are reached, and new ones placed, through these.
    let by_id = axum::middleware::from_fn_with_state(app.clone(), kernel_forwarding::by_kernel_id);
    let placed = axum::middleware::from_fn_with_state(app.clone(), kernel_forwarding::place);
    // WebRTC signalling for a session another node holds goes there.
    let to_home =
        axum::middleware::from_fn_with_state(app.clone(), webrtc_forwarding::to_session_home);
    let v1 = Table::new("/api/v1")
        .route("/openapi.json", [Method::GET], get(docs::openapi_json))
        .route("/auth/register", [Method::POST], post(accounts::register))
        .route("/auth/login", [Method::POST], post(accounts::login))
        .route("/auth/logout", [Method::POST], post(accounts::logout))
        .route(
            "/auth/second-factor",
            [Method::POST],
            post(accounts::second_factor),
        )
        .route(
            "/me/password",
            [Method::POST],
            post(security::change_password),
        )
        .route(
            "/me/username",
            [Method::POST],
            post(security::change_username),
        )
        .route(
            "/me/second-factor",
            [Method::POST],
            post(security::begin_enrolment),
        )
        .route(
            "/me/second-factor/qr.svg",
            [Method::GET],
            get(security::enrolment_qr),
        )
        .route(
            "/me/second-factor/confirm",
            [Method::POST],
            post(security::confirm_enrolment),
        )
        .route(
            "/me/second-factor/disable",
            [Method::POST],
            post(security::disable),
        )
        .route(
            "/me/sign-ins",
            [Method::GET, Method::DELETE],
            get(security::list_sign_ins).delete(security::revoke_other_sign_ins),
        )
        .route(
            "/me/sign-ins/{id}",
            [Method::DELETE],
            delete(security::revoke_sign_in),
        )
        .route(
            "/account/security",
            [Method::GET, Method::PUT],
            get(security::settings).put(security::update_settings),
        )
        .route(
            "/account/users/{id}/password",
            [Method::POST],
            post(security::reset_password),
        )
        .route(
            "/me",
            [Method::GET, Method::DELETE],
            get(accounts::me).delete(accounts::delete_me),
        )
        .route(
            "/account",
            [Method::DELETE],
            delete(accounts::delete_account),
        )
        .route(
            "/account/invites",
            [Method::POST],
            post(accounts::create_invite),
        )
        .route("/account/users", [Method::GET], get(accounts::list_users))
        .route("/account/limits", [Method::GET], get(limits::own))
        .route(
            "/account/users/{id}",
            [Method::DELETE],
            delete(accounts::delete_user),
        )
        .route(
            "/sessions",
            [Method::POST, Method::GET],
            post(sessions::create).get(sessions::list),
        )
        .route(
            "/sessions/{suid}",
            [Method::GET, Method::DELETE],
            get(sessions::get).delete(sessions::end),
        )
        .route("/sessions/{suid}/qr.svg", [Method::GET], get(qr::device_qr))
        .route("/events", [Method::GET], get(events::account_events))
        .route(
            "/execute",
            [Method::POST],
            post(runs::execute).layer(placed.clone()),
        )
        .route(
            "/cells",
            [Method::POST],
            post(cells::create)
                .layer::<_, std::convert::Infallible>(placed.clone())
                .layer(DefaultBodyLimit::max(cell_limit)),
        )
        .route("/cells/{id_or_permalink}", [Method::GET], get(cells::get))
        .route(
            "/cells/{id_or_permalink}/files/{name}",
            [Method::GET],
            get(cells::file),
        )
        .route(
            "/kernels/{id}/messages",
            [Method::POST, Method::GET],
            post(jupyter::post_message)
                .get(jupyter::poll_messages)
                .layer(by_id.clone()),
        )
        .route("/admin/overview", [Method::GET], get(admin::overview))
        .route("/admin/accounts", [Method::GET], get(limits::accounts))
        .route("/audit", [Method::GET], get(audit::list))
        .route(
            "/admin/accounts/{id}",
            [Method::DELETE],
            delete(admin::delete_account),
        )
        .route(
            "/admin/accounts/{id}/limits",
            [Method::GET, Method::PUT],
            get(limits::of_account).put(limits::set),
        )
        .route("/admin/nodes", [Method::GET], get(admin::nodes))
        .route("/admin/history", [Method::GET], get(admin::node_history))
        .route(
            "/admin/sessions/{suid}/end",
            [Method::POST],
            post(admin::end_session),
        )
        .route("/devices/register", [Method::POST], post(devices::register))
        .route(
            "/sessions/{suid}/frames",
            [Method::POST],
            post(frames::post_frame),
        )
        .route(
            "/sessions/{suid}/stream",
            [Method::POST],
            post(frames::post_stream),
        )
        .route(
            "/sessions/{suid}/device",
            [Method::GET],
            get(devices::device_socket),
        )
        .route(
            "/sessions/{suid}/video.mjpeg",
            [Method::GET],
            get(viewers::mjpeg),
        )
        .route(
            "/sessions/{suid}/frame.jpg",
            [Method::GET],
            get(viewers::latest_frame),
        )
        .route(
            "/sessions/{suid}/watch",
            [Method::GET],
            get(viewers::watch_socket),
        )
        .route(
            "/sessions/{suid}/whip",
            [Method::POST],
            post(webrtc::publish).layer(to_home.clone()),
        )
        .route(
            "/sessions/{suid}/whip/{resource}",
            [Method::DELETE],
            delete(webrtc::unpublish).layer(to_home.clone()),
        )
        .route(
            "/sessions/{suid}/whep",
            [Method::POST],
            post(webrtc::play).layer(to_home.clone()),
        )
        .route(
            "/webrtc/ice-servers",
            [Method::GET],
            get(webrtc::ice_servers),
        )
        .route(
            "/sessions/{suid}/whep/{resource}",
            [Method::DELETE],
            delete(webrtc::stop).layer(to_home),
        )
        .route(
            "/sessions/{suid}/controls",
            [Method::POST, Method::GET],
            post(controls::send).get(controls::poll),
        )
        .route(
            "/cameras",
            [Method::POST, Method::GET],
            post(cameras::create).get(cameras::list),
        )
        .route("/cameras/{id}", [Method::PATCH], patch(cameras::update))
        .route(
            "/cameras/{id}/token",
            [Method::DELETE],
            delete(cameras::rotate_token),
        )
        .route("/cameras/{id}/live", [Method::POST], post(cameras::go_live))
        .route(
            "/cameras/{id}/snapshots",
            [Method::POST],
            post(cameras::upload),
        )
        .route("/search", [Method::GET], get(cameras::search))
        .route(
            "/search/voice",
            [Method::GET, Method::POST],
            get(cameras::voice_status).post(cameras::voice_search),
        )
        .route("/snapshots/{id}", [Method::GET], get(cameras::snapshot))
        .route(
            "/snapshots/{id}/thumb.jpg",
            [Method::GET],
            get(cameras::snapshot_thumb),
        )
        .route(
            "/taught-objects",
            [Method::POST, Method::GET],
            post(taught_objects::create).get(taught_objects::list),
        )
        .route(
            "/taught-objects/{id}",
            [Method::GET, Method::PATCH, Method::DELETE],
            get(taught_objects::get)
                .patch(taught_objects::rename)
                .delete(taught_objects::delete),
        )
        .route(
            "/taught-objects/{id}/scan",
            [Method::POST],
            post(taught_objects::scan),
        )
        .map(|r| r.layer(DefaultBodyLimit::max(json_limit)));
    // Jupyter Server's kernel API lives outside /api/v1, where Jupyter clients expect it.
    let jupyter = Table::new("")
        .route("/api/kernelspecs", [Method::GET], get(jupyter::kernelspecs))
        .route(
            "/api/kernelspecs/{name}",
            [Method::GET],
            get(jupyter::kernelspec),
        )
        .route(
            "/kernelspecs/{name}/{file}",
            [Method::GET],
            get(jupyter::kernelspec_resource),
        )
        .route(
            "/api/kernels",
            [Method::GET, Method::POST],
            get(jupyter::list).post(jupyter::start).layer(placed),
        )
        .route(
            "/api/kernels/{id}",
            [Method::GET, Method::DELETE],
            get(jupyter::get)
                .delete(jupyter::delete)
                .layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/interrupt",
            [Method::POST],
            post(jupyter::interrupt).layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/restart",
            [Method::POST],
            post(jupyter::restart).layer(by_id.clone()),
        )
        .route(
            "/api/kernels/{id}/channels",
            [Method::GET],
            get(jupyter::channels).layer(by_id),
        )
        .map(|r| r.layer(DefaultBodyLimit::max(json_limit)));
    // Health and metrics, for load balancers and Prometheus.
    let operations = Table::new("")
        .route("/healthz", [Method::GET], get(|| async { "ok" }))
        .route("/readyz", [Method::GET], get(readyz))
        .route("/metrics", [Method::GET], get(scrape::scrape));
    let (v1, mut routes) = v1.finish();
    let (jupyter, jupyter_routes) = jupyter.finish();
    let (operations, operation_routes) = operations.finish();
    routes.extend(jupyter_routes);
    routes.extend(operation_routes);
    routes.sort();
    let router = Router::new()
        .nest("/api/v1", v1)
        .merge(jupyter)
        .merge(operations)
        .route("/api/{version}", any(unsupported_version))
        .route("/api/{version}/{*rest}", any(unsupported_version))
        .merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // This node's requests in flight per route class; inside the metrics layer, so
        // refusals are counted by route like other answers.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limits::admit_request,
        ))
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
        // Inside the request-id layer, so the id it sets is the one records carry.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            audit::request_context,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(app);
    (router, routes)
}

async fn unsupported_version(Path(params): Path<Vec<(String, String)>>) -> ApiError {
    let version = params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if SUPPORTED_VERSIONS.contains(&version) {
        return ApiError::new(ErrorCode::NotFound, "no such route");
    }
    ApiError::new(
        ErrorCode::UnsupportedProtocolVersion,
        format!("protocol version {version:?} is not supported; use v1"),
    )
    .with_extra(
        serde_json::to_value(crate::protocol::errors::UnsupportedVersion {
            supported: SUPPORTED_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        })
        .unwrap_or_default(),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
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
