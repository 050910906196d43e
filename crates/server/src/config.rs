//! Server configuration: every setting with its default, read from a TOML file and then
//! overridden by environment variables and flags (the CLI does that layering).

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_core::TimeoutPolicy;

/// The effective configuration of a node. Unknown keys in a file are an error, so a typo
/// never silently falls back to a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// This node's name in the services registry; defaults to the host name.
    pub node_name: Option<String>,
    /// Where the SQLite database, the token secret and CDR files live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data_dir>/switchboard.db`.
    pub database_url: Option<String>,
    /// NATS server(s) of a cluster (`nats://[user:password@]host:4222`, comma-separated for
    /// several); unset, the node uses its in-process bus and stands alone.
    pub nats_url: Option<String>,
    /// A file holding the token-signing secret (base64 of at least 32 bytes), the same for
    /// every node of a cluster; unset, the node makes and keeps its own in the data directory.
    pub token_secret_file: Option<PathBuf>,
    /// Base URL devices and browsers use to reach this server, for links such as the device
    /// URL; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// How long a ticket stays redeemable.
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
    /// The longest a session may live.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// A live session ends this long after its last viewer leaves.
    #[serde(with = "humantime_serde")]
    pub no_viewers_timeout: Duration,
    /// A live session ends this long after its last frame.
    #[serde(with = "humantime_serde")]
    pub device_idle_timeout: Duration,
    /// Devices whose app reports an older version are refused with 426.
    pub min_device_app_version: Option<String>,
    /// Largest accepted frame (one JPEG).
    pub max_frame_bytes: ByteSize,
    /// Largest accepted JSON request body.
    pub max_json_bytes: ByteSize,
    /// How long a sign-in token lasts.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Ticket redemptions allowed per client address per minute (guessing defence).
    pub ticket_redemptions_per_minute: u32,
    /// Sign-in and sign-up attempts allowed per client address per minute.
    pub auth_attempts_per_minute: u32,
    /// Failed sign-ins allowed per username within `sign_in_failure_window`, from any
    /// address (so rotating addresses does not help a guesser); past it 429.
    pub sign_in_failures_per_username: u32,
    /// The window of `sign_in_failures_per_username`: one more attempt is allowed every
    /// window / failures, and a successful sign-in starts the count afresh.
    #[serde(with = "humantime_serde")]
    pub sign_in_failure_window: Duration,
    /// Password hashes computed at once (argon2 is slow and takes ~19 MiB each); unset: half
    /// the cores, at least one.
    pub password_hash_workers: Option<usize>,
    /// How long a sign-in or sign-up waits for a hashing worker before answering 503 `busy`.
    #[serde(with = "humantime_serde")]
    pub password_hash_queue_wait: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for rate limits and logs).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Open connections (WebSockets included) the node accepts in all; past it new ones get
    /// 503 `busy` and are closed.
    pub max_connections: usize,
    /// Open connections per client address (the TCP peer; behind a trusted proxy, requests in
    /// flight per forwarded address); past it 503 `busy`.
    pub max_connections_per_address: usize,
    /// How long a client may take to send a request's head (and TLS handshake) once it has
    /// connected or begun the request; past it the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long.
    #[serde(with = "humantime_serde")]
    pub idle_connection_timeout: Duration,
    /// The longest the server waits for the next bytes of a request body (408 past it).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// The slowest average rate a request body may arrive at, counted over the time the
    /// server waits for it after a first `body_read_timeout` (408 past it); 0: no minimum.
    pub min_body_bytes_per_second: ByteSize,
    /// Viewers allowed on one session at once.
    pub max_viewers_per_session: u32,
    /// How often a live session's totals are saved (so a restart loses little).
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
    /// Longest `wait=` a long poll may ask for.
    #[serde(with = "humantime_serde")]
    pub max_long_poll: Duration,
    /// Largest message a viewer may send on the watch and account events sockets (they only
    /// ever send small text); a bigger one closes the socket with 1009.
    pub max_viewer_message_bytes: ByteSize,
    /// Largest text message (a status) a device may send on its socket; frames are bounded by
    /// `max_frame_bytes`. A bigger one closes the socket with 1009.
    pub max_device_text_bytes: ByteSize,
    /// Text messages a device may send per second on its socket (a burst of one second's
    /// worth); past it the socket closes with 1008. 0: unlimited.
    pub device_messages_per_second: u32,
    /// Frames per second relayed from one device (a burst of one second's worth); frames
    /// beyond it are dropped. 0: unlimited.
    pub max_device_fps: u32,
    /// Largest message a client may send on a kernel's channels socket; a bigger one closes
    /// the socket with 1009.
    pub max_kernel_message_bytes: ByteSize,
    /// Marks the session cookie `Secure` (implied when serving HTTPS; set it behind a TLS proxy).
    pub secure_cookies: bool,
    /// Origins besides this node's own (its `public_url`, and the host a request was sent to)
    /// whose pages may open WebSockets and send cookie-signed writes, as
    /// `scheme://host[:port]`; pages of any other origin get 403 `forbidden_origin`.
    pub allowed_origins: Vec<String>,
    /// `Strict-Transport-Security: max-age` sent when the node is reached over HTTPS (it
    /// serves TLS, or `public_url` is https); 0 sends no header.
    #[serde(with = "humantime_serde")]
    pub hsts_max_age: Duration,
    /// A separate address serving only `/metrics` (e.g. `127.0.0.1:9090`), to anyone who can
    /// reach it unless a metrics token is set; the main listener then has no `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token `/metrics` asks for (at least 16 characters). Unset, and without
    /// `metrics_listen`, only an operator's user token reads `/metrics`.
    pub metrics_token: Option<String>,
    /// A file holding the metrics token (surrounding white space ignored), instead of
    /// `metrics_token`.
    pub metrics_token_file: Option<PathBuf>,
    /// How often the node samples its own load into the `service_status` table.
    #[serde(with = "humantime_serde")]
    pub monitor_interval: Duration,
    /// Status samples kept per service (older ones are pruned).
    pub status_rows_kept: u32,
    /// How long a stopping node waits for connections and sessions to wind down.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// PEM certificate chain to serve HTTPS with (needs `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate kept in the data directory (for trying
    /// Switchboard with a phone on the local network; browsers will warn).
    pub tls_self_signed: bool,
    /// Run Jupyter kernels. Unset: on when a `python3` kernelspec is found. Off: the kernel
    /// routes answer 503 `kernels_unavailable`.
    pub kernels_enabled: Option<bool>,
    /// The most kernels this node runs at once, warm pools included (503 `kernel_capacity`
    /// past it).
    pub max_kernels: usize,
    /// Warm kernels kept ready per kernelspec, as `name=count` pairs separated by commas
    /// (`"python3=2"`); an empty string keeps none.
    pub kernel_pool: String,
    /// CPU seconds one kernel may use (0: unlimited).
    pub kernel_cpu_seconds: u64,
    /// Address space each process of a kernel may use.
    pub kernel_memory: ByteSize,
    /// Memory all the processes of one kernel may use together, its folder's files included
    /// (a memory cgroup, or a watchdog where the host has none; 0: unlimited).
    pub kernel_memory_total: ByteSize,
    /// Processes and threads one kernel may run together (0: unlimited).
    pub kernel_processes: u64,
    /// Size of one kernel's folder, its working directory (a tmpfs of this size, held in
    /// memory and counted in `kernel_memory_total`; 0: unlimited).
    pub kernel_disk: ByteSize,
    /// A kernel is stopped after this long without activity.
    #[serde(with = "humantime_serde")]
    pub kernel_idle_timeout: Duration,
    /// A kernel is stopped this long after it was handed out.
    #[serde(with = "humantime_serde")]
    pub kernel_lifetime: Duration,
    /// `enforce` (kernels cannot read other users' files or reach the network or the host's
    /// Unix sockets; kernels are refused where the host cannot enforce it), `best_effort`
    /// (what the host can, logged) or `off`.
    pub kernel_sandbox: KernelSandboxMode,
    /// Kernels one user may run at once (429 past it).
    pub kernels_per_user: usize,
    /// Kernels one account may run at once (429 past it).
    pub kernels_per_account: usize,
    /// The share of a node's `max_kernels` one account may hold (0–1), so one tenant cannot
    /// take every kernel of a node: an account's cap there is the lower of
    /// `kernels_per_account` and this share (at least 1).
    pub kernel_account_share: f64,
    /// The sandbox helper program; unset: this executable, whose `main` runs the helper.
    pub kernel_helper: Option<PathBuf>,
    /// Largest code a stored cell may hold (413 `code_too_large` past it).
    pub max_cell_code_bytes: ByteSize,
    /// Largest file stored from a cell's run; bigger ones are named in a notice instead.
    pub cell_file_max_bytes: ByteSize,
    /// Most files stored per cell; further ones are named in a notice instead.
    pub cell_files_max: u32,
    /// The object detector (a YOLO ONNX model). A relative path is looked up in the current
    /// directory, then next to the executable. Missing: snapshots are stored but not detected.
    pub detector_model: PathBuf,
    /// ONNX Runtime's library (file or folder); unset: `ORT_DYLIB_PATH`, then the loader's
    /// search path, then the pure-Rust backend.
    pub onnxruntime_library: Option<PathBuf>,
    /// Detection threads; unset: one per core.
    pub detector_workers: Option<usize>,
    /// Snapshots waiting for a detection thread before uploads answer 503.
    pub detector_queue: usize,
    /// How long an upload waits for its detections before answering 202 `pending`.
    #[serde(with = "humantime_serde")]
    pub detect_wait: Duration,
    /// Largest camera snapshot accepted.
    pub max_snapshot_bytes: ByteSize,
    /// Snapshots taken longer ago than this are deleted.
    #[serde(with = "humantime_serde")]
    pub snapshot_retention: Duration,
    /// Snapshot images kept in all; the oldest beyond it are deleted.
    pub snapshot_storage: ByteSize,
    /// A detected snapshot this close to its camera's previous one (mean grey-level
    /// difference of 16×16 thumbnails, 0–1) and with the same labels is dropped; 0 keeps all.
    pub snapshot_dedup_distance: f64,
    /// How long snapshots shown as search results are spared by retention.
    #[serde(with = "humantime_serde")]
    pub search_pin: Duration,
    /// Largest picture a camera snapshot may declare (width × height, from its JPEG header;
    /// 413 `image_too_large` past it): decoding costs memory by pixels, not by bytes.
    pub max_image_pixels: u64,
    /// Largest picture a device's frame may declare (width × height; 413 `image_too_large`
    /// past it): viewers decode every frame they are sent.
    pub max_frame_pixels: u64,
    /// Pictures the node decodes at once for thumbnails (detection decodes on its own
    /// `detector_workers` threads); further requests wait up to `decode_wait`.
    pub max_concurrent_decodes: usize,
    /// How long a thumbnail request waits for a decoding slot before answering 503 `busy`.
    #[serde(with = "humantime_serde")]
    pub decode_wait: Duration,
    /// How far in the future a snapshot's `taken_at` may be, by this node's clock (a
    /// camera's clock runs a little fast); a later one is replaced by the time it was
    /// received, so no snapshot escapes age retention.
    #[serde(with = "humantime_serde")]
    pub snapshot_clock_skew: Duration,
    /// How long a node's hold on its sessions lasts unless renewed (every third of it): after
    /// a node dies, another takes its sessions over within this time.
    #[serde(with = "humantime_serde")]
    pub session_lease: Duration,
    /// How often a clustered node sends itself a probe over NATS, and how long the probe may
    /// take to come back before the bus counts as not delivering (`/readyz` fails and the
    /// node subscribes again).
    #[serde(with = "humantime_serde")]
    pub bus_probe_interval: Duration,
    /// Base URL other nodes of the cluster use to reach this one (`http://10.0.0.5:8080`,
    /// `https://…` when it serves TLS), recorded in the services registry. Unset: the
    /// listen address, or the host name with the listen port when listening on every
    /// interface (`0.0.0.0`, `[::]`).
    pub advertise_url: Option<String>,
    /// Where new kernels run in a cluster: `least_loaded` (the node the monitor finds least
    /// busy; requests are forwarded there) or `local` (the node that got the request).
    pub kernel_placement: KernelPlacement,
    /// How long a node waits for another to answer a forwarded kernel request's connection,
    /// and for each node's answer when listing kernels across the cluster.
    #[serde(with = "humantime_serde")]
    pub node_request_timeout: Duration,
}

