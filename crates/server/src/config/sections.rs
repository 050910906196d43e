//! Every setting, declared once: its section, key, type, default, doc, flag and `SWITCHBOARD_*`
//! variable. clap reads a field as its flag (the doc is its help) and serde as a key of the
//! section's `[table]` in a file, under the same name; the defaults are clap's.
//!
//! A new setting needs only a field here, with `long`, `env = "SWITCHBOARD_<KEY>"` and (unless
//! it is optional, a list or a switch) a default, and a line in `switchboard.example.toml`; the
//! configuration tests fail until all of them are there. A section's `group` id is its table's
//! name and must be its field's name in `Config` (a test checks that too).

use super::values::{IceTransportPolicy, KernelPlacement, KernelSandboxMode, duration, size};
use bytesize::ByteSize;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What clap gives a section when no flag and no variable is set: its defaults. The
/// environment is ignored here, or a variable would change what "default" means.
fn clap_defaults<T: Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true))
        .mut_args(|arg| arg.env(None::<&'static str>));
    cmd.try_get_matches_from(std::iter::empty::<&str>())
        .and_then(|matches| T::from_arg_matches(&matches))
        // The defaults are literals in this file and a unit test parses them all.
        .expect("the built-in defaults parse")
}

macro_rules! defaults_from_clap {
    ($($section:ty),* $(,)?) => {
        $(impl Default for $section {
            fn default() -> Self {
                clap_defaults()
            }
        })*
    };
}

defaults_from_clap!(
    NetworkSettings,
    SessionSettings,
    DeviceSettings,
    AuthSettings,
    KernelSettings,
    CameraSettings,
    ClusterSettings,
    OperationsSettings,
    AdmissionSettings,
    AuditSettings,
    WebRtcSettings,
);

/// `[network]`: listening, HTTPS, browsers' origins and the bounds of every connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "network")]
#[command(next_help_heading = "Network")]
pub struct NetworkSettings {
    /// Address to listen on (0.0.0.0:8080 accepts phones on your network).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL devices and browsers use to reach this server, for links such as the device
    /// URL (default: http://<listen>).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A reverse proxy whose X-Forwarded-For names the client, for rate limits and logs
    /// (repeat the flag, or comma-separate in the variable).
    #[arg(
        long = "trusted-proxy",
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// An origin besides this server's own whose pages may open WebSockets and send
    /// cookie-signed writes, as scheme://host[:port] (repeat, or comma-separate in the
    /// variable).
    ///
    /// This node's own origin (its public URL, and the host a request was sent to) always
    /// may; pages of any other origin get 403 forbidden_origin.
    #[arg(
        long = "allowed-origin",
        env = "SWITCHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Strict-Transport-Security max-age sent when the node is reached over HTTPS (it serves
    /// TLS, or its public URL is https); 0s sends no header.
    #[arg(long, env = "SWITCHBOARD_HSTS_MAX_AGE", value_parser = duration, default_value = "365days")]
    #[serde(with = "humantime_serde")]
    pub hsts_max_age: Duration,
    /// PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made once and kept in the data directory
    /// (to try the phone page on a local network; browsers will warn).
    #[arg(long, env = "SWITCHBOARD_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Open connections (WebSockets included) accepted in all; past it new ones get 503 busy
    /// and are closed. The node raises its open-files limit at start to match (one per
    /// connection and 4096 more), as far as its hard limit allows.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Open connections per client address (the TCP peer; behind a trusted proxy, requests in
    /// flight per forwarded address); past it 503 busy.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,
    /// How long a client may take to send a request's head (and TLS handshake) once it has
    /// connected or begun the request; past it the connection is closed.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", value_parser = duration, default_value = "10s")]
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long.
    #[arg(long, env = "SWITCHBOARD_IDLE_CONNECTION_TIMEOUT", value_parser = duration, default_value = "1m")]
    #[serde(with = "humantime_serde")]
    pub idle_connection_timeout: Duration,
    /// The longest the server waits for the next bytes of a request body (408 past it).
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT", value_parser = duration, default_value = "15s")]
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// The slowest average rate a request body may arrive at, per second, counted after a
    /// first --body-read-timeout (408 past it); 0: no minimum.
    #[arg(long, env = "SWITCHBOARD_MIN_BODY_BYTES_PER_SECOND", value_parser = size, default_value = "1KiB")]
    pub min_body_bytes_per_second: ByteSize,
    /// Largest accepted JSON request body.
    #[arg(long, env = "SWITCHBOARD_MAX_JSON_BYTES", value_parser = size, default_value = "64KiB")]
    pub max_json_bytes: ByteSize,
}

/// `[sessions]`: how long a session lives, and what its viewers may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "sessions")]
#[command(next_help_heading = "Sessions")]
pub struct SessionSettings {
    /// How long a ticket stays redeemable.
    #[arg(long, env = "SWITCHBOARD_TICKET_TTL", value_parser = duration, default_value = "10m")]
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
    /// The longest a session may live.
    #[arg(long, env = "SWITCHBOARD_MAX_LIFETIME", value_parser = duration, default_value = "24h")]
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// A live session ends this long after its last viewer leaves.
    #[arg(long, env = "SWITCHBOARD_NO_VIEWERS_TIMEOUT", value_parser = duration, default_value = "5m")]
    #[serde(with = "humantime_serde")]
    pub no_viewers_timeout: Duration,
    /// A live session ends this long after its last frame.
    #[arg(long, env = "SWITCHBOARD_DEVICE_IDLE_TIMEOUT", value_parser = duration, default_value = "5m")]
    #[serde(with = "humantime_serde")]
    pub device_idle_timeout: Duration,
    /// Viewers allowed on one session at once.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_VIEWERS_PER_SESSION",
        default_value_t = 1000
    )]
    pub max_viewers_per_session: u32,
    /// Largest message a viewer may send on the watch and account events sockets (they only
    /// ever send small text); a bigger one closes the socket with 1009.
    #[arg(long, env = "SWITCHBOARD_MAX_VIEWER_MESSAGE_BYTES", value_parser = size, default_value = "4KiB")]
    pub max_viewer_message_bytes: ByteSize,
    /// Longest wait a long poll may ask for.
    #[arg(long, env = "SWITCHBOARD_MAX_LONG_POLL", value_parser = duration, default_value = "1m")]
    #[serde(with = "humantime_serde")]
    pub max_long_poll: Duration,
    /// How often a live session's totals are saved (so a restart loses little).
    #[arg(long, env = "SWITCHBOARD_STATS_INTERVAL", value_parser = duration, default_value = "5s")]
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
}

