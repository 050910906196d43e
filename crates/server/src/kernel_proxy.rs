//! Kernels across nodes: a kernel is a process on one node, and its id says which
//! (`<node>.<uuid>`), so any node can serve any kernel id by forwarding the request to the
//! owner over HTTP (a WebSocket bridged both ways for `channels`). New kernels go to the
//! least-loaded node the monitor knows of, by forwarding the whole request there, so shares
//! and capacity are counted where the kernel runs.
//!
//! Forwarded requests carry [`FORWARDED_HEADER`]; a node never forwards such a request
//! again, so a disagreement between nodes about where a kernel lives cannot loop. The
//! caller's credentials (`Authorization`, the session cookie, `?token=`) go along unchanged
//! and the owner checks them again: the forwarding node only refuses callers it would refuse
//! itself (401) before reaching out.

use crate::App;
use crate::auth::CurrentUser;
use crate::config::{Config, KernelPlacement};
use crate::error::ApiError;
use crate::extract::ApiWebSocket;
use crate::kernels::{is_kernel_id, node_id_prefix};
use crate::monitor::service_base_url;
use axum::body::Body;
use axum::extract::ws::{self, WebSocket};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Service;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// Marks a request one node forwarded to another; its value is the forwarding node's name.
pub const FORWARDED_HEADER: &str = "x-switchboard-forwarded";

/// Why the client for other nodes could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Client(#[from] reqwest::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Reaches other nodes' kernels: one pooled HTTP client and this node's identity.
#[derive(Debug)]
pub struct KernelProxy {
    http: reqwest::Client,
    /// This node's name (placement compares it with the monitor's choice).
    node: String,
    /// This node's name as [`FORWARDED_HEADER`] carries it (header-safe).
    marker: HeaderValue,
    clustered: bool,
    placement: KernelPlacement,
    timeout: Duration,
    body_limit: usize,
    tls: Arc<rustls::ClientConfig>,
}

impl KernelProxy {
    /// The proxy for a node with this configuration.
    pub fn new(config: &Config) -> Result<KernelProxy, ProxyError> {
        let http = reqwest::Client::builder()
            // Answers are passed on as they are, redirects included.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.cluster.node_request_timeout)
            .build()?;
        let node = config.node_name();
        // The id prefix is ASCII letters, digits, `-` and `_`: always a valid header value.
        let marker = HeaderValue::from_str(&node_id_prefix(&node))
            .unwrap_or_else(|_| HeaderValue::from_static("node"));
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(KernelProxy {
            http,
            node,
            marker,
            clustered: config.cluster.nats_url.is_some(),
            placement: config.cluster.kernel_placement,
            timeout: config.cluster.node_request_timeout,
            body_limit: forward_body_limit(config),
            tls: Arc::new(tls),
        })
    }

    /// Where `prefix`'s node is reached, from the monitor's view, re-read from the store
    /// once when the node is not in it (a node that started since the last refresh).
    async fn node_url(&self, app: &App, prefix: &str) -> Result<String, ApiError> {
        let find = || {
            app.monitor
                .live_nodes()
                .into_iter()
                .find(|s| node_id_prefix(&s.node) == prefix && s.node != self.node)
        };
        let found = match find() {
            Some(s) => Some(s),
            None => {
                if let Err(e) = app.monitor.refresh().await {
                    tracing::warn!(error = %e, "cannot re-read the nodes' status");
                }
                find()
            }
        };
        found
            .map(|s| service_base_url(&s))
            .ok_or_else(|| node_unavailable(prefix, "it is not running"))
    }

    /// The other live nodes.
    fn other_nodes(&self, app: &App) -> Vec<Service> {
        app.monitor
            .live_nodes()
            .into_iter()
            .filter(|s| s.node != self.node)
            .collect()
    }
}

/// The largest body a forwarded request may carry: that of the largest route (a cell's code
/// in JSON); the owner then applies the route's own limit.
fn forward_body_limit(config: &Config) -> usize {
    let json = usize::try_from(config.network.max_json_bytes.as_u64()).unwrap_or(usize::MAX);
    usize::try_from(config.kernels.max_cell_code_bytes.as_u64())
        .unwrap_or(usize::MAX)
        .saturating_mul(6)
        .saturating_add(4096)
        .max(json)
}

