//! PROTOCOL.md stays true to the code: every WebSocket message type, every route and every
//! error code the server can answer with (`ErrorCode`) is documented. Each test lists everything missing,
//! so one run says what to add to the document.

use chrono::{TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use switchboard_core::{Control, EndReason, SessionState, Suid, UserId};
use switchboard_server::protocol::{AccountEvent, DeviceEvent, ErrorCode, WatchEvent};

/// The document under test (the test recompiles when it changes).
const DOC: &str = include_str!("../../../../PROTOCOL.md");

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Fails with every missing item, one a line.
fn assert_none_missing(what: &str, missing: &[String]) {
    assert!(
        missing.is_empty(),
        "PROTOCOL.md lacks {} {what}:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// (a) WebSocket message types
// ---------------------------------------------------------------------------------------

fn sample_control() -> Control {
    Control {
        id: 7,
        suid: Suid::new(),
        action: "torch".into(),
        args: serde_json::json!({"on": true}),
        sent_by: UserId::new(),
        sent_at: Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    }
}

/// One sample of every `WatchEvent` variant. The match below has no wildcard arm, so adding
/// a variant does not compile until this function is updated: add its sample to the list
/// and its pattern to the match.
fn watch_samples() -> Vec<WatchEvent> {
    let samples = vec![
        WatchEvent::Hello {
            suid: Suid::new(),
            state: SessionState::Live,
            viewers: 1,
        },
        WatchEvent::State {
            state: SessionState::Ended,
            reason: Some(EndReason::EndedByUser),
        },
        WatchEvent::Viewers {
            count: 1,
            names: vec!["dr.grey".into()],
        },
        WatchEvent::Stats {
            fps: 15.0,
            frames: 10,
            bytes: 1000,
            viewers: 1,
            seq: Some(10),
        },
        WatchEvent::Device {
            status: serde_json::json!({"type": "status", "battery": 80}),
        },
        WatchEvent::Control {
            control: sample_control(),
        },
        WatchEvent::Webrtc { publishing: true },
    ];
    for s in &samples {
        match s {
            WatchEvent::Hello { .. }
            | WatchEvent::State { .. }
            | WatchEvent::Viewers { .. }
            | WatchEvent::Stats { .. }
            | WatchEvent::Device { .. }
            | WatchEvent::Control { .. }
            | WatchEvent::Webrtc { .. } => {}
        }
    }
    samples
}

/// One sample of every `DeviceEvent` variant (same rule as [`watch_samples`]).
fn device_samples() -> Vec<DeviceEvent> {
    let samples = vec![
        DeviceEvent::control(&sample_control()),
        DeviceEvent::Error {
            error: "unsupported_media_type".into(),
            message: "not a valid JPEG".into(),
        },
        DeviceEvent::Ended {
            reason: Some(EndReason::DeviceIdle),
        },
    ];
    for s in &samples {
        match s {
            DeviceEvent::Control { .. } | DeviceEvent::Error { .. } | DeviceEvent::Ended { .. } => {
            }
        }
    }
    samples
}

/// One sample of every `AccountEvent` variant (same rule as [`watch_samples`]).
fn account_samples() -> Vec<AccountEvent> {
    let samples = vec![
        AccountEvent::Session {
            suid: Suid::new(),
            state: SessionState::Waiting,
            viewers: 0,
        },
        AccountEvent::Resync,
    ];
    for s in &samples {
        match s {
            AccountEvent::Session { .. } | AccountEvent::Resync => {}
        }
    }
    samples
}

/// The `type` tag each sample carries on the wire, as serde writes it.
fn wire_types<T: Serialize>(enum_name: &str, samples: &[T]) -> Vec<String> {
    let names: Vec<String> = samples
        .iter()
        .map(|s| {
            let v = serde_json::to_value(s).unwrap();
            v["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{enum_name} sample without a string `type`: {v}"))
                .to_owned()
        })
        .collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "{enum_name} samples repeat a variant: {names:?}"
    );
    names
}

/// `"type":"…"` tags written literally in the server's source (messages that are not enum
/// variants, such as the account socket's `resync`).
fn literal_types_in_src() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in rust_files(&src_dir()) {
        let text = read(&file);
        for (i, _) in text.match_indices(r#"{"type":""#) {
            let rest = &text[i + r#"{"type":""#.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with('"') {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_websocket_message_type_is_documented() {
    let mut missing = vec![];
    let groups = [
        ("WatchEvent", wire_types("WatchEvent", &watch_samples())),
        ("DeviceEvent", wire_types("DeviceEvent", &device_samples())),
        (
            "AccountEvent",
            wire_types("AccountEvent", &account_samples()),
        ),
        (
            "literal in src",
            literal_types_in_src().into_iter().collect(),
        ),
    ];
    for (group, names) in groups {
        for name in names {
            let needle = format!(r#""type": "{name}""#);
            if !DOC.contains(&needle) {
                missing.push(format!("{group}: {needle}"));
            }
        }
    }
    assert_none_missing("WebSocket message types (as a JSON example)", &missing);
}

// ---------------------------------------------------------------------------------------
// (b) Routes
// ---------------------------------------------------------------------------------------

/// Every API route the router serves, as (method, path).
async fn registered_routes() -> BTreeSet<(String, String)> {
    let app = crate::helpers::spawn_app().await;
    app.routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect()
}

#[tokio::test]
async fn every_route_is_documented_with_its_methods() {
    let routes = registered_routes().await;
    let mut missing = vec![];
    for (method, path) in &routes {
        let needle = format!("{method} {path}");
        if !DOC.contains(&needle) {
            missing.push(needle);
        }
    }
    assert_none_missing("routes", &missing);
}

#[tokio::test]
async fn every_documented_route_exists() {
    let registered = registered_routes().await;
    let mut stale = vec![];
    // Route headings read "### `METHOD /path`".
    for line in DOC.lines() {
        let Some(heading) = line.strip_prefix("### `") else {
            continue;
        };
        let Some((method, rest)) = heading.split_once(' ') else {
            continue;
        };
        if !method.bytes().all(|b| b.is_ascii_uppercase()) {
            continue;
        }
        let path = rest.split(['`', '?', ' ']).next().unwrap_or_default();
        if !registered.contains(&(method.to_owned(), path.to_owned())) {
            stale.push(format!("{method} {path}"));
        }
    }
    assert!(
        stale.is_empty(),
        "PROTOCOL.md documents routes the server does not register:\n  {}",
        stale.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// (c) Error codes
// ---------------------------------------------------------------------------------------

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// PROTOCOL.md's error table: code → status cell. Rows read "| `code` | 404 | when … |";
/// rows of other tables have no status number in that cell.
fn error_table() -> BTreeMap<&'static str, &'static str> {
    let is_status_cell = |cell: &str| cell.len() == 3 && cell.bytes().all(|b| b.is_ascii_digit());
    DOC.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("| `")?;
            let (code, rest) = rest.split_once("` | ")?;
            let status = rest.split(" |").next()?;
            is_status_cell(status).then_some((code, status))
        })
        .collect()
}

#[test]
fn every_error_code_is_in_the_error_table_with_its_status() {
    let rows = error_table();
    let mut missing = vec![];
    for code in ErrorCode::ALL {
        match rows.get(code.as_str()) {
            None => missing.push(format!("`{code}` (HTTP {})", code.status())),
            Some(cell) if *cell != code.status().to_string() => missing.push(format!(
                "`{code}`: status {} (table says {cell})",
                code.status()
            )),
            Some(_) => {}
        }
    }
    assert_none_missing("error codes in the error table", &missing);
}

#[test]
fn the_error_table_names_no_code_the_server_lacks() {
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let stale: Vec<String> = error_table()
        .keys()
        .filter(|code| !known.contains(*code))
        .map(|code| format!("`{code}` is in the table but not in ErrorCode"))
        .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}
