//! The JSON that clients send (request bodies, a device's status text) and the WebSocket
//! messages the server writes: parsing arbitrary bytes never panics, a message that parses
//! writes back to the same JSON, and a device's status text, whatever it is, becomes a
//! `device` event viewers can parse.
//!
//! Input: one byte choosing the type, then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_fuzz::json_close;
use switchboard_server::protocol::cameras::{
    CreateCameraRequest, LiveRequest, UpdateCameraRequest,
};
use switchboard_server::protocol::{
    AccountEvent, ControlRequest, CreateSessionRequest, DeviceEvent, DeviceRegisterRequest,
    LoginRequest, RegisterRequest, WatchEvent,
};

/// Parses `data` as `T`; if it parses, writing it and parsing that again gives the same JSON.
fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
    let Ok(message) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let written = serde_json::to_value(&message).expect("a parsed message writes");
    let again: T = serde_json::from_value(written.clone()).expect("a written message parses");
    let rewritten = serde_json::to_value(&again).expect("a parsed message writes");
    assert!(
        json_close(&written, &rewritten),
        "{written} became {rewritten}"
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    match which % 12 {
        0 => round_trip::<WatchEvent>(data),
        1 => round_trip::<DeviceEvent>(data),
        2 => round_trip::<AccountEvent>(data),
        3 => round_trip::<LiveRequest>(data),
        4 => drop(serde_json::from_slice::<RegisterRequest>(data)),
        5 => drop(serde_json::from_slice::<LoginRequest>(data)),
        6 => drop(serde_json::from_slice::<CreateSessionRequest>(data)),
        7 => drop(serde_json::from_slice::<DeviceRegisterRequest>(data)),
        8 => drop(serde_json::from_slice::<ControlRequest>(data)),
        9 => drop(serde_json::from_slice::<CreateCameraRequest>(data)),
        10 => drop(serde_json::from_slice::<UpdateCameraRequest>(data)),
        _ => {
            // What the device socket does with a text message.
            let text = String::from_utf8_lossy(data);
            let status = serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|_| Value::String(text.to_string()));
            let event = WatchEvent::Device { status };
            let payload = serde_json::to_vec(&event).expect("an event writes");
            let parsed: WatchEvent =
                serde_json::from_slice(&payload).expect("viewers parse a device event");
            let (WatchEvent::Device { status: a }, WatchEvent::Device { status: b }) =
                (&event, &parsed)
            else {
                panic!("{parsed:?} is not a device event");
            };
            assert!(json_close(a, b), "{a} became {b}");
        }
    }
});
