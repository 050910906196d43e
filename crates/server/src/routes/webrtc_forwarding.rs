//! WebRTC signalling in a cluster. Media flows to and from the node that holds the session
//! (its actor, and so its publisher's peer and every viewer's), so a WHIP or WHEP request
//! reaching another node is forwarded there whole (`crate::kernel_proxy`'s client, marked
//! as forwarded so it never travels twice), and the answer names that node's candidates.
//! The resources' `DELETE`s go the same way. A caller this node would refuse (401) is
//! refused here, not sent around the cluster.

use crate::App;
use crate::auth::{CurrentUser, DeviceCaller};
use crate::error::ApiError;
use crate::kernel_proxy::{FORWARDED_HEADER, node_unavailable};
use crate::protocol::ErrorCode;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_core::Suid;
use switchboard_sfu::offer::MAX_OFFER_BYTES;

/// Middleware for the WHIP and WHEP routes (`{suid}`): a session another node holds is
/// served by forwarding to it; everything else goes to the handler.
pub(super) async fn to_session_home(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    if !app.kernel_proxy.clustered() || req.headers().contains_key(FORWARDED_HEADER) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let suid = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &app).await {
        Ok(Path(params)) => params.get("suid").and_then(|s| s.parse::<Suid>().ok()),
        Err(_) => None,
    };
    let home = match suid {
        Some(suid) => app.live.webrtc_home_elsewhere(suid).await,
        None => None,
    };
    let Some(home) = home else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // A user (WHEP) or the session's device (WHIP); the home node checks which, again.
    if let Err(e) = CurrentUser::from_request_parts(&mut parts, &app).await
        && DeviceCaller::from_request_parts(&mut parts, &app)
            .await
            .is_err()
    {
        return e.into_response();
    }
    let result = async {
        let base = app.kernel_proxy.url_of_node(&home).await?;
        // Buffered here so an offer past the limit is refused, not forwarded cut short.
        let body = axum::body::to_bytes(body, MAX_OFFER_BYTES).await.map_err(|_| {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!("an SDP offer may be at most {MAX_OFFER_BYTES} bytes"),
            )
        })?;
        tracing::debug!(node = %home, path = %parts.uri.path(), "WebRTC signalling forwarded to the session's node");
        app.kernel_proxy
            .forward(&base, &parts, body)
            .await
            .map_err(|e| ApiError::from(node_unavailable(&home, &e.to_string())))
    }
    .await;
    result.unwrap_or_else(|e: ApiError| e.into_response())
}