/// `[devices]`: what a device may redeem and send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "devices")]
#[command(next_help_heading = "Devices")]
pub struct DeviceSettings {
    /// Devices whose app reports an older version are refused with 426.
    #[arg(long, env = "SWITCHBOARD_MIN_DEVICE_APP_VERSION")]
    pub min_device_app_version: Option<String>,
    /// Ticket redemptions allowed per client address per minute (a guessing defence).
    #[arg(
        long,
        env = "SWITCHBOARD_TICKET_REDEMPTIONS_PER_MINUTE",
        default_value_t = 20
    )]
    pub ticket_redemptions_per_minute: u32,
    /// Largest accepted frame (one JPEG).
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_BYTES", value_parser = size, default_value = "4MiB")]
    pub max_frame_bytes: ByteSize,
    /// Largest picture a device's frame may declare (width x height; 413 image_too_large past
    /// it): viewers decode every frame they are sent.
    #[arg(long, env = "SWITCHBOARD_MAX_FRAME_PIXELS", default_value_t = 4096 * 4096)]
    pub max_frame_pixels: u64,
    /// Frames per second relayed from one device (a burst of one second's worth); frames
    /// beyond it are dropped. 0: unlimited.
    #[arg(long, env = "SWITCHBOARD_MAX_DEVICE_FPS", default_value_t = 60)]
    pub max_device_fps: u32,
    /// Largest text message (a status) a device may send on its socket; frames are bounded by
    /// --max-frame-bytes. A bigger one closes the socket with 1009.
    #[arg(long, env = "SWITCHBOARD_MAX_DEVICE_TEXT_BYTES", value_parser = size, default_value = "16KiB")]
    pub max_device_text_bytes: ByteSize,
    /// Text messages a device may send per second on its socket (a burst of one second's
    /// worth); past it the socket closes with 1008. 0: unlimited.
    #[arg(
        long,
        env = "SWITCHBOARD_DEVICE_MESSAGES_PER_SECOND",
        default_value_t = 20
    )]
    pub device_messages_per_second: u32,
}

