//! Admission limits of an account: what each limit counts, the effective limits (the node's
//! defaults with the account's overrides on top), and the verdict of one admission check.
//!
//! Counting is the store's and the gatekeeper's business; this module only names the limits,
//! merges them and decides, so the rules are testable with plain values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One limit an account is held to. The serialized names are the `limit` of a
/// `limit_reached` answer, the keys of overrides and the `limit` label of the
/// `switchboard_admission_refused_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Sessions open at once (waiting or live).
    Sessions,
    /// Viewers of one session at once.
    ViewersPerSession,
    /// Viewers across the account at once.
    Viewers,
    /// Bytes per second the account's devices may upload (shaped, never refused).
    UploadBytesPerSecond,
    /// Bytes per second sent to the account's viewers (shaped, never refused).
    EgressBytesPerSecond,
    /// Cameras registered.
    Cameras,
    /// Bytes of snapshot images stored.
    SnapshotBytes,
    /// Snapshot uploads in the last hour.
    UploadsPerHour,
    /// Kernels running at once.
    Kernels,
    /// CPU seconds the account's kernels used since midnight UTC.
    KernelCpuSecondsPerDay,
    /// Bytes of files stored from cell runs.
    CellFileBytes,
    /// Users of the account.
    Users,
}

impl Limit {
    /// Every limit, in the order pages and tables list them.
    pub const ALL: [Limit; 12] = [
        Limit::Sessions,
        Limit::ViewersPerSession,
        Limit::Viewers,
        Limit::UploadBytesPerSecond,
        Limit::EgressBytesPerSecond,
        Limit::Cameras,
        Limit::SnapshotBytes,
        Limit::UploadsPerHour,
        Limit::Kernels,
        Limit::KernelCpuSecondsPerDay,
        Limit::CellFileBytes,
        Limit::Users,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Sessions => "sessions",
            Limit::ViewersPerSession => "viewers_per_session",
            Limit::Viewers => "viewers",
            Limit::UploadBytesPerSecond => "upload_bytes_per_second",
            Limit::EgressBytesPerSecond => "egress_bytes_per_second",
            Limit::Cameras => "cameras",
            Limit::SnapshotBytes => "snapshot_bytes",
            Limit::UploadsPerHour => "uploads_per_hour",
            Limit::Kernels => "kernels",
            Limit::KernelCpuSecondsPerDay => "kernel_cpu_seconds_per_day",
            Limit::CellFileBytes => "cell_file_bytes",
            Limit::Users => "users",
        }
    }

    /// The limit with this wire name.
    pub fn parse(name: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.name() == name)
    }

    /// What a value of this limit counts, for people: "bytes", "bytes/s" or "".
    pub fn unit(self) -> &'static str {
        match self {
            Limit::UploadBytesPerSecond | Limit::EgressBytesPerSecond => "bytes/s",
            Limit::SnapshotBytes | Limit::CellFileBytes => "bytes",
            Limit::KernelCpuSecondsPerDay => "seconds",
            _ => "",
        }
    }

    /// Whether going past it slows the account down instead of refusing.
    pub fn is_shaped(self) -> bool {
        matches!(
            self,
            Limit::UploadBytesPerSecond | Limit::EgressBytesPerSecond
        )
    }

    /// A short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Limit::Sessions => "sessions open at once",
            Limit::ViewersPerSession => "viewers of one session at once",
            Limit::Viewers => "viewers across the account at once",
            Limit::UploadBytesPerSecond => "device upload bandwidth",
            Limit::EgressBytesPerSecond => "viewer bandwidth",
            Limit::Cameras => "cameras",
            Limit::SnapshotBytes => "snapshot storage",
            Limit::UploadsPerHour => "snapshot uploads per hour",
            Limit::Kernels => "kernels running at once",
            Limit::KernelCpuSecondsPerDay => "kernel CPU seconds per day",
            Limit::CellFileBytes => "stored cell files",
            Limit::Users => "users",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An account's own values for some limits; the others follow the node's defaults.
pub type LimitOverrides = BTreeMap<Limit, u64>;

/// The limits in force for one account: a maximum for every [`Limit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    max: [u64; Limit::ALL.len()],
}

impl Limits {
    /// Limits from a maximum for each limit.
    pub fn from_fn(mut max: impl FnMut(Limit) -> u64) -> Self {
        Limits {
            max: Limit::ALL.map(&mut max),
        }
    }

    /// The maximum of `limit`.
    pub fn max(&self, limit: Limit) -> u64 {
        self.max[limit as usize]
    }

    /// These limits with an account's overrides on top.
    pub fn with(&self, overrides: &LimitOverrides) -> Limits {
        Limits::from_fn(|l| overrides.get(&l).copied().unwrap_or(self.max(l)))
    }

    /// Whether one more of `limit` fits beside `in_use`. A maximum below what is already in
    /// use cuts nothing that runs; new admissions wait until use drops below it.
    pub fn check(&self, limit: Limit, in_use: u64) -> Result<(), LimitReached> {
        self.check_adding(limit, in_use, 1)
    }

    /// Whether `adding` more of `limit` fit beside `in_use` (for byte-counted limits).
    pub fn check_adding(&self, limit: Limit, in_use: u64, adding: u64) -> Result<(), LimitReached> {
        let max = self.max(limit);
        if in_use.saturating_add(adding) <= max {
            Ok(())
        } else {
            Err(LimitReached {
                limit,
                value: in_use,
                max,
            })
        }
    }
}

/// An admission refused: `limit` holds `value` against its maximum `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this account has reached its limit of {max} {}", limit.describe())]
pub struct LimitReached {
    pub limit: Limit,
    pub value: u64,
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_the_serialized_form() {
        for l in Limit::ALL {
            assert_eq!(Limit::parse(l.name()), Some(l));
            assert_eq!(
                serde_json::to_value(l).unwrap(),
                serde_json::Value::String(l.name().into())
            );
            assert_eq!(Limit::ALL[l as usize], l, "ALL is in declaration order");
        }
        assert_eq!(Limit::parse("nope"), None);
    }

    #[test]
    fn overrides_win_and_checks_count_from_use() {
        let defaults = Limits::from_fn(|_| 3);
        let limits = defaults.with(&LimitOverrides::from([(Limit::Sessions, 1)]));
        assert_eq!(limits.max(Limit::Sessions), 1);
        assert_eq!(limits.max(Limit::Cameras), 3);
        assert!(limits.check(Limit::Sessions, 0).is_ok());
        let refused = limits.check(Limit::Sessions, 1).unwrap_err();
        assert_eq!(
            refused,
            LimitReached {
                limit: Limit::Sessions,
                value: 1,
                max: 1
            }
        );
        assert_eq!(
            refused.to_string(),
            "this account has reached its limit of 1 sessions open at once"
        );
        // Use above a lowered maximum is refused, never negative.
        assert!(limits.check(Limit::Sessions, 5).is_err());
        assert!(limits.check_adding(Limit::Cameras, 1, 2).is_ok());
        assert!(limits.check_adding(Limit::Cameras, 2, 2).is_err());
        // Zero refuses everything.
        let none = defaults.with(&LimitOverrides::from([(Limit::Kernels, 0)]));
        assert!(none.check(Limit::Kernels, 0).is_err());
    }
}
