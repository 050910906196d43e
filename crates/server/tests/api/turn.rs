//! Debian's coturn on loopback: a real TURN relay for the WebRTC tests, checking credentials
//! the way a production one does (`use-auth-secret` with the node's shared secret).

use crate::helpers::*;
use std::path::{Path, PathBuf};

pub const TURNSERVER: &str = "/usr/bin/turnserver";

/// A coturn process on a free port of 127.0.0.1, killed when dropped.
pub struct TurnServer {
    _child: tokio::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TurnServer {
    pub async fn start() -> TurnServer {
        assert!(
            Path::new(TURNSERVER).exists(),
            "{TURNSERVER} is missing: the TURN test needs Debian's coturn. Run scripts/test \
             (it installs it), or `apt-get install -y coturn`."
        );
        let dir = tempfile::tempdir().unwrap();
        let secret: String = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(dir.path().join("secret"), &secret).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(TURNSERVER)
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            // The node under test listens on loopback too: peers there must be allowed.
            .arg("--allow-loopback-peers")
            .args(["--use-auth-secret", "--static-auth-secret", &secret])
            .args(["--realm", "switchboard.test"])
            .args(["--log-file", "stdout"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("turnserver starts");
        eventually("coturn to listen", PATIENCE, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        TurnServer {
            _child: child,
            port,
            dir,
        }
    }

    /// The URL browsers are given, reaching the relay over `transport` (`udp` or `tcp`).
    pub fn url(&self, transport: &str) -> String {
        format!("turn:127.0.0.1:{}?transport={transport}", self.port)
    }

    /// The file holding the secret shared with the node.
    pub fn secret_file(&self) -> PathBuf {
        self.dir.path().join("secret")
    }
}
