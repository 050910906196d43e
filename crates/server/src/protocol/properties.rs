//! Property tests of the WebSocket messages and request bodies: anything a client sends
//! parses or is refused without a panic, what a device's socket makes of any text message
//! is a `device` event viewers can parse, and every message the server writes parses back
//! to itself. Each runs a bounded number of cases (`PROPTEST_CASES` raises it); the
//! `websocket_messages` fuzz target in `fuzz/` checks the same for as long as asked.

#![allow(clippy::unwrap_used)]

use super::accounts::{LoginRequest, RegisterRequest};
use super::cameras::{CreateCameraRequest, LiveRequest, UpdateCameraRequest};
use super::*;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_core::UserId;
use uuid::Uuid;

/// JSON a device or client could send. Numbers are integers or tenths, which serde_json
/// reads back exactly (its default float parsing may move others by one unit in the last
/// place, which the fuzz target allows for).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-100_000i32..100_000).prop_map(|n| Value::from(f64::from(n) / 10.0)),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

fn suid() -> impl Strategy<Value = Suid> {
    any::<u128>().prop_map(|n| Suid(Uuid::from_u128(n)))
}

fn state() -> impl Strategy<Value = SessionState> {
    prop_oneof![
        Just(SessionState::Waiting),
        Just(SessionState::Live),
        Just(SessionState::Ended),
    ]
}

fn reason() -> impl Strategy<Value = Option<EndReason>> {
    proptest::option::of(prop::sample::select(EndReason::ALL.to_vec()))
}

fn control() -> impl Strategy<Value = Control> {
    (
        any::<i64>(),
        suid(),
        "[a-z0-9_.-]{1,64}",
        json_value(),
        any::<u128>(),
        timestamp(),
    )
        .prop_map(|(id, suid, action, args, user, sent_at)| Control {
            id,
            suid,
            action,
            args,
            sent_by: UserId(Uuid::from_u128(user)),
            sent_at,
        })
}

fn watch_event() -> impl Strategy<Value = WatchEvent> {
    prop_oneof![
        (suid(), state(), any::<u32>()).prop_map(|(suid, state, viewers)| WatchEvent::Hello {
            suid,
            state,
            viewers
        }),
        (state(), reason()).prop_map(|(state, reason)| WatchEvent::State { state, reason }),
        (any::<u32>(), prop::collection::vec("\\PC{0,20}", 0..5))
            .prop_map(|(count, names)| WatchEvent::Viewers { count, names }),
        (
            0u32..100_000,
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(fps, frames, bytes, viewers, seq)| WatchEvent::Stats {
                fps: f64::from(fps) / 10.0,
                frames,
                bytes,
                viewers,
                seq
            }),
        json_value().prop_map(|status| WatchEvent::Device { status }),
        control().prop_map(|control| WatchEvent::Control { control }),
    ]
}

fn device_event() -> impl Strategy<Value = DeviceEvent> {
    prop_oneof![
        control().prop_map(|c| DeviceEvent::control(&c)),
        ("\\PC{0,20}", "\\PC{0,60}")
            .prop_map(|(error, message)| DeviceEvent::Error { error, message }),
        reason().prop_map(|reason| DeviceEvent::Ended { reason }),
    ]
}

fn account_event() -> impl Strategy<Value = AccountEvent> {
    prop_oneof![
        (suid(), state(), any::<u32>()).prop_map(|(suid, state, viewers)| AccountEvent::Session {
            suid,
            state,
            viewers
        }),
        Just(AccountEvent::Resync),
    ]
}

/// Text shaped like the messages and bodies clients send, with their field names, so that
/// parsing gets past the first brace more often than with noise.
fn client_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("\"type\""),
        Just("\"status\""),
        Just("\"username\""),
        Just("\"password\""),
        Just("\"ticket\""),
        Just("\"device\""),
        Just("\"action\""),
        Just("\"args\""),
        Just("\"kind\""),
        Just("\"label\""),
        Just("\"name\""),
        Just("\"fps\""),
    ];
    let piece = prop_oneof![
        field.prop_map(str::to_owned),
        json_value().prop_map(|v| v.to_string()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        "\\PC{0,6}",
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..16).prop_map(|p| p.concat()),
        json_value().prop_map(|v| v.to_string()),
        "\\PC{0,100}",
    ]
}

fn parses_back<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    message: &T,
) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(message).unwrap();
    let back: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, message);
    Ok(())
}

proptest! {
    /// Every message the server writes parses back to itself.
    #[test]
    fn server_messages_parse_back(
        watch in watch_event(),
        device in device_event(),
        account in account_event(),
    ) {
        parses_back(&watch)?;
        parses_back(&device)?;
        parses_back(&account)?;
    }

    /// Whatever text a device sends on its socket, viewers get a `device` event that parses
    /// and holds what was sent.
    #[test]
    fn any_device_text_becomes_a_device_event(text in client_text()) {
        // What the device socket does with a text message.
        let status = serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|_| Value::String(text.clone()));
        let event = WatchEvent::Device { status };
        parses_back(&event)?;
    }

    /// Any text as any request body or message: parsed or refused, never a panic; what
    /// parses writes back to the same.
    #[test]
    fn client_text_never_panics(text in client_text()) {
        for_each_reader(&text)?;
    }
}

fn for_each_reader(text: &str) -> Result<(), TestCaseError> {
    if let Ok(m) = serde_json::from_str::<WatchEvent>(text) {
        parses_back(&m)?;
    }
    if let Ok(m) = serde_json::from_str::<DeviceEvent>(text) {
        parses_back(&m)?;
    }
    if let Ok(m) = serde_json::from_str::<AccountEvent>(text) {
        parses_back(&m)?;
    }
    if let Ok(m) = serde_json::from_str::<LiveRequest>(text) {
        parses_back(&m)?;
    }
    let _ = serde_json::from_str::<RegisterRequest>(text);
    let _ = serde_json::from_str::<LoginRequest>(text);
    let _ = serde_json::from_str::<CreateSessionRequest>(text);
    let _ = serde_json::from_str::<DeviceRegisterRequest>(text);
    let _ = serde_json::from_str::<ControlRequest>(text);
    let _ = serde_json::from_str::<CreateCameraRequest>(text);
    let _ = serde_json::from_str::<UpdateCameraRequest>(text);
    Ok(())
}
