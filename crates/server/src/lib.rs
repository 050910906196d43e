//! Switchboard's server: HTTP and WebSocket routes, live session actors, configuration.
//!
//! [`Server::start`] connects the store and bus and restores open sessions; [`Server::serve`]
//! runs on a listener the caller bound until a shutdown future completes. Tests bind port 0
//! and run it in-process.
//!
//! Architecture invariant: handlers reach the database only through `switchboard_store::Store`
//! and other nodes only through `switchboard_bus::Bus`; no SQL lives here.

mod app;
pub mod auth;
pub mod browser_policy;
pub mod bus_probe;
pub mod cameras;
pub mod cell_link;
pub mod cells;
pub mod config;
mod connections;
mod data_dir;
pub mod decode_slots;
pub mod error;
pub mod extract;
pub mod kernel_id;
pub mod kernel_proxy;
pub mod kernels;
pub mod kernelspec_resources;
pub mod live;
pub mod metrics;
pub mod monitor;
pub mod object_query;
pub mod open_files;
pub mod openapi;
mod origin;
pub mod protocol;
mod rate_limit;
pub mod routes;
pub mod services;
pub mod taught;
pub mod tls;
pub mod vault;
pub mod voice;
pub mod webrtc_listen;
mod websocket;

pub use app::App;
pub use config::Config;

use crate::auth::TokenService;
use crate::auth::revocations::RevocationListener;
use crate::live::{ActorDeps, CdrLog, SessionRegistry};
use crate::rate_limit::RateLimits;
use std::future::Future;
use std::sync::Arc;
use switchboard_bus::{Bus, InProcessBus, NatsBus};
use switchboard_media::mjpeg::MjpegWriter;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    #[error(
        "cannot use the NATS server at {url}: {source}; start it, or fix nats_url \
         (leave it out to run this node alone)"
    )]
    Nats {
        url: String,
        source: switchboard_bus::BusError,
    },
    #[error("cannot subscribe on the bus: {0}")]
    Bus(#[from] switchboard_bus::BusError),
    #[error("cannot open the audit trail: {0}")]
    Audit(#[from] services::audit::AuditStartError),
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    #[error("cannot read the token secret: {0}")]
    TokenSecret(std::io::Error),
    #[error("cannot prepare the HTTP client for other nodes: {0}")]
    NodeClient(#[from] kernel_proxy::ProxyError),
    #[error(
        "cannot listen on metrics_listen {address}: {source}; pick a free address or leave it out"
    )]
    MetricsListen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A node, ready to serve.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
    tracker: TaskTracker,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The separate `/metrics` listener, when `metrics_listen` is set.
    metrics_listener: Option<TcpListener>,
}

