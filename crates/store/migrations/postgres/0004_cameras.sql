-- Cameras, their snapshots and the objects detected in them. Keep in step with
-- ../sqlite/0004_cameras.sql. Snapshots live in the database (not a node's disk) so every
-- node can serve and detect them.

CREATE TABLE cameras (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT,
    uploads      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX cameras_account ON cameras (account_id, created_at);

CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY NOT NULL,
    camera_id   TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    taken_at    BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    jpeg        BYTEA NOT NULL,
    state       TEXT NOT NULL,
    duplicate   BOOLEAN NOT NULL
);

CREATE INDEX snapshots_camera ON snapshots (camera_id, taken_at);
CREATE INDEX snapshots_state ON snapshots (state, received_at);
CREATE INDEX snapshots_taken ON snapshots (taken_at);

CREATE TABLE detections (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    camera_id   TEXT NOT NULL,
    label       TEXT NOT NULL,
    confidence  DOUBLE PRECISION NOT NULL,
    x           DOUBLE PRECISION NOT NULL,
    y           DOUBLE PRECISION NOT NULL,
    w           DOUBLE PRECISION NOT NULL,
    h           DOUBLE PRECISION NOT NULL,
    taken_at    BIGINT NOT NULL
);

-- Search: "the newest snapshots of this account showing a cup".
CREATE INDEX detections_search ON detections (account_id, label, taken_at DESC);
CREATE INDEX detections_snapshot ON detections (snapshot_id);
