//! The values settings take that are not plain numbers, sizes or durations, and the
//! parsers flags and variables of sizes and durations go through.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which ICE candidates browsers may use (RTCConfiguration's `iceTransportPolicy`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relayed candidates alike.
    #[default]
    All,
    /// Relayed candidates only: media goes through TURN, so neither side learns the other's
    /// address.
    Relay,
}

/// Where a cluster starts new kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum KernelPlacement {
    /// On the node the monitor's status finds least loaded; the request is forwarded there.
    #[default]
    LeastLoaded,
    /// On the node that received the request.
    Local,
}

/// Whether kernels run inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
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

/// A duration flag or variable, in humantime form.
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 300ms, 90s, 5m, 24h)"))
}

/// A size flag or variable.
pub(super) fn size(s: &str) -> Result<bytesize::ByteSize, String> {
    s.parse::<bytesize::ByteSize>()
        .map_err(|e| format!("{e} (use e.g. 512KiB, 4MiB)"))
}