impl Server {
    /// Opens the data directory and database (running migrations), loads the token secret
    /// and revoked tokens, and restores the sessions that were open.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        config.validate()?;
        open_files::raise_for(config.network.max_connections);
        // First: the self-signed TLS key and everything after go inside it.
        let data_dir = config.operations.data_dir.clone();
        data_dir::prepare(&data_dir).map_err(|source| ServerError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let tls = tls::server_config(&config)?;
        let metrics_access = metrics::ScrapeAccess::from_config(&config)?;
        let ice = Arc::new(services::ice_servers::IceServers::from_config(&config)?);
        let metrics_listener = match config.operations.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|source| ServerError::MetricsListen { address, source })?,
            ),
            None => None,
        };
        let store = switchboard_store::connect(&config.database_url()).await?;
        // Before anything is read or written: a wrong master key stops the start here.
        let vault = Arc::new(vault::Vault::start(&config, store.clone()).await?);
        let resealer = Arc::new(vault::reseal::Resealer::new(vault.clone(), store.clone()));
        // Before anything that is audited can happen.
        let audit = services::AuditLog::start(&config, store.clone()).await?;
        // Nodes of a cluster share one secret file; a lone node keeps its own.
        let secret = match &config.auth.token_secret_file {
            Some(path) => auth::read_secret_file(path).map_err(ServerError::TokenSecret)?,
            None => {
                auth::load_or_create_secret(&data_dir).map_err(|source| ServerError::DataDir {
                    path: data_dir.clone(),
                    source,
                })?
            }
        };
        let tokens = Arc::new(TokenService::new(&secret));
        let now = chrono::Utc::now();
        for jti in store.revoked_tokens(now).await? {
            // Revoked ids are kept until expiry; the exact expiry does not matter for checks.
            tokens.revoked.insert(jti, i64::MAX);
        }
        let (bus, revoked_sub) = connect_bus(&config, &store, &tokens).await?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let bus_health = Arc::new(bus_probe::BusHealth::default());
        tracker.spawn(
            RevocationListener::new(bus.clone(), store.clone(), tokens.clone())
                .resubscribing_on(bus_health.resubscribe())
                .run(revoked_sub, shutdown.clone()),
        );
        // A lone node's in-process bus cannot lose subscriptions; only NATS is probed.
        if config.cluster.nats_url.is_some() {
            tracker.spawn(
                bus_probe::BusProbe::new(
                    bus.clone(),
                    bus_health.clone(),
                    &config.node_name(),
                    config.cluster.bus_probe_interval,
                )
                .run(shutdown.clone()),
            );
        }
        let stats_saver = live::StatsSaver::start(store.clone(), &tracker, shutdown.clone());
        let sessions = SessionRegistry::new(ActorDeps {
            store: store.clone(),
            bus: bus.clone(),
            policy: config.timeout_policy(),
            cdr_log: CdrLog::new(data_dir.join("cdr")),
            stats_interval: config.sessions.stats_interval,
            max_viewers: config.sessions.max_viewers_per_session,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            node: config.node_name(),
            lease_ttl: config.cluster.session_lease,
            clustered: config.cluster.nats_url.is_some(),
            resubscribe: bus_health.resubscribe(),
            audit: audit.clone(),
            stats_saver,
        });
        let decodes = decode_slots::DecodeSlots::new(config.cameras.max_concurrent_decodes);
        let matcher = Arc::new(taught::TaughtMatcher::new(
            &config,
            store.clone(),
            vault.clone(),
            decodes.clone(),
        ));
        // At once, as each waits on something else (the database, the kernel launcher's
        // probes, the detector model's loading on a blocking thread): a start with many open
        // sessions is ready in the longest of them rather than their sum.
        // The detector first: its first poll hands the model to a blocking thread, while the
        // kernel launcher's probes run on this one.
        let (cameras, claimed, kernels) = tokio::join!(
            cameras::Cameras::start(
                &config,
                store.clone(),
                vault.clone(),
                decodes.clone(),
                matcher.clone(),
            ),
            // Sessions this node owned before a restart, and any whose owner is gone
            // (`claim` logs how many it took).
            sessions.claim(),
            kernels::KernelRegistry::start(&config, shutdown.clone(), tracker.clone()),
        );
        claimed?;
        let kernels = Arc::new(kernels);
        let cameras = Arc::new(cameras);
        tracker.spawn(sessions.clone().run_leases());
        tracker.spawn(sessions.clone().run_status_board());
        tracker.spawn(sessions.clone().run_end_watch());
        let monitor = monitor::Monitor::start(
            store.clone(),
            config.node_name(),
            config.advertised_address(),
            config.operations.monitor_interval,
            config.operations.status_rows_kept,
        )
        .await?;
        tracker.spawn(
            monitor
                .clone()
                .run(sessions.clone(), kernels.clone(), shutdown.clone()),
        );
        let kernel_proxy = Arc::new(kernel_proxy::KernelProxy::new(
            &config,
            monitor.clone(),
            shutdown.clone(),
        )?);
        let scans = Arc::new(taught::HistoryScans::new(
            store.clone(),
            vault.clone(),
            matcher.clone(),
            decodes.clone(),
            config.cameras.taught_scan_snapshots,
            tracker.clone(),
            shutdown.clone(),
        ));
        // Objects stored plain or under a retired key are sealed anew in the background.
        if vault.encrypting() {
            tracker.spawn(resealer.clone().run(shutdown.clone()));
        }
        // Snapshots left pending (detector busy, node stopped) are detected in the background.
        tracker.spawn(cameras.clone().run_resume(shutdown.clone()));
        tracker.spawn(cameras.clone().run_retention(
            config.cameras.snapshot_retention,
            config.cameras.snapshot_storage.as_u64(),
            shutdown.clone(),
        ));
        let gate = Arc::new(
            services::gatekeeper::Gatekeeper::new(&config, store.clone(), config.node_name())
                .map_err(|e| config::ConfigError::Invalid(format!("node_requests: {e}")))?,
        );
        {
            let monitor = monitor.clone();
            tracker.spawn(
                gate.clone()
                    .run(move || monitor.live_nodes().len(), shutdown.clone()),
            );
        }
        let mut config = config;
        config.auth.secure_cookies |= tls.is_some();
        let config = Arc::new(config);
        let public_url = config.public_url();
        // Before the WebRTC engine starts: it looks its counters up once, at start.
        let metrics_handle = metrics::install();
        let live = services::LiveSessions::new(
            config.clone(),
            store.clone(),
            bus.clone(),
            sessions.clone(),
            tokens.clone(),
            gate.clone(),
            public_url.clone(),
            shutdown.clone(),
            audit.clone(),
            webrtc_listen::start(&config, shutdown.clone()),
            ice,
        );
        let (sign_ins, last_used) =
            services::SignIns::new(config.clone(), store.clone(), bus.clone(), tokens.clone());
        tracker.spawn(last_used.run(shutdown.clone()));
        let accounts = services::Accounts::new(
            config.clone(),
            store.clone(),
            bus.clone(),
            tokens.clone(),
            sign_ins.clone(),
            gate.clone(),
            audit.clone(),
        );

        let security = Arc::new(services::AccountSecurity::new(
            &config,
            store.clone(),
            bus.clone(),
            tokens.clone(),
            sign_ins,
            accounts.hashing(),
            audit.clone(),
        ));
        let deletions = services::AccountDeletion::new(
            store.clone(),
            bus.clone(),
            tokens.clone(),
            vault.clone(),
            live.clone(),
            security.clone(),
            audit.clone(),
            matcher.clone(),
        );
        let taught = services::TaughtObjects::new(
            config.clone(),
            store.clone(),
            vault.clone(),
            matcher,
            scans,
            decodes,
            audit.clone(),
        );
        let camera_service = services::CameraService::new(
            config.clone(),
            store.clone(),
            cameras,
            live.clone(),
            gate.clone(),
            audit.clone(),
            vault.clone(),
        );
        // Finding the model may start python3 (to look for a pocketsphinx package): off
        // the async workers.
        let voice = {
            let config = config.clone();
            let labels = camera_service.known_labels();
            tokio::task::spawn_blocking(move || voice::Voice::start(&config, &labels))
                .await
                .map_err(|e| std::io::Error::other(format!("voice start-up failed: {e}")))?
        };
        let voice_search =
            services::VoiceSearch::new(&config, Arc::new(voice), camera_service.clone());
        let admin = services::AdminViews::new(
            store.clone(),
            monitor.clone(),
            tokens.clone(),
            live.clone(),
            camera_service.detector(),
        );
        let compute = services::Compute::new(
            &config,
            kernels.clone(),
            kernel_proxy.clone(),
            store.clone(),
            vault.clone(),
            tokens.clone(),
            gate.clone(),
            audit.clone(),
        );
        tracker.spawn(services::compute::cpu_meter::run(
            kernels,
            store.clone(),
            shutdown.clone(),
        ));
        let app = Arc::new(App {
            limit_views: services::LimitViews::new(store.clone(), gate.clone(), audit.clone()),
            audit_views: services::AuditViews::new(store.clone(), audit.clone()),
            audit,
            gate,
            limits: RateLimits::new(&config),
            public_url,
            config,
            live,
            accounts,
            deletions,
            vault,
            resealer,
            security,
            cameras: camera_service,
            voice: voice_search,
            taught,
            admin,
            store,
            bus,
            sessions,
            tokens,
            mjpeg: MjpegWriter::new("switchboard-frame"),
            shutdown,
            monitor,
            metrics: metrics_handle,
            metrics_access,
            compute,
            kernel_proxy,
            bus_health,
        });
        Ok(Server {
            app,
            tracker,
            tls,
            metrics_listener,
        })
    }

    /// Every API route this node serves, by method and path (the OpenAPI document must name
    /// exactly these).
    pub fn api_routes(&self) -> Vec<routes::Route> {
        routes::router(self.app.clone()).1
    }

    /// The node's shared state (for tests and tools).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The address `/metrics` is served on apart, when `metrics_listen` is set (its port
    /// chosen by the system when configured as 0).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves on `listener` until `shutdown` completes, then closes every stream and socket,
    /// lets session actors save their state, and returns.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = self.app.clone();
        if let Some(metrics_listener) = self.metrics_listener.take() {
            self.tracker.spawn(routes::scrape::serve_dedicated(
                app.clone(),
                metrics_listener,
            ));
        }
        let token = app.shutdown.clone();
        let grace = app.config.operations.shutdown_grace;
        let (router, _) = routes::router(app.clone());
        tracing::info!(address = %listener.local_addr()?, "listening");
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down");
            token.cancel();
        };
        let limits = connections::ConnectionLimits::from_config(&app.config);
        let serving = connections::serve(listener, self.tls, router, limits, stop);
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
        if tokio::time::timeout(kernels::SHUTDOWN_WAIT, app.compute.shutdown_all())
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
        // Every connection has closed and recorded its end: write what is queued.
        app.audit.close().await;
        // Actors have saved their totals: other nodes may take the sessions over at once.
        app.sessions.release().await;
        Ok(())
    }
}

