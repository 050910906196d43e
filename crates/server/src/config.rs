//! Server configuration: every setting with its default, in sections (`[network]`,
//! `[kernels]`, …). A node's settings come in layers: the defaults, then a TOML file, then
//! `SWITCHBOARD_*` environment variables, then flags ([`Config::load`]). Each setting is
//! declared once, in `config/sections.rs`, for every layer.

mod sections;
mod values;

pub use sections::{
    AdmissionSettings, AuditSettings, AuthSettings, CameraSettings, ClusterSettings,
    DeviceSettings, KernelSettings, NetworkSettings, OperationsSettings, SessionSettings,
    WebRtcSettings,
};
pub use values::{IceTransportPolicy, KernelPlacement, KernelSandboxMode};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use switchboard_core::TimeoutPolicy;

/// The effective configuration of a node, one section per area; a file has a table for each
/// (`[network]`, `[kernels]`, …). Unknown keys in a file are an error, so a typo never
/// silently falls back to a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
#[group(skip)]
pub struct Config {
    /// Listening, HTTPS, browsers' origins and connection bounds.
    #[command(flatten)]
    pub network: NetworkSettings,
    /// Session lifetimes and viewers.
    #[command(flatten)]
    pub sessions: SessionSettings,
    /// What devices may redeem and send.
    #[command(flatten)]
    pub devices: DeviceSettings,
    /// Sign-in tokens, sign-in limits and password hashing.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// Jupyter kernels and compute cells.
    #[command(flatten)]
    pub kernels: KernelSettings,
    /// Snapshots, detection and search.
    #[command(flatten)]
    pub cameras: CameraSettings,
    /// Nodes working together.
    #[command(flatten)]
    pub cluster: ClusterSettings,
    /// Data, monitoring and shutdown.
    #[command(flatten)]
    pub operations: OperationsSettings,
    /// Accounts' and this node's admission limits.
    #[command(flatten)]
    pub admission: AdmissionSettings,
    /// The audit trail: retention, checkpoints, failing closed.
    #[command(flatten)]
    pub audit: AuditSettings,
    /// WebRTC beside the JPEG paths: the UDP port, announced addresses, caps.
    #[command(flatten)]
    pub webrtc: WebRtcSettings,
}

/// The settings given as flags or `SWITCHBOARD_*` variables, as clap parsed them. Flattened
/// into a command, it adds a flag for every setting; [`Config::load`] lays what was given
/// over a file's values.
#[derive(Debug, Clone, Default)]
pub struct Overrides(ArgMatches);

