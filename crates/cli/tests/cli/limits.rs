//! The open-files limit a node raises at start: started at Linux's usual soft limit of
//! 1024, it serves with its soft limit at its hard one, raised (given CAP_SYS_RESOURCE) to what
//! `max_connections` needs, and logs both.

use crate::support::{BIN, ServerProcess, free_port};
use std::process::{Command, Stdio};

/// `Max open files` of process `pid`: (soft, hard).
fn open_files(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut numbers = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[test]
fn a_node_started_at_1024_open_files_raises_its_limit_and_logs_both() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("serve.log");
    let port = free_port();
    // util-linux's prlimit starts the server with a soft limit of 1024 and a hard one of 8192.
    let child = Command::new("prlimit")
        .args(["--nofile=1024:8192", "--"])
        .arg(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--max-connections", "20000", "--log-format", "json"])
        .env("SWITCHBOARD_DETECTION", "false")
        .env("RUST_LOG", "info")
        .env_remove("SWITCHBOARD_LOG")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = ServerProcess::wait_for(child, port, crate::support::PATIENCE);
    let (soft, hard) = open_files(server.child.id());
    assert_eq!(soft, hard, "the soft limit is raised to the hard one");
    let wanted = 20_000 + 4096;
    if may_raise_hard_limits() {
        assert_eq!(
            hard, wanted,
            "with CAP_SYS_RESOURCE the hard limit is raised to the need"
        );
    } else {
        assert_eq!(hard, 8192, "without CAP_SYS_RESOURCE the hard limit stays");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("open files limit"))
        .unwrap_or_else(|| panic!("no open files line in {logged}"));
    for field in [
        "\"soft_before\":1024",
        "\"hard_before\":8192",
        &format!("\"soft\":{soft}"),
        &format!("\"hard\":{hard}"),
        &format!("\"wanted\":{wanted}"),
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}

/// Whether this process (and so the server it starts) holds CAP_SYS_RESOURCE, which
/// raising a hard limit needs (root in a container may not).
fn may_raise_hard_limits() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}
