//! `switchboard config`: what a node runs with, from defaults, a file, `SWITCHBOARD_*`
//! variables and flags, as `config print` shows it.

use crate::support::BIN;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use switchboard_server::config::{Config, Setting};

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

/// For each setting, a value other than its default that passes the checks.
const SAMPLES: &[(&str, &str)] = &[
    // [network]
    ("listen", "127.0.0.1:18080"),
    ("public_url", "https://sb.example.org"),
    ("trusted_proxies", "10.0.0.1"),
    ("allowed_origins", "https://ui.example.org"),
    ("hsts_max_age", "1h"),
    ("tls_cert", "/etc/switchboard/cert.pem"),
    ("tls_key", "/etc/switchboard/key.pem"),
    ("tls_self_signed", "true"),
    ("max_connections", "500"),
    ("max_connections_per_address", "8"),
    ("header_read_timeout", "3s"),
    ("idle_connection_timeout", "2m"),
    ("body_read_timeout", "20s"),
    ("min_body_bytes_per_second", "2KiB"),
    ("max_json_bytes", "128KiB"),
    // [sessions]
    ("ticket_ttl", "15m"),
    ("max_lifetime", "2h"),
    ("no_viewers_timeout", "1m"),
    ("device_idle_timeout", "90s"),
    ("max_viewers_per_session", "10"),
    ("max_viewer_message_bytes", "8KiB"),
    ("max_long_poll", "30s"),
    ("stats_interval", "10s"),
    // [devices]
    ("min_device_app_version", "2.0.0"),
    ("ticket_redemptions_per_minute", "5"),
    ("max_frame_bytes", "2MiB"),
    ("max_frame_pixels", "1000000"),
    ("max_device_fps", "15"),
    ("max_device_text_bytes", "4KiB"),
    ("device_messages_per_second", "5"),
    // [auth]
    ("token_ttl", "1h"),
    ("token_secret_file", "/etc/switchboard/jwt-secret"),
    ("auth_attempts_per_minute", "10"),
    ("sign_in_failures_per_username", "3"),
    ("sign_in_failure_window", "10m"),
    ("password_hash_workers", "2"),
    ("password_hash_queue_wait", "5s"),
    ("min_password_score", "4"),
    ("secure_cookies", "true"),
    // [kernels]
    ("kernels_enabled", "false"),
    ("max_kernels", "4"),
    ("kernel_pool", "python3=2"),
    ("kernel_cpu_seconds", "60"),
    ("kernel_memory", "1GiB"),
    ("kernel_memory_total", "1GiB"),
    ("kernel_processes", "64"),
    ("kernel_disk", "128MiB"),
    ("kernel_idle_timeout", "5m"),
    ("kernel_lifetime", "2h"),
    ("kernel_sandbox", "best_effort"),
    ("kernels_per_user", "2"),
    ("kernels_per_account", "8"),
    ("kernel_account_share", "0.25"),
    ("kernel_helper", "/usr/local/bin/switchboard-kernel-helper"),
    ("max_kernel_message_bytes", "1MiB"),
    ("max_cell_code_bytes", "16KiB"),
    ("cell_file_max_bytes", "1MiB"),
    ("cell_files_max", "5"),
    ("kernel_env_allowed", "KERNEL_USERNAME"),
    // [cameras]
    ("detection", "false"),
    ("detector_model", "/opt/models/yolo.onnx"),
    ("voice_library", "/opt/pocketsphinx/libpocketsphinx.so.3"),
    ("voice_model", "/opt/pocketsphinx/model/en-us"),
    ("voice_workers", "3"),
    ("voice_max_bytes", "256KiB"),
    ("voice_max_duration", "5s"),
    ("taught_objects_per_account", "5"),
    ("taught_name_chars", "30"),
    ("taught_match_threshold", "0.8"),
    ("taught_scan_snapshots", "500"),
    ("onnxruntime_library", "/usr/lib/libonnxruntime.so"),
    ("detector_workers", "2"),
    ("detector_queue", "4"),
    ("detect_wait", "1s"),
    ("max_snapshot_bytes", "4MiB"),
    ("snapshot_retention", "7days"),
    ("snapshot_storage", "1GiB"),
    ("snapshot_dedup_distance", "0.1"),
    ("search_pin", "1h"),
    ("max_image_pixels", "1000000"),
    ("max_concurrent_decodes", "4"),
    ("decode_wait", "1s"),
    ("snapshot_clock_skew", "1m"),
    // [cluster]
    ("node_name", "sb-7"),
    ("nats_url", "nats://127.0.0.1:4222"),
    ("session_lease", "10s"),
    ("bus_probe_interval", "5s"),
    ("advertise_url", "http://10.0.0.5:8080"),
    ("kernel_placement", "local"),
    ("node_request_timeout", "5s"),
    // [operations]
    ("data_dir", "/var/lib/switchboard"),
    ("database_url", "postgres://switchboard@db/switchboard"),
    ("master_key_file", "/etc/switchboard/master-key"),
    ("encrypt_at_rest", "false"),
    ("metrics_listen", "127.0.0.1:9100"),
    ("metrics_token", "0123456789abcdef0123"),
    ("metrics_token_file", "/etc/switchboard/metrics-token"),
    ("monitor_interval", "30s"),
    ("status_rows_kept", "100"),
    ("shutdown_grace", "30s"),
    // [admission]
    ("gatekeeper", "false"),
    ("account_sessions", "7"),
    ("account_viewers_per_session", "9"),
    ("account_viewers", "90"),
    ("account_upload_bandwidth", "8MiB"),
    ("account_egress_bandwidth", "32MiB"),
    ("account_cameras", "12"),
    ("account_snapshot_storage", "2GiB"),
    ("account_uploads_per_hour", "600"),
    ("account_kernels", "3"),
    ("account_kernel_cpu_seconds_per_day", "3600"),
    ("account_cell_file_storage", "256MiB"),
    ("account_users", "25"),
    ("node_sessions", "500"),
    ("node_viewers", "800"),
    ("node_websockets", "1000"),
    ("node_uploads", "16"),
    ("node_kernel_starts", "2"),
    ("node_requests", "auth=8,api=64"),
    ("audit_trail", "false"),
    ("audit_retention", "1year"),
    ("audit_checkpoint_interval", "5m"),
    ("audit_fail_closed", "false"),
    ("audit_queue", "1024"),
    ("audit_batch", "64"),
    ("audit_key_file", "/etc/switchboard/audit-key"),
    ("webrtc_enabled", "false"),
    ("webrtc_udp_port", "9000"),
    ("webrtc_tcp", "false"),
    ("webrtc_announce", "203.0.113.10"),
    ("webrtc_max_publishers", "20"),
    ("webrtc_max_viewers", "40"),
    ("webrtc_connect_timeout", "5s"),
    ("webrtc_jpeg_fps", "2.5"),
    ("webrtc_stun_urls", "stun:stun.example.org:3478"),
    (
        "webrtc_turn_urls",
        "turn:turn.example.org:3478?transport=udp",
    ),
    ("webrtc_turn_secret_file", "/etc/switchboard/turn-secret"),
    ("webrtc_turn_credential_ttl", "2h"),
    ("webrtc_ice_transport_policy", "relay"),
];

