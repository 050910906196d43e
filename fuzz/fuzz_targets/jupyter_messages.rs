//! Jupyter messages from clients in the three WebSocket forms (JSON text, the legacy binary
//! form, the v1.kernel.websocket.jupyter.org binary form): parsing never panics, and a
//! message that parses is written back, in its own form and in the one the server answers
//! with, to a message that parses to the same one.
//!
//! Input: one byte choosing the form, then the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard_fuzz::json_close;
use switchboard_kernel::{WireMessage, WsFrame};

/// Equal channel, JSON parts (numbers compared as numbers) and buffers.
fn same(a: &WireMessage, b: &WireMessage) -> bool {
    a.channel == b.channel
        && json_close(
            &Value::Object(a.header.clone()),
            &Value::Object(b.header.clone()),
        )
        && json_close(
            &Value::Object(a.parent_header.clone()),
            &Value::Object(b.parent_header.clone()),
        )
        && json_close(
            &Value::Object(a.metadata.clone()),
            &Value::Object(b.metadata.clone()),
        )
        && json_close(&a.content, &b.content)
        && a.buffers == b.buffers
}

fn from_ws(frame: &WsFrame) -> WireMessage {
    match frame {
        WsFrame::Text(text) => WireMessage::from_ws_text(text),
        WsFrame::Binary(data) => WireMessage::from_ws_binary(data),
    }
    .expect("a written message parses")
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, frame)) = input.split_first() else {
        return;
    };
    let parsed = match which % 3 {
        0 => match std::str::from_utf8(frame) {
            Ok(text) => WireMessage::from_ws_text(text),
            Err(_) => return,
        },
        1 => WireMessage::from_ws_binary(frame),
        _ => WireMessage::from_ws_v1(frame),
    };
    let Ok(message) = parsed else {
        return;
    };
    let _ = message.encoded_len();

    let v1 = message.to_ws_v1().expect("a parsed message writes");
    let back = WireMessage::from_ws_v1(&v1).expect("a written message parses");
    assert!(same(&message, &back), "{message:?} became {back:?}");

    // The default protocol writes missing content as {}: compare with that.
    let back = from_ws(&message.to_ws());
    let mut expected = message.clone();
    if expected.content.is_null() {
        expected.content = Value::Object(Default::default());
    }
    assert!(same(&expected, &back), "{expected:?} became {back:?}");
});
