-- Traffic per media path: JPEG frames in stay in frames/bytes; what JPEG viewers were sent,
-- and the WebRTC path's frames and bytes each way, are counted beside them. Identical for
-- SQLite and PostgreSQL.

ALTER TABLE sessions ADD COLUMN jpeg_bytes_out BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN webrtc_frames_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN webrtc_bytes_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN webrtc_bytes_out BIGINT NOT NULL DEFAULT 0;

ALTER TABLE cdrs ADD COLUMN jpeg_bytes_out BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cdrs ADD COLUMN webrtc_frames_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cdrs ADD COLUMN webrtc_bytes_in BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cdrs ADD COLUMN webrtc_bytes_out BIGINT NOT NULL DEFAULT 0;
