//! Kernels across nodes: a kernel is a process on one node, and its id says which
//! ([`crate::kernel_id`]), so any node can serve any kernel id by forwarding the request to the
//! owner over HTTP (a WebSocket bridged both ways for `channels`). New kernels go to the
//! least-loaded node the monitor knows of, by forwarding the whole request there, so shares
//! and capacity are counted where the kernel runs.
//!
//! Forwarded requests carry [`FORWARDED_HEADER`]; a node never forwards such a request
//! again, so a disagreement between nodes about where a kernel lives cannot loop. The
//! caller's credentials (`Authorization`, the session cookie, `?token=`) go along unchanged
//! and the owner checks them again: the forwarding node only refuses callers it would refuse
//! itself (401) before reaching out (the middlewares in `routes/kernel_forwarding.rs`).
//!
//! [`KernelProxy`] is the client side only: it knows this node's identity, the monitor's
//! view of the others, and how to reach them, not the node's state.

use crate::config::{Config, KernelPlacement};
use crate::kernel_id::{KernelHome, KernelId, node_id_prefix};
use crate::kernels::KernelCounts;
use crate::monitor::{Monitor, service_base_url};
use crate::protocol::jupyter::KernelModel;
use crate::services::compute::ComputeError;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::extract::ws::{self, WebSocket};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header, request::Parts};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{Service, UserId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;

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

/// The caller's credentials as another node needs them to act for the caller:
/// `Authorization` and `Cookie` as sent, the query (a `?token=` authenticates there too),
/// and whether the request was itself forwarded by another node.
#[derive(Debug, Clone, Default)]
pub struct CallerCredentials {
    headers: HeaderMap,
    query: Option<String>,
    forwarded: bool,
}

impl CallerCredentials {
    /// The credentials of a request with these headers and URI.
    pub fn of(headers: &HeaderMap, uri: &Uri) -> CallerCredentials {
        let mut kept = HeaderMap::new();
        for name in [header::AUTHORIZATION, header::COOKIE] {
            for value in headers.get_all(&name) {
                kept.append(name.clone(), value.clone());
            }
        }
        CallerCredentials {
            headers: kept,
            query: uri.query().map(str::to_owned),
            forwarded: is_forwarded(headers),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerCredentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(CallerCredentials::of(&parts.headers, &parts.uri))
    }
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
    /// The most a client's channels message may hold, as on the kernel's own node.
    max_message: usize,
    tls: Arc<rustls::ClientConfig>,
    monitor: Arc<Monitor>,
    shutdown: CancellationToken,
}

impl KernelProxy {
    /// The proxy for a node with this configuration, finding other nodes through `monitor`;
    /// bridged sockets close when `shutdown` is cancelled.
    pub fn new(
        config: &Config,
        monitor: Arc<Monitor>,
        shutdown: CancellationToken,
    ) -> Result<KernelProxy, ProxyError> {
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
            max_message: usize::try_from(config.kernels.max_kernel_message_bytes.as_u64())
                .unwrap_or(usize::MAX),
            tls: Arc::new(tls),
            monitor,
            shutdown,
        })
    }

    /// Whether this node is part of a cluster (a lone node forwards nothing).
    pub fn clustered(&self) -> bool {
        self.clustered
    }

    /// The largest body a forwarded request may carry.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The node (as kernel ids name it) that runs kernel `id`, when the request naming it
    /// must be forwarded there: in a cluster, for a well-formed id of another node, unless
    /// the request was forwarded already.
    pub fn owner_elsewhere(&self, id: &str, headers: &HeaderMap) -> Option<KernelHome> {
        if !self.clustered || is_forwarded(headers) {
            return None;
        }
        KernelId::parse(id)
            .map(|id| id.home().clone())
            .filter(|home| !home.is(&self.node))
    }

    /// Whether a kernel-starting request may be placed on another node: in a cluster with
    /// `least_loaded` placement, unless the request was forwarded already.
    pub fn places(&self, headers: &HeaderMap) -> bool {
        self.clustered && self.placement != KernelPlacement::Local && !is_forwarded(headers)
    }

    /// The node the monitor finds least loaded, when that is another live node.
    pub fn placement_target(&self) -> Option<Service> {
        self.monitor
            .least_loaded_node()
            .filter(|node| *node != self.node)
            .and_then(|node| self.other_nodes().into_iter().find(|s| s.node == node))
    }

    /// Where the node `home` names is reached, from the monitor's view, re-read from the
    /// store once when the node is not in it (a node that started since the last refresh).
    pub async fn node_url(&self, home: &KernelHome) -> Result<String, ComputeError> {
        self.url_where(|node| home.is(node))
            .await
            .ok_or_else(|| node_unavailable(&home.to_string(), "it is not running"))
    }

    /// Where the other node named `name` is reached (as [`KernelProxy::node_url`]).
    pub async fn url_of_node(&self, name: &str) -> Result<String, ComputeError> {
        self.url_where(|node| node == name)
            .await
            .ok_or_else(|| node_unavailable(name, "it is not running"))
    }

    async fn url_where(&self, is: impl Fn(&str) -> bool) -> Option<String> {
        let find = || {
            self.monitor
                .live_nodes()
                .into_iter()
                .find(|s| is(&s.node) && s.node != self.node)
        };
        let found = match find() {
            Some(s) => Some(s),
            None => {
                if let Err(e) = self.monitor.refresh().await {
                    tracing::warn!(error = %e, "cannot re-read the nodes' status");
                }
                find()
            }
        };
        found.map(|s| service_base_url(&s))
    }

    /// The other live nodes.
    fn other_nodes(&self) -> Vec<Service> {
        self.monitor
            .live_nodes()
            .into_iter()
            .filter(|s| s.node != self.node)
            .collect()
    }

    /// Sends the request to `base` with its method, path, query, headers and body, and
    /// answers with what came back (streamed, so a long poll or a large answer is not held
    /// here).
    pub async fn forward(
        &self,
        base: &str,
        parts: &Parts,
        body: Bytes,
    ) -> Result<Response, reqwest::Error> {
        let url = format!("{base}{}", original_path_and_query(parts));
        let mut headers = HeaderMap::new();
        for (name, value) in &parts.headers {
            if !is_hop_by_hop(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(FORWARDED_HEADER, self.marker.clone());
        let answer = self
            .http
            .request(parts.method.clone(), url)
            .headers(headers)
            .body(body)
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

    /// Opens the kernel's channels socket on its node `owner` (reached at `base`), then
    /// accepts the client's upgrade with the subprotocol the owner chose and relays frames
    /// both ways. An owner that refuses the socket (401, 404, …) has its answer passed on as
    /// it is. `held` (this node's place for the socket) is kept until the bridge closes.
    pub async fn bridge_socket<H: Send + 'static>(
        &self,
        owner: &str,
        base: &str,
        parts: &Parts,
        ws: ws::WebSocketUpgrade,
        held: H,
    ) -> Result<Response, ComputeError> {
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
            .insert(FORWARDED_HEADER, self.marker.clone());
        let tcp_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = tokio::time::timeout(
            self.timeout,
            tokio::net::TcpStream::connect((tcp_host.as_str(), port)),
        )
        .await
        .map_err(|_| node_unavailable(owner, "no connection in time"))?
        .map_err(|e| node_unavailable(owner, &e.to_string()))?;
        if secure {
            let name = rustls::pki_types::ServerName::try_from(tcp_host)
                .map_err(|e| node_unavailable(owner, &e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| node_unavailable(owner, &e.to_string()))?;
            self.open_and_bridge(owner, request, tls, ws, held).await
        } else {
            self.open_and_bridge(owner, request, tcp, ws, held).await
        }
    }

    async fn open_and_bridge<S, H>(
        &self,
        owner: &str,
        request: tungstenite::handshake::client::Request,
        stream: S,
        ws: ws::WebSocketUpgrade,
        held: H,
    ) -> Result<Response, ComputeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Send + 'static,
    {
        let handshake = tokio::time::timeout(
            self.timeout,
            tokio_tungstenite::client_async_with_config(
                request,
                stream,
                Some(
                    tungstenite::protocol::WebSocketConfig::default()
                        .read_buffer_size(crate::websocket::READ_BUFFER),
                ),
            ),
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
        let ws = ws
            .read_buffer_size(crate::websocket::READ_BUFFER)
            .max_message_size(self.max_message)
            .max_frame_size(self.max_message);
        let ws = match chosen {
            Some(protocol) => ws.protocols([protocol]),
            None => ws,
        };
        let shutdown = self.shutdown.clone();
        let owner = owner.to_owned();
        Ok(ws.on_upgrade(move |socket| async move {
            let _held = held;
            tracing::debug!(node = %owner, "bridging a kernel channels socket");
            relay(&shutdown, socket, upstream).await;
        }))
    }

    /// The caller's kernels on every other live node, counted for their shares: the
    /// launching node asks even when the request was forwarded to it (the nodes asked answer
    /// with their own kernels only). Two launches on two nodes at the same moment may both
    /// pass; a node that does not answer counts as none, with a warning.
    pub async fn counts_elsewhere(
        &self,
        credentials: &CallerCredentials,
        user: UserId,
    ) -> KernelCounts {
        let mut counts = KernelCounts::default();
        if !self.clustered {
            return counts;
        }
        for model in self.ask_other_nodes(credentials).await {
            counts.account += 1;
            if model.owner == user {
                counts.user += 1;
            }
        }
        counts
    }

    /// The account's kernels on every other live node, for `GET /api/kernels`: each node is
    /// asked with the caller's credentials and at most `node_request_timeout`; a node that
    /// does not answer in time is left out (and logged) rather than failing the list. A
    /// forwarded request is answered with this node's kernels only.
    pub async fn kernels_elsewhere(&self, credentials: &CallerCredentials) -> Vec<KernelModel> {
        if !self.clustered || credentials.forwarded {
            return Vec::new();
        }
        self.ask_other_nodes(credentials).await
    }

    /// `GET /api/kernels` on every other live node with the caller's credentials, marked as
    /// forwarded (so the nodes asked answer for themselves only), each within
    /// `node_request_timeout`; the kernels they answer, joined. A node that fails is logged
    /// and left out.
    async fn ask_other_nodes(&self, credentials: &CallerCredentials) -> Vec<KernelModel> {
        let mut forwarded = credentials.headers.clone();
        forwarded.insert(FORWARDED_HEADER, self.marker.clone());
        // A `?token=` in the caller's request authenticates the listing too.
        let path = match &credentials.query {
            Some(query) => format!("/api/kernels?{query}"),
            None => "/api/kernels".to_owned(),
        };
        let asks = self.other_nodes().into_iter().map(|node| {
            let url = format!("{}{path}", service_base_url(&node));
            let request = self
                .http
                .get(url)
                .headers(forwarded.clone())
                .timeout(self.timeout);
            async move {
                let answer = async {
                    let resp = request.send().await?.error_for_status()?;
                    resp.json::<Vec<KernelModel>>().await
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

/// `kernel_node_unavailable`.
pub fn node_unavailable(node: &str, why: &str) -> ComputeError {
    ComputeError::KernelNodeUnavailable {
        node: node.to_owned(),
        why: why.to_owned(),
    }
}

fn is_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
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

/// The request's path and query as the client sent them (a nested router sees its own
/// part of the path only).
fn original_path_and_query(parts: &Parts) -> &str {
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    uri.path_and_query().map_or("/", |p| p.as_str())
}

/// The request headers a channels socket passes on to the owner.
const SOCKET_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::USER_AGENT,
];

/// Relays frames between the client and the owner until either closes (its close code goes
/// to the other) or the node stops.
async fn relay<S>(
    shutdown: &CancellationToken,
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
                    let _ = client.send(Down::Close(Some(crate::websocket::close(1011, "kernel node unreachable")))).await;
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
                        let _ = client.send(Down::Close(Some(crate::websocket::close(1011, "kernel node unreachable")))).await;
                        break;
                    }
                };
                if client.send(out).await.is_err() {
                    let _ = upstream.close(None).await;
                    break;
                }
            }
            () = shutdown.cancelled() => {
                let _ = client.send(Down::Close(Some(crate::websocket::restarting()))).await;
                let _ = upstream.close(None).await;
                break;
            }
        }
    }
}
