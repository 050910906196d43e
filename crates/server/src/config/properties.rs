//! Property tests of the configuration file: any text parses or is refused without a panic;
//! a configuration that parses passes or fails its checks without a panic, and what `config
//! print` shows reads back to a configuration that prints the same. Each runs a bounded
//! number of cases (`PROPTEST_CASES` raises it); the `config_toml` fuzz target in `fuzz/`
//! checks the same for as long as asked.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use std::time::Duration;

/// Checks that the configuration read from `text`, if it reads, survives everything a node
/// does with a configuration, and that its printed form reads back and prints the same.
fn check(text: &str) -> Result<Option<Config>, TestCaseError> {
    let Ok(config) = parse_toml(text) else {
        return Ok(None);
    };
    let _ = config.validate();
    let _ = config.kernel_pool_targets();
    let _ = config.database_url();
    let _ = config.node_name();
    let _ = config.public_url();
    let _ = config.advertised_address();
    let _ = config.timeout_policy();
    let printed = config.to_masked_toml();
    let again: Config = toml::from_str(&printed).map_err(|e| {
        TestCaseError::fail(format!("the printed config does not read: {e}\n{printed}"))
    })?;
    prop_assert_eq!(again.to_masked_toml(), printed);
    Ok(Some(again))
}

/// A TOML string literal holding `s`.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Edits that turn the example file into something else: a line dropped, uncommented,
/// given another value, or noise put in.
#[derive(Debug, Clone)]
enum Edit {
    Drop,
    Uncomment,
    Value(String),
    Insert(String),
}

fn edit() -> impl Strategy<Value = (prop::sample::Index, Edit)> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[0-9]{1,6}(ms|s|m|h|d| ?[KMG]i?B|B)?".prop_map(|s| quoted(&s)),
        "\\PC{0,20}".prop_map(|s| quoted(&s)),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("[\"10.0.0.1\", \"::1\"]".to_owned()),
        Just("{}".to_owned()),
        Just("\"nats://user:secret@host:4222,token@other:4222\"".to_owned()),
        Just("\"postgres://user:secret@127.0.0.1/db\"".to_owned()),
    ];
    (
        any::<prop::sample::Index>(),
        prop_oneof![
            Just(Edit::Drop),
            Just(Edit::Uncomment),
            value.prop_map(Edit::Value),
            "\\PC{0,40}".prop_map(Edit::Insert),
        ],
    )
}

fn edited_example(edits: &[(prop::sample::Index, Edit)]) -> String {
    let mut lines: Vec<String> = EXAMPLE_TOML.lines().map(str::to_owned).collect();
    for (at, edit) in edits {
        let at = at.index(lines.len());
        match edit {
            Edit::Drop => {
                lines.remove(at);
            }
            Edit::Uncomment => {
                let line = lines[at].trim_start_matches(['#', ' ']).to_owned();
                lines[at] = line;
            }
            Edit::Value(value) => {
                if let Some((key, _)) = lines[at].split_once('=') {
                    lines[at] = format!("{key}= {value}");
                }
            }
            Edit::Insert(text) => lines.insert(at, text.clone()),
        }
        if lines.is_empty() {
            break;
        }
    }
    lines.join("\n")
}

proptest! {
    /// The example file with lines dropped, uncommented, given other values or noise: never
    /// a panic, and what reads prints and reads back.
    #[test]
    fn edited_examples_read_or_are_refused(edits in prop::collection::vec(edit(), 1..6)) {
        check(&edited_example(&edits))?;
    }

    /// Any text at all.
    #[test]
    fn any_text_reads_or_is_refused(text in "\\PC{0,200}") {
        check(&text)?;
    }

    /// Values an operator writes come back exactly from the printed form: durations, sizes
    /// in whole units, counts, addresses and text (sizes print with one decimal, so a byte
    /// count that is not a whole number of tenths of a unit prints rounded).
    #[test]
    fn written_values_read_back_exactly(
        port in any::<u16>(),
        node_name in "\\PC{0,30}",
        ticket_ttl in 1u64..10_000_000,
        frame_units in 1u64..1024,
        unit in prop::sample::select(vec![("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]),
        redemptions in any::<u32>(),
        dedup in 0.0f64..1.0,
        proxies in prop::collection::vec(any::<[u8; 4]>(), 0..4),
    ) {
        let proxies: Vec<String> = proxies
            .iter()
            .map(|ip| quoted(&std::net::Ipv4Addr::from(*ip).to_string()))
            .collect();
        let text = format!(
            "[network]\nlisten = \"127.0.0.1:{port}\"\ntrusted_proxies = [{}]\n\
             [cluster]\nnode_name = {}\n\
             [sessions]\nticket_ttl = \"{ticket_ttl}s\"\n\
             [devices]\nmax_frame_bytes = \"{frame_units} {}\"\n\
             ticket_redemptions_per_minute = {redemptions}\n\
             [cameras]\nsnapshot_dedup_distance = {dedup:?}\n",
            proxies.join(", "),
            quoted(&node_name),
            unit.0,
        );
        let config = check(&text)?.ok_or_else(|| TestCaseError::fail(format!("refused:\n{text}")))?;
        prop_assert_eq!(config.network.listen.port(), port);
        prop_assert_eq!(config.cluster.node_name, Some(node_name));
        prop_assert_eq!(config.sessions.ticket_ttl, Duration::from_secs(ticket_ttl));
        prop_assert_eq!(config.devices.max_frame_bytes.as_u64(), frame_units * unit.1);
        prop_assert_eq!(config.devices.ticket_redemptions_per_minute, redemptions);
        prop_assert_eq!(config.cameras.snapshot_dedup_distance, dedup);
        prop_assert_eq!(config.network.trusted_proxies.len(), proxies.len());
    }
}

#[test]
fn the_defaults_and_the_example_print_and_read_back() {
    for text in ["", EXAMPLE_TOML] {
        assert!(check(text).unwrap().is_some());
    }
}

#[test]
fn masked_nats_urls_print_the_same_again() {
    // Found by the config_toml fuzz target: an already masked `user:****@` printed again
    // lost its user name (`****@`), as if it were a token.
    let text = "[cluster]\nnats_url = \"nats://tok@a:4222,nats://u:p@b:4222\"\n";
    let config = check(text).unwrap().unwrap();
    assert_eq!(
        config.cluster.nats_url.as_deref(),
        Some("nats://****@a:4222,nats://u:****@b:4222")
    );
}