/// `[auth]`: sign-in tokens, the guessing defences of sign-in, and password hashing. A section
/// of its own: these guard accounts, not sessions, devices or connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "auth")]
#[command(next_help_heading = "Sign-in")]
pub struct AuthSettings {
    /// How long a sign-in token lasts.
    #[arg(long, env = "SWITCHBOARD_TOKEN_TTL", value_parser = duration, default_value = "12h")]
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// A file holding the token-signing secret (base64 of at least 32 bytes), the same for
    /// every node of a cluster (default: DATA_DIR/jwt-secret, made on first start).
    #[arg(long, env = "SWITCHBOARD_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<PathBuf>,
    /// Sign-in and sign-up attempts allowed per client address per minute.
    #[arg(
        long,
        env = "SWITCHBOARD_AUTH_ATTEMPTS_PER_MINUTE",
        default_value_t = 30
    )]
    pub auth_attempts_per_minute: u32,
    /// Failed sign-ins allowed per username within --sign-in-failure-window, from any address
    /// (so rotating addresses does not help a guesser); past it 429.
    #[arg(
        long,
        env = "SWITCHBOARD_SIGN_IN_FAILURES_PER_USERNAME",
        default_value_t = 10
    )]
    pub sign_in_failures_per_username: u32,
    /// The window of --sign-in-failures-per-username: one more attempt is allowed every
    /// window / failures, and a successful sign-in starts the count afresh.
    #[arg(long, env = "SWITCHBOARD_SIGN_IN_FAILURE_WINDOW", value_parser = duration, default_value = "5m")]
    #[serde(with = "humantime_serde")]
    pub sign_in_failure_window: Duration,
    /// Password hashes computed at once; argon2 is slow and takes ~19 MiB each (default: half
    /// the cores, at least one).
    #[arg(long, env = "SWITCHBOARD_PASSWORD_HASH_WORKERS")]
    pub password_hash_workers: Option<usize>,
    /// How long a sign-in or sign-up waits for a hashing worker before answering 503 busy.
    #[arg(long, env = "SWITCHBOARD_PASSWORD_HASH_QUEUE_WAIT", value_parser = duration, default_value = "2s")]
    #[serde(with = "humantime_serde")]
    pub password_hash_queue_wait: Duration,
    /// The lowest strength a new password may have, as zxcvbn scores it (0-4: 3 needs about
    /// 10^8 guesses, 4 about 10^10); checked with the username and account name as guesses.
    #[arg(
        long,
        env = "SWITCHBOARD_MIN_PASSWORD_SCORE",
        default_value_t = 3,
        value_parser = clap::value_parser!(u8).range(0..=4)
    )]
    pub min_password_score: u8,
    /// Mark the session cookie Secure (implied when serving HTTPS; set it behind a TLS proxy).
    #[arg(long, env = "SWITCHBOARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

/// `[kernels]`: Jupyter kernels, their sandbox and limits, and stored compute cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "kernels")]
#[command(next_help_heading = "Kernels")]
pub struct KernelSettings {
    /// Run Jupyter kernels (default: when a python3 kernelspec is found); false makes the
    /// kernel routes answer 503 kernels_unavailable.
    #[arg(long, env = "SWITCHBOARD_KERNELS_ENABLED")]
    pub kernels_enabled: Option<bool>,
    /// The most kernels this node runs at once, warm pools included (503 kernel_capacity past
    /// it).
    #[arg(long, env = "SWITCHBOARD_MAX_KERNELS", default_value_t = 16)]
    pub max_kernels: usize,
    /// Warm kernels kept ready per kernelspec, as name=count pairs separated by commas
    /// ("python3=2"); an empty string keeps none.
    #[arg(long, env = "SWITCHBOARD_KERNEL_POOL", default_value = "python3=1")]
    pub kernel_pool: String,
    /// CPU seconds one kernel may use (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_CPU_SECONDS", default_value_t = 600)]
    pub kernel_cpu_seconds: u64,
    /// Address space each process of a kernel may use.
    #[arg(long, env = "SWITCHBOARD_KERNEL_MEMORY", value_parser = size, default_value = "2GiB")]
    pub kernel_memory: ByteSize,
    /// Memory all the processes of one kernel may use together, its folder's files included
    /// (a memory cgroup, or a watchdog where the host has none; 0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_MEMORY_TOTAL", value_parser = size, default_value = "2GiB")]
    pub kernel_memory_total: ByteSize,
    /// Processes and threads one kernel may run together (0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_PROCESSES", default_value_t = 128)]
    pub kernel_processes: u64,
    /// Size of one kernel's folder, its working directory (a tmpfs of this size, held in
    /// memory and counted in --kernel-memory-total; 0: unlimited).
    #[arg(long, env = "SWITCHBOARD_KERNEL_DISK", value_parser = size, default_value = "512MiB")]
    pub kernel_disk: ByteSize,
    /// A kernel is stopped after this long without activity.
    #[arg(long, env = "SWITCHBOARD_KERNEL_IDLE_TIMEOUT", value_parser = duration, default_value = "15m")]
    #[serde(with = "humantime_serde")]
    pub kernel_idle_timeout: Duration,
    /// A kernel is stopped this long after it was handed out.
    #[arg(long, env = "SWITCHBOARD_KERNEL_LIFETIME", value_parser = duration, default_value = "1day")]
    #[serde(with = "humantime_serde")]
    pub kernel_lifetime: Duration,
    /// How kernels are confined; under enforce they cannot read other users' files or reach
    /// the network or the host's Unix sockets.
    #[arg(long, env = "SWITCHBOARD_KERNEL_SANDBOX", value_enum, default_value_t = KernelSandboxMode::Enforce)]
    pub kernel_sandbox: KernelSandboxMode,
    /// Kernels one user may run at once (429 past it).
    #[arg(long, env = "SWITCHBOARD_KERNELS_PER_USER", default_value_t = 4)]
    pub kernels_per_user: usize,
    /// Kernels one account may run at once (429 past it).
    #[arg(long, env = "SWITCHBOARD_KERNELS_PER_ACCOUNT", default_value_t = 16)]
    pub kernels_per_account: usize,
    /// The share of a node's --max-kernels one account may hold (0-1), so one tenant cannot
    /// take every kernel of a node: an account's cap there is the lower of
    /// --kernels-per-account and this share (at least 1).
    #[arg(long, env = "SWITCHBOARD_KERNEL_ACCOUNT_SHARE", default_value_t = 0.5)]
    pub kernel_account_share: f64,
    /// The sandbox helper program (default: this executable, whose main runs the helper).
    #[arg(long, env = "SWITCHBOARD_KERNEL_HELPER")]
    pub kernel_helper: Option<PathBuf>,
    /// Largest message a client may send on a kernel's channels socket; a bigger one closes
    /// the socket with 1009.
    #[arg(long, env = "SWITCHBOARD_MAX_KERNEL_MESSAGE_BYTES", value_parser = size, default_value = "16MiB")]
    pub max_kernel_message_bytes: ByteSize,
    /// Largest code a stored cell may hold (413 code_too_large past it).
    #[arg(long, env = "SWITCHBOARD_MAX_CELL_CODE_BYTES", value_parser = size, default_value = "64KiB")]
    pub max_cell_code_bytes: ByteSize,
    /// Largest file stored from a cell's run; bigger ones are named in a notice instead.
    #[arg(long, env = "SWITCHBOARD_CELL_FILE_MAX_BYTES", value_parser = size, default_value = "10MiB")]
    pub cell_file_max_bytes: ByteSize,
    /// Most files stored per cell; further ones are named in a notice instead.
    #[arg(long, env = "SWITCHBOARD_CELL_FILES_MAX", default_value_t = 50)]
    pub cell_files_max: u32,
    /// Variables a kernel start request's `env` may set in the kernel, as names or prefixes
    /// ending in `*`, comma-separated (what Jupyter Server's gateway client sends:
    /// KERNEL_USERNAME, KERNEL_WORKING_DIR, …); others are ignored and logged. None may
    /// replace a variable the node or the kernelspec sets, and an empty list takes none (so
    /// gateway starts come from the warm pool).
    #[arg(
        long = "kernel-env-allowed",
        env = "SWITCHBOARD_KERNEL_ENV_ALLOWED",
        value_delimiter = ',',
        default_value = "KERNEL_*"
    )]
    pub kernel_env_allowed: Vec<String>,
}

