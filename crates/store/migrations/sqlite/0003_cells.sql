-- Stored compute cells and the files their runs wrote. Keep in step with
-- ../postgres/0003_cells.sql. Files live in the database (not a node's disk) so every node
-- can serve them, whichever node ran the kernel.

CREATE TABLE cells (
    id         TEXT PRIMARY KEY NOT NULL,
    -- Short random name for share links (/c/<permalink>).
    permalink  TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Not a foreign key: a cell stays when its author's user is deleted.
    owner_id   TEXT NOT NULL,
    kernel     TEXT NOT NULL,
    code       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX cells_account ON cells (account_id, created_at);

CREATE TABLE cell_files (
    cell_id    TEXT NOT NULL REFERENCES cells (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    content    BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (cell_id, name)
);
