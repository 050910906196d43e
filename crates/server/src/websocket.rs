//! What every WebSocket route shares: the agreed close frames (PROTOCOL.md's close codes) and
//! the size limit of what a client may send.

use axum::extract::ws::{CloseFrame, WebSocketUpgrade};
use bytesize::ByteSize;

/// The close frame for a socket whose right ended: its token was revoked or expired, or its
/// user deleted.
pub(crate) fn unauthorized() -> CloseFrame {
    close(4401, "unauthorized")
}

/// The close frame for a message over the socket's size limit.
pub(crate) fn too_big() -> CloseFrame {
    close(1009, "message too big")
}

/// The close frame for a client over its message rate.
pub(crate) fn too_many() -> CloseFrame {
    close(1008, "too many messages")
}

/// The close frame for a session that ended (1000).
pub(crate) fn session_ended() -> CloseFrame {
    close(1000, "session ended")
}

/// The close frame when the node begins to stop: the client reconnects (1012).
pub(crate) fn restarting() -> CloseFrame {
    close(1012, "server restarting")
}

/// The close frame when another node runs the session now: the client reconnects (1012).
pub(crate) fn moved() -> CloseFrame {
    close(1012, "session moved to another node")
}

/// The close frame for a failure worth retrying (1011).
pub(crate) fn try_again() -> CloseFrame {
    close(1011, "try again")
}

/// A close frame with the given code and reason.
pub(crate) fn close(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// What a socket's read buffer starts at, and the most read from the socket at once. Most
/// sockets are idle most of the time (viewers, dashboards, kernels between runs), and
/// tungstenite's default, 128 KiB, is allocated up front by every one of them: 3,000 idle
/// account-event sockets held 133 KiB each. A larger message still grows the buffer to its
/// own size as it arrives.
pub(crate) const READ_BUFFER: usize = 4 * 1024;

/// The same for device sockets, which receive a JPEG of tens of KiB every frame: fewer reads
/// per frame, still a fraction of the default while idle.
pub(crate) const DEVICE_READ_BUFFER: usize = 32 * 1024;

/// Bounds what the client may send in one message (fragments included) and in one frame, so
/// a bigger message is refused as its header or fragments arrive, never buffered whole; and
/// starts the read buffer small ([`READ_BUFFER`]).
pub(crate) fn limited(ws: WebSocketUpgrade, max: ByteSize) -> WebSocketUpgrade {
    let max = usize::try_from(max.as_u64()).unwrap_or(usize::MAX);
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER)
}

/// Whether a receive error is the refusal of a message over the size limit. axum wraps
/// tungstenite's error without exposing its type (and another tungstenite version than ours),
/// so its message is what tells it apart: "Space limit exceeded: Message too long: …".
pub(crate) fn is_too_big(e: &axum::Error) -> bool {
    e.to_string().contains("Message too long")
}