/// Where a cluster starts new kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelPlacement {
    /// On the node the monitor's status finds least loaded.
    #[default]
    LeastLoaded,
    /// On the node that received the request.
    Local,
}

/// Whether kernels run inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelSandboxMode {
    /// The kernel crate's default sandbox (file and network confinement); kernels are
    /// refused where the host cannot enforce every layer.
    #[default]
    Enforce,
    /// Every layer the host supports; what is missing is logged at start.
    BestEffort,
    /// No sandbox; limits still apply.
    Off,
}

impl Default for Config {
    fn default() -> Self {
        let policy = TimeoutPolicy::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            node_name: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            nats_url: None,
            token_secret_file: None,
            public_url: None,
            ticket_ttl: policy.ticket_ttl,
            max_lifetime: policy.max_lifetime,
            no_viewers_timeout: policy.no_viewers,
            device_idle_timeout: policy.device_idle,
            min_device_app_version: None,
            max_frame_bytes: ByteSize::mib(4),
            max_json_bytes: ByteSize::kib(64),
            token_ttl: Duration::from_secs(12 * 3600),
            ticket_redemptions_per_minute: 20,
            auth_attempts_per_minute: 30,
            sign_in_failures_per_username: 10,
            sign_in_failure_window: Duration::from_secs(5 * 60),
            password_hash_workers: None,
            password_hash_queue_wait: Duration::from_secs(2),
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_connection_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(15),
            min_body_bytes_per_second: ByteSize::kib(1),
            max_viewers_per_session: 1000,
            stats_interval: Duration::from_secs(5),
            max_long_poll: Duration::from_secs(60),
            max_viewer_message_bytes: ByteSize::kib(4),
            max_device_text_bytes: ByteSize::kib(16),
            device_messages_per_second: 20,
            max_device_fps: 60,
            max_kernel_message_bytes: ByteSize::mib(16),
            secure_cookies: false,
            allowed_origins: Vec::new(),
            hsts_max_age: Duration::from_secs(365 * 24 * 3600),
            metrics_listen: None,
            metrics_token: None,
            metrics_token_file: None,
            monitor_interval: Duration::from_secs(5),
            status_rows_kept: 720,
            shutdown_grace: Duration::from_secs(10),
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            kernels_enabled: None,
            max_kernels: 16,
            kernel_pool: "python3=1".into(),
            kernel_cpu_seconds: 600,
            kernel_memory: ByteSize::gib(2),
            kernel_memory_total: ByteSize::gib(2),
            kernel_processes: 128,
            kernel_disk: ByteSize::mib(512),
            kernel_idle_timeout: Duration::from_secs(15 * 60),
            kernel_lifetime: Duration::from_secs(24 * 3600),
            kernel_sandbox: KernelSandboxMode::Enforce,
            kernels_per_user: 4,
            kernels_per_account: 16,
            kernel_account_share: 0.5,
            kernel_helper: None,
            max_cell_code_bytes: ByteSize::kib(64),
            cell_file_max_bytes: ByteSize::mib(10),
            cell_files_max: 50,
            detector_model: PathBuf::from("models/yolov12n.onnx"),
            onnxruntime_library: None,
            detector_workers: None,
            detector_queue: 16,
            detect_wait: Duration::from_secs(2),
            max_snapshot_bytes: ByteSize::mib(12),
            snapshot_retention: Duration::from_secs(30 * 24 * 3600),
            snapshot_storage: ByteSize::gib(10),
            snapshot_dedup_distance: 0.02,
            search_pin: Duration::from_secs(600),
            max_image_pixels: 40_000_000,
            max_frame_pixels: 4096 * 4096,
            max_concurrent_decodes: 2,
            decode_wait: Duration::from_secs(5),
            snapshot_clock_skew: Duration::from_secs(5 * 60),
            session_lease: Duration::from_secs(4),
            bus_probe_interval: Duration::from_secs(2),
            advertise_url: None,
            kernel_placement: KernelPlacement::LeastLoaded,
            node_request_timeout: Duration::from_secs(2),
        }
    }
}