/// How many messages a subscriber may fall behind before it loses the oldest.
const BUS_CAPACITY: usize = 1024;
/// How long start-up waits for NATS to confirm the subscriptions.
const NATS_START_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The bus: NATS when `nats_url` is set, else in-process. Also subscribes to revoked tokens
/// and, with NATS, waits until the server has the subscription, so that once this node
/// answers requests it refuses every token revoked anywhere afterwards.
async fn connect_bus(
    config: &Config,
    store: &Arc<dyn Store>,
    tokens: &Arc<TokenService>,
) -> Result<(Arc<dyn Bus>, switchboard_bus::Subscription), ServerError> {
    let Some(url) = &config.cluster.nats_url else {
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(BUS_CAPACITY));
        let sub = RevocationListener::new(bus.clone(), store.clone(), tokens.clone())
            .subscribe()
            .await?;
        return Ok((bus, sub));
    };
    let shown = config
        .to_masked_nats_url()
        .unwrap_or_else(|| "(unset)".into());
    let failed = |source| ServerError::Nats {
        url: shown.clone(),
        source,
    };
    let nats = NatsBus::connect(url, BUS_CAPACITY).await.map_err(failed)?;
    let (server, max_payload) = nats.server();
    tracing::info!(url = %shown, %server, max_payload, "connected to NATS");
    let bus: Arc<dyn Bus> = Arc::new(nats.clone());
    let sub = RevocationListener::new(bus.clone(), store.clone(), tokens.clone())
        .subscribe()
        .await
        .map_err(failed)?;
    tokio::time::timeout(NATS_START_WAIT, nats.flush())
        .await
        .map_err(|_| {
            failed(switchboard_bus::BusError::Unavailable(
                "no answer to a flush".into(),
            ))
        })?
        .map_err(failed)?;
    Ok((bus, sub))
}
