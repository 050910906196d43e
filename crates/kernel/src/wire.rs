//! Jupyter messages as they travel: signed ZeroMQ multipart messages between us and the
//! kernel, and the Jupyter Server WebSocket forms between the server and browsers.
//!
//! A [`WireMessage`] keeps header, parent header, metadata and content as raw JSON, so
//! messages pass through unchanged whatever their type or protocol version (a typed decode
//! would drop fields it does not know). Verification of incoming ZeroMQ messages is
//! `jupyter-zmq-client`'s; signing outgoing ones uses the same HMAC-SHA256 key.
//!
//! WebSocket forms (as Jupyter Server speaks them on `/api/kernels/{id}/channels`):
//! - JSON text: `{"header", "parent_header", "metadata", "content", "buffers": [], "channel",
//!   "msg_id", "msg_type"}` ([`WireMessage::to_ws_json`], [`WireMessage::from_ws_text`]);
//! - the legacy binary form used when a message carries buffers
//!   ([`WireMessage::to_ws_binary`], [`WireMessage::from_ws_binary`]);
//! - the `v1.kernel.websocket.jupyter.org` subprotocol's binary form
//!   ([`WireMessage::to_ws_v1`], [`WireMessage::from_ws_v1`]).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use data_encoding::HEXLOWER;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{KernelError, Result};

/// The Jupyter protocol version we put in headers we create.
pub const PROTOCOL_VERSION: &str = "5.3";

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// A Jupyter channel. (The heartbeat channel carries no Jupyter messages.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Requests and replies (execute, complete, inspect, comm_info…).
    Shell,
    /// Urgent requests and replies (interrupt, shutdown, debug).
    Control,
    /// Input requests from the kernel and the client's replies.
    Stdin,
    /// Broadcast output: streams, displays, status, comm messages.
    Iopub,
}

impl Channel {
    /// The channel's name as Jupyter writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Shell => "shell",
            Channel::Control => "control",
            Channel::Stdin => "stdin",
            Channel::Iopub => "iopub",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = KernelError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "shell" => Ok(Channel::Shell),
            "control" => Ok(Channel::Control),
            "stdin" => Ok(Channel::Stdin),
            "iopub" => Ok(Channel::Iopub),
            other => Err(KernelError::InvalidMessage(format!(
                "unknown channel {other:?} (expected shell, control, stdin or iopub)"
            ))),
        }
    }
}

/// One Jupyter message with its channel, JSON parts kept verbatim.
#[derive(Debug, Clone, PartialEq)]
pub struct WireMessage {
    /// The channel it travels on.
    pub channel: Channel,
    /// `msg_id`, `msg_type`, `session`, `username`, `date`, `version`, and anything else.
    pub header: Map<String, Value>,
    /// The header of the request this message answers (empty if none).
    pub parent_header: Map<String, Value>,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// The message content (a JSON object for every standard message type).
    pub content: Value,
    /// Binary buffers (used by widgets and comms).
    pub buffers: Vec<Bytes>,
}

/// The fields of [`WireMessage::to_ws_json`], borrowed, in the same (sorted) order.
#[derive(Serialize)]
struct WsJson<'a> {
    buffers: [u8; 0],
    channel: Channel,
    content: &'a Value,
    header: &'a Map<String, Value>,
    metadata: &'a Map<String, Value>,
    msg_id: &'a str,
    msg_type: &'a str,
    parent_header: &'a Map<String, Value>,
}

/// A WebSocket frame in the legacy Jupyter Server protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// A JSON text frame (messages without buffers).
    Text(String),
    /// A binary frame (messages with buffers).
    Binary(Vec<u8>),
}

