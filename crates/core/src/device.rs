//! What a device tells us about itself when it registers, and app version checks.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Device information given at registration. Known fields are typed; anything else the device
/// sends is kept verbatim in `extra` and stored with the session.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub app_version: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A dotted numeric version such as `2.10.1`; pre-release and build suffixes (`-beta`, `+42`)
/// are ignored, missing components count as zero (`2.1` == `2.1.0`).
#[derive(Debug, Clone, Eq)]
pub struct AppVersion(Vec<u64>);

/// Why a version string cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("app version {0:?} is not a dotted number such as 2.1.0")]
pub struct BadVersion(pub String);

impl AppVersion {
    /// Parses `1`, `1.2`, `v1.2.3`, `1.2.3-rc1`.
    pub fn parse(s: &str) -> Result<Self, BadVersion> {
        let core = s
            .trim()
            .trim_start_matches(['v', 'V'])
            .split(['-', '+'])
            .next()
            .unwrap_or_default();
        let parts: Result<Vec<u64>, _> = core.split('.').map(str::parse).collect();
        match parts {
            Ok(p) if !p.is_empty() => Ok(AppVersion(p)),
            _ => Err(BadVersion(s.to_owned())),
        }
    }

    fn component(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl PartialEq for AppVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Ord for AppVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n)
            .map(|i| self.component(i).cmp(&other.component(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for AppVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for AppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&s.join("."))
    }
}

/// The outcome of checking a device's app against the configured minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    Accepted,
    /// The app is older than the minimum, or says no version while one is required.
    TooOld {
        minimum: String,
        found: Option<String>,
    },
}

/// Checks a device's declared app version against an optional minimum.
pub fn check_app_version(minimum: Option<&AppVersion>, found: Option<&str>) -> VersionCheck {
    let Some(min) = minimum else {
        return VersionCheck::Accepted;
    };
    match found.map(AppVersion::parse) {
        Some(Ok(v)) if v >= *min => VersionCheck::Accepted,
        _ => VersionCheck::TooOld {
            minimum: min.to_string(),
            found: found.map(str::to_owned),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> AppVersion {
        AppVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("1.10") > v("1.9"));
        assert_eq!(v("2.1"), v("2.1.0"));
        assert!(v("v3.0.0-rc1") > v("2.99"));
        assert!(AppVersion::parse("banana").is_err());
        assert!(AppVersion::parse("").is_err());
    }

    #[test]
    fn minimum_version_check() {
        let min = v("2.0");
        assert_eq!(check_app_version(None, None), VersionCheck::Accepted);
        assert_eq!(
            check_app_version(Some(&min), Some("2.0.1")),
            VersionCheck::Accepted
        );
        assert!(matches!(
            check_app_version(Some(&min), Some("1.9")),
            VersionCheck::TooOld { .. }
        ));
        assert!(matches!(
            check_app_version(Some(&min), None),
            VersionCheck::TooOld { .. }
        ));
    }

    #[test]
    fn unknown_device_fields_are_kept() {
        let info: DeviceInfo =
            serde_json::from_str(r#"{"model":"Pixel 9","os":"Android 16","battery":81}"#).unwrap();
        assert_eq!(info.model.as_deref(), Some("Pixel 9"));
        assert_eq!(info.extra["battery"], 81);
        let back = serde_json::to_value(&info).unwrap();
        assert_eq!(back["battery"], 81);
    }
}
