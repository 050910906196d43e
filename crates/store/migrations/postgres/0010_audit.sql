-- The audit trail. Keep in step with ../sqlite/0010_audit.sql (the two are the same text).
-- Each node appends to its own chain (node, seq 1, 2, 3…); each record carries the hash of
-- the one before it. Records are only ever inserted, and deleted only by retention, which
-- leaves a signed prune checkpoint. No foreign keys: records outlive what they name.
CREATE TABLE audit_records (
    node        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    account_id  TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    request_id  TEXT,
    client      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (node, seq)
);

-- Reading is newest first by (at, node, seq), for everyone (operators) or one account, and
-- filtered by who acted or what was acted on.
CREATE INDEX audit_records_time ON audit_records (at, node, seq);
CREATE INDEX audit_records_account ON audit_records (account_id, at, node, seq);
CREATE INDEX audit_records_actor ON audit_records (actor_id, at);
CREATE INDEX audit_records_target ON audit_records (target_id, at);

-- A node's signature over the end of its chain (regular), or over where retention cut it
-- (prune). Keys and signatures as hex.
CREATE TABLE audit_checkpoints (
    node       TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (node, seq, kind)
);

-- The public keys each node has signed with (its private key stays in its data folder).
CREATE TABLE audit_keys (
    node       TEXT NOT NULL,
    public_key TEXT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (node, public_key)
);