/// `[cameras]`: snapshots, object detection and search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "cameras")]
#[command(next_help_heading = "Cameras")]
pub struct CameraSettings {
    /// Detect objects in snapshots at all (false: snapshots are stored, not detected, and
    /// the detector's memory and CPU are spared).
    #[arg(long, env = "SWITCHBOARD_DETECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub detection: bool,
    /// The object detector, a YOLO ONNX model file (default: the YOLOv12n model built into
    /// the program). A relative path is looked up in the current directory, then next to the
    /// executable; a file that is missing or does not load leaves detection off, and says so.
    #[arg(long, env = "SWITCHBOARD_DETECTOR_MODEL")]
    pub detector_model: Option<PathBuf>,
    /// ONNX Runtime's library, a file or folder (default: ORT_DYLIB_PATH, then the system's
    /// library folders, then an `onnxruntime` package of the python3 on PATH, then the
    /// loader's search path; without one, the pure-Rust backend).
    #[arg(long, env = "SWITCHBOARD_ONNXRUNTIME_LIBRARY")]
    pub onnxruntime_library: Option<PathBuf>,
    /// Detection threads (default: one per core).
    #[arg(long, env = "SWITCHBOARD_DETECTOR_WORKERS")]
    pub detector_workers: Option<usize>,
    /// Snapshots waiting for a detection thread before uploads answer 503.
    #[arg(long, env = "SWITCHBOARD_DETECTOR_QUEUE", default_value_t = 16)]
    pub detector_queue: usize,
    /// How long an upload waits for its detections before answering 202 pending.
    #[arg(long, env = "SWITCHBOARD_DETECT_WAIT", value_parser = duration, default_value = "2s")]
    #[serde(with = "humantime_serde")]
    pub detect_wait: Duration,
    /// Largest camera snapshot accepted.
    #[arg(long, env = "SWITCHBOARD_MAX_SNAPSHOT_BYTES", value_parser = size, default_value = "12MiB")]
    pub max_snapshot_bytes: ByteSize,
    /// Snapshots taken longer ago than this are deleted.
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_RETENTION", value_parser = duration, default_value = "30days")]
    #[serde(with = "humantime_serde")]
    pub snapshot_retention: Duration,
    /// Snapshot images kept in all; the oldest beyond it are deleted.
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_STORAGE", value_parser = size, default_value = "10GiB")]
    pub snapshot_storage: ByteSize,
    /// A detected snapshot this close to its camera's previous one (mean grey-level difference
    /// of 16x16 thumbnails, 0-1) and with the same labels is dropped; 0 keeps all.
    #[arg(
        long,
        env = "SWITCHBOARD_SNAPSHOT_DEDUP_DISTANCE",
        default_value_t = 0.02
    )]
    pub snapshot_dedup_distance: f64,
    /// How long snapshots shown as search results are spared by retention.
    #[arg(long, env = "SWITCHBOARD_SEARCH_PIN", value_parser = duration, default_value = "10m")]
    #[serde(with = "humantime_serde")]
    pub search_pin: Duration,
    /// Largest picture a camera snapshot may declare (width x height, from its JPEG header;
    /// 413 image_too_large past it): decoding costs memory by pixels, not by bytes.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_IMAGE_PIXELS",
        default_value_t = 40_000_000
    )]
    pub max_image_pixels: u64,
    /// Pictures the node decodes at once for thumbnails (detection decodes on its own
    /// threads); further requests wait up to --decode-wait.
    #[arg(long, env = "SWITCHBOARD_MAX_CONCURRENT_DECODES", default_value_t = 2)]
    pub max_concurrent_decodes: usize,
    /// How long a thumbnail request waits for a decoding slot before answering 503 busy.
    #[arg(long, env = "SWITCHBOARD_DECODE_WAIT", value_parser = duration, default_value = "5s")]
    #[serde(with = "humantime_serde")]
    pub decode_wait: Duration,
    /// How far in the future a snapshot's taken_at may be, by this node's clock (a camera's
    /// clock runs a little fast); a later one is replaced by the time it was received, so no
    /// snapshot escapes age retention.
    #[arg(long, env = "SWITCHBOARD_SNAPSHOT_CLOCK_SKEW", value_parser = duration, default_value = "5m")]
    #[serde(with = "humantime_serde")]
    pub snapshot_clock_skew: Duration,
    /// PocketSphinx's library for voice questions, a file or a folder holding
    /// libpocketsphinx.so.3 (default: the system's library folders, then the loader's search
    /// path; without it voice questions answer 503 voice_unavailable).
    #[arg(long, env = "SWITCHBOARD_VOICE_LIBRARY")]
    pub voice_library: Option<PathBuf>,
    /// The speech model folder, holding en-us/ and cmudict-en-us.dict (default: Debian's
    /// /usr/share/pocketsphinx/model/en-us, then the model of a `pocketsphinx` package of the
    /// python3 on PATH).
    #[arg(long, env = "SWITCHBOARD_VOICE_MODEL")]
    pub voice_model: Option<PathBuf>,
    /// Voice questions recognized at once (each holds a decoder of about 28 MiB); more
    /// answer 503 busy.
    #[arg(long, env = "SWITCHBOARD_VOICE_WORKERS", default_value_t = 2)]
    pub voice_workers: usize,
    /// Largest voice question accepted (413 audio_too_large past it).
    #[arg(long, env = "SWITCHBOARD_VOICE_MAX_BYTES", value_parser = size, default_value = "512KiB")]
    pub voice_max_bytes: ByteSize,
    /// Longest voice question accepted (422 audio_too_long past it).
    #[arg(long, env = "SWITCHBOARD_VOICE_MAX_DURATION", value_parser = duration, default_value = "10s")]
    #[serde(with = "humantime_serde")]
    pub voice_max_duration: Duration,
    /// Objects an account may teach (boxed on a snapshot and named); past it, teaching
    /// answers 429 limit_reached. 0 turns teaching off.
    #[arg(
        long,
        env = "SWITCHBOARD_TAUGHT_OBJECTS_PER_ACCOUNT",
        default_value_t = 20
    )]
    pub taught_objects_per_account: u32,
    /// Longest name of a taught object, in characters.
    #[arg(long, env = "SWITCHBOARD_TAUGHT_NAME_CHARS", default_value_t = 60)]
    pub taught_name_chars: usize,
    /// Similarity (0-1) a taught object must reach in a snapshot to count as found (default:
    /// the matcher's own, chosen by measuring it on real photographs).
    #[arg(long, env = "SWITCHBOARD_TAUGHT_MATCH_THRESHOLD")]
    pub taught_match_threshold: Option<f32>,
    /// The most snapshots one look through the kept history reads for a taught object,
    /// newest first.
    #[arg(
        long,
        env = "SWITCHBOARD_TAUGHT_SCAN_SNAPSHOTS",
        default_value_t = 2000
    )]
    pub taught_scan_snapshots: u64,
}