/// A configuration that cannot work, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .nats_url
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            return Err(ConfigError::Invalid(
                "nats_url is empty: give e.g. nats://127.0.0.1:4222, or leave it out to run \
                 one node alone"
                    .into(),
            ));
        }
        if let Some(v) = &self.min_device_app_version {
            switchboard_core::AppVersion::parse(v)
                .map_err(|e| ConfigError::Invalid(format!("min_device_app_version: {e}")))?;
        }
        if self.max_frame_bytes.as_u64() < 1024 {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be at least 1KiB".into(),
            ));
        }
        for (name, d) in [
            ("ticket_ttl", self.ticket_ttl),
            ("max_lifetime", self.max_lifetime),
            ("no_viewers_timeout", self.no_viewers_timeout),
            ("device_idle_timeout", self.device_idle_timeout),
            ("stats_interval", self.stats_interval),
            ("monitor_interval", self.monitor_interval),
            ("session_lease", self.session_lease),
            ("bus_probe_interval", self.bus_probe_interval),
            ("node_request_timeout", self.node_request_timeout),
            ("sign_in_failure_window", self.sign_in_failure_window),
            ("password_hash_queue_wait", self.password_hash_queue_wait),
            ("header_read_timeout", self.header_read_timeout),
            ("idle_connection_timeout", self.idle_connection_timeout),
            ("body_read_timeout", self.body_read_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid(format!("{name} must be above zero")));
            }
        }
        if let Some(url) = &self.advertise_url {
            parse_advertise_url(url)?;
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: give both or neither".into(),
            ));
        }
        if self.ticket_redemptions_per_minute == 0 || self.auth_attempts_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "rate limits must allow at least one attempt per minute".into(),
            ));
        }
        if self.sign_in_failures_per_username == 0 {
            return Err(ConfigError::Invalid(
                "sign_in_failures_per_username must allow at least one failure".into(),
            ));
        }
        if self.password_hash_workers == Some(0) {
            return Err(ConfigError::Invalid(
                "password_hash_workers must be at least 1 (leave it out for half the cores)".into(),
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_connections_per_address must be at least 1".into(),
            ));
        }
        for origin in &self.allowed_origins {
            crate::origin::parse_configured_origin(origin)
                .map_err(|why| ConfigError::Invalid(format!("allowed_origins: {why}")))?;
        }
        self.check_metrics_access()?;
        self.kernel_pool_targets()?;
        if self.max_kernels == 0 || self.kernels_per_user == 0 || self.kernels_per_account == 0 {
            return Err(ConfigError::Invalid(
                "max_kernels, kernels_per_user and kernels_per_account must be at least 1 \
                 (set kernels_enabled = false to run no kernels)"
                    .into(),
            ));
        }
        if !(self.kernel_account_share > 0.0 && self.kernel_account_share <= 1.0) {
            return Err(ConfigError::Invalid(
                "kernel_account_share must be above 0 and at most 1".into(),
            ));
        }
        if self.max_cell_code_bytes.as_u64() == 0
            || self.cell_file_max_bytes.as_u64() == 0
            || self.cell_files_max == 0
        {
            return Err(ConfigError::Invalid(
                "max_cell_code_bytes, cell_file_max_bytes and cell_files_max must be above 0"
                    .into(),
            ));
        }
        if self.max_image_pixels == 0 || self.max_frame_pixels == 0 {
            return Err(ConfigError::Invalid(
                "max_image_pixels and max_frame_pixels must be above 0".into(),
            ));
        }
        if self.max_concurrent_decodes == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_decodes must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.snapshot_dedup_distance) {
            return Err(ConfigError::Invalid(
                "snapshot_dedup_distance must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }

    /// The metrics settings that cannot work together or are too weak.
    fn check_metrics_access(&self) -> Result<(), ConfigError> {
        if self.metrics_token.is_some() && self.metrics_token_file.is_some() {
            return Err(ConfigError::Invalid(
                "give metrics_token or metrics_token_file, not both".into(),
            ));
        }
        if let Some(token) = &self.metrics_token {
            check_metrics_token(token)?;
        }
        if self.metrics_listen == Some(self.listen) {
            return Err(ConfigError::Invalid(
                "metrics_listen must differ from listen (leave it out to serve /metrics on \
                 the main address, with a token)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether browsers reach this node over HTTPS: it serves TLS itself, or its public URL is
    /// https (a TLS proxy in front). Decides the session cookie's name and HSTS.
    pub fn served_over_https(&self) -> bool {
        self.tls_enabled()
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// The most kernels one account may run on this node: `kernels_per_account`, and at
    /// most `kernel_account_share` of `max_kernels` (at least 1).
    pub fn kernels_per_account_here(&self) -> usize {
        let share = (self.max_kernels as f64 * self.kernel_account_share).floor() as usize;
        self.kernels_per_account.min(share.max(1))
    }

    /// `kernel_pool` parsed: (kernelspec name, warm kernels) pairs.
    pub fn kernel_pool_targets(&self) -> Result<Vec<(String, usize)>, ConfigError> {
        let mut targets = Vec::new();
        for item in self.kernel_pool.split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            let parsed = item
                .split_once('=')
                .and_then(|(name, n)| Some((name.trim(), n.trim().parse::<usize>().ok()?)))
                .filter(|(name, _)| !name.is_empty());
            match parsed {
                Some((name, n)) => targets.push((name.to_lowercase(), n)),
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "kernel_pool: {item:?} is not name=count (e.g. \"python3=2\")"
                    )));
                }
            }
        }
        Ok(targets)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("switchboard.db").display()
            )
        })
    }

    /// This node's name: the configured one or the host name.
    pub fn node_name(&self) -> String {
        self.node_name
            .clone()
            .or_else(|| sysinfo::System::host_name().ok())
            .unwrap_or_else(|| "switchboard".to_owned())
    }

    /// Whether this node serves HTTPS itself.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() || self.tls_self_signed
    }

    /// The base URL for links, without a trailing slash.
    pub fn public_url(&self) -> String {
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Where other nodes reach this one, as recorded in the services registry: the host
    /// (`https://host` when the node is reached over TLS) and the port. See
    /// [`Config::advertise_url`].
    pub fn advertised_address(&self) -> (String, u16) {
        if let Some(Ok((https, host, port))) =
            self.advertise_url.as_deref().map(parse_advertise_url)
        {
            return (
                if https {
                    format!("https://{host}")
                } else {
                    host
                },
                port,
            );
        }
        let ip = self.listen.ip();
        let host = if ip.is_unspecified() {
            // Listening everywhere names no address; the host name is what peers usually
            // resolve (container and VM networks), and advertise_url overrides it.
            sysinfo::System::host_name().unwrap_or_else(|_| "localhost".to_owned())
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        let host = if self.tls_enabled() {
            format!("https://{host}")
        } else {
            host
        };
        (host, self.listen.port())
    }

    /// The session timeout policy.
    pub fn timeout_policy(&self) -> TimeoutPolicy {
        TimeoutPolicy {
            ticket_ttl: self.ticket_ttl,
            max_lifetime: self.max_lifetime,
            no_viewers: self.no_viewers_timeout,
            device_idle: self.device_idle_timeout,
        }
    }

    /// The detector model file: `detector_model` itself when absolute, else found in the
    /// current directory, then next to the executable. `None` when it is nowhere.
    pub fn detector_model_path(&self) -> Option<PathBuf> {
        let model = &self.detector_model;
        if model.is_absolute() {
            return model.is_file().then(|| model.clone());
        }
        let beside_exe = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(model)));
        std::env::current_dir()
            .ok()
            .map(|dir| dir.join(model))
            .into_iter()
            .chain(beside_exe)
            .find(|p| p.is_file())
    }

    /// `nats_url` with its credentials masked, for logs.
    pub fn to_masked_nats_url(&self) -> Option<String> {
        self.nats_url.as_ref().map(|urls| {
            urls.split(',')
                .map(mask_nats_credentials)
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The configuration as TOML with secrets masked, for `switchboard config print`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &shown.database_url {
            shown.database_url = Some(mask_url_password(url));
        }
        shown.nats_url = self.to_masked_nats_url();
        if shown.metrics_token.is_some() {
            shown.metrics_token = Some("****".into());
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print: {e}"))
    }
}

/// `advertise_url` checked and split: (HTTPS?, host, port).
fn parse_advertise_url(url: &str) -> Result<(bool, String, u16), ConfigError> {
    let invalid = |why: &str| {
        ConfigError::Invalid(format!(
            "advertise_url {url:?} {why}: give the base URL other nodes reach this one at, \
             e.g. http://10.0.0.5:8080"
        ))
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| invalid("is not a URL"))?;
    let https = match parsed.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(invalid("must start with http:// or https://")),
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        return Err(invalid("must have no path or query"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("names no host"))?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| invalid("names no port"))?;
    Ok((https, host.to_owned(), port))
}

/// The shortest metrics token accepted: Prometheus sends it on every scrape and nothing
/// limits guesses at it.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// Refuses a metrics token (from the settings or its file) that is too short to be secret.
pub fn check_metrics_token(token: &str) -> Result<(), ConfigError> {
    if token.trim().chars().count() < MIN_METRICS_TOKEN_CHARS {
        return Err(ConfigError::Invalid(format!(
            "the metrics token must be at least {MIN_METRICS_TOKEN_CHARS} characters: make one \
             with e.g. `openssl rand -hex 32`"
        )));
    }
    Ok(())
}

/// Replaces the password in `scheme://user:password@host/...` with `****`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_owned(),
    }
}

