-- Near-duplicate dropping, pinned search results, cameras going live, and a search index
-- that is read newest-first without sorting. Keep in step with ../sqlite/0005_camera_history.sql.

-- A 16x16 grey thumbnail of the picture, compared with the camera's next snapshot.
ALTER TABLE snapshots ADD COLUMN signature BYTEA;
-- Retention keeps a snapshot until then: it was just handed out as a search result.
ALTER TABLE snapshots ADD COLUMN pinned_until BIGINT;
-- Never set: near-duplicates are dropped, and counted on their camera, instead.
ALTER TABLE snapshots DROP COLUMN duplicate;
CREATE INDEX snapshots_received ON snapshots (camera_id, received_at);

ALTER TABLE cameras ADD COLUMN deduplicated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cameras ADD COLUMN discarded BIGINT NOT NULL DEFAULT 0;
-- Keep only snapshots in which a person was detected.
ALTER TABLE cameras ADD COLUMN only_person BOOLEAN NOT NULL DEFAULT FALSE;
-- The video session the camera is asked to stream into, while one is open.
ALTER TABLE cameras ADD COLUMN live_suid TEXT;

-- Search walks one label's detections newest first and stops after `limit` snapshots.
DROP INDEX detections_search;
CREATE INDEX detections_search ON detections (account_id, label, taken_at, snapshot_id, id);
