//! PROTOCOL.md stays true to the code: every WebSocket message type, every route and every
//! error code the server can answer with is documented. Each test lists everything missing,
//! so one run says what to add to the document.

use chrono::{TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use switchboard_core::{Control, EndReason, SessionState, Suid, UserId};
use switchboard_server::protocol::{AccountEvent, DeviceEvent, WatchEvent};

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
    ];
    for s in &samples {
        match s {
            WatchEvent::Hello { .. }
            | WatchEvent::State { .. }
            | WatchEvent::Viewers { .. }
            | WatchEvent::Stats { .. }
            | WatchEvent::Device { .. }
            | WatchEvent::Control { .. } => {}
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

/// A registered route: its full path and the methods it answers (empty for `any`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    path: String,
    methods: Vec<String>,
}

/// The index just past the `)` that closes the `(` at `open`, skipping string literals.
fn closing_paren(text: &str, open: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut in_str) = (0usize, open, false);
    while i < bytes.len() {
        match (bytes[i], in_str) {
            (b'\\', true) => i += 1,
            (b'"', _) => in_str = !in_str,
            (b'(', false) => depth += 1,
            (b')', false) => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses after byte {open}");
}

/// The string literal at the start of `s` (after whitespace), if there is one.
fn leading_literal(s: &str) -> Option<&str> {
    let s = s.trim_start().strip_prefix('"')?;
    s.find('"').map(|end| &s[..end])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where each nested router's statement (`let NAME = …;`) lies in the text, with the prefix
/// it is nested under (`.nest("PREFIX", NAME)`).
fn nested_spans(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut spans = vec![];
    for (i, _) in text.match_indices(".nest(") {
        let open = i + ".nest".len();
        let args = &text[open + 1..closing_paren(text, open) - 1];
        let prefix = leading_literal(args).expect("a literal nest prefix");
        let var = args.rsplit(',').next().unwrap().trim();
        let start = text
            .find(&format!("let {var} ="))
            .unwrap_or_else(|| panic!("no `let {var} =` for .nest(\"{prefix}\", {var})"));
        // The statement ends at the first `;` outside parentheses and braces.
        let mut depth = 0i32;
        let end = text[start..]
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' | '{' | '[' => depth += 1,
                    ')' | '}' | ']' => depth -= 1,
                    _ => {}
                }
                c == ';' && depth == 0
            })
            .map(|(j, _)| start + j)
            .unwrap_or(text.len());
        spans.push((start..end, prefix.to_owned()));
    }
    spans
}

/// Every `.route("…", …)` of routes/mod.rs, with its nest prefix and methods.
fn registered_routes() -> Vec<Route> {
    let text = read(&src_dir().join("routes/mod.rs"));
    let spans = nested_spans(&text);
    let mut routes = vec![];
    for (i, _) in text.match_indices(".route(") {
        let open = i + ".route".len();
        let args = &text[open + 1..closing_paren(&text, open) - 1];
        let path = leading_literal(args).expect("a literal route path");
        let prefix = spans
            .iter()
            .find(|(span, _)| span.contains(&i))
            .map(|(_, p)| p.as_str())
            .unwrap_or("");
        let handlers = &args[args.find(',').expect("a route handler")..];
        let mut methods = vec![];
        for m in ["get", "post", "put", "patch", "delete", "head", "options"] {
            let call = format!("{m}(");
            let called = handlers.match_indices(&call).any(|(j, _)| {
                j == 0 || !is_ident_byte(handlers.as_bytes()[j - 1]) // `get(` not `forget(`
            });
            if called {
                methods.push(m.to_ascii_uppercase());
            }
        }
        routes.push(Route {
            path: format!("{prefix}{path}"),
            methods,
        });
    }
    routes
}

#[test]
fn every_route_is_documented_with_its_methods() {
    let routes = registered_routes();
    assert!(
        routes.len() >= 15,
        "the route scan found too few routes; has routes/mod.rs changed shape? {routes:?}"
    );
    let mut missing = vec![];
    for r in &routes {
        if !DOC.contains(&r.path) {
            missing.push(format!("path {}", r.path));
        }
        for m in &r.methods {
            let needle = format!("{m} {}", r.path);
            if !DOC.contains(&needle) {
                missing.push(needle);
            }
        }
    }
    assert_none_missing("routes", &missing);
}

#[test]
fn every_documented_route_exists() {
    let registered: BTreeSet<(String, String)> = registered_routes()
        .into_iter()
        .flat_map(|r| r.methods.into_iter().map(move |m| (m, r.path.clone())))
        .collect();
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

/// The HTTP status of a `StatusCode::NAME` the server uses in errors.
fn status_number(name: &str) -> u16 {
    match name {
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "REQUEST_TIMEOUT" => 408,
        "CONFLICT" => 409,
        "GONE" => 410,
        "PAYLOAD_TOO_LARGE" => 413,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        "UNPROCESSABLE_ENTITY" => 422,
        "UPGRADE_REQUIRED" => 426,
        "TOO_MANY_REQUESTS" => 429,
        "INTERNAL_SERVER_ERROR" => 500,
        "SERVICE_UNAVAILABLE" => 503,
        "GATEWAY_TIMEOUT" => 504,
        other => panic!("add StatusCode::{other} to status_number in protocol_doc.rs"),
    }
}

/// Every error code passed to an `ApiError` constructor in the server's source, with the
/// statuses it is answered with: the first string literal of `not_found(`, `gone(`,
/// `conflict(`, `bad_request(`, `unprocessable(`, and the literal after the status in
/// `new(StatusCode::NAME, "…"`. (The fixed-code constructors — `unauthorized`, `forbidden`,
/// `session_ended`, `too_many_requests`, `unavailable`, `internal` — are `Self::new(…)` calls
/// in error.rs, so they are found too.)
fn error_codes_in_src() -> BTreeMap<String, BTreeSet<u16>> {
    let constructors = [
        ("not_found(", Some(404)),
        ("gone(", Some(410)),
        ("conflict(", Some(409)),
        ("bad_request(", Some(400)),
        ("unprocessable(", Some(422)),
        ("new(", None),
    ];
    let mut codes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for file in rust_files(&src_dir()) {
        let text = read(&file);
        for (call, status) in constructors {
            for (i, _) in text.match_indices(call) {
                if i > 0 && is_ident_byte(text.as_bytes()[i - 1]) {
                    continue; // e.g. `session_not_found(`
                }
                let mut args = &text[i + call.len()..];
                let status = match status {
                    Some(s) => s,
                    None => {
                        let Some(rest) = args.trim_start().strip_prefix("StatusCode::") else {
                            continue;
                        };
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                            .collect();
                        let Some(rest) = rest[name.len()..].trim_start().strip_prefix(',') else {
                            continue;
                        };
                        args = rest;
                        status_number(&name)
                    }
                };
                let Some(code) = leading_literal(args) else {
                    continue; // a variable, e.g. inside the constructor itself
                };
                if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    codes.entry(code.to_owned()).or_default().insert(status);
                }
            }
        }
    }
    codes
}

#[test]
fn every_error_code_is_in_the_error_table_with_its_status() {
    let codes = error_codes_in_src();
    assert!(
        codes.len() >= 20 && codes.contains_key("session_not_found"),
        "the error code scan found too few codes; have the ApiError constructors changed? {codes:?}"
    );
    // Error table rows read "| `code` | 404 | when … |" (a code answered with two statuses
    // lists both: "400, 415"). Rows of other tables have no status numbers in that cell.
    let is_status_cell = |cell: &str| {
        cell.split(", ")
            .all(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let rows: BTreeMap<&str, &str> = DOC
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("| `")?;
            let (code, rest) = rest.split_once("` | ")?;
            let status = rest.split(" |").next()?;
            is_status_cell(status).then_some((code, status))
        })
        .collect();
    let mut missing = vec![];
    for (code, statuses) in &codes {
        match rows.get(code.as_str()) {
            None => missing.push(format!("`{code}` (HTTP {statuses:?})")),
            Some(cell) => {
                for s in statuses {
                    if !cell.contains(&s.to_string()) {
                        missing.push(format!("`{code}`: status {s} (table says {cell:?})"));
                    }
                }
            }
        }
    }
    assert_none_missing("error codes in the error table", &missing);
}
