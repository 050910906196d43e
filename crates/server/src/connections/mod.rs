//! The accept loop: admits connections under the caps (in all, per client address), serves
//! each as HTTP/1.1 with WebSocket upgrades, and closes the ones that hold the node without
//! using it: a request head that trickles in, a kept-alive connection left idle, a request
//! body that stalls or crawls. What a connection may cost is bounded by configuration, not by
//! the client's good manners.
//!
//! Architecture invariant: every connection the node holds, upgraded or not, holds a place
//! under the caps until its socket closes.

mod activity;
mod admission;
mod body;
mod service;

use crate::config::Config;
use activity::{Activity, WatchedIo};
use admission::{Admission, PerAddress};
use body::BodyPace;
use hyper_util::rt::TokioIo;
use service::{ConnectionService, Shared};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The bounds every connection is held to (see [`Config`] for each).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_address: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) body: BodyPace,
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
}

impl ConnectionLimits {
    pub(crate) fn from_config(config: &Config) -> Self {
        ConnectionLimits {
            max_connections: config.network.max_connections,
            max_connections_per_address: config.network.max_connections_per_address,
            header_read_timeout: config.network.header_read_timeout,
            idle_timeout: config.network.idle_connection_timeout,
            body: BodyPace {
                read_timeout: config.network.body_read_timeout,
                min_bytes_per_second: config.network.min_body_bytes_per_second.as_u64(),
            },
            trusted_proxies: config.network.trusted_proxies.clone(),
        }
    }
}

/// How long to pause after a failed accept (out of file descriptors and the like) rather
/// than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` (over TLS when `tls` is given) until `stop` completes, then
/// stops accepting, lets each connection finish its request in flight, and returns once
/// every connection has closed. (Upgraded connections live on in their own tasks; the node's
/// shutdown token closes them.)
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let admission = Admission::new(
        limits.max_connections,
        limits.max_connections_per_address,
        limits.trusted_proxies.clone(),
    );
    let shared = Arc::new(Shared {
        router,
        pace: limits.body,
        trusted_proxies: limits.trusted_proxies.clone(),
        forwarded: PerAddress::new(limits.max_connections_per_address),
    });
    let lingering = Arc::new(Semaphore::new(admission::MAX_LINGERING));
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let permit = match admission.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                tracing::debug!(%peer, ?refusal, "connection refused");
                // A TLS client could not read a plain answer, and a handshake costs more than
                // the refusal is worth: it is closed at once.
                if acceptor.is_none() {
                    admission::refuse(stream, refusal, &lingering);
                }
                continue;
            }
        };
        // Small WebSocket frames written one after another (a kernel's reply, then its
        // status) must not wait for the client's delayed ACK of the first.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::new());
        let connection = Connection {
            service: ConnectionService {
                shared: shared.clone(),
                activity: activity.clone(),
                peer,
            },
            activity,
            limits: limits.clone(),
            stopping: stopping.clone(),
        };
        match &acceptor {
            None => connections.spawn(connection.run(stream, permit)),
            Some(acceptor) => {
                connections.spawn(connection.run_tls(acceptor.clone(), stream, permit))
            }
        };
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// One accepted connection, served in its own task.
struct Connection {
    service: ConnectionService,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    stopping: CancellationToken,
}

impl Connection {
    fn peer(&self) -> SocketAddr {
        self.service.peer
    }

    /// Completes the TLS handshake (within the header read timeout: a silent client must not
    /// hold the connection longer than one that sends a slow head), then serves.
    async fn run_tls(
        self,
        acceptor: TlsAcceptor,
        stream: TcpStream,
        permit: admission::ConnectionPermit,
    ) {
        let handshake = tokio::select! {
            done = tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream)) => done,
            () = self.stopping.cancelled() => return,
        };
        match handshake {
            Ok(Ok(tls)) => self.run(tls, permit).await,
            Ok(Err(e)) => tracing::debug!(peer = %self.peer(), error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer(), "TLS handshake timed out"),
        }
    }

    async fn run<T>(self, io: T, permit: admission::ConnectionPermit)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer();
        let io = TokioIo::new(WatchedIo::new(io, self.activity.clone(), permit));
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The head deadline is this module's own (see `activity`), also for idle connections.
        builder.header_read_timeout(None);
        let connection = builder.serve_connection(io, self.service).with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let lapsed = self
            .activity
            .lapsed(self.limits.header_read_timeout, self.limits.idle_timeout);
        let mut lapsed = std::pin::pin!(lapsed);
        let mut draining = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                lapse = &mut lapsed => {
                    tracing::debug!(%peer, ?lapse, "closing a connection that was not in use");
                    break;
                }
                () = self.stopping.cancelled(), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        self.activity.detach();
    }
}
