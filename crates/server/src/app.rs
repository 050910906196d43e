//! The node's shared state, handed to every handler: configuration, store, bus, the
//! services, and what the HTTP edge needs (rate limits, metrics, the MJPEG writer).

use crate::auth::TokenService;
use crate::config::Config;
use crate::live::SessionRegistry;
use crate::rate_limit::RateLimits;
use crate::services::gatekeeper::Gatekeeper;
use crate::services::{
    AccountDeletion, AccountSecurity, Accounts, AdminViews, AuditLog, AuditViews, CameraService,
    Compute, LimitViews, LiveSessions, TaughtObjects, VoiceSearch,
};
use crate::{bus_probe, kernel_proxy, metrics, monitor, vault};
use std::sync::Arc;
use switchboard_bus::Bus;
use switchboard_media::mjpeg::MjpegWriter;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;

/// Shared state of a running node, handed to every handler.
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub sessions: SessionRegistry,
    /// Live sessions: sessions, devices, frames, viewers, controls.
    pub live: LiveSessions,
    /// Sign-up, sign-in, users and invites.
    pub accounts: Accounts,
    /// Deleting whole accounts (their data keys first).
    pub deletions: AccountDeletion,
    /// Seals and opens stored pictures and cell files.
    pub vault: Arc<vault::Vault>,
    /// Seals what is stored plain or under a retired key, in the background.
    pub resealer: Arc<vault::reseal::Resealer>,
    /// Passwords, usernames, second factors and sign-ins.
    pub security: Arc<AccountSecurity>,
    /// Cameras, snapshot uploads with detection, search.
    pub cameras: CameraService,
    /// Voice questions: recordings recognized, then searched like typed ones.
    pub voice: VoiceSearch,
    /// Objects users taught by boxing and naming them, and looks through the history.
    pub taught: TaughtObjects,
    /// The admin views.
    pub admin: AdminViews,
    /// Admission limits: each account's, counted across the cluster, and this node's.
    pub gate: Arc<Gatekeeper>,
    /// Account limits as people see and change them.
    pub limit_views: LimitViews,
    /// The audit trail: where services record who did what.
    pub audit: AuditLog,
    /// The audit trail as people read it.
    pub audit_views: AuditViews,
    pub tokens: Arc<TokenService>,
    pub mjpeg: MjpegWriter,
    /// Cancelled when the node begins to stop: streams and sockets close, actors save state.
    pub shutdown: CancellationToken,
    /// This node's registration and everyone's newest status.
    pub monitor: Arc<monitor::Monitor>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Who may read `/metrics`.
    pub metrics_access: metrics::ScrapeAccess,
    /// Compute: kernels (this node's, and others' through the proxy), cells, runs.
    pub compute: Compute,
    /// Reaches the kernels of other nodes (the forwarding middlewares use it).
    pub kernel_proxy: Arc<kernel_proxy::KernelProxy>,
    /// Whether the bus delivers, as this node's probes find (`/readyz`).
    pub bus_health: Arc<bus_probe::BusHealth>,
    pub(crate) limits: RateLimits,
    pub(crate) public_url: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.config.network.listen)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl App {
    /// The client's address: the TCP peer, or the address a trusted proxy forwarded.
    pub fn client_ip(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        crate::rate_limit::client_ip(&self.config.network.trusted_proxies, peer, headers)
    }

    /// Base URL for links to this node.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}