impl WireMessage {
    /// A new message of our own with a fresh `msg_id` and the current date.
    pub fn new(channel: Channel, msg_type: &str, content: Value, session: &str) -> Self {
        let mut header = Map::new();
        header.insert(
            "msg_id".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        header.insert("msg_type".into(), Value::String(msg_type.to_owned()));
        header.insert("session".into(), Value::String(session.to_owned()));
        header.insert("username".into(), Value::String("switchboard".into()));
        header.insert("date".into(), Value::String(now_rfc3339()));
        header.insert("version".into(), Value::String(PROTOCOL_VERSION.into()));
        WireMessage {
            channel,
            header,
            parent_header: Map::new(),
            metadata: Map::new(),
            content,
            buffers: Vec::new(),
        }
    }

    /// Sets the parent header to `parent`'s header.
    pub fn with_parent_header(mut self, parent: &Map<String, Value>) -> Self {
        self.parent_header = parent.clone();
        self
    }

    /// The header's `msg_type` (empty if missing).
    pub fn msg_type(&self) -> &str {
        str_field(&self.header, "msg_type")
    }

    /// The header's `msg_id` (empty if missing).
    pub fn msg_id(&self) -> &str {
        str_field(&self.header, "msg_id")
    }

    /// The header's `session` (empty if missing).
    pub fn session(&self) -> &str {
        str_field(&self.header, "session")
    }

    /// The `msg_id` of the request this message answers, if any.
    pub fn parent_msg_id(&self) -> Option<&str> {
        self.parent_header.get("msg_id").and_then(Value::as_str)
    }

    /// The session of the client whose request this message answers, if any. The server uses
    /// it to send shell and stdin replies only to the client that asked.
    pub fn parent_session(&self) -> Option<&str> {
        self.parent_header.get("session").and_then(Value::as_str)
    }

    /// A string field of the content (empty if missing).
    pub fn content_str(&self, key: &str) -> &str {
        self.content.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The size on the wire of the JSON parts and buffers, computed by serializing.
    pub fn encoded_len(&self) -> usize {
        json_len(&self.header)
            + json_len(&self.parent_header)
            + json_len(&self.metadata)
            + json_len(&self.content)
            + self.buffers.iter().map(Bytes::len).sum::<usize>()
    }

    /// Parses and verifies a multipart message received from the kernel.
    pub(crate) fn from_zmq(
        channel: Channel,
        message: zeromq::ZmqMessage,
        key: &Option<hmac::Key>,
    ) -> Result<Self> {
        let raw = jupyter_zmq_client::RawMessage::from_multipart(message, key)
            .map_err(|e| KernelError::InvalidMessage(e.to_string()))?;
        let parts = raw.jparts;
        if parts.len() < 4 {
            return Err(KernelError::InvalidMessage(format!(
                "{} JSON parts, expected at least 4",
                parts.len()
            )));
        }
        Ok(WireMessage {
            channel,
            header: parse_object(&parts[0], "header")?,
            parent_header: parse_object(&parts[1], "parent_header")?,
            metadata: parse_object(&parts[2], "metadata")?,
            content: serde_json::from_slice(&parts[3])
                .map_err(|e| KernelError::InvalidMessage(format!("content: {e}")))?,
            buffers: parts[4..].to_vec(),
        })
    }

    /// Signs the message with `key` and frames it for a DEALER socket.
    pub(crate) fn to_zmq(&self, key: &Option<hmac::Key>) -> Result<zeromq::ZmqMessage> {
        let json_parts = [
            to_json_bytes(&self.header)?,
            to_json_bytes(&self.parent_header)?,
            to_json_bytes(&self.metadata)?,
            to_json_bytes(&self.content)?,
        ];
        let signature = match key {
            Some(key) => {
                let mut ctx = hmac::Context::with_key(key);
                for part in &json_parts {
                    ctx.update(part);
                }
                HEXLOWER.encode(ctx.sign().as_ref())
            }
            None => String::new(),
        };
        let mut frames: Vec<Bytes> = Vec::with_capacity(6 + self.buffers.len());
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature.into_bytes()));
        frames.extend(json_parts);
        frames.extend(self.buffers.iter().cloned());
        zeromq::ZmqMessage::try_from(frames).map_err(|e| KernelError::Zmq(e.to_string()))
    }

    /// The Jupyter Server JSON form (buffers are not included; see [`Self::to_ws`]).
    pub fn to_ws_json(&self) -> Value {
        json!({
            "header": self.header,
            "parent_header": self.parent_header,
            "metadata": self.metadata,
            "content": self.content,
            "buffers": [],
            "channel": self.channel,
            "msg_id": self.msg_id(),
            "msg_type": self.msg_type(),
        })
    }

