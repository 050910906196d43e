//! Serve flags and their layering: defaults → TOML file → `SWITCHBOARD_*` environment →
//! flags (clap reads the environment for each flag, and flags win over it).

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_server::Config;

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 300ms, 90s, 5m, 24h)"))
}

fn size(s: &str) -> Result<bytesize::ByteSize, String> {
    s.parse::<bytesize::ByteSize>()
        .map_err(|e| format!("{e} (use e.g. 512KiB, 4MiB)"))
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum LogFormat {
    /// For people.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every server setting as a flag; each is also read from the environment variable shown.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see `switchboard config example`).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database, the token secret and CDR files.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// NATS server(s) of a cluster: nats://[USER:PASSWORD@]HOST:4222, comma-separated
    /// (default: none, this node stands alone).
    #[arg(long, env = "SWITCHBOARD_NATS_URL")]
    pub nats_url: Option<String>,
    /// File with the token-signing secret (base64, at least 32 bytes), shared by every node
    /// of a cluster (default: DATA_DIR/jwt-secret, made on first start).
    #[arg(long, env = "SWITCHBOARD_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<PathBuf>,
    /// Base URL that devices and browsers use to reach this server.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How long a ticket stays redeemable.
    #[arg(long, env = "SWITCHBOARD_TICKET_TTL", value_parser = duration)]
    pub ticket_ttl: Option<Duration>,
    /// The longest a session may live.
    #[arg(long, env = "SWITCHBOARD_MAX_LIFETIME", value_parser = duration)]
    pub max_lifetime: Option<Duration>,
    /// End a live session this long after its last viewer leaves.
    #[arg(long, env = "SWITCHBOARD_NO_VIEWERS_TIMEOUT", value_parser = duration)]
    pub no_viewers_timeout: Option<Duration>,
    /// End a live session this long after its last frame.
    #[arg(long, env = "SWITCHBOARD_DEVICE_IDLE_TIMEOUT", value_parser = duration)]
    pub device_idle_timeout: Option<Duration>,
    /// Refuse devices whose app is older than this version (426).
    #[arg(long, env = "SWITCHBOARD_MIN_DEVICE_APP_VERSION")]
    pub min_device_app_version: Option<String>,
    /// Largest accepted frame.
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_BYTES", value_parser = size)]
    pub max_frame_bytes: Option<bytesize::ByteSize>,
    /// Largest accepted JSON body.
    #[arg(long, env = "SWITCHBOARD_MAX_JSON_BYTES", value_parser = size)]
    pub max_json_bytes: Option<bytesize::ByteSize>,
    /// How long a sign-in token lasts.
    #[arg(long, env = "SWITCHBOARD_TOKEN_TTL", value_parser = duration)]
    pub token_ttl: Option<Duration>,
    /// Ticket redemptions allowed per client address per minute.
    #[arg(long, env = "SWITCHBOARD_TICKET_REDEMPTIONS_PER_MINUTE")]
    pub ticket_redemptions_per_minute: Option<u32>,
    /// Sign-in and sign-up attempts allowed per client address per minute.
    #[arg(long, env = "SWITCHBOARD_AUTH_ATTEMPTS_PER_MINUTE")]
    pub auth_attempts_per_minute: Option<u32>,
    /// Failed sign-ins allowed per username within --sign-in-failure-window, from any address.
    #[arg(long, env = "SWITCHBOARD_SIGN_IN_FAILURES_PER_USERNAME")]
    pub sign_in_failures_per_username: Option<u32>,
    /// The window of --sign-in-failures-per-username.
    #[arg(long, env = "SWITCHBOARD_SIGN_IN_FAILURE_WINDOW", value_parser = duration)]
    pub sign_in_failure_window: Option<Duration>,
    /// Password hashes computed at once (default: half the cores, at least one).
    #[arg(long, env = "SWITCHBOARD_PASSWORD_HASH_WORKERS")]
    pub password_hash_workers: Option<usize>,
    /// How long sign-in and sign-up wait for a hashing worker before answering 503 busy.
    #[arg(long, env = "SWITCHBOARD_PASSWORD_HASH_QUEUE_WAIT", value_parser = duration)]
    pub password_hash_queue_wait: Option<Duration>,
    /// Open connections accepted in all (503 busy past it).
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections per client address (behind trusted proxies: requests in flight per
    /// forwarded address); 503 busy past it.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// How long a client may take to send a request's head (and TLS handshake).
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", value_parser = duration)]
    pub header_read_timeout: Option<Duration>,
    /// Close a kept-alive connection after this long without a request in flight.
    #[arg(long, env = "SWITCHBOARD_IDLE_CONNECTION_TIMEOUT", value_parser = duration)]
    pub idle_connection_timeout: Option<Duration>,
    /// The longest wait for the next bytes of a request body (408 past it).
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT", value_parser = duration)]
    pub body_read_timeout: Option<Duration>,
    /// The slowest average rate a request body may arrive at, per second (0: no minimum).
    #[arg(long, env = "SWITCHBOARD_MIN_BODY_BYTES_PER_SECOND", value_parser = size)]
    pub min_body_bytes_per_second: Option<bytesize::ByteSize>,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat, or comma-separate in
    /// the environment variable).
    #[arg(
        long = "trusted-proxy",
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Viewers allowed on one session at once.
    #[arg(long, env = "SWITCHBOARD_MAX_VIEWERS_PER_SESSION")]
    pub max_viewers_per_session: Option<u32>,
    /// How often live session totals are saved.
    #[arg(long, env = "SWITCHBOARD_STATS_INTERVAL", value_parser = duration)]
    pub stats_interval: Option<Duration>,
    /// Longest wait a long poll may ask for.
    #[arg(long, env = "SWITCHBOARD_MAX_LONG_POLL", value_parser = duration)]
    pub max_long_poll: Option<Duration>,
    /// Largest message a viewer may send on the watch and events sockets.
    #[arg(long, env = "SWITCHBOARD_MAX_VIEWER_MESSAGE_BYTES", value_parser = size)]
    pub max_viewer_message_bytes: Option<bytesize::ByteSize>,
    /// Largest text message a device may send on its socket.
    #[arg(long, env = "SWITCHBOARD_MAX_DEVICE_TEXT_BYTES", value_parser = size)]
    pub max_device_text_bytes: Option<bytesize::ByteSize>,
    /// Text messages a device may send per second on its socket (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_DEVICE_MESSAGES_PER_SECOND")]
    pub device_messages_per_second: Option<u32>,
    /// Frames per second relayed from one device; more are dropped (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_MAX_DEVICE_FPS")]
    pub max_device_fps: Option<u32>,
    /// Largest message a client may send on a kernel's channels socket.
    #[arg(long, env = "SWITCHBOARD_MAX_KERNEL_MESSAGE_BYTES", value_parser = size)]
    pub max_kernel_message_bytes: Option<bytesize::ByteSize>,
    /// Mark the session cookie Secure (behind HTTPS).
    #[arg(long, env = "SWITCHBOARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// An origin besides this server's own whose pages may open WebSockets and send
    /// cookie-signed writes, e.g. https://ui.example.org (repeat, or comma-separate in the
    /// environment variable).
    #[arg(
        long = "allowed-origin",
        env = "SWITCHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Strict-Transport-Security max-age sent over HTTPS (0s: no header).
    #[arg(long, env = "SWITCHBOARD_HSTS_MAX_AGE", value_parser = duration)]
    pub hsts_max_age: Option<Duration>,
    /// Serve /metrics only on this address, e.g. 127.0.0.1:9090 (open to whoever reaches it,
    /// unless a metrics token is set).
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token /metrics asks for, at least 16 characters (prefer --metrics-token-file:
    /// flags show in process lists).
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// File holding the bearer token /metrics asks for.
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// This node's name in the services registry (default: the host name).
    #[arg(long, env = "SWITCHBOARD_NODE_NAME")]
    pub node_name: Option<String>,
    /// How often the node records its load.
    #[arg(long, env = "SWITCHBOARD_MONITOR_INTERVAL", value_parser = duration)]
    pub monitor_interval: Option<Duration>,
    /// Status samples kept per service.
    #[arg(long, env = "SWITCHBOARD_STATUS_ROWS_KEPT")]
    pub status_rows_kept: Option<u32>,
    /// On SIGTERM/SIGINT, how long to wait for connections and sessions to wind down.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE", value_parser = duration)]
    pub shutdown_grace: Option<Duration>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made once and kept in the data directory
    /// (to try the phone page on a local network; browsers will warn).
    #[arg(long, env = "SWITCHBOARD_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Run Jupyter kernels (default: when a python3 kernelspec is found).
    #[arg(long, env = "SWITCHBOARD_KERNELS_ENABLED")]
    pub kernels_enabled: Option<bool>,
    /// The most kernels this node runs at once, warm pools included.
    #[arg(long, env = "SWITCHBOARD_MAX_KERNELS")]
    pub max_kernels: Option<usize>,
    /// Warm kernels per kernelspec, e.g. "python3=2" ("" keeps none).
    #[arg(long, env = "SWITCHBOARD_KERNEL_POOL")]
    pub kernel_pool: Option<String>,
    /// CPU seconds one kernel may use (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_CPU_SECONDS")]
    pub kernel_cpu_seconds: Option<u64>,
    /// Address space each process of a kernel may use.
    #[arg(long, env = "SWITCHBOARD_KERNEL_MEMORY", value_parser = size)]
    pub kernel_memory: Option<bytesize::ByteSize>,
    /// Memory all processes of one kernel may use together (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_MEMORY_TOTAL", value_parser = size)]
    pub kernel_memory_total: Option<bytesize::ByteSize>,
    /// Processes and threads one kernel may run together (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_PROCESSES")]
    pub kernel_processes: Option<u64>,
    /// Size of one kernel's folder, a tmpfs (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_DISK", value_parser = size)]
    pub kernel_disk: Option<bytesize::ByteSize>,
    /// A kernel stops after this long without activity.
    #[arg(long, env = "SWITCHBOARD_KERNEL_IDLE_TIMEOUT", value_parser = duration)]
    pub kernel_idle_timeout: Option<Duration>,
    /// A kernel stops this long after it was handed out.
    #[arg(long, env = "SWITCHBOARD_KERNEL_LIFETIME", value_parser = duration)]
    pub kernel_lifetime: Option<Duration>,
    /// The kernel sandbox: enforce, best_effort or off.
    #[arg(long, env = "SWITCHBOARD_KERNEL_SANDBOX", value_parser = kernel_sandbox)]
    pub kernel_sandbox: Option<switchboard_server::config::KernelSandboxMode>,
    /// Kernels one user may run at once.
    #[arg(long, env = "SWITCHBOARD_KERNELS_PER_USER")]
    pub kernels_per_user: Option<usize>,
    /// Kernels one account may run at once.
    #[arg(long, env = "SWITCHBOARD_KERNELS_PER_ACCOUNT")]
    pub kernels_per_account: Option<usize>,
    /// The share of a node's max_kernels one account may hold (0-1).
    #[arg(long, env = "SWITCHBOARD_KERNEL_ACCOUNT_SHARE")]
    pub kernel_account_share: Option<f64>,
    /// The kernel sandbox helper program (default: this binary).
    #[arg(long, env = "SWITCHBOARD_KERNEL_HELPER")]
    pub kernel_helper: Option<PathBuf>,
    /// Largest code a stored cell may hold.
    #[arg(long, env = "SWITCHBOARD_MAX_CELL_CODE_BYTES", value_parser = size)]
    pub max_cell_code_bytes: Option<bytesize::ByteSize>,
    /// Largest file kept from a cell's run.
    #[arg(long, env = "SWITCHBOARD_CELL_FILE_MAX_BYTES", value_parser = size)]
    pub cell_file_max_bytes: Option<bytesize::ByteSize>,
    /// Most files kept per cell.
    #[arg(long, env = "SWITCHBOARD_CELL_FILES_MAX")]
    pub cell_files_max: Option<u32>,
    /// The object detector model (relative: current directory, then next to the binary).
    #[arg(long, env = "SWITCHBOARD_DETECTOR_MODEL")]
    pub detector_model: Option<PathBuf>,
    /// ONNX Runtime's library, a file or folder (default: ORT_DYLIB_PATH, then tract).
    #[arg(long, env = "SWITCHBOARD_ONNXRUNTIME_LIBRARY")]
    pub onnxruntime_library: Option<PathBuf>,
    /// Detection threads (default: one per core).
    #[arg(long, env = "SWITCHBOARD_DETECTOR_WORKERS")]
    pub detector_workers: Option<usize>,
    /// Snapshots waiting for detection before uploads answer 503.
    #[arg(long, env = "SWITCHBOARD_DETECTOR_QUEUE")]
    pub detector_queue: Option<usize>,
    /// How long an upload waits for its detections before answering 202.
    #[arg(long, env = "SWITCHBOARD_DETECT_WAIT", value_parser = duration)]
    pub detect_wait: Option<Duration>,
    /// Largest camera snapshot accepted.
    #[arg(long, env = "SWITCHBOARD_MAX_SNAPSHOT_BYTES", value_parser = size)]
    pub max_snapshot_bytes: Option<bytesize::ByteSize>,
    /// Snapshots older than this are deleted.
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_RETENTION", value_parser = duration)]
    pub snapshot_retention: Option<Duration>,
    /// Snapshot images kept in all; the oldest beyond it are deleted.
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_STORAGE", value_parser = size)]
    pub snapshot_storage: Option<bytesize::ByteSize>,
    /// Drop a snapshot this close to its camera's previous one (0-1; 0 keeps all).
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_DEDUP_DISTANCE")]
    pub snapshot_dedup_distance: Option<f64>,
    /// How long snapshots shown as search results are spared by retention.
    #[arg(long, env = "SWITCHBOARD_SEARCH_PIN", value_parser = duration)]
    pub search_pin: Option<Duration>,
    /// Largest picture (width x height) a camera snapshot may declare.
    #[arg(long, env = "SWITCHBOARD_MAX_IMAGE_PIXELS")]
    pub max_image_pixels: Option<u64>,
    /// Largest picture (width x height) a device's frame may declare.
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_PIXELS")]
    pub max_frame_pixels: Option<u64>,
    /// Pictures decoded at once for thumbnails.
    #[arg(long, env = "SWITCHBOARD_MAX_CONCURRENT_DECODES")]
    pub max_concurrent_decodes: Option<usize>,
    /// How long a thumbnail waits for a decoding slot before 503.
    #[arg(long, env = "SWITCHBOARD_DECODE_WAIT", value_parser = duration)]
    pub decode_wait: Option<Duration>,
    /// How far in the future a snapshot's taken_at may be (later ones take the receiving time).
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_CLOCK_SKEW", value_parser = duration)]
    pub snapshot_clock_skew: Option<Duration>,
    /// How long a node's lease on its sessions lasts unless renewed.
    #[arg(long, env = "SWITCHBOARD_SESSION_LEASE", value_parser = duration)]
    pub session_lease: Option<Duration>,
    /// Base URL other nodes reach this one at, e.g. http://10.0.0.5:8080 (default: the
    /// listen address, or the host name when listening on every interface).
    #[arg(long, env = "SWITCHBOARD_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Where a cluster starts new kernels: least_loaded or local.
    #[arg(long, env = "SWITCHBOARD_KERNEL_PLACEMENT", value_parser = kernel_placement)]
    pub kernel_placement: Option<switchboard_server::config::KernelPlacement>,
    /// How long a node waits for another node when forwarding kernel requests.
    #[arg(long, env = "SWITCHBOARD_NODE_REQUEST_TIMEOUT", value_parser = duration)]
    pub node_request_timeout: Option<Duration>,
    /// How often a clustered node probes its NATS subscriptions (and how long a probe may take).
    #[arg(long, env = "SWITCHBOARD_BUS_PROBE_INTERVAL", value_parser = duration)]
    pub bus_probe_interval: Option<Duration>,
    /// Log format.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// The effective configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_toml_file(path)?,
            None => Config::default(),
        };
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = self.$field.clone() { c.$field = v; } )* };
        }
        macro_rules! overlay_opt {
            ($($field:ident),*) => { $( if let Some(v) = self.$field.clone() { c.$field = Some(v); } )* };
        }
        overlay!(
            listen,
            data_dir,
            ticket_ttl,
            max_lifetime,
            no_viewers_timeout,
            device_idle_timeout,
            max_frame_bytes,
            max_json_bytes,
            token_ttl,
            ticket_redemptions_per_minute,
            auth_attempts_per_minute,
            sign_in_failures_per_username,
            sign_in_failure_window,
            password_hash_queue_wait,
            max_connections,
            max_connections_per_address,
            header_read_timeout,
            idle_connection_timeout,
            body_read_timeout,
            min_body_bytes_per_second,
            max_viewers_per_session,
            stats_interval,
            max_long_poll,
            max_viewer_message_bytes,
            max_device_text_bytes,
            device_messages_per_second,
            max_device_fps,
            max_kernel_message_bytes,
            monitor_interval,
            status_rows_kept,
            shutdown_grace,
            max_kernels,
            kernel_pool,
            kernel_cpu_seconds,
            kernel_memory,
            kernel_memory_total,
            kernel_processes,
            kernel_disk,
            kernel_idle_timeout,
            kernel_lifetime,
            kernel_sandbox,
            kernels_per_user,
            kernels_per_account,
            kernel_account_share,
            max_cell_code_bytes,
            cell_file_max_bytes,
            cell_files_max,
            detector_model,
            detector_queue,
            detect_wait,
            max_snapshot_bytes,
            snapshot_retention,
            snapshot_storage,
            snapshot_dedup_distance,
            search_pin,
            max_image_pixels,
            max_frame_pixels,
            max_concurrent_decodes,
            decode_wait,
            snapshot_clock_skew,
            session_lease,
            bus_probe_interval,
            kernel_placement,
            node_request_timeout
        );
        if !self.trusted_proxies.is_empty() {
            c.trusted_proxies = self.trusted_proxies.clone();
        }
        if !self.allowed_origins.is_empty() {
            c.allowed_origins = self.allowed_origins.clone();
        }
        if let Some(v) = self.hsts_max_age {
            c.hsts_max_age = v;
        }
        // Switches only ever turn a setting on, so a file's `true` is not undone by their absence.
        c.secure_cookies |= self.secure_cookies;
        c.tls_self_signed |= self.tls_self_signed;
        overlay_opt!(
            database_url,
            nats_url,
            token_secret_file,
            public_url,
            min_device_app_version,
            tls_cert,
            tls_key,
            node_name,
            kernels_enabled,
            kernel_helper,
            onnxruntime_library,
            detector_workers,
            password_hash_workers,
            metrics_listen,
            metrics_token,
            metrics_token_file,
            advertise_url
        );
        c.validate().context("invalid configuration")?;
        Ok(c)
    }
}

