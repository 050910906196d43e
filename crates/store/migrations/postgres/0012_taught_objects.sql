-- Taught objects: things a user boxed on a snapshot and named ("my keys"), looked for in
-- every new snapshot of the account's cameras, and where they were found. Keep in step with
-- ../sqlite/0012_taught_objects.sql (the two differ only in the blob and real types).

CREATE TABLE taught_objects (
    id               TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    -- The name as compared: lower case, words joined by single spaces. Unique per account.
    name_key         TEXT NOT NULL,
    -- The matcher's description of the object, sealed like snapshot pictures; NULL
    -- key_version: stored plain (encryption at rest off).
    template         BYTEA NOT NULL,
    key_version      BIGINT,
    -- The snapshot it was taught on, while that snapshot is kept (the template is not
    -- derived from it again, so the object outlives it).
    snapshot_id      TEXT REFERENCES snapshots (id) ON DELETE SET NULL,
    x                DOUBLE PRECISION NOT NULL,
    y                DOUBLE PRECISION NOT NULL,
    w                DOUBLE PRECISION NOT NULL,
    h                DOUBLE PRECISION NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    -- The newest look through the kept history: started, last progress, finished (NULL
    -- while it runs), snapshots to look at, looked at, and where the object was found.
    scan_started_at  BIGINT,
    scan_updated_at  BIGINT,
    scan_finished_at BIGINT,
    scan_total       BIGINT NOT NULL DEFAULT 0,
    scan_scanned     BIGINT NOT NULL DEFAULT 0,
    scan_found       BIGINT NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX taught_objects_name ON taught_objects (account_id, name_key);
CREATE INDEX taught_objects_key_version ON taught_objects (account_id, key_version);
CREATE INDEX taught_objects_snapshot ON taught_objects (snapshot_id);

-- One row per taught object and snapshot it was found in, with the best place and score.
-- They go with the object, and with the snapshot (retention, its camera, its account).
CREATE TABLE taught_matches (
    taught_object_id TEXT NOT NULL REFERENCES taught_objects (id) ON DELETE CASCADE,
    snapshot_id      TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL,
    camera_id        TEXT NOT NULL,
    score            DOUBLE PRECISION NOT NULL,
    x                DOUBLE PRECISION NOT NULL,
    y                DOUBLE PRECISION NOT NULL,
    w                DOUBLE PRECISION NOT NULL,
    h                DOUBLE PRECISION NOT NULL,
    taken_at         BIGINT NOT NULL,
    matched_at       BIGINT NOT NULL,
    PRIMARY KEY (taught_object_id, snapshot_id)
);

-- Search: "the newest snapshots showing my keys", read newest first without sorting.
CREATE INDEX taught_matches_newest ON taught_matches (taught_object_id, taken_at, snapshot_id);
CREATE INDEX taught_matches_snapshot ON taught_matches (snapshot_id);
CREATE INDEX taught_matches_account ON taught_matches (account_id, taught_object_id);

-- A look through the kept history walks an account's snapshots newest first.
CREATE INDEX snapshots_account_taken ON snapshots (account_id, taken_at, id);