    /// The frame Jupyter Server's default protocol would send: JSON text, or the binary form
    /// when the message has buffers.
    pub fn to_ws(&self) -> WsFrame {
        if self.buffers.is_empty() {
            WsFrame::Text(self.to_ws_text())
        } else {
            WsFrame::Binary(self.to_ws_binary())
        }
    }

    /// [`Self::to_ws_json`] as text, written straight from the message's parts: every
    /// message a channels socket relays goes through here, and building the `Value` first
    /// would copy the whole message once more.
    fn to_ws_text(&self) -> String {
        let parts = WsJson {
            buffers: [],
            channel: self.channel,
            content: &self.content,
            header: &self.header,
            metadata: &self.metadata,
            msg_id: self.msg_id(),
            msg_type: self.msg_type(),
            parent_header: &self.parent_header,
        };
        // Maps with string keys always serialize; the fallback only keeps this total.
        serde_json::to_string(&parts).unwrap_or_else(|_| self.to_ws_json().to_string())
    }

    /// The legacy binary form: a big-endian u32 count `n` and `n` offsets, then the JSON
    /// message, then each buffer.
    pub fn to_ws_binary(&self) -> Vec<u8> {
        let json = self.to_ws_text().into_bytes();
        let mut parts: Vec<&[u8]> = vec![&json];
        parts.extend(self.buffers.iter().map(|b| b.as_ref()));
        let count = parts.len();
        let mut out =
            Vec::with_capacity(4 * (count + 1) + parts.iter().map(|p| p.len()).sum::<usize>());
        out.extend_from_slice(&(count as u32).to_be_bytes());
        let mut offset = 4 * (count + 1);
        for part in &parts {
            out.extend_from_slice(&(offset as u32).to_be_bytes());
            offset += part.len();
        }
        for part in parts {
            out.extend_from_slice(part);
        }
        out
    }