/// `[cluster]`: how nodes find, watch and stand in for one another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "cluster")]
#[command(next_help_heading = "Cluster")]
pub struct ClusterSettings {
    /// This node's name in the services registry (default: the host name).
    #[arg(long, env = "SWITCHBOARD_NODE_NAME")]
    pub node_name: Option<String>,
    /// NATS server(s) of a cluster: nats://[user:password@]host:4222, comma-separated for
    /// several (default: none, the node uses its in-process bus and stands alone).
    // The URL may hold a password: --help must not show the variable's value.
    #[arg(long, env = "SWITCHBOARD_NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// How long a node's hold on its sessions lasts unless renewed (every third of it): after
    /// a node dies, another takes its sessions over within this time.
    #[arg(long, env = "SWITCHBOARD_SESSION_LEASE", value_parser = duration, default_value = "4s")]
    #[serde(with = "humantime_serde")]
    pub session_lease: Duration,
    /// How often a clustered node sends itself a probe over NATS, and how long the probe may
    /// take to come back before the bus counts as not delivering (/readyz fails and the node
    /// subscribes again).
    #[arg(long, env = "SWITCHBOARD_BUS_PROBE_INTERVAL", value_parser = duration, default_value = "2s")]
    #[serde(with = "humantime_serde")]
    pub bus_probe_interval: Duration,
    /// Base URL other nodes reach this one at, e.g. http://10.0.0.5:8080 (https:// when it
    /// serves TLS), recorded in the services registry (default: the listen address, or the
    /// host name with the listen port when listening on every interface).
    #[arg(long, env = "SWITCHBOARD_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// Where new kernels run in a cluster (a node alone always starts them itself).
    #[arg(long, env = "SWITCHBOARD_KERNEL_PLACEMENT", value_enum, default_value_t = KernelPlacement::LeastLoaded)]
    pub kernel_placement: KernelPlacement,
    /// How long a node waits for another to answer a forwarded kernel request's connection,
    /// and for each node's answer when listing kernels across the cluster.
    #[arg(long, env = "SWITCHBOARD_NODE_REQUEST_TIMEOUT", value_parser = duration, default_value = "2s")]
    #[serde(with = "humantime_serde")]
    pub node_request_timeout: Duration,
}

