//! What nodes record about themselves: the services they run and their status over time,
//! and the choice of the least-loaded node for new work.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A long-lived process a node runs: the server itself, or a child such as a kernel.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Unique per start: `<node>/<kind>/<pid>/<start millis>`.
    pub id: String,
    pub node: String,
    pub kind: String,
    pub address: String,
    pub port: u16,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub running: bool,
}

/// One sample of a service's load.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub service_id: String,
    pub at: DateTime<Utc>,
    /// One-minute load average of the machine.
    pub load: f64,
    /// CPU use of the process, percent of one core.
    pub cpu_percent: f64,
    /// Resident memory of the process, percent of the machine's memory.
    pub memory_percent: f64,
    /// CPU seconds the process has used since it started.
    pub cpu_seconds: f64,
    /// Seconds since the process started.
    pub wall_seconds: f64,
    pub virtual_bytes: u64,
    pub resident_bytes: u64,
    pub sessions: u32,
    pub viewers: u32,
    pub devices: u32,
    pub kernels: u32,
}

/// Picks the node for new work: among running services of `kind` with a status fresher than
/// `stale_before`, the one with the lowest CPU use, then the fewest kernels, then the lowest
/// load average. Nodes whose status is stale are presumed dead and never chosen.
pub fn least_loaded<'a>(
    latest: impl IntoIterator<Item = (&'a Service, &'a ServiceStatus)>,
    kind: &str,
    stale_before: DateTime<Utc>,
) -> Option<&'a str> {
    latest
        .into_iter()
        .filter(|(s, st)| s.running && s.kind == kind && st.at >= stale_before)
        .min_by(|(_, a), (_, b)| {
            a.cpu_percent
                .total_cmp(&b.cpu_percent)
                .then(a.kernels.cmp(&b.kernels))
                .then(a.load.total_cmp(&b.load))
        })
        .map(|(s, _)| s.node.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use chrono::{Duration, TimeZone, Utc};

    fn service(node: &str, running: bool) -> Service {
        Service {
            id: format!("{node}/server/1/0"),
            node: node.into(),
            kind: "server".into(),
            address: "127.0.0.1".into(),
            port: 8080,
            pid: 1,
            started_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            stopped_at: None,
            running,
        }
    }

    fn status(cpu: f64, kernels: u32, at: Timestamp) -> ServiceStatus {
        ServiceStatus {
            service_id: String::new(),
            at,
            load: 1.0,
            cpu_percent: cpu,
            memory_percent: 10.0,
            cpu_seconds: 0.0,
            wall_seconds: 0.0,
            virtual_bytes: 0,
            resident_bytes: 0,
            sessions: 0,
            viewers: 0,
            devices: 0,
            kernels,
        }
    }

    #[test]
    fn the_least_busy_fresh_running_node_wins() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
        let (a, b, c, d) = (
            service("a", true),
            service("b", true),
            service("c", false),
            service("d", true),
        );
        let (sa, sb, sc, sd) = (
            status(50.0, 0, now),
            status(20.0, 3, now),
            status(0.0, 0, now),
            status(1.0, 0, now - Duration::minutes(5)),
        );
        let all = [(&a, &sa), (&b, &sb), (&c, &sc), (&d, &sd)];
        assert_eq!(
            least_loaded(all, "server", now - Duration::seconds(30)),
            Some("b")
        );
        assert_eq!(
            least_loaded(all, "kernel", now - Duration::seconds(30)),
            None
        );
    }
}
