-- Encryption at rest: each account's data keys, wrapped by the node's master key, and the
-- data key version each stored picture and cell file is sealed with. Keep in step with
-- ../postgres/0011_encryption.sql (the two differ only in the blob type).

-- One row per version of an account's data key. `wrapped` is the key sealed with the master
-- key whose fingerprint is `master_key_id`; deleting the rows of an account makes every
-- blob sealed with them unreadable, wherever a copy of it lies (crypto-shredding).
CREATE TABLE data_keys (
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    wrapped       BLOB NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

-- NULL: stored plain, by an earlier release or with encryption off; encrypted in the
-- background. Otherwise the version of the account's data key that sealed the row's blobs.
ALTER TABLE snapshots ADD COLUMN key_version BIGINT;
ALTER TABLE cell_files ADD COLUMN key_version BIGINT;

-- What re-encryption looks for: plain rows, and an account's rows under older versions.
CREATE INDEX snapshots_key_version ON snapshots (account_id, key_version);
CREATE INDEX cell_files_key_version ON cell_files (key_version);