impl FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = matches.clone();
        // clap fills in its default for every setting not given, and a default must not
        // hide what a file says: only what came from a flag or a variable stays.
        let defaulted: Vec<String> = given
            .ids()
            .map(|id| id.as_str().to_owned())
            .filter(|id| given.value_source(id) == Some(ValueSource::DefaultValue))
            .collect();
        for id in defaulted {
            given.try_clear_id(&id).map_err(|e| {
                clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{id}: {e}"))
            })?;
        }
        Ok(Overrides(given))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Overrides {
    fn augment_args(cmd: Command) -> Command {
        // Each section sets its own help heading; the flags after these are the caller's.
        Config::augment_args(cmd).next_help_heading(None::<&'static str>)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// One setting: where it lives in a file, and its flag and variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Its table in a file (`kernels`).
    pub section: String,
    /// Its key in that table, and its field in the section (`kernel_memory_total`).
    pub key: String,
    /// Its long flag, without the dashes (`kernel-memory-total`).
    pub flag: Option<String>,
    /// Its environment variable (`SWITCHBOARD_KERNEL_MEMORY_TOTAL`).
    pub env: Option<String>,
    /// Whether its flag is a switch, given without a value (`--tls-self-signed`).
    pub switch: bool,
    /// Its help text.
    pub help: String,
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
    /// The configuration in effect, checked: the defaults, then the TOML file at `file`, then
    /// the variables and flags in `overrides` (flags win: clap reads a variable only for a
    /// flag not given).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Config::from_toml_file(path)?,
            None => Config::default(),
        };
        config
            .update_from_arg_matches(&overrides.0)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file over the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Every setting, section by section, as declared in `config/sections.rs`.
    pub fn settings() -> Vec<Setting> {
        let cmd = Config::augment_args(Command::new("switchboard"));
        let mut settings = Vec::new();
        for group in cmd.get_groups() {
            for id in group.get_args() {
                let Some(arg) = cmd.get_arguments().find(|arg| arg.get_id() == id) else {
                    continue;
                };
                settings.push(Setting {
                    section: group.get_id().to_string(),
                    key: id.to_string(),
                    flag: arg.get_long().map(str::to_owned),
                    env: arg.get_env().map(|v| v.to_string_lossy().into_owned()),
                    switch: !arg.get_action().takes_values(),
                    help: arg.get_help().map(ToString::to_string).unwrap_or_default(),
                });
            }
        }
        settings
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .cluster
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
        if let Some(v) = &self.devices.min_device_app_version {
            switchboard_core::AppVersion::parse(v)
                .map_err(|e| ConfigError::Invalid(format!("min_device_app_version: {e}")))?;
        }
        if self.devices.max_frame_bytes.as_u64() < 1024 {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be at least 1KiB".into(),
            ));
        }
        for (name, d) in [
            ("ticket_ttl", self.sessions.ticket_ttl),
            ("max_lifetime", self.sessions.max_lifetime),
            ("no_viewers_timeout", self.sessions.no_viewers_timeout),
            ("device_idle_timeout", self.sessions.device_idle_timeout),
            ("stats_interval", self.sessions.stats_interval),
            ("monitor_interval", self.operations.monitor_interval),
            ("session_lease", self.cluster.session_lease),
            ("bus_probe_interval", self.cluster.bus_probe_interval),
            ("node_request_timeout", self.cluster.node_request_timeout),
            ("sign_in_failure_window", self.auth.sign_in_failure_window),
            (
                "password_hash_queue_wait",
                self.auth.password_hash_queue_wait,
            ),
            ("header_read_timeout", self.network.header_read_timeout),
            (
                "idle_connection_timeout",
                self.network.idle_connection_timeout,
            ),
            ("body_read_timeout", self.network.body_read_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid(format!("{name} must be above zero")));
            }
        }
        if let Some(url) = &self.cluster.advertise_url {
            parse_advertise_url(url)?;
        }
        check_ice_servers(&self.webrtc)?;
        if self.network.tls_cert.is_some() != self.network.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: give both or neither".into(),
            ));
        }
        if self.auth.min_password_score > 4 {
            return Err(ConfigError::Invalid(
                "min_password_score is a zxcvbn score: 0 to 4".into(),
            ));
        }
        if self.devices.ticket_redemptions_per_minute == 0
            || self.auth.auth_attempts_per_minute == 0
        {
            return Err(ConfigError::Invalid(
                "rate limits must allow at least one attempt per minute".into(),
            ));
        }
        if self.auth.sign_in_failures_per_username == 0 {
            return Err(ConfigError::Invalid(
                "sign_in_failures_per_username must allow at least one failure".into(),
            ));
        }
        if self.auth.password_hash_workers == Some(0) {
            return Err(ConfigError::Invalid(
                "password_hash_workers must be at least 1 (leave it out for half the cores)".into(),
            ));
        }
        if self.network.max_connections == 0 || self.network.max_connections_per_address == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_connections_per_address must be at least 1".into(),
            ));
        }
        for origin in &self.network.allowed_origins {
            crate::origin::parse_configured_origin(origin)
                .map_err(|why| ConfigError::Invalid(format!("allowed_origins: {why}")))?;
        }
        self.check_metrics_access()?;
        self.kernel_pool_targets()?;
        if self.kernels.max_kernels == 0
            || self.kernels.kernels_per_user == 0
            || self.kernels.kernels_per_account == 0
        {
            return Err(ConfigError::Invalid(
                "max_kernels, kernels_per_user and kernels_per_account must be at least 1 \
                 (set kernels_enabled = false to run no kernels)"
                    .into(),
            ));
        }
        if !(self.kernels.kernel_account_share > 0.0 && self.kernels.kernel_account_share <= 1.0) {
            return Err(ConfigError::Invalid(
                "kernel_account_share must be above 0 and at most 1".into(),
            ));
        }
        if self.kernels.max_cell_code_bytes.as_u64() == 0
            || self.kernels.cell_file_max_bytes.as_u64() == 0
            || self.kernels.cell_files_max == 0
        {
            return Err(ConfigError::Invalid(
                "max_cell_code_bytes, cell_file_max_bytes and cell_files_max must be above 0"
                    .into(),
            ));
        }
        if self.cameras.max_image_pixels == 0 || self.devices.max_frame_pixels == 0 {
            return Err(ConfigError::Invalid(
                "max_image_pixels and max_frame_pixels must be above 0".into(),
            ));
        }
        if self.cameras.voice_workers == 0
            || self.cameras.voice_max_bytes.as_u64() == 0
            || self.cameras.voice_max_duration.is_zero()
        {
            return Err(ConfigError::Invalid(
                "voice_workers, voice_max_bytes and voice_max_duration must be above 0".into(),
            ));
        }
        if self.cameras.max_concurrent_decodes == 0 {
            return Err(ConfigError::Invalid(
                "max_concurrent_decodes must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.cameras.snapshot_dedup_distance) {
            return Err(ConfigError::Invalid(
                "snapshot_dedup_distance must be between 0 and 1".into(),
            ));
        }
        if self
            .cameras
            .taught_match_threshold
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            return Err(ConfigError::Invalid(
                "taught_match_threshold must be between 0 and 1".into(),
            ));
        }
        if self.cameras.taught_name_chars == 0 {
            return Err(ConfigError::Invalid(
                "taught_name_chars must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The metrics settings that cannot work together or are too weak.
    fn check_metrics_access(&self) -> Result<(), ConfigError> {
        if self.operations.metrics_token.is_some() && self.operations.metrics_token_file.is_some() {
            return Err(ConfigError::Invalid(
                "give metrics_token or metrics_token_file, not both".into(),
            ));
        }
        if let Some(token) = &self.operations.metrics_token {
            check_metrics_token(token)?;
        }
        if self.operations.metrics_listen == Some(self.network.listen) {
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
                .network
                .public_url
                .as_deref()
                .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// The most kernels one account may run on this node: `kernels_per_account`, and at
    /// most `kernel_account_share` of `max_kernels` (at least 1).
    pub fn kernels_per_account_here(&self) -> usize {
        let share =
            (self.kernels.max_kernels as f64 * self.kernels.kernel_account_share).floor() as usize;
        self.kernels.kernels_per_account.min(share.max(1))
    }

    /// `kernel_pool` parsed: (kernelspec name, warm kernels) pairs.
    pub fn kernel_pool_targets(&self) -> Result<Vec<(String, usize)>, ConfigError> {
        let mut targets = Vec::new();
        for item in self.kernels.kernel_pool.split(',').map(str::trim) {
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
        self.operations.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.operations.data_dir.join("switchboard.db").display()
            )
        })
    }

    /// This node's name: the configured one or the host name.
    pub fn node_name(&self) -> String {
        self.cluster
            .node_name
            .clone()
            .or_else(|| sysinfo::System::host_name().ok())
            .unwrap_or_else(|| "switchboard".to_owned())
    }

    /// Whether this node serves HTTPS itself.
    pub fn tls_enabled(&self) -> bool {
        self.network.tls_cert.is_some() || self.network.tls_self_signed
    }

    /// The base URL for links, without a trailing slash.
    pub fn public_url(&self) -> String {
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        self.network
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.network.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Where other nodes reach this one, as recorded in the services registry: the host
    /// (`https://host` when the node is reached over TLS) and the port. See
    /// [`ClusterSettings::advertise_url`].
    pub fn advertised_address(&self) -> (String, u16) {
        if let Some(Ok((https, host, port))) = self
            .cluster
            .advertise_url
            .as_deref()
            .map(parse_advertise_url)
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
        let ip = self.network.listen.ip();
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
        (host, self.network.listen.port())
    }

    /// The session timeout policy.
    pub fn timeout_policy(&self) -> TimeoutPolicy {
        TimeoutPolicy {
            ticket_ttl: self.sessions.ticket_ttl,
            max_lifetime: self.sessions.max_lifetime,
            no_viewers: self.sessions.no_viewers_timeout,
            device_idle: self.sessions.device_idle_timeout,
        }
    }

    /// The detector model file named by `detector_model`: itself when absolute, else found in
    /// the current directory, then next to the executable. `None` when it is nowhere (and
    /// when none is named: the built-in model is used then).
    pub fn detector_model_path(&self) -> Option<PathBuf> {
        let model = self.cameras.detector_model.as_ref()?;
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
        self.cluster.nats_url.as_ref().map(|urls| {
            urls.split(',')
                .map(mask_nats_credentials)
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// The configuration as TOML with secrets masked, for `switchboard config print`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &shown.operations.database_url {
            shown.operations.database_url = Some(mask_url_password(url));
        }
        shown.cluster.nats_url = self.to_masked_nats_url();
        if shown.operations.metrics_token.is_some() {
            shown.operations.metrics_token = Some("****".into());
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print: {e}"))
    }
}

/// Reads TOML text over the defaults. Keys outside their section (a file written before
/// settings had sections, or a key in the wrong table) are named with the section each
/// belongs in, rather than as unknown.
fn parse_toml(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let moves = misplaced_keys(text);
        if moves.is_empty() {
            e.to_string()
        } else {
            format!(
                "settings belong in sections (`switchboard config example` shows them all); \
                 move:\n{}",
                moves.join("\n")
            )
        }
    })
}

/// The keys of `text` that are settings standing outside their section, each as a line
/// saying where it goes.
fn misplaced_keys(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let home: BTreeMap<String, String> = Config::settings()
        .into_iter()
        .map(|s| (s.key, s.section))
        .collect();
    let mut moves = Vec::new();
    for (key, value) in &table {
        if let Some(section) = home.get(key) {
            moves.push(format!("  `{key}` under [{section}]"));
        } else if let Some(inner) = value.as_table() {
            for inner_key in inner.keys() {
                if let Some(section) = home.get(inner_key).filter(|s| *s != key) {
                    moves.push(format!("  `{inner_key}` from [{key}] to [{section}]"));
                }
            }
        }
    }
    moves
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

/// STUN and TURN URLs as RFC 7064/7065 write them, TURN with a secret to mint credentials
/// from, and a relay-only policy with a relay to use.
fn check_ice_servers(w: &WebRtcSettings) -> Result<(), ConfigError> {
    let scheme_of = |url: &str| url.split_once(':').map(|(scheme, _)| scheme.to_owned());
    for url in &w.webrtc_stun_urls {
        if !matches!(scheme_of(url).as_deref(), Some("stun" | "stuns")) || url.len() < 7 {
            return Err(ConfigError::Invalid(format!(
                "webrtc_stun_urls: {url:?} is not a STUN URL (stun:host:port)"
            )));
        }
    }
    for url in &w.webrtc_turn_urls {
        if !matches!(scheme_of(url).as_deref(), Some("turn" | "turns")) || url.len() < 7 {
            return Err(ConfigError::Invalid(format!(
                "webrtc_turn_urls: {url:?} is not a TURN URL (turn:host:port?transport=udp)"
            )));
        }
    }
    if !w.webrtc_turn_urls.is_empty() && w.webrtc_turn_secret_file.is_none() {
        return Err(ConfigError::Invalid(
            "webrtc_turn_urls need webrtc_turn_secret_file: browsers get credentials minted \
             from the secret the TURN servers share"
                .into(),
        ));
    }
    if w.webrtc_ice_transport_policy == IceTransportPolicy::Relay && w.webrtc_turn_urls.is_empty() {
        return Err(ConfigError::Invalid(
            "webrtc_ice_transport_policy = relay needs webrtc_turn_urls: without a relay no \
             browser could connect"
                .into(),
        ));
    }
    if w.webrtc_turn_credential_ttl < std::time::Duration::from_secs(60) {
        return Err(ConfigError::Invalid(
            "webrtc_turn_credential_ttl must be at least a minute".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::net::IpAddr;
    use std::time::Duration;

    /// The configuration `flags` give over `file`, with the environment ignored (the CLI's
    /// tests cover variables, in a process of their own).
    fn layered(file: &str, flags: &[&str]) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, file).unwrap();
        let cmd = Overrides::augment_args(Command::new("serve").no_binary_name(true))
            .mut_args(|arg| arg.env(None::<&'static str>));
        let matches = cmd.try_get_matches_from(flags).map_err(|e| e.to_string())?;
        let overrides = Overrides::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        Config::load(Some(&path), &overrides).map_err(|e| e.to_string())
    }

    #[test]
    fn the_example_config_is_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE_TOML).unwrap();
        parsed.validate().unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn the_defaults_are_valid_and_give_the_core_timeout_policy() {
        Config::augment_args(Command::new("switchboard")).debug_assert();
        let defaults = Config::default();
        defaults.validate().unwrap();
        assert_eq!(defaults.timeout_policy(), TimeoutPolicy::default());
        assert_eq!(
            toml::from_str::<Config>("").unwrap(),
            defaults,
            "an empty file"
        );
    }

    /// What serde's derive asks a file for: every (section, key) of [`Config`], found by
    /// answering `Config` with each of its fields and each section with no keys at all.
    fn keys_serde_reads() -> Vec<(String, String)> {
        use serde::de::value::{Error, MapDeserializer};
        use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

        type Seen<'a> = &'a RefCell<Vec<(String, String)>>;

        struct Recorder<'a> {
            section: Option<&'static str>,
            seen: Seen<'a>,
        }
        struct Sections<'a> {
            names: std::slice::Iter<'static, &'static str>,
            current: Option<&'static str>,
            seen: Seen<'a>,
        }

        impl<'de> MapAccess<'de> for Sections<'_> {
            type Error = Error;
            fn next_key_seed<K: DeserializeSeed<'de>>(
                &mut self,
                seed: K,
            ) -> Result<Option<K::Value>, Error> {
                self.current = self.names.next().copied();
                self.current
                    .map(|name| seed.deserialize(name.into_deserializer()))
                    .transpose()
            }
            fn next_value_seed<V: DeserializeSeed<'de>>(
                &mut self,
                seed: V,
            ) -> Result<V::Value, Error> {
                seed.deserialize(Recorder {
                    section: self.current,
                    seen: self.seen,
                })
            }
        }

        impl<'de> de::Deserializer<'de> for Recorder<'_> {
            type Error = Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
                Err(de::Error::custom(format!(
                    "{:?} is a value of its own, not a section",
                    self.section
                )))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _name: &'static str,
                fields: &'static [&'static str],
                visitor: V,
            ) -> Result<V::Value, Error> {
                match self.section {
                    None => visitor.visit_map(Sections {
                        names: fields.iter(),
                        current: None,
                        seen: self.seen,
                    }),
                    Some(section) => {
                        self.seen.borrow_mut().extend(
                            fields
                                .iter()
                                .map(|key| (section.to_owned(), (*key).to_owned())),
                        );
                        visitor.visit_map(MapDeserializer::<_, Error>::new(std::iter::empty::<(
                            &str,
                            &str,
                        )>(
                        )))
                    }
                }
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }

        let seen = RefCell::new(Vec::new());
        let config = Config::deserialize(Recorder {
            section: None,
            seen: &seen,
        })
        .unwrap();
        assert_eq!(config, Config::default());
        seen.into_inner()
    }

    #[test]
    fn every_key_of_a_file_is_a_setting_with_a_flag_a_variable_and_help() {
        let from_serde: BTreeSet<(String, String)> = keys_serde_reads().into_iter().collect();
        let settings = Config::settings();
        let from_clap: BTreeSet<(String, String)> = settings
            .iter()
            .map(|s| (s.section.clone(), s.key.clone()))
            .collect();
        assert!(!from_clap.is_empty());
        assert_eq!(
            from_serde.difference(&from_clap).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "keys a file reads that are no flag"
        );
        assert_eq!(
            from_clap.difference(&from_serde).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "flags that are no key of a file"
        );
        for s in &settings {
            assert!(s.flag.is_some(), "{} has no flag", s.key);
            assert_eq!(
                s.env.as_deref(),
                Some(format!("SWITCHBOARD_{}", s.key.to_uppercase()).as_str()),
                "{}'s variable",
                s.key
            );
            assert!(!s.help.trim().is_empty(), "{} has no help", s.key);
        }
    }

    #[test]
    fn flags_go_over_the_file_and_clap_defaults_do_not() {
        let file = "[network]\nlisten = \"127.0.0.1:1234\"\n\
                    [auth]\nsecure_cookies = true\n\
                    [kernels]\nkernel_pool = \"\"\nmax_kernels = 2\n";
        let c = layered(file, &[]).unwrap();
        assert_eq!(c.network.listen.port(), 1234);
        assert!(c.auth.secure_cookies);
        assert_eq!(c.kernels.kernel_pool, "");
        assert_eq!(c.kernels.max_kernels, 2);
        assert_eq!(c.sessions, SessionSettings::default());

        let c = layered(
            file,
            &[
                "--max-kernels",
                "3",
                "--listen",
                "127.0.0.1:99",
                "--trusted-proxy",
                "10.0.0.1",
            ],
        )
        .unwrap();
        assert_eq!(c.kernels.max_kernels, 3);
        assert_eq!(c.network.listen.port(), 99);
        assert_eq!(c.network.trusted_proxies, vec![IpAddr::from([10, 0, 0, 1])]);
        assert!(
            c.auth.secure_cookies,
            "a switch not given keeps the file's value"
        );
        assert_eq!(c.kernels.kernel_pool, "");
    }

    #[test]
    fn kernel_placement_and_node_request_timeout_flags_take_effect() {
        let c = layered(
            "",
            &[
                "--kernel-placement",
                "local",
                "--node-request-timeout",
                "7s",
            ],
        )
        .unwrap();
        assert_eq!(c.cluster.kernel_placement, KernelPlacement::Local);
        assert_eq!(c.cluster.node_request_timeout, Duration::from_secs(7));
        let e = layered("", &["--kernel-placement", "nearest"]).unwrap_err();
        assert!(e.contains("least_loaded") && e.contains("local"), "{e}");
    }

    #[test]
    fn a_flat_file_is_refused_with_the_section_of_each_key() {
        let e = layered(
            "listen = \"127.0.0.1:1\"\nkernel_memory_total = \"1GiB\"\n[devices]\nmax_frame_bytes = \"1MiB\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("`listen` under [network]"), "{e}");
        assert!(e.contains("`kernel_memory_total` under [kernels]"), "{e}");
        assert!(!e.contains("max_frame_bytes"), "{e}");
        assert!(e.contains("switchboard config example"), "{e}");
    }

    #[test]
    fn a_key_in_the_wrong_section_names_its_section() {
        let e = layered("[network]\nticket_ttl = \"1m\"\n", &[]).unwrap_err();
        assert!(
            e.contains("`ticket_ttl` from [network] to [sessions]"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = layered("[network]\nlistn = \"127.0.0.1:1\"\n", &[]).unwrap_err();
        assert!(e.contains("listn"), "{e}");
        let e = layered("[networks]\nlisten = \"127.0.0.1:1\"\n", &[]).unwrap_err();
        assert!(e.contains("networks"), "{e}");
        let e = layered("listn = \"127.0.0.1:1\"\n", &[]).unwrap_err();
        assert!(e.contains("listn"), "{e}");
    }

    #[test]
    fn by_default_one_account_gets_at_most_half_of_a_nodes_kernels() {
        let c = Config::default();
        assert_eq!(c.kernels_per_account_here(), c.kernels.max_kernels / 2);
        assert!(c.kernels_per_account_here() < c.kernels.max_kernels);
        let mut small = Config::default();
        small.kernels.max_kernels = 1;
        assert_eq!(small.kernels_per_account_here(), 1);
        let mut generous = Config::default();
        generous.kernels.kernel_account_share = 1.0;
        generous.kernels.kernels_per_account = 5;
        assert_eq!(generous.kernels_per_account_here(), 5);
        for share in [0.0, -0.5, 1.5, f64::NAN] {
            let mut bad = Config::default();
            bad.kernels.kernel_account_share = share;
            assert!(bad.validate().is_err(), "{share}");
        }
    }

    #[test]
    fn kernel_pools_parse() {
        let mut c = Config::default();
        c.kernels.kernel_pool = "python3=2, R=1".into();
        assert_eq!(
            c.kernel_pool_targets().unwrap(),
            vec![("python3".to_owned(), 2), ("r".to_owned(), 1)]
        );
        c.kernels.kernel_pool = "python3".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_advertised_address_reaches_this_node() {
        let listening = |listen: &str| {
            let mut c = Config::default();
            c.network.listen = listen.parse().unwrap();
            c
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
        let mut advertised = listening("0.0.0.0:8080");
        advertised.cluster.advertise_url = Some("https://sb-2.internal:8443/".into());
        advertised.validate().unwrap();
        assert_eq!(
            advertised.advertised_address(),
            ("https://sb-2.internal".to_owned(), 8443)
        );
        for bad in ["sb-2:8080", "ftp://sb-2", "http://sb-2/path"] {
            let mut c = Config::default();
            c.cluster.advertise_url = Some(bad.into());
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn https_is_own_tls_or_an_https_public_url_and_origins_are_checked() {
        assert!(!Config::default().served_over_https());
        let mut tls = Config::default();
        tls.network.tls_self_signed = true;
        assert!(tls.served_over_https());
        let mut proxied = Config::default();
        proxied.network.public_url = Some("HTTPS://sb.example.org".into());
        assert!(proxied.served_over_https());
        let origins = |o: &str| {
            let mut c = Config::default();
            c.network.allowed_origins = vec![o.into()];
            c
        };
        assert!(origins("https://ui.example.org").validate().is_ok());
        assert!(origins("https://ui.example.org/app").validate().is_err());
        assert!(origins("ui.example.org").validate().is_err());
    }

    #[test]
    fn durations_and_sizes_are_human() {
        let c: Config = toml::from_str(
            "[sessions]\nticket_ttl = \"90s\"\n[devices]\nmax_frame_bytes = \"2 MiB\"",
        )
        .unwrap();
        assert_eq!(c.sessions.ticket_ttl, Duration::from_secs(90));
        assert_eq!(c.devices.max_frame_bytes.as_u64(), 2 * 1024 * 1024);
    }

    #[test]
    fn passwords_are_masked() {
        let mut c = Config::default();
        c.operations.database_url = Some("postgres://sb:hunter2@db:5432/sb".into());
        let printed = c.to_masked_toml();
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("sb:****@db"));
    }

    #[test]
    fn nats_credentials_are_masked() {
        let mut c = Config::default();
        c.cluster.nats_url = Some("nats://sb:s3cret@n1:4222,nats://sb:s3cret@n2:4222".into());
        let printed = c.to_masked_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("nats://sb:****@n1:4222,nats://sb:****@n2:4222"));
        assert_eq!(
            mask_nats_credentials("nats://t0ken@n1:4222"),
            "nats://****@n1:4222"
        );
        assert_eq!(mask_nats_credentials("nats://n1:4222"), "nats://n1:4222");
        c.cluster.nats_url = Some(" ".into());
        assert!(c.validate().is_err());
    }
}