/// 503 `kernel_node_unavailable`.
fn node_unavailable(node: &str, why: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "kernel_node_unavailable",
        format!("this kernel runs on node {node}, which cannot be reached: {why}"),
    );
    e.retry_after = Some(5);
    e
}

fn is_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
}

/// Middleware for routes naming a kernel (`{id}`): a kernel of another live node is served
/// by forwarding to it; everything else goes to the handler.
pub async fn by_kernel_id(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if !app.kernel_proxy.clustered || is_forwarded(&parts.headers) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let id = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &app).await {
        Ok(Path(params)) => params.get("id").cloned(),
        Err(_) => None,
    };
    let owner = id
        .as_deref()
        .filter(|id| is_kernel_id(id))
        .and_then(|id| id.split_once('.'))
        .map(|(node, _)| node.to_owned())
        .filter(|node| node != app.kernels.id_prefix());
    let Some(owner) = owner else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if let Err(e) = CurrentUser::from_request_parts(&mut parts, &app).await {
        return e.into_response();
    }
    let result = async {
        let base = app.kernel_proxy.node_url(&app, &owner).await?;
        if parts.headers.contains_key(header::UPGRADE) {
            let ApiWebSocket(ws) = ApiWebSocket::from_request_parts(&mut parts, &app).await?;
            bridge_socket(&app, &owner, &base, &parts, ws).await
        } else {
            // Buffered here so a body past the limit is refused, not forwarded cut short.
            let body = axum::body::to_bytes(body, app.kernel_proxy.body_limit)
                .await
                .map_err(|_| body_too_large())?;
            forward(&app, &base, &parts, Body::from(body))
                .await
                .map_err(|e| node_unavailable(&owner, &e.to_string()))
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Middleware for the routes that start a kernel: in a cluster with `least_loaded`
/// placement, the request goes whole to the node the monitor finds least loaded, unless
/// that is this node. A chosen node that cannot be connected to leaves the kernel here.
pub async fn place(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let proxy = &app.kernel_proxy;
    if !proxy.clustered || proxy.placement == KernelPlacement::Local || is_forwarded(req.headers())
    {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // Callers this node would refuse are refused here, not sent around the cluster.
    if let Err(e) = CurrentUser::from_request_parts(&mut parts, &app).await {
        return e.into_response();
    }
    let target = app
        .monitor
        .least_loaded_node()
        .filter(|node| *node != proxy.node)
        .and_then(|node| proxy.other_nodes(&app).into_iter().find(|s| s.node == node));
    let Some(target) = target else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let bytes = match axum::body::to_bytes(body, proxy.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => return body_too_large().into_response(),
    };
    let base = service_base_url(&target);
    match forward(&app, &base, &parts, Body::from(bytes.clone())).await {
        Ok(resp) => resp,
        Err(e) if e.is_connect() => {
            tracing::warn!(node = %target.node, error = %e, "least-loaded node unreachable; starting the kernel here");
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => node_unavailable(&target.node, &e.to_string()).into_response(),
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is too large",
    )
}

/// Hop-by-hop headers, which describe one connection and are never passed on.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// Sends the request to `base` with its method, path, query, headers and body, and answers
/// with what came back (streamed, so a long poll or a large answer is not held here).
async fn forward(
    app: &App,
    base: &str,
    parts: &Parts,
    body: Body,
) -> Result<Response, reqwest::Error> {
    let proxy = &app.kernel_proxy;
    let bytes = axum::body::to_bytes(body, proxy.body_limit)
        .await
        .unwrap_or_default();
    let url = format!("{base}{}", original_path_and_query(parts));
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(FORWARDED_HEADER, proxy.marker.clone());
    let answer = proxy
        .http
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(bytes)
        .send()
        .await?;
    let mut response = Response::builder().status(answer.status());
    if let Some(out) = response.headers_mut() {
        for (name, value) in answer.headers() {
            if !is_hop_by_hop(name) {
                out.append(name.clone(), value.clone());
            }
        }
    }
    Ok(response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}

/// The request's path and query as the client sent them (a nested router sees its own
/// part of the path only).
fn original_path_and_query(parts: &Parts) -> &str {
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    path_and_query(uri)
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// The request headers a channels socket passes on to the owner.
const SOCKET_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::USER_AGENT,
];

/// Opens the kernel's channels socket on its node, then accepts the client's upgrade with
/// the subprotocol the owner chose and relays frames both ways. An owner that refuses the
/// socket (401, 404, …) has its answer passed on as it is.
async fn bridge_socket(
    app: &Arc<App>,
    owner: &str,
    base: &str,
    parts: &Parts,
    ws: ws::WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let proxy = &app.kernel_proxy;
    let target = reqwest::Url::parse(&format!("{base}{}", original_path_and_query(parts)))
        .map_err(|e| node_unavailable(owner, &format!("bad node address: {e}")))?;
    let secure = target.scheme() == "https";
    let host = target
        .host_str()
        .ok_or_else(|| node_unavailable(owner, "no host in its address"))?
        .to_owned();
    let port = target.port_or_known_default().unwrap_or(80);
    // `http…` becomes `ws…`: http://h:p → ws://h:p, https://h:p → wss://h:p.
    let ws_url = format!(
        "ws{}{}",
        base.strip_prefix("http").unwrap_or(base),
        original_path_and_query(parts)
    );
    let mut request = ws_url
        .into_client_request()
        .map_err(|e| node_unavailable(owner, &e.to_string()))?;
    for name in SOCKET_HEADERS {
        for value in parts.headers.get_all(&name) {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    request
        .headers_mut()
        .insert(FORWARDED_HEADER, proxy.marker.clone());
    let tcp_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = tokio::time::timeout(
        proxy.timeout,
        tokio::net::TcpStream::connect((tcp_host.as_str(), port)),
    )
    .await
    .map_err(|_| node_unavailable(owner, "no connection in time"))?
    .map_err(|e| node_unavailable(owner, &e.to_string()))?;
    if secure {
        let name = rustls::pki_types::ServerName::try_from(tcp_host)
            .map_err(|e| node_unavailable(owner, &e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(proxy.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| node_unavailable(owner, &e.to_string()))?;
        open_and_bridge(app, owner, request, tls, ws).await
    } else {
        open_and_bridge(app, owner, request, tcp, ws).await
    }
}

async fn open_and_bridge<S>(
    app: &Arc<App>,
    owner: &str,
    request: tungstenite::handshake::client::Request,
    stream: S,
    ws: ws::WebSocketUpgrade,
) -> Result<Response, ApiError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake = tokio::time::timeout(
        app.kernel_proxy.timeout,
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .map_err(|_| node_unavailable(owner, "no WebSocket handshake in time"))?;
    let (upstream, answer) = match handshake {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(refused)) => {
            let (head, body) = (*refused).into_parts();
            let mut response = Response::builder().status(head.status);
            if let Some(ct) = head.headers.get(header::CONTENT_TYPE) {
                response = response.header(header::CONTENT_TYPE, ct);
            }
            return Ok(response
                .body(Body::from(body.unwrap_or_default()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()));
        }
        Err(e) => return Err(node_unavailable(owner, &e.to_string())),
    };
    let chosen = answer
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The client's messages are held whole before they are passed on: the same cap as on
    // the kernel's own node, so a proxy is no way around it.
    let max =
        usize::try_from(app.config.kernels.max_kernel_message_bytes.as_u64()).unwrap_or(usize::MAX);
    let ws = ws.max_message_size(max).max_frame_size(max);
    let ws = match chosen {
        Some(protocol) => ws.protocols([protocol]),
        None => ws,
    };
    let app = app.clone();
    let owner = owner.to_owned();
    Ok(ws.on_upgrade(move |socket| async move {
        tracing::debug!(node = %owner, "bridging a kernel channels socket");
        relay(&app, socket, upstream).await;
    }))
}

/// Relays frames between the client and the owner until either closes (its close code goes
/// to the other) or the node stops.
async fn relay<S>(
    app: &App,
    mut client: WebSocket,
    mut upstream: tokio_tungstenite::WebSocketStream<S>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tungstenite::Message as Up;
    use ws::Message as Down;
    loop {
        tokio::select! {
            from_client = client.recv() => {
                let out = match from_client {
                    Some(Ok(Down::Text(text))) => Up::Text(text.as_str().into()),
                    Some(Ok(Down::Binary(data))) => Up::Binary(data),
                    // Each side answers its own pings.
                    Some(Ok(Down::Ping(_) | Down::Pong(_))) => continue,
                    Some(Ok(Down::Close(frame))) => {
                        let _ = upstream.close(frame.map(|f| tungstenite::protocol::CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.as_str().into(),
                        })).await;
                        break;
                    }
                    Some(Err(_)) | None => {
                        let _ = upstream.close(None).await;
                        break;
                    }
                };
                if upstream.send(out).await.is_err() {
                    let _ = client.send(Down::Close(Some(close(1011, "kernel node unreachable")))).await;
                    break;
                }
            }
            from_owner = upstream.next() => {
                let out = match from_owner {
                    Some(Ok(Up::Text(text))) => Down::Text(text.as_str().into()),
                    Some(Ok(Up::Binary(data))) => Down::Binary(data),
                    Some(Ok(Up::Ping(_) | Up::Pong(_) | Up::Frame(_))) => continue,
                    Some(Ok(Up::Close(frame))) => {
                        let _ = client.send(Down::Close(frame.map(|f| ws::CloseFrame {
                            code: f.code.into(),
                            reason: f.reason.as_str().into(),
                        }))).await;
                        break;
                    }
                    Some(Err(_)) | None => {
                        let _ = client.send(Down::Close(Some(close(1011, "kernel node unreachable")))).await;
                        break;
                    }
                };
                if client.send(out).await.is_err() {
                    let _ = upstream.close(None).await;
                    break;
                }
            }
            () = app.shutdown.cancelled() => {
                let _ = client.send(Down::Close(Some(close(1012, "server restarting")))).await;
                let _ = upstream.close(None).await;
                break;
            }
        }
    }
}

fn close(code: u16, reason: &'static str) -> ws::CloseFrame {
    ws::CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// The caller's kernels on every other live node, counted for their shares: the launching
/// node asks even when the request was forwarded to it (the nodes asked answer with their own
/// kernels only). Two launches on two nodes at the same moment may both pass; a node that
/// does not answer counts as none, with a warning.
pub async fn counts_elsewhere(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    user: switchboard_core::UserId,
) -> crate::kernels::KernelCounts {
    let mut counts = crate::kernels::KernelCounts::default();
    if !app.kernel_proxy.clustered {
        return counts;
    }
    // A `?token=` in the launching request authenticates the listing too.
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let owner = user.to_string();
    for model in ask_other_nodes(app, headers, &format!("/api/kernels{query}")).await {
        counts.account += 1;
        if model.get("owner").and_then(Value::as_str) == Some(owner.as_str()) {
            counts.user += 1;
        }
    }
    counts
}

/// The account's kernels on every other live node, for `GET /api/kernels`: each node is
/// asked with the caller's credentials and at most `node_request_timeout`; a node that does
/// not answer in time is left out (and logged) rather than failing the list.
pub async fn kernels_elsewhere(app: &App, headers: &HeaderMap, uri: &Uri) -> Vec<Value> {
    if !app.kernel_proxy.clustered || is_forwarded(headers) {
        return Vec::new();
    }
    ask_other_nodes(app, headers, path_and_query(uri)).await
}

/// `GET path` on every other live node with the caller's credentials, marked as forwarded
/// (so the nodes asked answer for themselves only), each within `node_request_timeout`; the
/// JSON lists they answer, joined. A node that fails is logged and left out.
async fn ask_other_nodes(app: &App, headers: &HeaderMap, path: &str) -> Vec<Value> {
    let proxy = &app.kernel_proxy;
    let mut forwarded = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            forwarded.append(name.clone(), value.clone());
        }
    }
    forwarded.insert(FORWARDED_HEADER, proxy.marker.clone());
    let asks = proxy.other_nodes(app).into_iter().map(|node| {
        let url = format!("{}{path}", service_base_url(&node));
        let request = proxy
            .http
            .get(url)
            .headers(forwarded.clone())
            .timeout(proxy.timeout);
        async move {
            let answer = async {
                let resp = request.send().await?.error_for_status()?;
                resp.json::<Vec<Value>>().await
            }
            .await;
            answer.unwrap_or_else(|e| {
                tracing::warn!(node = %node.node, error = %e, "cannot list another node's kernels");
                Vec::new()
            })
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}