fn kernel_sandbox(s: &str) -> Result<switchboard_server::config::KernelSandboxMode, String> {
    use switchboard_server::config::KernelSandboxMode;
    match s {
        "enforce" => Ok(KernelSandboxMode::Enforce),
        "best_effort" => Ok(KernelSandboxMode::BestEffort),
        "off" => Ok(KernelSandboxMode::Off),
        other => Err(format!("{other:?}: use enforce, best_effort or off")),
    }
}

fn kernel_placement(s: &str) -> Result<switchboard_server::config::KernelPlacement, String> {
    use switchboard_server::config::KernelPlacement;
    match s {
        "least_loaded" => Ok(KernelPlacement::LeastLoaded),
        "local" => Ok(KernelPlacement::Local),
        other => Err(format!("{other:?}: use least_loaded or local")),
    }
}

/// Sets up `tracing` output. `RUST_LOG` (or `SWITCHBOARD_LOG`) picks what is shown.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("SWITCHBOARD_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        // zeromq warns for every reconnect attempt to a kernel socket that is going away
        // (after a kernel is shut down); its errors still show.
        .unwrap_or_else(|| EnvFilter::new("info,zeromq=error"));
    // Colours only for a person at a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        // The default timer prints RFC 3339 UTC timestamps.
        .with_env_filter(filter)
        .with_ansi(ansi);
    // A second initialisation (tests) is harmless; ignore it.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
