//! `switchboard config`: what a node runs with, from defaults, a file, `SWITCHBOARD_*`
//! variables and flags, as `config print` shows it.

use crate::support::BIN;
use std::process::Command;

/// `switchboard config print ARGS` with only the `SWITCHBOARD_*` variables in `env` set, parsed.
fn print(args: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let mut cmd = Command::new(BIN);
    cmd.args(["config", "print"]).args(args);
    // Whatever this test process was started with must not leak into the layers under test.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHBOARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "config print {args:?} {env:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn kernel_placement_and_node_request_timeout_take_effect_from_flags_and_variables() {
    let default = print(&[], &[]);
    assert_eq!(default["kernel_placement"].as_str(), Some("least_loaded"));
    assert_eq!(default["node_request_timeout"].as_str(), Some("2s"));

    let flags = print(
        &[
            "--kernel-placement",
            "local",
            "--node-request-timeout",
            "7s",
        ],
        &[],
    );
    assert_eq!(flags["kernel_placement"].as_str(), Some("local"));
    assert_eq!(flags["node_request_timeout"].as_str(), Some("7s"));

    let variables = print(
        &[],
        &[
            ("SWITCHBOARD_KERNEL_PLACEMENT", "local"),
            ("SWITCHBOARD_NODE_REQUEST_TIMEOUT", "7s"),
        ],
    );
    assert_eq!(variables["kernel_placement"].as_str(), Some("local"));
    assert_eq!(variables["node_request_timeout"].as_str(), Some("7s"));
}
