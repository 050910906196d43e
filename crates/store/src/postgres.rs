//! The clustered backend: PostgreSQL, shared by every node.

use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::username_keys;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// How long an operation waits for a pooled connection (or a new one) before it fails as
/// [`StoreError::Unavailable`]; short enough for `/readyz` to answer promptly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per node; each node's load is a few writes per session per minute.
const MAX_CONNECTIONS: u32 = 10;

/// A [`Store`](crate::Store) in a PostgreSQL database, which several nodes may share.
///
/// Conditional writes rely on row locks under the default READ COMMITTED isolation: an
/// `UPDATE ... WHERE state = 'waiting'` racing another waits for it to commit, re-checks its
/// condition and then changes nothing, which is how the loser learns it lost.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` (or `postgresql://`) URL and brings the schema up to date.
    /// Nodes starting together are safe: migrations take an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // During a rolling upgrade an older node starts against a schema a newer one migrated.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(StoreError::from_migrate)?;
        username_keys::backfill(&pool).await?;
        Ok(PgStore { pool })
    }

    /// Closes every connection, waiting for them to finish; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// PostgreSQL serves several connections and nodes writing at once, under READ COMMITTED:
/// a check in one transaction does not see another's uncommitted write, so the writes that
/// depend on a check take a lock first.
impl Dialect for PgStore {
    type Database = sqlx::Postgres;

    async fn lock_for_user_deletion(conn: &mut PgConnection, user_id: &str) -> Result<()> {
        // Lock the account's admins (and the user): two admins deleting each other would
        // otherwise each still see the other and both go.
        let missing = sqlx::query(
            "SELECT 1 FROM users WHERE account_id = \
             (SELECT account_id FROM users WHERE id = $1) AND (role = 'admin' OR id = $1) \
             FOR UPDATE",
        )
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?
        .is_empty();
        if missing {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn lock_session_controls(conn: &mut PgConnection, suid: &str) -> Result<()> {
        // Identity values are handed out before commit, so two nodes inserting controls for
        // one session could commit ids out of order, and a device reading in between would
        // skip the smaller id for good. A per-session lock held to commit keeps commit order
        // equal to id order.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(suid)
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(StoreError::from_sqlx)
    }

    async fn lock_account_admissions(conn: &mut PgConnection, account_id: &str) -> Result<()> {
        // Under READ COMMITTED two transactions would each count the places the other has
        // not committed yet and both take the last one; a per-account lock held to commit
        // makes the second count after the first.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))")
            .bind(account_id)
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(StoreError::from_sqlx)
    }

    /// Dead rows stay in PostgreSQL's files until (auto)vacuum reclaims them, and in its WAL
    /// archives and backups: the operator's (see README, *Encryption at rest*).
    async fn purge_deleted(_: &sqlx::PgPool) -> Result<()> {
        Ok(())
    }
}
