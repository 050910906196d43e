//! The service of one connection: hands each request to the router with the client's
//! address, its body held to the configured pace, and its place counted.

use super::activity::Activity;
use super::admission::PerAddress;
use super::body::{BodyPace, InFlight, PacedBody, TrackedBody};
use crate::error::ApiError;
use crate::protocol::ErrorCode;
use crate::tls::ClientAddr;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use http_body::Body as _;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tower::ServiceExt;

/// What every connection's service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) router: axum::Router,
    pub(crate) pace: BodyPace,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// Requests in flight per forwarded client address, for connections from trusted proxies
    /// (whose own address says nothing about the client).
    pub(crate) forwarded: Arc<PerAddress>,
}

#[derive(Clone)]
pub(crate) struct ConnectionService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) peer: SocketAddr,
}

type Answer = Response<TrackedBody>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut in_flight = InFlight::begin(self.activity.clone());
        let shared = &self.shared;
        if shared.trusted_proxies.contains(&self.peer.ip()) {
            let client =
                crate::rate_limit::client_ip(&shared.trusted_proxies, self.peer, req.headers());
            match shared.forwarded.acquire(client) {
                Some(slot) => in_flight = in_flight.holding(slot),
                None => {
                    let mut busy = ApiError::new(
                        ErrorCode::Busy,
                        "too many requests in flight from this address; try again shortly",
                    );
                    busy.retry_after = Some(1);
                    let answer = busy.into_response();
                    return Box::pin(async move {
                        Ok(answer.map(|body| TrackedBody::new(body, in_flight)))
                    });
                }
            }
        }
        let too_slow = Arc::new(AtomicBool::new(false));
        let (mut parts, body) = req.into_parts();
        let body = if body.is_end_stream() {
            axum::body::Body::empty()
        } else {
            axum::body::Body::new(PacedBody::new(body, shared.pace, too_slow.clone()))
        };
        parts.extensions.insert(ConnectInfo(ClientAddr(self.peer)));
        let req = Request::from_parts(parts, body);
        let router = shared.router.clone();
        Box::pin(async move {
            let answer = match router.oneshot(req).await {
                Ok(answer) => answer,
                Err(never) => match never {},
            };
            // Whatever the handler made of a body cut short, the reason is the client's pace.
            let answer = if too_slow.load(Ordering::Acquire) {
                too_slow_answer()
            } else {
                answer
            };
            Ok(answer.map(|body| TrackedBody::new(body, in_flight)))
        })
    }
}

/// `408 body_timeout`, closing the connection (the rest of the body is not worth reading).
fn too_slow_answer() -> axum::response::Response {
    let mut answer = ApiError::new(
        ErrorCode::BodyTimeout,
        "the request body stalled or arrived too slowly",
    )
    .into_response();
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}
