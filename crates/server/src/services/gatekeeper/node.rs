//! This node's own admission limits, on top of the connection caps: sessions, viewer
//! connections, WebSockets, uploads and kernel starts at once, and requests in flight per
//! route class. Past one the node answers 503 `busy` with `Retry-After`: it sheds load, and a
//! load balancer sends the client to another node.

use super::refusals;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The route classes whose requests in flight are limited apart, so a flood of one kind
/// (sign-in attempts, uploads) cannot take the places of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteClass {
    /// Sign-in, sign-up, second factor and ticket redemption.
    Auth,
    /// Frames, streams, snapshots and pictures.
    Media,
    /// Kernels, cells and runs.
    Kernels,
    /// Everything else.
    Api,
}

impl RouteClass {
    pub const ALL: [RouteClass; 4] = [
        RouteClass::Auth,
        RouteClass::Media,
        RouteClass::Kernels,
        RouteClass::Api,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Auth => "auth",
            RouteClass::Media => "media",
            RouteClass::Kernels => "kernels",
            RouteClass::Api => "api",
        }
    }

    /// The class of a request path.
    pub fn of(path: &str) -> RouteClass {
        let api = path.strip_prefix("/api/v1/");
        match api {
            Some(rest) if rest.starts_with("auth/") || rest == "devices/register" => {
                RouteClass::Auth
            }
            Some(rest)
                if rest.starts_with("cells")
                    || rest == "execute"
                    || rest.starts_with("kernels/") =>
            {
                RouteClass::Kernels
            }
            Some(rest)
                if rest.starts_with("snapshots/")
                    || (rest.starts_with("cameras/") && rest.ends_with("/snapshots"))
                    || (rest.starts_with("sessions/")
                        && [
                            "/frames",
                            "/frame.jpg",
                            "/stream",
                            "/video.mjpeg",
                            "/device",
                        ]
                        .iter()
                        .any(|end| rest.ends_with(end))) =>
            {
                RouteClass::Media
            }
            Some(_) => RouteClass::Api,
            None if path.starts_with("/api/kernels") || path.starts_with("/api/sessions") => {
                RouteClass::Kernels
            }
            None => RouteClass::Api,
        }
    }
}

/// Reads `auth=64,api=1024,…`; classes not named keep no limit of their own beyond the
/// connection caps.
pub fn parse_requests(text: &str) -> Result<BTreeMap<RouteClass, usize>, String> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, count) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?}: use class=count, e.g. api=1024"))?;
        let class = RouteClass::ALL
            .into_iter()
            .find(|c| c.name() == name.trim())
            .ok_or_else(|| format!("{name:?} is not a route class (auth, api, media, kernels)"))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| format!("{pair:?}: the count must be a whole number"))?;
        if count == 0 {
            return Err(format!("{pair:?}: the count must be at least 1"));
        }
        out.insert(class, count);
    }
    Ok(out)
}

/// The longest a kernel start waits for a place among the node's starts in flight.
pub const KERNEL_START_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A semaphore for one of the node's limits, named for the refusal.
#[derive(Debug)]
struct Gate {
    name: &'static str,
    permits: Arc<Semaphore>,
}

impl Gate {
    fn new(name: &'static str, max: usize) -> Self {
        Gate {
            name,
            permits: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A place, waiting at most `wait` for one (for work that is worth queueing briefly).
    async fn enter_within(&self, wait: std::time::Duration) -> Result<NodePermit, NodeBusy> {
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(NodePermit {
                _held: Some(permit),
            }),
            // The semaphore is never closed; a closed one would mean no place ever again.
            Ok(Err(_)) | Err(_) => {
                refusals::node(self.name);
                Err(NodeBusy { limit: self.name })
            }
        }
    }

    fn enter(&self) -> Result<NodePermit, NodeBusy> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(NodePermit {
                _held: Some(permit),
            }),
            Err(_) => {
                refusals::node(self.name);
                Err(NodeBusy { limit: self.name })
            }
        }
    }
}

/// A place under one of the node's limits, given back when dropped.
#[derive(Debug)]
pub struct NodePermit {
    _held: Option<OwnedSemaphorePermit>,
}

impl NodePermit {
    /// A permit that holds nothing (the gatekeeper is off).
    pub fn free() -> Self {
        NodePermit { _held: None }
    }
}

/// The node is at one of its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this node is at its limit of {limit}; try again shortly or another node")]
pub struct NodeBusy {
    /// `node_sessions`, `node_viewers`, `node_websockets`, `node_uploads`,
    /// `node_kernel_starts` or `node_requests_<class>`.
    pub limit: &'static str,
}

