//! The server's flags and logging. The settings themselves, and their layering (defaults →
//! TOML file → `SWITCHBOARD_*` environment → flags), are the server crate's `config`.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use switchboard_server::Config;
use switchboard_server::config::Overrides;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum LogFormat {
    /// For people.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `serve` and every command that reads the server's configuration: a file, every setting as
/// a flag (each also read from its `SWITCHBOARD_*` variable), and the log format.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see `switchboard config example`).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub settings: Overrides,
}

impl ServeArgs {
    /// The effective configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref(), &self.settings).context("invalid configuration")
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
