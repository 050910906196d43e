-- Account security: passwords an admin reset, second factors (TOTP) with their recovery codes,
-- the account's rule that every user needs one, and the sign-ins a user can see and end.
-- Keep in step with ../postgres/0008_account_security.sql.

-- One row per user who has any of it; a user without a row has none.
CREATE TABLE user_security (
    user_id              TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- An admin set a one-time password: only changing it is allowed until it is.
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    -- The TOTP secret (base32) once enrolment is confirmed; NULL: no second factor.
    totp_secret          TEXT,
    -- A secret made by an enrolment not confirmed yet, and when.
    totp_pending_secret  TEXT,
    totp_pending_at      BIGINT,
    -- The newest time step a code was accepted for: a code is accepted once, on any node,
    -- because accepting one is a conditional update of this column.
    totp_last_step       BIGINT,
    totp_enabled_at      BIGINT
);

-- Single-use recovery codes, as SHA-256 hex of the normalized code.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Settings of an account's security; an account without a row has the defaults.
CREATE TABLE account_security (
    account_id            TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    require_second_factor BOOLEAN NOT NULL DEFAULT FALSE
);

-- A user token issued by sign-up or sign-in, by its token id, until it expires or is revoked
-- (revoking one deletes its row and stores the id in revoked_tokens, in one transaction).
CREATE TABLE sign_ins (
    jti          TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    client_addr  TEXT,
    user_agent   TEXT
);

-- sign_ins: a user's, newest first.
CREATE INDEX sign_ins_user ON sign_ins (user_id, created_at);
