//! Debian's HAProxy in front of test nodes, configured like contrib/cluster/haproxy.cfg.

use crate::helpers::*;
use reqwest::StatusCode;

pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// A HAProxy process in front of some nodes, killed when dropped.
pub struct Haproxy {
    _child: tokio::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// The settings of contrib/cluster/haproxy.cfg (without its per-kernel backends), up to the
/// frontend's first line: a test adds its own routing and backends.
fn head(port: u16) -> String {
    format!(
        "global\n    maxconn 1000\n\
         defaults\n    mode http\n    option http-server-close\n    timeout connect 5s\n\
         \x20   timeout client 75s\n    timeout server 75s\n    timeout tunnel 1h\n\
         \x20   timeout client-fin 5s\n    timeout http-request 10s\n\
         frontend http\n    bind 127.0.0.1:{port}\n    option forwardfor\n"
    )
}

/// A backend line for `node`, health-checked on `/readyz`.
pub fn server_line(node: &TestApp) -> String {
    let name = node.config.cluster.node_name.clone().unwrap();
    format!(
        "    server {name} {} check inter 2s fall 2 rise 2\n",
        node.addr
    )
}

/// A backend section named `name` over `nodes`, round robin.
pub fn backend(name: &str, nodes: &[&TestApp]) -> String {
    let mut cfg = format!(
        "backend {name}\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   http-check expect status 200\n"
    );
    for node in nodes {
        cfg.push_str(&server_line(node));
    }
    cfg
}

impl Haproxy {
    /// Starts HAProxy round-robin over `nodes` and waits until it answers.
    pub async fn start(nodes: &[TestApp]) -> Haproxy {
        let nodes: Vec<&TestApp> = nodes.iter().collect();
        Haproxy::start_with(|| {
            format!(
                "    default_backend switchboard\n{}",
                backend("switchboard", &nodes)
            )
        })
        .await
    }

    /// Starts HAProxy with the frontend's routing and the backends `rest` gives, and waits
    /// until it answers.
    pub async fn start_with(rest: impl FnOnce() -> String) -> Haproxy {
        let port = free_port();
        let cfg = format!("{}{}", head(port), rest());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let child = tokio::process::Command::new(HAPROXY)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        eventually("HAProxy to answer", PATIENCE, || async {
            match http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
            {
                Ok(resp) => holds(resp.status() == StatusCode::OK, resp.status()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        Haproxy {
            _child: child,
            port,
            _dir: dir,
        }
    }
}