/// `[operations]`: where the node keeps its data, how it is watched, and how it stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "operations")]
#[command(next_help_heading = "Operations")]
pub struct OperationsSettings {
    /// Where the SQLite database, the token secret and CDR files live.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (default: sqlite://<data
    /// dir>/switchboard.db).
    // The URL may hold a password: --help must not show the variable's value.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The master key file: 32 bytes (or their base64) wrapping every account's data keys,
    /// the same for every node of a cluster, and never created when given (default:
    /// DATA_DIR/master-key, made on first start). Back it up apart from the database: without
    /// it the stored pictures and cell files cannot be read.
    #[arg(long, env = "SWITCHBOARD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Seal new snapshots and cell files with their account's data key (false: store them
    /// plain, as earlier releases did; only for benchmarks and compatibility). Sealed ones
    /// are read either way.
    #[arg(long, env = "SWITCHBOARD_ENCRYPT_AT_REST", default_value_t = true, action = clap::ArgAction::Set)]
    pub encrypt_at_rest: bool,
    /// A separate address serving only /metrics (e.g. 127.0.0.1:9090), to anyone who can
    /// reach it unless a metrics token is set; the main listener then has no /metrics.
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token /metrics asks for, at least 16 characters (prefer
    /// --metrics-token-file: flags show in process lists). Unset, and without
    /// --metrics-listen, only an operator's user token reads /metrics.
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A file holding the metrics token (surrounding white space ignored), instead of
    /// --metrics-token.
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// How often the node samples its own load into the service_status table.
    #[arg(long, env = "SWITCHBOARD_MONITOR_INTERVAL", value_parser = duration, default_value = "5s")]
    #[serde(with = "humantime_serde")]
    pub monitor_interval: Duration,
    /// Status samples kept per service (older ones are pruned).
    #[arg(long, env = "SWITCHBOARD_STATUS_ROWS_KEPT", default_value_t = 720)]
    pub status_rows_kept: u32,
    /// On SIGTERM/SIGINT, how long the node waits for connections and sessions to wind down.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE", value_parser = duration, default_value = "10s")]
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// `[admission]`: the gatekeeper. Each account's limits by default (operators override them per
/// account), counted across the cluster, and this node's own limits, past which it sheds load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "admission")]
#[command(next_help_heading = "Admission")]
pub struct AdmissionSettings {
    /// Check admission limits at all (false: none of the limits below applies; only for
    /// measuring what the checks cost).
    #[arg(long, env = "SWITCHBOARD_GATEKEEPER", default_value_t = true, action = clap::ArgAction::Set)]
    pub gatekeeper: bool,
    /// Sessions an account may have open at once (429 limit_reached past it).
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SESSIONS", default_value_t = 100)]
    pub account_sessions: u64,
    /// Viewers one session of an account may have at once.
    #[arg(
        long,
        env = "SWITCHBOARD_ACCOUNT_VIEWERS_PER_SESSION",
        default_value_t = 50
    )]
    pub account_viewers_per_session: u64,
    /// Viewers an account may have across its sessions at once.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_VIEWERS", default_value_t = 500)]
    pub account_viewers: u64,
    /// Bytes per second an account's devices may upload together; faster uploads are slowed.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_UPLOAD_BANDWIDTH", value_parser = size, default_value = "64MiB")]
    pub account_upload_bandwidth: ByteSize,
    /// Bytes per second an account's viewers may receive together; past it viewers get
    /// frames less often.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_EGRESS_BANDWIDTH", value_parser = size, default_value = "256MiB")]
    pub account_egress_bandwidth: ByteSize,
    /// Cameras an account may register.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_CAMERAS", default_value_t = 100)]
    pub account_cameras: u64,
    /// Snapshot images an account may store.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_SNAPSHOT_STORAGE", value_parser = size, default_value = "5GiB")]
    pub account_snapshot_storage: ByteSize,
    /// Snapshot uploads an account's cameras may make per hour.
    #[arg(
        long,
        env = "SWITCHBOARD_ACCOUNT_UPLOADS_PER_HOUR",
        default_value_t = 36_000
    )]
    pub account_uploads_per_hour: u64,
    /// Kernels an account may run at once, across the cluster.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_KERNELS", default_value_t = 16)]
    pub account_kernels: u64,
    /// CPU seconds an account's kernels may use per UTC day; past it new kernels and runs
    /// wait for the next day.
    #[arg(
        long,
        env = "SWITCHBOARD_ACCOUNT_KERNEL_CPU_SECONDS_PER_DAY",
        default_value_t = 86_400
    )]
    pub account_kernel_cpu_seconds_per_day: u64,
    /// Files from cell runs an account may store.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_CELL_FILE_STORAGE", value_parser = size, default_value = "1GiB")]
    pub account_cell_file_storage: ByteSize,
    /// Users an account may have.
    #[arg(long, env = "SWITCHBOARD_ACCOUNT_USERS", default_value_t = 500)]
    pub account_users: u64,
    /// Sessions this node runs at once (503 past it: the load balancer sends the client to
    /// another node).
    #[arg(long, env = "SWITCHBOARD_NODE_SESSIONS", default_value_t = 20_000)]
    pub node_sessions: usize,
    /// Viewer connections (watch sockets, MJPEG streams) this node serves at once.
    #[arg(long, env = "SWITCHBOARD_NODE_VIEWERS", default_value_t = 20_000)]
    pub node_viewers: usize,
    /// WebSocket connections of every kind this node holds at once.
    #[arg(long, env = "SWITCHBOARD_NODE_WEBSOCKETS", default_value_t = 50_000)]
    pub node_websockets: usize,
    /// Snapshot and frame uploads this node reads at once.
    #[arg(long, env = "SWITCHBOARD_NODE_UPLOADS", default_value_t = 256)]
    pub node_uploads: usize,
    /// Kernel starts this node runs at once.
    #[arg(long, env = "SWITCHBOARD_NODE_KERNEL_STARTS", default_value_t = 8)]
    pub node_kernel_starts: usize,
    /// Requests in flight per route class on this node, as class=count pairs separated by
    /// commas; classes: auth (sign-in, sign-up, tickets), api (everything else), media (frames,
    /// snapshots, streams), kernels (kernel and cell routes).
    #[arg(
        long,
        env = "SWITCHBOARD_NODE_REQUESTS",
        default_value = "auth=64,api=1024,media=1024,kernels=256"
    )]
    pub node_requests: String,
}

