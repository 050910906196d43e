-- Admission limits: each account's own values for some limits, the places held under them
-- across the cluster, and the CPU its kernels used per day. Keep in step with
-- ../sqlite/0009_admission.sql (the two are the same text).

-- An account's overrides of the node's default limits, as a JSON object of limit name to
-- maximum; limits it does not name follow the defaults.
CREATE TABLE account_limits (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    limits     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);

-- A place held under a limit: a viewer watching, a kernel running (held until released),
-- or a session, camera or user being created (a reservation, counted only until the row it
-- stands for exists). The node holding it renews its lease; a dead node's places stop
-- counting when their lease runs out.
CREATE TABLE admission_slots (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    node        TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

CREATE INDEX admission_slots_account ON admission_slots (account_id, kind, scope);
CREATE INDEX admission_slots_node ON admission_slots (node);

-- CPU time of an account's kernels per UTC day, in milliseconds.
CREATE TABLE kernel_cpu (
    account_id TEXT NOT NULL,
    day        TEXT NOT NULL,
    cpu_millis BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- uploads_per_hour counts an account's snapshots received in the last hour.
CREATE INDEX snapshots_account_received ON snapshots (account_id, received_at);
