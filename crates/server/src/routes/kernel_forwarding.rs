//! The middlewares that send kernel requests to the node they belong on (see
//! `crate::kernel_proxy`): `by_kernel_id` forwards a request naming another node's kernel to
//! it, `place` forwards a kernel-starting request to the least-loaded node. Callers this node
//! would refuse (401) are refused here, not sent around the cluster.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiWebSocket;
use crate::kernel_proxy::node_unavailable;
use crate::protocol::ErrorCode;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// Middleware for routes naming a kernel (`{id}`): a kernel of another live node is served
/// by forwarding to it; everything else goes to the handler.
pub(super) async fn by_kernel_id(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    if !app.kernel_proxy.clustered() {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let id = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &app).await {
        Ok(Path(params)) => params.get("id").cloned(),
        Err(_) => None,
    };
    let proxy = &app.kernel_proxy;
    let Some(owner) = id.and_then(|id| proxy.owner_elsewhere(&id, &parts.headers)) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if let Err(e) = CurrentUser::from_request_parts(&mut parts, &app).await {
        return e.into_response();
    }
    let result = async {
        let base = proxy.node_url(&owner).await?;
        let owner = owner.to_string();
        if parts.headers.contains_key(header::UPGRADE) {
            let ApiWebSocket(ws) = ApiWebSocket::from_request_parts(&mut parts, &app).await?;
            // The bridged socket is a WebSocket this node holds too.
            let open = app.gate.admit_websocket()?;
            Ok(proxy.bridge_socket(&owner, &base, &parts, ws, open).await?)
        } else {
            // Buffered here so a body past the limit is refused, not forwarded cut short.
            let body = axum::body::to_bytes(body, proxy.body_limit())
                .await
                .map_err(|_| body_too_large())?;
            proxy
                .forward(&base, &parts, body)
                .await
                .map_err(|e| ApiError::from(node_unavailable(&owner, &e.to_string())))
        }
    }
    .await;
    result.unwrap_or_else(|e: ApiError| e.into_response())
}

/// Middleware for the routes that start a kernel: in a cluster with `least_loaded`
/// placement, the request goes whole to the node the monitor finds least loaded, unless
/// that is this node. A chosen node that cannot be connected to leaves the kernel here.
pub(super) async fn place(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let proxy = &app.kernel_proxy;
    if !proxy.places(req.headers()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    if let Err(e) = CurrentUser::from_request_parts(&mut parts, &app).await {
        return e.into_response();
    }
    let Some(target) = proxy.placement_target() else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let bytes = match axum::body::to_bytes(body, proxy.body_limit()).await {
        Ok(bytes) => bytes,
        Err(_) => return body_too_large().into_response(),
    };
    let base = crate::monitor::service_base_url(&target);
    match proxy.forward(&base, &parts, bytes.clone()).await {
        Ok(resp) => resp,
        Err(e) if e.is_connect() => {
            tracing::warn!(node = %target.node, error = %e, "least-loaded node unreachable; starting the kernel here");
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(e) => ApiError::from(node_unavailable(&target.node, &e.to_string())).into_response(),
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
}
