//! The newest frame of a session, shared by every viewer without copying.
//!
//! A `watch` channel holds exactly one value: a viewer that is slow simply sees fewer frames
//! (it always gets the newest one next); nothing queues and the device never waits.

use bytes::Bytes;
use tokio::sync::watch;

/// One JPEG frame as received.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The device's frame number, or one the server assigned.
    pub seq: u64,
    /// The complete JPEG.
    pub data: Bytes,
    /// When the server received it, to measure delivery latency.
    pub received: std::time::Instant,
}

/// Holds a session's newest frame.
#[derive(Debug)]
pub struct FrameSlot {
    tx: watch::Sender<Option<Frame>>,
}

impl Default for FrameSlot {
    fn default() -> Self {
        FrameSlot {
            tx: watch::Sender::new(None),
        }
    }
}

impl FrameSlot {
    /// Replaces the newest frame and wakes every viewer.
    pub fn publish(&self, frame: Frame) {
        self.tx.send_replace(Some(frame));
    }

    /// The newest frame, if any arrived.
    pub fn latest(&self) -> Option<Frame> {
        self.tx.borrow().clone()
    }

    /// A receiver that wakes on every new frame. The current frame (if any) counts as unseen,
    /// so a new viewer gets a picture at once.
    pub fn subscribe(&self) -> watch::Receiver<Option<Frame>> {
        let mut rx = self.tx.subscribe();
        if rx.borrow().is_some() {
            rx.mark_changed();
        }
        rx
    }
}