/// Settings that only work together: setting one sets the others too.
const PARTNERS: &[(&str, &[&str])] = &[
    ("tls_cert", &["tls_key"]),
    ("tls_key", &["tls_cert"]),
    ("webrtc_turn_urls", &["webrtc_turn_secret_file"]),
    (
        "webrtc_ice_transport_policy",
        &["webrtc_turn_urls", "webrtc_turn_secret_file"],
    ),
];

/// The settings to give when testing `key`, with their sample values.
fn givens<'a>(settings: &'a [Setting], key: &str) -> Vec<(&'a Setting, &'static str)> {
    let partners = PARTNERS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(&[][..], |(_, p)| *p);
    std::iter::once(key)
        .chain(partners.iter().copied())
        .map(|key| {
            let setting = settings.iter().find(|s| s.key == key).unwrap();
            let sample = SAMPLES
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| {
                    panic!("give {key} a sample value in SAMPLES (crates/cli/tests/cli/config.rs)")
                });
            (setting, sample)
        })
        .collect()
}

/// The flags that give `givens`.
fn as_flags(givens: &[(&Setting, &str)]) -> Vec<String> {
    let mut args = Vec::new();
    for (s, sample) in givens {
        args.push(format!("--{}", s.flag.as_deref().unwrap()));
        if !s.switch {
            args.push((*sample).to_owned());
        }
    }
    args
}

