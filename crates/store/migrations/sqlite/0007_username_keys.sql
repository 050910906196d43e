-- Usernames that look alike (case, compatibility forms, confusable letters) are one name:
-- `username_key` holds switchboard_core::account::username_key of the username, unique.
-- Rows from before this migration are filled in by the store when it connects (the key is
-- computed in Rust); a row whose key another row already holds keeps NULL and is still found
-- by its exact username. Keep in step with ../postgres/0007_username_keys.sql.
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_username_key_unique ON users (username_key);
