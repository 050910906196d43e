-- Switchboard's schema, SQLite flavour. Keep it in step with ../postgres/0001_init.sql: the two
-- differ only in column types (REAL/DOUBLE PRECISION, INTEGER/BOOLEAN, AUTOINCREMENT/IDENTITY).
--
-- Conventions shared by both backends:
-- - timestamps are Unix milliseconds (BIGINT): portable, compact and fast to range over;
-- - ids are UUID strings (TEXT); JSON (device info, control arguments) is TEXT;
-- - sessions and CDRs have no foreign key to users: deleting a user keeps the account's records.

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

-- list_users: an account's users, oldest first.
CREATE INDEX users_account_created ON users (account_id, created_at, id);

CREATE TABLE invites (
    code       TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE sessions (
    suid              TEXT PRIMARY KEY NOT NULL,
    account_id        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    kind              TEXT NOT NULL,
    label             TEXT,
    state             TEXT NOT NULL CHECK (state IN ('waiting', 'live', 'ended')),
    ticket            TEXT NOT NULL,
    ticket_expires_at BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    live_at           BIGINT,
    ended_at          BIGINT,
    end_reason        TEXT,
    device_id         TEXT,
    device            TEXT,
    frames            BIGINT NOT NULL DEFAULT 0,
    bytes             BIGINT NOT NULL DEFAULT 0,
    peak_viewers      BIGINT NOT NULL DEFAULT 0,
    viewer_seconds    REAL NOT NULL DEFAULT 0,
    last_frame_at     BIGINT
);

-- session_by_ticket looks tickets up in any state.
CREATE INDEX sessions_ticket ON sessions (ticket);
-- A ticket identifies at most one open session; ended sessions may share a reused code.
CREATE UNIQUE INDEX sessions_open_ticket ON sessions (ticket) WHERE state <> 'ended';
-- list_sessions: an account's sessions, newest first.
CREATE INDEX sessions_account_created ON sessions (account_id, created_at DESC, suid DESC);
-- open_sessions: the few open sessions among many ended ones.
CREATE INDEX sessions_open ON sessions (created_at, suid) WHERE state <> 'ended';

CREATE TABLE controls (
    -- AUTOINCREMENT: ids are never reused, so a device's "after" cursor stays valid.
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    suid    TEXT NOT NULL REFERENCES sessions (suid) ON DELETE CASCADE,
    action  TEXT NOT NULL,
    args    TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);

CREATE INDEX controls_session ON controls (suid, id);

-- Exactly one CDR per session: the primary key is the session id.
CREATE TABLE cdrs (
    suid             TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    label            TEXT,
    device_id        TEXT,
    device           TEXT,
    created_at       BIGINT NOT NULL,
    live_at          BIGINT,
    ended_at         BIGINT NOT NULL,
    end_reason       TEXT NOT NULL,
    duration_seconds REAL NOT NULL,
    frames           BIGINT NOT NULL,
    bytes            BIGINT NOT NULL,
    peak_viewers     BIGINT NOT NULL,
    viewer_seconds   REAL NOT NULL,
    incomplete       BOOLEAN NOT NULL
);

-- cdrs(from, to): reports over a time range.
CREATE INDEX cdrs_ended ON cdrs (ended_at, suid);
