-- Each open session has one owner node, which runs its timers and records its end, for as
-- long as it keeps renewing its lease. Keep in step with ../sqlite/0006_session_leases.sql.
ALTER TABLE sessions ADD COLUMN owner_node TEXT;
ALTER TABLE sessions ADD COLUMN lease_until BIGINT;
