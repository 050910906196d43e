//! Switchboard's server: HTTP and WebSocket routes, live session actors, configuration.
//!
//! [`Server::start`] connects the store and bus and restores open sessions; [`Server::serve`]
//! runs on a listener the caller bound until a shutdown future completes. Tests bind port 0
//! and run it in-process.
//!
//! Architecture invariant: handlers reach the database only through `switchboard_store::Store`
//! and other nodes only through `switchboard_bus::Bus`; no SQL lives here.

pub mod auth;
pub mod cameras;
pub mod config;
pub mod error;
pub mod extract;
pub mod kernels;
pub mod live;
pub mod metrics;
pub mod monitor;
pub mod object_query;
pub mod protocol;
mod rate_limit;
mod routes;
pub mod tls;

pub use config::Config;

use crate::auth::TokenService;
use crate::live::{ActorDeps, CdrLog, SessionRegistry};
use crate::rate_limit::RateLimits;
use std::future::Future;
use std::sync::Arc;
use switchboard_bus::{Bus, InProcessBus};
use switchboard_core::AppVersion;
use switchboard_media::mjpeg::MjpegWriter;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared state of a running node, handed to every handler.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub sessions: SessionRegistry,
    pub tokens: TokenService,
    pub min_app_version: Option<AppVersion>,
    pub mjpeg: MjpegWriter,
    /// Cancelled when the node begins to stop: streams and sockets close, actors save state.
    pub shutdown: CancellationToken,
    /// This node's registration and everyone's newest status.
    pub monitor: Arc<monitor::Monitor>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// This node's Jupyter kernels.
    pub kernels: Arc<kernels::KernelRegistry>,
    /// The object detector for camera snapshots.
    pub cameras: Arc<cameras::Cameras>,
    limits: RateLimits,
    public_url: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.config.listen)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] switchboard_store::StoreError),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A node, ready to serve.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
    tracker: TaskTracker,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Opens the data directory and database (running migrations), loads the token secret
    /// and revoked tokens, and restores the sessions that were open.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        let tls = tls::server_config(&config)?;
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| ServerError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let store = switchboard_store::connect(&config.database_url()).await?;
        let secret =
            auth::load_or_create_secret(&data_dir).map_err(|source| ServerError::DataDir {
                path: data_dir.clone(),
                source,
            })?;
        let tokens = TokenService::new(&secret);
        let now = chrono::Utc::now();
        for jti in store.revoked_tokens(now).await? {
            // Revoked ids are kept until expiry; the exact expiry does not matter for checks.
            tokens.revoked.insert(jti, i64::MAX);
        }
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::default());
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let sessions = SessionRegistry::new(ActorDeps {
            store: store.clone(),
            bus: bus.clone(),
            policy: config.timeout_policy(),
            cdr_log: CdrLog::new(data_dir.join("cdr")),
            stats_interval: config.stats_interval,
            max_viewers: config.max_viewers_per_session,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        });
        let restored = sessions.restore().await?;
        if restored > 0 {
            tracing::info!(restored, "restored open sessions");
        }
        let monitor = monitor::Monitor::start(
            store.clone(),
            config.node_name(),
            config.listen,
            config.monitor_interval,
            config.status_rows_kept,
        )
        .await?;
        tracker.spawn(monitor.clone().run(sessions.clone(), shutdown.clone()));
        let min_app_version = config
            .min_device_app_version
            .as_deref()
            .and_then(|v| AppVersion::parse(v).ok());
        let kernels = Arc::new(
            kernels::KernelRegistry::start(&config, shutdown.clone(), tracker.clone()).await,
        );
        let cameras = Arc::new(cameras::Cameras::start(&config, store.clone()).await);
        // Snapshots left pending (detector busy, node stopped) are detected in the background.
        tracker.spawn(cameras.clone().run_resume(shutdown.clone()));
        tracker.spawn(cameras.clone().run_retention(
            config.snapshot_retention,
            config.snapshot_storage.as_u64(),
            shutdown.clone(),
        ));
        let mut config = config;
        config.secure_cookies |= tls.is_some();
        let app = Arc::new(App {
            limits: RateLimits::new(&config),
            public_url: config.public_url(),
            config,
            store,
            bus,
            sessions,
            tokens,
            min_app_version,
            mjpeg: MjpegWriter::new("switchboard-frame"),
            shutdown,
            monitor,
            metrics: metrics::install(),
            kernels,
            cameras,
        });
        Ok(Server { app, tracker, tls })
    }

    /// The node's shared state (for tests and tools).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves on `listener` until `shutdown` completes, then closes every stream and socket,
    /// lets session actors save their state, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = self.app.clone();
        let token = app.shutdown.clone();
        let grace = app.config.shutdown_grace;
        let router = routes::router(app.clone());
        tracing::info!(address = %listener.local_addr()?, "listening");
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down");
            token.cancel();
        };
        let service = router.into_make_service_with_connect_info::<tls::ClientAddr>();
        let serving = async move {
            match self.tls {
                Some(tls) => {
                    let listener = tls::TlsListener::new(listener, tls)?;
                    axum::serve(listener, service)
                        .with_graceful_shutdown(stop)
                        .await
                }
                None => {
                    axum::serve(listener, service)
                        .with_graceful_shutdown(stop)
                        .await
                }
            }
        };
        // Streams and sockets close when shutdown begins; a client that still holds a
        // connection after the grace period is cut off rather than keeping the node alive.
        let stopping = app.shutdown.clone();
        tokio::select! {
            result = serving => result?,
            () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "connections still open after the grace period; closing them");
            }
        }
        app.shutdown.cancel();
        // Kernels stop with the node; dropping their handles would kill them anyway.
        if tokio::time::timeout(kernels::SHUTDOWN_WAIT, app.kernels.shutdown_all())
            .await
            .is_err()
        {
            tracing::warn!("kernels did not stop in time; killing them");
        }
        let tracker = self.tracker;
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                ?grace,
                "background tasks did not finish within the grace period"
            );
        }
        Ok(())
    }
}

impl App {
    /// The client's address: the TCP peer, or the address a trusted proxy forwarded.
    pub fn client_ip(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        rate_limit::client_ip(&self.config.trusted_proxies, peer, headers)
    }

    /// Base URL for links to this node.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}
