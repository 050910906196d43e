//! `switchboard simulate` against a real `switchboard serve`, both run from the built binary
//! as a person would run them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Every wait is bounded by this, so a broken server fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

/// How often `/healthz` is asked while the server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A `switchboard serve` child on a loopback port with its own data directory, killed on drop.
struct ServeProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command for this binary with no `SWITCHBOARD_*` settings inherited from whoever runs
/// the tests.
fn switchboard() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHBOARD_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_BACKTRACE", "0");
    command
}

/// Whether `GET /healthz` answers 200.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

fn start_server() -> ServeProcess {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port");
    let log = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log).expect("a log file");
    let child = switchboard()
        .arg("serve")
        .args(["--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .expect("a second handle on the log file"),
        )
        .stderr(log_file)
        .spawn()
        .expect("switchboard serve starts");
    let mut server = ServeProcess {
        child,
        addr,
        log,
        _dir: dir,
    };
    let deadline = Instant::now() + PATIENCE;
    while !healthy(addr) {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if let Some(status) = server.child.try_wait().expect("the server's status") {
            panic!("the server exited ({status}) before it was healthy:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "the server never became healthy:\n{log}"
        );
        // A poll interval, not a guess at how long start-up takes: the deadline bounds it.
        std::thread::sleep(POLL_INTERVAL);
    }
    server
}

#[test]
fn simulate_streams_to_viewers_and_reports_what_they_received() {
    let server = start_server();
    let output = switchboard()
        .args(["simulate", "--server", &format!("http://{}", server.addr)])
        .args([
            "--sessions",
            "2",
            "--viewers",
            "2",
            "--seconds",
            "3",
            "--fps",
            "10",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "simulate failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let received: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("frames received"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 'frames received' line in:\n{stdout}"));
    assert!(received > 0, "{stdout}");
    assert!(stdout.contains("errors               none"), "{stdout}");
}
