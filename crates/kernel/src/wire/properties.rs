//! Property tests of the Jupyter message forms clients and kernels send: every form round
//! trips, and no frame, however damaged, makes a parser panic. Each runs a bounded number of
//! cases (`PROPTEST_CASES` raises it); the `jupyter_messages` fuzz target in `fuzz/` checks
//! the same for as long as asked.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

/// Any JSON value a client could send, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
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

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("\\PC{0,8}", json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Shell),
        Just(Channel::Control),
        Just(Channel::Stdin),
        Just(Channel::Iopub),
    ]
}

/// A message a client could send: a header with its id and type, anything else in the JSON
/// parts, and buffers.
fn message() -> impl Strategy<Value = WireMessage> {
    (
        channel(),
        "[a-z_]{1,20}",
        "\\PC{1,36}",
        json_object(),
        json_object(),
        json_object(),
        json_object(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
    )
        .prop_map(
            |(channel, msg_type, msg_id, mut header, parent_header, metadata, content, buffers)| {
                header.insert("msg_type".into(), Value::String(msg_type));
                header.insert("msg_id".into(), Value::String(msg_id));
                WireMessage {
                    channel,
                    header,
                    parent_header,
                    metadata,
                    content: Value::Object(content),
                    buffers: buffers.into_iter().map(Bytes::from).collect(),
                }
            },
        )
}

/// Equal, numbers compared as numbers: serde_json's default float parsing may land one unit
/// in the last place away from the original, which no client notices.
fn json_close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if ulps_apart(x, y) <= 2)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// How many representable doubles lie between `x` and `y` (both finite, same sign).
fn ulps_apart(x: f64, y: f64) -> u64 {
    if x.is_sign_negative() != y.is_sign_negative() {
        return if x == y { 0 } else { u64::MAX };
    }
    x.to_bits().abs_diff(y.to_bits())
}

fn same(a: &WireMessage, b: &WireMessage) -> bool {
    let object = |m: &Map<String, Value>| Value::Object(m.clone());
    a.channel == b.channel
        && json_close(&object(&a.header), &object(&b.header))
        && json_close(&object(&a.parent_header), &object(&b.parent_header))
        && json_close(&object(&a.metadata), &object(&b.metadata))
        && json_close(&a.content, &b.content)
        && a.buffers == b.buffers
}

proptest! {
    /// The v1.kernel.websocket.jupyter.org form parses back to the message.
    #[test]
    fn v1_frames_round_trip(msg in message()) {
        let back = WireMessage::from_ws_v1(&msg.to_ws_v1().unwrap()).unwrap();
        prop_assert!(same(&msg, &back), "{msg:?} became {back:?}");
    }

    /// The default protocol's frame (JSON text, or the legacy binary form with buffers)
    /// parses back to the message.
    #[test]
    fn default_frames_round_trip(msg in message()) {
        let back = match msg.to_ws() {
            WsFrame::Text(text) => {
                prop_assert!(msg.buffers.is_empty());
                WireMessage::from_ws_text(&text).unwrap()
            }
            WsFrame::Binary(frame) => WireMessage::from_ws_binary(&frame).unwrap(),
        };
        prop_assert!(same(&msg, &back), "{msg:?} became {back:?}");
    }

    /// A signed ZeroMQ message parses back to the message; with another key it is refused.
    #[test]
    fn zmq_messages_round_trip_and_check_their_signature(
        msg in message(),
        key in "[0-9a-f]{1,64}",
    ) {
        let signing = signing_key(&key);
        let framed = msg.to_zmq(&signing).unwrap();
        let back = WireMessage::from_zmq(msg.channel, framed.clone(), &signing).unwrap();
        prop_assert!(same(&msg, &back), "{msg:?} became {back:?}");
        let other = signing_key(&format!("{key}x"));
        prop_assert!(WireMessage::from_zmq(msg.channel, framed, &other).is_err());
    }

    /// A frame with bytes overwritten or cut short: an error or a message, never a panic.
    #[test]
    fn damaged_frames_never_panic(
        msg in message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let frames = [
            msg.to_ws_v1().unwrap(),
            msg.to_ws_binary(),
            msg.to_ws_json().to_string().into_bytes(),
        ];
        for (form, mut frame) in frames.into_iter().enumerate() {
            for (at, byte) in &edits {
                let at = at.index(frame.len());
                frame[at] = *byte;
            }
            frame.truncate(cut.index(frame.len() + 1));
            let _ = match form {
                0 => WireMessage::from_ws_v1(&frame),
                1 => WireMessage::from_ws_binary(&frame),
                _ => WireMessage::from_ws_text(&String::from_utf8_lossy(&frame)),
            };
        }
    }

    /// Arbitrary bytes in every form: never a panic.
    #[test]
    fn arbitrary_frames_never_panic(frame in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = WireMessage::from_ws_v1(&frame);
        let _ = WireMessage::from_ws_binary(&frame);
        let _ = WireMessage::from_ws_text(&String::from_utf8_lossy(&frame));
    }
}
