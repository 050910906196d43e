//! Frames from devices: each JPEG is checked (size, markers, declared pixels, the device's
//! rate) and handed to the viewers through the session's frame slot.

use super::session_error::SessionError;
use super::sessions::LiveSessions;
use crate::live::SessionHandle;
use crate::protocol::FrameAccepted;
use bytes::Bytes;
use switchboard_media::jpeg;

impl LiveSessions {
    /// Largest frame accepted, in bytes.
    pub fn max_frame_bytes(&self) -> u64 {
        self.config.devices.max_frame_bytes.as_u64()
    }

    /// Validates one JPEG (markers and dimensions; no decoding) and hands it to the viewers.
    /// A frame over the device's `max_device_fps` is dropped: `OverRate`.
    pub fn accept_frame(
        &self,
        handle: &SessionHandle,
        seq: Option<u64>,
        data: Bytes,
    ) -> Result<FrameAccepted, SessionError> {
        let limit = self.max_frame_bytes();
        if data.len() as u64 > limit {
            return Err(SessionError::FrameTooLarge { limit });
        }
        let info = jpeg::inspect(&data).map_err(|e| SessionError::NotJpeg(e.to_string()))?;
        // Viewers decode every frame: a small file declaring a huge picture is a bomb for them.
        let max_pixels = self.config.devices.max_frame_pixels;
        if info.pixels() > max_pixels {
            return Err(SessionError::ImageTooLarge {
                width: info.width,
                height: info.height,
                max_pixels,
            });
        }
        let max_fps = self.config.devices.max_device_fps;
        if !handle.admit_frame(max_fps) {
            return Err(SessionError::OverRate { max_fps });
        }
        let seq = handle
            .push_frame(seq, data, chrono::Utc::now().timestamp_millis())
            .map_err(|_| SessionError::Ended)?;
        Ok(FrameAccepted {
            seq,
            width: info.width,
            height: info.height,
        })
    }
}
