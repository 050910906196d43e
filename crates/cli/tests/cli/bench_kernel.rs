//! `switchboard bench kernel` with tiny counts: it runs to the end against its own server
//! and prints every figure with its verdict (the figures themselves are not judged here).

use crate::support::BIN;
use std::process::Command;

#[test]
fn bench_kernel_prints_every_figure_and_verdict() {
    let output = Command::new(BIN)
        .args(["bench", "kernel", "--iterations", "3", "--kernels", "1"])
        .args(["--sandbox", "auto"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench kernel failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for figure in [
        "execute 1+1 via server WS",
        "execute 1+1 direct ZMQ",
        "server adds",
        "pool hand-out",
        "cold start",
        "idle kernel PSS",
        "idle kernel RSS",
        "other processes' CPU",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
    for target in [
        "server adds ≤ 1 ms at p50",
        "pool hand-out p99 ≤ 20 ms",
        "cold start p50 ≤ 350 ms",
        "idle kernel PSS ≤ 64 MiB",
    ] {
        let verdict = stdout
            .lines()
            .find(|l| l.contains(target))
            .unwrap_or_else(|| panic!("no verdict {target:?} in:\n{stdout}"));
        assert!(
            verdict.trim_start().starts_with("PASS") || verdict.trim_start().starts_with("FAIL"),
            "{verdict}"
        );
    }
}
