//! `switchboard bench scale` with tiny counts: every stage run to the end against servers of
//! their own and print every figure with its verdict (the figures themselves are not judged).

use crate::support::BIN;
use std::process::Command;

/// Runs `bench scale <args> --json`, asserts it succeeded and returns its JSON and its
/// standard output (for failure messages).
fn bench_scale(args: &[&str]) -> (serde_json::Value, String) {
    let output = Command::new(BIN)
        .args(["bench", "scale"])
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench scale failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let json = serde_json::from_str(&stdout).unwrap();
    (json, stdout)
}

#[test]
fn bench_scale_prints_every_figure_and_verdict() {
    let (json, stdout) = bench_scale(&[
        "--stages",
        "sessions,restart,connections",
        "--sessions",
        "6",
        "--timer-sessions",
        "3",
        "--connections",
        "9",
        "--restart-devices",
        "2",
        "--timer-seconds",
        "2",
        "--idle-seconds",
        "1",
    ]);
    let stages = json["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(names, ["sessions", "restart", "connections"]);
    let figures: Vec<&str> = stages
        .iter()
        .flat_map(|s| s["figures"].as_array().unwrap())
        .filter_map(|f| f["name"].as_str())
        .collect();
    for figure in [
        "per waiting session",
        "per live session (frame aside)",
        "server CPU, idle",
        "timer lateness max",
        "all back after SIGTERM",
        "all back after SIGKILL",
        "CDRs written once (files)",
        "CDRs written once (database)",
        "RSS per connection",
        "event to every listener p99",
        "new connection accepted p99",
    ] {
        assert!(figures.contains(&figure), "no {figure:?} in:\n{stdout}");
    }
    assert!(json["open_files"]["hard"].as_u64().unwrap() > 0);
}

#[test]
fn bench_scale_growth_and_cluster_print_their_tables_and_figures() {
    let (json, stdout) = bench_scale(&[
        "--stages",
        "growth,cluster",
        "--growth-sessions",
        "4,6",
        "--growth-connections",
        "6,9",
        "--timer-sessions",
        "2",
        "--timer-seconds",
        "1",
        "--idle-seconds",
        "0.5",
        "--cluster-sessions",
        "6",
        "--cluster-seconds",
        "1",
    ]);
    let stages = json["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(names, ["growth", "cluster"]);

    // One row per size, in the order asked, each naming the size it held.
    let tables = stages[0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    let held = |table: &serde_json::Value, column: &str| -> Vec<f64> {
        table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[column].as_f64().unwrap())
            .collect()
    };
    assert_eq!(held(&tables[0], "sessions"), [4.0, 6.0]);
    assert_eq!(held(&tables[1], "connections"), [6.0, 9.0]);
    for row in tables[0]["rows"].as_array().unwrap() {
        assert!(row["KiB/waiting"].is_number(), "{row}");
    }

    let figures: Vec<(&str, f64)> = stages[1]["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["value"].as_f64().unwrap()))
        .collect();
    let value = |name: &str| {
        figures
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no {name:?} in:\n{stdout}"))
            .1
    };
    // Every node announces its sessions' status on NATS; every node writes to PostgreSQL.
    assert!(value("NATS messages per session per minute") > 0.0);
    assert!(value("PostgreSQL rows written per session per minute") > 0.0);
    for node in ["n1", "n2", "n3"] {
        assert_eq!(value(&format!("{node}: sessions and devices back")), 12.0);
        assert!(value(&format!("CPU {node}")) >= 0.0);
    }
    assert_eq!(value("CDRs written once (database)"), 6.0);
    assert_eq!(value("live sockets that failed"), 0.0);
}