/// This node's limits.
#[derive(Debug)]
pub struct NodeLimits {
    pub(super) max_sessions: usize,
    viewers: Gate,
    websockets: Gate,
    uploads: Gate,
    kernel_starts: Gate,
    requests: BTreeMap<RouteClass, Gate>,
}

impl NodeLimits {
    pub fn new(settings: &crate::config::AdmissionSettings) -> Result<Self, String> {
        let requests = parse_requests(&settings.node_requests)?
            .into_iter()
            .map(|(class, max)| {
                let name = match class {
                    RouteClass::Auth => "node_requests_auth",
                    RouteClass::Media => "node_requests_media",
                    RouteClass::Kernels => "node_requests_kernels",
                    RouteClass::Api => "node_requests_api",
                };
                (class, Gate::new(name, max))
            })
            .collect();
        Ok(NodeLimits {
            max_sessions: settings.node_sessions,
            viewers: Gate::new("node_viewers", settings.node_viewers),
            websockets: Gate::new("node_websockets", settings.node_websockets),
            uploads: Gate::new("node_uploads", settings.node_uploads),
            kernel_starts: Gate::new("node_kernel_starts", settings.node_kernel_starts),
            requests,
        })
    }

    /// Whether this node may run one more session beside the `running` it has.
    pub fn session(&self, running: usize) -> Result<(), NodeBusy> {
        if running < self.max_sessions {
            Ok(())
        } else {
            refusals::node("node_sessions");
            Err(NodeBusy {
                limit: "node_sessions",
            })
        }
    }

    pub fn viewer(&self) -> Result<NodePermit, NodeBusy> {
        self.viewers.enter()
    }

    pub fn websocket(&self) -> Result<NodePermit, NodeBusy> {
        self.websockets.enter()
    }

    pub fn upload(&self) -> Result<NodePermit, NodeBusy> {
        self.uploads.enter()
    }

    /// A place for one kernel start; a burst of starts queues for up to [`KERNEL_START_WAIT`]
    /// (a start takes a second or two) before the node sheds it.
    pub async fn kernel_start(&self) -> Result<NodePermit, NodeBusy> {
        self.kernel_starts.enter_within(KERNEL_START_WAIT).await
    }

    /// A place for one request of `class` in flight.
    pub fn request(&self, class: RouteClass) -> Result<NodePermit, NodeBusy> {
        match self.requests.get(&class) {
            Some(gate) => gate.enter(),
            None => Ok(NodePermit::free()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_classes() {
        for (path, class) in [
            ("/api/v1/auth/login", RouteClass::Auth),
            ("/api/v1/devices/register", RouteClass::Auth),
            ("/api/v1/sessions/abc/frames", RouteClass::Media),
            ("/api/v1/sessions/abc/video.mjpeg", RouteClass::Media),
            ("/api/v1/cameras/c1/snapshots", RouteClass::Media),
            ("/api/v1/snapshots/s1/thumb.jpg", RouteClass::Media),
            ("/api/v1/execute", RouteClass::Kernels),
            ("/api/v1/cells", RouteClass::Kernels),
            ("/api/kernels/k1/channels", RouteClass::Kernels),
            ("/api/v1/sessions", RouteClass::Api),
            ("/api/v1/cameras", RouteClass::Api),
            ("/dashboard", RouteClass::Api),
        ] {
            assert_eq!(RouteClass::of(path), class, "{path}");
        }
    }

    #[test]
    fn request_limits_parse_and_bad_ones_are_named() {
        let parsed = parse_requests("auth=2, media=3").unwrap();
        assert_eq!(parsed.get(&RouteClass::Auth), Some(&2));
        assert_eq!(parsed.get(&RouteClass::Api), None);
        assert!(parse_requests("").unwrap().is_empty());
        assert!(parse_requests("web=3").unwrap_err().contains("route class"));
        assert!(parse_requests("api").unwrap_err().contains("class=count"));
        assert!(parse_requests("api=0").unwrap_err().contains("at least 1"));
    }

    #[test]
    fn gates_refuse_past_their_limit_and_give_places_back() {
        let settings = crate::config::AdmissionSettings {
            node_viewers: 1,
            node_requests: "auth=1".into(),
            ..Default::default()
        };
        let node = NodeLimits::new(&settings).unwrap();
        let held = node.viewer().unwrap();
        assert_eq!(node.viewer().unwrap_err().limit, "node_viewers");
        drop(held);
        node.viewer().unwrap();
        let auth = node.request(RouteClass::Auth).unwrap();
        assert!(node.request(RouteClass::Auth).is_err());
        node.request(RouteClass::Api).unwrap();
        drop(auth);
        node.request(RouteClass::Auth).unwrap();
        node.session(0).unwrap();
        assert!(node.session(20_000).is_err());
    }
}
