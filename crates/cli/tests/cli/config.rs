//! `switchboard config`: what a node runs with, from defaults, a file, `SWITCHBOARD_*`
//! variables and flags, as `config print` shows it.

use crate::support::BIN;
use std::process::{Command, Output};

/// `switchboard ARGS` with only the `SWITCHBOARD_*` variables in `env` set.
fn switchboard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    // Whatever this test process was started with must not leak into the layers under test.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHBOARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// `switchboard config print ARGS` with the variables `env`, parsed.
fn print(args: &[&str], env: &[(&str, &str)]) -> toml::Table {
    let out = switchboard(&[&["config", "print"], args].concat(), env);
    assert!(
        out.status.success(),
        "config print {args:?} {env:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn kernel_placement_and_node_request_timeout_take_effect_from_flags_and_variables() {
    let cluster = |t: &toml::Table| {
        let c = &t["cluster"];
        (
            c["kernel_placement"].as_str().unwrap().to_owned(),
            c["node_request_timeout"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        cluster(&print(&[], &[])),
        ("least_loaded".into(), "2s".into())
    );
    let flags = print(
        &[
            "--kernel-placement",
            "local",
            "--node-request-timeout",
            "7s",
        ],
        &[],
    );
    assert_eq!(cluster(&flags), ("local".into(), "7s".into()));
    let variables = print(
        &[],
        &[
            ("SWITCHBOARD_KERNEL_PLACEMENT", "local"),
            ("SWITCHBOARD_NODE_REQUEST_TIMEOUT", "7s"),
        ],
    );
    assert_eq!(cluster(&variables), ("local".into(), "7s".into()));
}

#[test]
fn a_flat_config_file_is_refused_with_where_each_key_goes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:8080\"\nkernel_placement = \"local\"\n",
    )
    .unwrap();
    let out = switchboard(
        &["config", "print", "--config", file.to_str().unwrap()],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`listen` under [network]"), "{stderr}");
    assert!(
        stderr.contains("`kernel_placement` under [cluster]"),
        "{stderr}"
    );
}

#[test]
fn the_example_is_a_file_that_gives_the_defaults() {
    let out = switchboard(&["config", "example"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.toml");
    std::fs::write(&file, &out.stdout).unwrap();
    assert_eq!(
        print(&["--config", file.to_str().unwrap()], &[]),
        print(&[], &[])
    );
}