/// A file that gives `givens`, each written as the type `typed` shows it in.
fn as_file(givens: &[(&Setting, &str)], typed: &toml::Table, dir: &Path) -> String {
    let mut sections: BTreeMap<&str, String> = BTreeMap::new();
    for (s, sample) in givens {
        let value = match &typed[s.section.as_str()][s.key.as_str()] {
            toml::Value::String(_) => toml::Value::from(*sample).to_string(),
            toml::Value::Array(_) => toml::Value::from(vec![*sample]).to_string(),
            _ => (*sample).to_owned(),
        };
        let lines = sections.entry(s.section.as_str()).or_default();
        lines.push_str(&format!("{} = {value}\n", s.key));
    }
    let text: String = sections
        .iter()
        .map(|(section, lines)| format!("[{section}]\n{lines}"))
        .collect();
    let path = dir.join(format!("{}.toml", givens[0].0.key));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `table` without the settings of `givens`.
fn without(table: &toml::Table, givens: &[(&Setting, &str)]) -> toml::Table {
    let mut table = table.clone();
    for (s, _) in givens {
        if let Some(toml::Value::Table(section)) = table.get_mut(s.section.as_str()) {
            section.remove(s.key.as_str());
        }
    }
    table
}

/// (section, key) of every line of `config example` that sets or shows a key.
fn example_keys() -> Vec<(String, String)> {
    let out = switchboard(&["config", "example"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some((key, _)) = line.trim_start_matches(['#', ' ']).split_once(" = ") {
            keys.push((section.clone(), key.to_owned()));
        }
    }
    keys
}

#[test]
fn every_setting_has_a_flag_a_variable_and_an_example_line_and_each_layer_sets_it() {
    let settings = Config::settings();
    assert!(!settings.is_empty());
    let example = example_keys();
    let dir = tempfile::tempdir().unwrap();
    let default = print(&[], &[]);
    for setting in &settings {
        let key = &setting.key;
        assert!(setting.flag.is_some(), "{key} has no flag");
        assert!(setting.env.is_some(), "{key} has no variable");
        assert!(
            example.contains(&(setting.section.clone(), key.clone())),
            "`config example` has no line for {key} under [{}]",
            setting.section
        );
        let givens = givens(&settings, key);

        let flags = as_flags(&givens);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let by_flag = print(&flags, &[]);
        let shown = |t: &toml::Table| {
            t.get(setting.section.as_str())
                .and_then(|section| section.get(key.as_str()))
                .cloned()
        };
        assert!(
            shown(&by_flag).is_some() && shown(&by_flag) != shown(&default),
            "{flags:?} changes nothing"
        );
        assert_eq!(
            without(&by_flag, &givens),
            without(&default, &givens),
            "{flags:?} changes another setting"
        );

        let env: Vec<(&str, &str)> = givens
            .iter()
            .map(|(s, sample)| (s.env.as_deref().unwrap(), *sample))
            .collect();
        assert_eq!(print(&[], &env), by_flag, "{key} from its variable");

        let file = as_file(&givens, &by_flag, dir.path());
        assert_eq!(
            print(&["--config", &file], &[]),
            by_flag,
            "{key} from a file"
        );
    }
    for (key, _) in SAMPLES {
        assert!(
            settings.iter().any(|s| s.key == *key),
            "{key} is no setting: drop its sample"
        );
    }
}

#[test]
fn flags_beat_variables_which_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(
        &file,
        "[network]\nlisten = \"127.0.0.1:1001\"\n[auth]\nsecure_cookies = true\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let listen = |t: &toml::Table| t["network"]["listen"].as_str().unwrap().to_owned();
    let secure = |t: &toml::Table| t["auth"]["secure_cookies"].as_bool().unwrap();

    let from_file = print(&["--config", file], &[]);
    assert_eq!(listen(&from_file), "127.0.0.1:1001");
    assert!(secure(&from_file));

    let variables = [
        ("SWITCHBOARD_LISTEN", "127.0.0.1:1002"),
        ("SWITCHBOARD_SECURE_COOKIES", "false"),
    ];
    let from_env = print(&["--config", file], &variables);
    assert_eq!(listen(&from_env), "127.0.0.1:1002");
    assert!(!secure(&from_env), "a variable turns a file's switch off");

    let from_flag = print(
        &["--config", file, "--listen", "127.0.0.1:1003"],
        &variables,
    );
    assert_eq!(listen(&from_flag), "127.0.0.1:1003");
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