    /// Parses a JSON text frame from a client. `channel` and `header.msg_type` are required;
    /// missing `parent_header`, `metadata` and `content` default to `{}`.
    pub fn from_ws_text(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| KernelError::InvalidMessage(format!("not JSON: {e}")))?;
        Self::from_ws_value(value, Vec::new())
    }

    /// Parses a legacy binary frame from a client.
    pub fn from_ws_binary(frame: &[u8]) -> Result<Self> {
        let count = read_u32_be(frame, 0)? as usize;
        if count == 0 || count > frame.len() / 4 {
            return Err(KernelError::InvalidMessage(format!(
                "bad part count {count}"
            )));
        }
        let mut offsets = Vec::with_capacity(count + 1);
        for i in 0..count {
            offsets.push(read_u32_be(frame, 4 * (i + 1))? as usize);
        }
        offsets.push(frame.len());
        let parts = slice_parts(frame, &offsets)?;
        let value: Value = serde_json::from_slice(parts[0])
            .map_err(|e| KernelError::InvalidMessage(format!("not JSON: {e}")))?;
        let buffers = parts[1..]
            .iter()
            .map(|p| Bytes::copy_from_slice(p))
            .collect();
        Self::from_ws_value(value, buffers)
    }

    /// The `v1.kernel.websocket.jupyter.org` form: a little-endian u64 count `n` and `n`
    /// offsets, then the channel name, header, parent header, metadata, content and buffers.
    pub fn to_ws_v1(&self) -> Result<Vec<u8>> {
        let json_parts = [
            to_json_bytes(&self.header)?,
            to_json_bytes(&self.parent_header)?,
            to_json_bytes(&self.metadata)?,
            to_json_bytes(&self.content)?,
        ];
        let mut parts: Vec<&[u8]> = vec![self.channel.as_str().as_bytes()];
        parts.extend(json_parts.iter().map(|p| p.as_ref()));
        parts.extend(self.buffers.iter().map(|b| b.as_ref()));
        let count = parts.len() + 1;
        let mut out = Vec::new();
        out.extend_from_slice(&(count as u64).to_le_bytes());
        let mut offset = 8 * (count + 1);
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        for part in &parts {
            offset += part.len();
            out.extend_from_slice(&(offset as u64).to_le_bytes());
        }
        for part in parts {
            out.extend_from_slice(part);
        }
        Ok(out)
    }

    /// Parses a `v1.kernel.websocket.jupyter.org` binary frame.
    pub fn from_ws_v1(frame: &[u8]) -> Result<Self> {
        let count = read_u64_le(frame, 0)?;
        if count < 6 || count > (frame.len() / 8) as u64 {
            return Err(KernelError::InvalidMessage(format!(
                "bad offset count {count}"
            )));
        }
        let count = count as usize;
        let mut offsets = Vec::with_capacity(count);
        for i in 0..count {
            offsets.push(usize::try_from(read_u64_le(frame, 8 * (i + 1))?).unwrap_or(usize::MAX));
        }
        let parts = slice_parts(frame, &offsets)?;
        let channel: Channel = std::str::from_utf8(parts[0])
            .map_err(|_| KernelError::InvalidMessage("channel is not UTF-8".into()))?
            .parse()?;
        let message = WireMessage {
            channel,
            header: parse_object(parts[1], "header")?,
            parent_header: parse_object(parts[2], "parent_header")?,
            metadata: parse_object(parts[3], "metadata")?,
            content: serde_json::from_slice(parts[4])
                .map_err(|e| KernelError::InvalidMessage(format!("content: {e}")))?,
            buffers: parts[5..]
                .iter()
                .map(|p| Bytes::copy_from_slice(p))
                .collect(),
        };
        message.check_header()?;
        Ok(message)
    }

    fn from_ws_value(value: Value, buffers: Vec<Bytes>) -> Result<Self> {
        let Value::Object(mut object) = value else {
            return Err(KernelError::InvalidMessage(
                "message is not a JSON object".into(),
            ));
        };
        let channel: Channel = object
            .get("channel")
            .and_then(Value::as_str)
            .ok_or_else(|| KernelError::InvalidMessage("missing \"channel\"".into()))?
            .parse()?;
        let mut take_object = |key: &str| -> Result<Map<String, Value>> {
            match object.remove(key) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(map)) => Ok(map),
                Some(_) => Err(KernelError::InvalidMessage(format!(
                    "{key} is not an object"
                ))),
            }
        };
        let header = take_object("header")?;
        let parent_header = take_object("parent_header")?;
        let metadata = take_object("metadata")?;
        let content = match object.remove("content") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(content) => content,
        };
        let message = WireMessage {
            channel,
            header,
            parent_header,
            metadata,
            content,
            buffers,
        };
        message.check_header()?;
        Ok(message)
    }

    fn check_header(&self) -> Result<()> {
        if self.msg_type().is_empty() {
            return Err(KernelError::InvalidMessage(
                "header.msg_type is missing".into(),
            ));
        }
        if self.msg_id().is_empty() {
            return Err(KernelError::InvalidMessage(
                "header.msg_id is missing".into(),
            ));
        }
        Ok(())
    }
}

/// The current time as Jupyter writes it in headers.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A random HMAC key, hex-encoded as Jupyter connection files hold it.
pub(crate) fn random_key() -> String {
    let bytes: [u8; 32] = rand::random();
    HEXLOWER.encode(&bytes)
}

/// The signing key for a connection key (`None` when signing is off).
pub(crate) fn signing_key(key: &str) -> Option<hmac::Key> {
    (!key.is_empty()).then(|| hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()))
}

fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(KernelError::InvalidMessage(format!(
            "{what} is not an object"
        ))),
        Err(e) => Err(KernelError::InvalidMessage(format!("{what}: {e}"))),
    }
}

fn to_json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| KernelError::InvalidMessage(e.to_string()))
}

fn read_u32_be(frame: &[u8], at: usize) -> Result<u32> {
    frame
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| KernelError::InvalidMessage("binary frame too short".into()))
}

fn read_u64_le(frame: &[u8], at: usize) -> Result<u64> {
    frame
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| KernelError::InvalidMessage("binary frame too short".into()))
}