/// `[audit]`: the audit trail. Every node appends who did what to private things to its own
/// hash chain in the database and signs checkpoints of it with its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "audit")]
#[command(next_help_heading = "Audit")]
pub struct AuditSettings {
    /// Keep the audit trail at all (false: nothing is recorded; only for measuring what
    /// recording costs).
    #[arg(long, env = "SWITCHBOARD_AUDIT_TRAIL", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit_trail: bool,
    /// How long audit records are kept; older ones are deleted hourly, leaving a signed
    /// checkpoint so what remains still verifies.
    #[arg(long, env = "SWITCHBOARD_AUDIT_RETENTION", value_parser = duration, default_value = "6years")]
    #[serde(with = "humantime_serde")]
    pub audit_retention: Duration,
    /// How often the node signs a checkpoint of its chain (when it has grown). Records after
    /// the newest checkpoint are protected by the chain alone.
    #[arg(long, env = "SWITCHBOARD_AUDIT_CHECKPOINT_INTERVAL", value_parser = duration, default_value = "1m")]
    #[serde(with = "humantime_serde")]
    pub audit_checkpoint_interval: Duration,
    /// Refuse audited actions (503 audit_unavailable) while records cannot be written. With
    /// false they go ahead and the records wait in memory until the database is back.
    #[arg(long, env = "SWITCHBOARD_AUDIT_FAIL_CLOSED", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit_fail_closed: bool,
    /// Records waiting to be written at most; past it audited actions are refused as if the
    /// database were unreachable.
    #[arg(long, env = "SWITCHBOARD_AUDIT_QUEUE", default_value_t = 65_536)]
    pub audit_queue: usize,
    /// Records written in one transaction at most.
    #[arg(long, env = "SWITCHBOARD_AUDIT_BATCH", default_value_t = 512)]
    pub audit_batch: usize,
    /// The node's Ed25519 signing key (PKCS#8). Default: `audit-key` in the data folder,
    /// created on first start. Keep a copy of its public key off the machine (`switchboard
    /// admin audit keys`).
    #[arg(long, env = "SWITCHBOARD_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

/// `[webrtc]`: phones publishing and viewers watching over WebRTC (WHIP/WHEP), beside the
/// JPEG paths. Media uses one UDP port for every peer of the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(id = "webrtc")]
#[command(next_help_heading = "WebRTC")]
pub struct WebRtcSettings {
    /// Offer WebRTC at all (false: WHIP and WHEP answer 503 and browsers use JPEG).
    #[arg(long, env = "SWITCHBOARD_WEBRTC_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub webrtc_enabled: bool,
    /// The UDP port WebRTC media uses, on the address the node listens on (0: any free
    /// port). A load balancer or firewall must pass it to this node.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_UDP_PORT", default_value_t = 8189)]
    pub webrtc_udp_port: u16,
    /// Also take ICE over TCP on the same port number (TCP), for networks that block UDP;
    /// then a firewall or load balancer must pass that TCP port to this node too.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_TCP", default_value_t = true, action = clap::ArgAction::Set)]
    pub webrtc_tcp: bool,
    /// Addresses browsers reach the UDP port at, written into answers as candidates (one
    /// per IP family; repeat, or comma-separate in the variable). Default: the listening
    /// address, or when that is 0.0.0.0 this machine's own addresses.
    #[arg(
        long = "webrtc-announce",
        env = "SWITCHBOARD_WEBRTC_ANNOUNCE",
        value_delimiter = ','
    )]
    pub webrtc_announce: Vec<IpAddr>,
    /// WebRTC publishers (phones) this node serves at once.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_MAX_PUBLISHERS", default_value_t = 500)]
    pub webrtc_max_publishers: usize,
    /// WebRTC viewers this node serves at once; past it WHEP answers 503.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_MAX_VIEWERS", default_value_t = 1000)]
    pub webrtc_max_viewers: usize,
    /// A peer that has not connected this long after its answer is dropped.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_CONNECT_TIMEOUT", value_parser = duration, default_value = "20s")]
    #[serde(with = "humantime_serde")]
    pub webrtc_connect_timeout: Duration,
    /// JPEG frames per second a phone publishing over WebRTC also sends on its socket, so
    /// frame.jpg, MJPEG viewers, snapshots and thumbnails keep working (0: none).
    #[arg(long, env = "SWITCHBOARD_WEBRTC_JPEG_FPS", default_value_t = 1.0)]
    pub webrtc_jpeg_fps: f64,
    /// STUN servers handed to browsers (`stun:host:port`; repeat, or comma-separate in the
    /// variable): they let a browser behind NAT learn its public address.
    #[arg(
        long = "webrtc-stun-url",
        env = "SWITCHBOARD_WEBRTC_STUN_URLS",
        value_delimiter = ','
    )]
    pub webrtc_stun_urls: Vec<String>,
    /// TURN servers handed to browsers (`turn:host:port?transport=udp`, `turns:…`), with
    /// credentials minted per caller from --webrtc-turn-secret-file: for networks that let
    /// no media through directly.
    #[arg(
        long = "webrtc-turn-url",
        env = "SWITCHBOARD_WEBRTC_TURN_URLS",
        value_delimiter = ','
    )]
    pub webrtc_turn_urls: Vec<String>,
    /// A file holding the secret shared with the TURN servers (coturn's
    /// `static-auth-secret` with `use-auth-secret`), at least 16 characters.
    #[arg(long, env = "SWITCHBOARD_WEBRTC_TURN_SECRET_FILE")]
    pub webrtc_turn_secret_file: Option<PathBuf>,
    /// How long minted TURN credentials stay valid (a TURN server refuses to refresh a call's
    /// relay after that, so longer than the longest call).
    #[arg(long, env = "SWITCHBOARD_WEBRTC_TURN_CREDENTIAL_TTL", value_parser = duration, default_value = "12h")]
    #[serde(with = "humantime_serde")]
    pub webrtc_turn_credential_ttl: Duration,
    /// Which candidates browsers may use: `all`, or `relay` (through TURN only, so neither
    /// side learns the other's address).
    #[arg(long, env = "SWITCHBOARD_WEBRTC_ICE_TRANSPORT_POLICY", value_enum, default_value_t = IceTransportPolicy::All)]
    pub webrtc_ice_transport_policy: IceTransportPolicy,
}
