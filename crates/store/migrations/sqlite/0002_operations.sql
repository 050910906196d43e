-- Node registry and status history (the monitor). Keep in step with ../postgres/0002_operations.sql.

CREATE TABLE services (
    id         TEXT PRIMARY KEY NOT NULL,
    node       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    address    TEXT NOT NULL,
    port       BIGINT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    stopped_at BIGINT,
    running    BOOLEAN NOT NULL
);

CREATE INDEX services_node ON services (node, running);

CREATE TABLE service_status (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id     TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    at             BIGINT NOT NULL,
    load           REAL NOT NULL,
    cpu_percent    REAL NOT NULL,
    memory_percent REAL NOT NULL,
    cpu_seconds    REAL NOT NULL,
    wall_seconds   REAL NOT NULL,
    virtual_bytes  BIGINT NOT NULL,
    resident_bytes BIGINT NOT NULL,
    sessions       BIGINT NOT NULL,
    viewers        BIGINT NOT NULL,
    devices        BIGINT NOT NULL,
    kernels        BIGINT NOT NULL
);

-- History of one service, newest last; capping deletes by id.
CREATE INDEX service_status_service ON service_status (service_id, id);

-- Admin reports count ends by time and account.
CREATE INDEX cdrs_account_ended ON cdrs (account_id, ended_at);