/// Masks the credentials of a NATS URL: the password of `user:password@`, or all of
/// `token@` (NATS token authentication puts the secret where a user name would be).
fn mask_nats_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.split_once('@') {
        // Decided by the form, not by whether masking changed anything: a password that is
        // already `****` must keep its user name when a printed config is printed again.
        Some((credentials, _)) if !scheme.is_empty() && credentials.contains(':') => {
            mask_url_password(url)
        }
        Some((_, host)) if scheme.is_empty() => format!("****@{host}"),
        Some((_, host)) => format!("{scheme}://****@{host}"),
        None => url.to_owned(),
    }
}

/// The example configuration shipped in the binary: every key, commented.
pub const EXAMPLE_TOML: &str = include_str!("../switchboard.example.toml");

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE_TOML).unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed.listen, Config::default().listen);
        assert_eq!(parsed.ticket_ttl, Config::default().ticket_ttl);
        assert_eq!(parsed.detector_model, Config::default().detector_model);
        assert_eq!(parsed.detect_wait, Config::default().detect_wait);
        assert_eq!(
            parsed.max_snapshot_bytes,
            Config::default().max_snapshot_bytes
        );
        assert_eq!(
            parsed.snapshot_retention,
            Config::default().snapshot_retention
        );
        assert_eq!(parsed.snapshot_storage, Config::default().snapshot_storage);
    }

    #[test]
    fn by_default_one_account_gets_at_most_half_of_a_nodes_kernels() {
        let c = Config::default();
        assert_eq!(c.kernels_per_account_here(), c.max_kernels / 2);
        assert!(c.kernels_per_account_here() < c.max_kernels);
        let small = Config {
            max_kernels: 1,
            ..Config::default()
        };
        assert_eq!(small.kernels_per_account_here(), 1);
        let generous = Config {
            kernel_account_share: 1.0,
            kernels_per_account: 5,
            ..Config::default()
        };
        assert_eq!(generous.kernels_per_account_here(), 5);
        for share in [0.0, -0.5, 1.5, f64::NAN] {
            let bad = Config {
                kernel_account_share: share,
                ..Config::default()
            };
            assert!(bad.validate().is_err(), "{share}");
        }
    }

    #[test]
    fn kernel_pools_parse() {
        let c = Config {
            kernel_pool: "python3=2, R=1".into(),
            ..Config::default()
        };
        assert_eq!(
            c.kernel_pool_targets().unwrap(),
            vec![("python3".to_owned(), 2), ("r".to_owned(), 1)]
        );
        let bad = Config {
            kernel_pool: "python3".into(),
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_advertised_address_reaches_this_node() {
        let listening = |listen: &str| Config {
            listen: listen.parse().unwrap(),
            ..Config::default()
        };
        assert_eq!(
            listening("10.0.0.5:8080").advertised_address(),
            ("10.0.0.5".to_owned(), 8080)
        );
        assert_eq!(
            listening("[fd00::5]:8080").advertised_address(),
            ("[fd00::5]".to_owned(), 8080)
        );
        let everywhere = listening("0.0.0.0:8080").advertised_address();
        assert_ne!(everywhere.0, "0.0.0.0");
        assert_eq!(everywhere.1, 8080);
        let advertised = Config {
            advertise_url: Some("https://sb-2.internal:8443/".into()),
            ..listening("0.0.0.0:8080")
        };
        advertised.validate().unwrap();
        assert_eq!(
            advertised.advertised_address(),
            ("https://sb-2.internal".to_owned(), 8443)
        );
        for bad in ["sb-2:8080", "ftp://sb-2", "http://sb-2/path"] {
            let c = Config {
                advertise_url: Some(bad.into()),
                ..Config::default()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn https_is_own_tls_or_an_https_public_url_and_origins_are_checked() {
        assert!(!Config::default().served_over_https());
        let tls = Config {
            tls_self_signed: true,
            ..Config::default()
        };
        assert!(tls.served_over_https());
        let proxied = Config {
            public_url: Some("HTTPS://sb.example.org".into()),
            ..Config::default()
        };
        assert!(proxied.served_over_https());
        let origins = |o: &str| Config {
            allowed_origins: vec![o.into()],
            ..Config::default()
        };
        assert!(origins("https://ui.example.org").validate().is_ok());
        assert!(origins("https://ui.example.org/app").validate().is_err());
        assert!(origins("ui.example.org").validate().is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<Config>("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn durations_and_sizes_are_human() {
        let c: Config =
            toml::from_str("ticket_ttl = \"90s\"\nmax_frame_bytes = \"2 MiB\"").unwrap();
        assert_eq!(c.ticket_ttl, Duration::from_secs(90));
        assert_eq!(c.max_frame_bytes.as_u64(), 2 * 1024 * 1024);
    }

    #[test]
    fn passwords_are_masked() {
        let c = Config {
            database_url: Some("postgres://sb:hunter2@db:5432/sb".into()),
            ..Config::default()
        };
        let printed = c.to_masked_toml();
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("sb:****@db"));
    }

    #[test]
    fn nats_credentials_are_masked() {
        let c = Config {
            nats_url: Some("nats://sb:s3cret@n1:4222,nats://sb:s3cret@n2:4222".into()),
            ..Config::default()
        };
        let printed = c.to_masked_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("nats://sb:****@n1:4222,nats://sb:****@n2:4222"));
        assert_eq!(
            mask_nats_credentials("nats://t0ken@n1:4222"),
            "nats://****@n1:4222"
        );
        assert_eq!(mask_nats_credentials("nats://n1:4222"), "nats://n1:4222");
        let empty = Config {
            nats_url: Some(" ".into()),
            ..Config::default()
        };
        assert!(empty.validate().is_err());
    }
}