/// Splits `frame` at consecutive `offsets` (the last one is the end), checking bounds.
fn slice_parts<'a>(frame: &'a [u8], offsets: &[usize]) -> Result<Vec<&'a [u8]>> {
    offsets
        .windows(2)
        .map(|w| {
            if w[0] <= w[1] && w[1] <= frame.len() {
                Ok(&frame[w[0]..w[1]])
            } else {
                Err(KernelError::InvalidMessage(
                    "binary frame offsets out of range".into(),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> WireMessage {
        let mut msg = WireMessage::new(
            Channel::Shell,
            "comm_msg",
            json!({"comm_id": "c1", "data": {"x": 1}}),
            "s1",
        );
        msg.parent_header.insert("msg_id".into(), json!("p1"));
        msg.buffers = vec![
            Bytes::from_static(b"\x00\x01binary"),
            Bytes::from_static(b""),
        ];
        msg
    }

    #[test]
    fn zmq_round_trip_signed_and_tamper_detected() {
        let key = signing_key("secret");
        let msg = sample();
        let framed = msg.to_zmq(&key).unwrap();
        let back = WireMessage::from_zmq(Channel::Shell, framed.clone(), &key).unwrap();
        assert_eq!(back, msg);

        let mut frames = framed.into_vec();
        frames[5] = Bytes::from_static(br#"{"comm_id":"evil"}"#);
        let tampered = zeromq::ZmqMessage::try_from(frames).unwrap();
        assert!(WireMessage::from_zmq(Channel::Shell, tampered, &key).is_err());
        let other_key = signing_key("other");
        let framed = msg.to_zmq(&key).unwrap();
        assert!(WireMessage::from_zmq(Channel::Shell, framed, &other_key).is_err());
    }

    #[test]
    fn ws_json_round_trip() {
        let mut msg = sample();
        msg.buffers.clear();
        let WsFrame::Text(text) = msg.to_ws() else {
            panic!("no buffers means a text frame")
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["channel"], "shell");
        assert_eq!(value["msg_type"], "comm_msg");
        assert_eq!(value["parent_header"]["msg_id"], "p1");
        assert_eq!(WireMessage::from_ws_text(&text).unwrap(), msg);
        // The text written from borrowed parts is exactly the documented JSON form.
        assert_eq!(text, msg.to_ws_json().to_string());
    }

    #[test]
    fn ws_binary_round_trip() {
        let msg = sample();
        let WsFrame::Binary(frame) = msg.to_ws() else {
            panic!("buffers mean a binary frame")
        };
        assert_eq!(WireMessage::from_ws_binary(&frame).unwrap(), msg);
    }

    #[test]
    fn ws_v1_round_trip() {
        let msg = sample();
        let frame = msg.to_ws_v1().unwrap();
        assert_eq!(WireMessage::from_ws_v1(&frame).unwrap(), msg);
    }

    #[test]
    fn malformed_client_frames_are_errors_not_panics() {
        for text in [
            "",
            "[]",
            "{}",
            r#"{"channel":"shell"}"#,
            r#"{"channel":"nope","header":{"msg_id":"a","msg_type":"b"}}"#,
            r#"{"channel":"shell","header":{"msg_id":"a","msg_type":"b"},"metadata":3}"#,
        ] {
            assert!(WireMessage::from_ws_text(text).is_err(), "{text}");
        }
        let frame = sample().to_ws_binary();
        for cut in 0..frame.len() {
            let _ = WireMessage::from_ws_binary(&frame[..cut]);
        }
        let frame = sample().to_ws_v1().unwrap();
        for cut in 0..frame.len() {
            let _ = WireMessage::from_ws_v1(&frame[..cut]);
        }
        assert!(WireMessage::from_ws_binary(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(WireMessage::from_ws_v1(&[0xff; 16]).is_err());
    }

    #[test]
    fn minimal_client_message_gets_defaults() {
        let msg = WireMessage::from_ws_text(
            r#"{"channel":"shell","header":{"msg_id":"m","msg_type":"kernel_info_request"}}"#,
        )
        .unwrap();
        assert_eq!(msg.content, json!({}));
        assert!(msg.parent_header.is_empty());
        assert_eq!(msg.parent_msg_id(), None);
    }
}
