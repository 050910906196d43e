//! `switchboard bench cluster` with tiny durations: it starts its nodes over PostgreSQL and
//! NATS, runs the three measurements to the end and prints every figure with its verdict
//! (the figures themselves are not judged here: the machine is shared).

use crate::support::BIN;
use std::process::Command;

#[test]
fn bench_cluster_prints_every_figure_and_verdict() {
    let output = Command::new(BIN)
        .args(["bench", "cluster", "--seconds", "1", "--warmup", "0.5"])
        .args(["--fps", "10", "--frame-bytes", "5000", "--viewers", "2"])
        .args(["--sessions", "2", "--relay-viewers", "1", "--trials", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success()
        && stderr.contains("cannot connect to PostgreSQL")
        && std::env::var_os("CI").is_none()
    {
        eprintln!("SKIPPED: bench cluster, PostgreSQL unreachable:\n{stderr}");
        return;
    }
    assert!(
        output.status.success(),
        "bench cluster failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for figure in [
        "latency ms, viewers on n1 (owner)",
        "latency ms, viewers on n2",
        "added by the relay (n2 − n1)",
        "frames/s sent by devices to n1",
        "frames/s received on n2, total",
        "CPU n1",
        "CPU n2",
        "CPU nats-server",
        "other processes' CPU",
        "trial 2   killed n2, survivor n1",
        "failover time",
        "session lease 1500 ms",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
    for target in [
        "relay adds < 1 ms at p50",
        "p99 latency on n2 < 20 ms",
        "n2 receives ≥ 95% of the frames",
        "every failover ≤ 2 × session lease",
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
    // The run's database is gone again.
    let name = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sb_bench_"))
        .unwrap_or_else(|| panic!("no database name in:\n{stdout}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let left: i64 = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(left, 0, "database {name} was not dropped");
}
