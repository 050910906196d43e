//! [`AdmissionStore`] for both backends from one set of SQL (see `ops_sql.rs` for the rules
//! that let the same text run on SQLite and PostgreSQL).

use crate::admission::{Admission, AdmissionStore, Check, Counted, Slot, SlotKind, StoredUsage};
use crate::convert::{millis, parse};
use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use switchboard_core::limits::{Limit, LimitOverrides};
use switchboard_core::{AccountId, Timestamp};

/// Open sessions of account `$1`, with sessions being created (reservations live at `$2`
/// whose session is not stored yet).
const OPEN_SESSIONS: &str = "SELECT \
     (SELECT COUNT(*) FROM sessions WHERE account_id = $1 AND state <> 'ended') + \
     (SELECT COUNT(*) FROM admission_slots a WHERE a.account_id = $1 AND a.kind = 'session' \
      AND a.lease_until >= $2 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.suid = a.scope))";

/// Cameras of account `$1`, with cameras being created.
const CAMERAS: &str = "SELECT \
     (SELECT COUNT(*) FROM cameras WHERE account_id = $1) + \
     (SELECT COUNT(*) FROM admission_slots a WHERE a.account_id = $1 AND a.kind = 'camera' \
      AND a.lease_until >= $2 AND NOT EXISTS (SELECT 1 FROM cameras c WHERE c.id = a.scope))";

/// Users of account `$1`, with users being created.
const USERS: &str = "SELECT \
     (SELECT COUNT(*) FROM users WHERE account_id = $1) + \
     (SELECT COUNT(*) FROM admission_slots a WHERE a.account_id = $1 AND a.kind = 'user' \
      AND a.lease_until >= $2 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.scope))";

/// Live places of kind `$3` in account `$1`.
const HELD: &str = "SELECT COUNT(*) FROM admission_slots \
     WHERE account_id = $1 AND kind = $3 AND lease_until >= $2";

/// Live places of kind `$3` with scope `$4` in account `$1`.
const HELD_IN: &str = "SELECT COUNT(*) FROM admission_slots \
     WHERE account_id = $1 AND kind = $3 AND scope = $4 AND lease_until >= $2";

/// The most viewers any one session of account `$1` has.
const BUSIEST_SESSION: &str = "SELECT COALESCE(MAX(n), 0) FROM \
     (SELECT COUNT(*) AS n FROM admission_slots WHERE account_id = $1 AND kind = 'viewer' \
      AND lease_until >= $2 GROUP BY scope) per_session";

/// `SUM` of a `BIGINT` is `NUMERIC` on PostgreSQL: cast back so both backends give `i64`.
const SNAPSHOT_USAGE: &str = "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN received_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
     FROM snapshots WHERE account_id = $1";

const CELL_FILE_BYTES: &str = "SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) \
     FROM cell_files f JOIN cells c ON c.id = f.cell_id WHERE c.account_id = $1";

const KERNEL_CPU: &str = "SELECT cpu_millis FROM kernel_cpu WHERE account_id = $1 AND day = $2";

/// Whether a check counts the slot being admitted (it was inserted before counting).
fn counts_own(counted: &Counted, slot: &Slot) -> bool {
    match counted {
        Counted::OpenSessions => slot.kind == SlotKind::Session,
        Counted::Cameras => slot.kind == SlotKind::Camera,
        Counted::Users => slot.kind == SlotKind::User,
        Counted::Held(kind) => *kind == slot.kind,
        Counted::HeldIn(kind, scope) => *kind == slot.kind && *scope == slot.scope,
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Reads stored overrides; an unknown limit name (from a newer release) is skipped.
fn overrides_of(json: &str) -> Result<LimitOverrides> {
    let map: std::collections::BTreeMap<String, u64> = serde_json::from_str(json)
        .map_err(|e| StoreError::Other(format!("account_limits.limits: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(name, max)| Limit::parse(&name).map(|l| (l, max)))
        .collect())
}

/// Implements [`AdmissionStore`] for a store type with a `pool` field and a [`Dialect`].
macro_rules! impl_admission_store {
    ($store:ty) => {
        impl $store {
            /// Counts what one check counts, in the admission's transaction.
            async fn count(
                conn: &mut <<$store as Dialect>::Database as sqlx::Database>::Connection,
                account: &str,
                now: i64,
                counted: &Counted,
            ) -> Result<u64> {
                let query = |sql| sqlx::query_scalar::<_, i64>(sql).bind(account).bind(now);
                let query = match counted {
                    Counted::OpenSessions => query(OPEN_SESSIONS),
                    Counted::Cameras => query(CAMERAS),
                    Counted::Users => query(USERS),
                    Counted::Held(kind) => query(HELD).bind(kind.as_str()),
                    Counted::HeldIn(kind, scope) => {
                        query(HELD_IN).bind(kind.as_str()).bind(scope.as_str())
                    }
                };
                query
                    .fetch_one(&mut *conn)
                    .await
                    .map(non_negative)
                    .map_err(StoreError::from_sqlx)
            }

            async fn scalar(&self, sql: &'static str, account: &str, arg: i64) -> Result<u64> {
                sqlx::query_scalar::<_, i64>(sql)
                    .bind(account)
                    .bind(arg)
                    .fetch_one(&self.pool)
                    .await
                    .map(non_negative)
                    .map_err(StoreError::from_sqlx)
            }
        }

        #[async_trait::async_trait]
        impl AdmissionStore for $store {
            async fn account_limits(&self, account: AccountId) -> Result<LimitOverrides> {
                let row: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT l.limits FROM accounts a \
                     LEFT JOIN account_limits l ON l.account_id = a.id WHERE a.id = $1",
                )
                .bind(account.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                match row {
                    None => Err(StoreError::NotFound),
                    Some((None,)) => Ok(LimitOverrides::new()),
                    Some((Some(json),)) => overrides_of(&json),
                }
            }

            async fn set_account_limits(
                &self,
                account: AccountId,
                limits: &LimitOverrides,
                by: Option<&str>,
                at: Timestamp,
            ) -> Result<()> {
                let json = serde_json::to_string(limits)
                    .map_err(|e| StoreError::Other(format!("limits: {e}")))?;
                let done = sqlx::query(
                    "INSERT INTO account_limits (account_id, limits, updated_at, updated_by) \
                     SELECT id, $2, $3, $4 FROM accounts WHERE id = $1 \
                     ON CONFLICT (account_id) DO UPDATE SET limits = excluded.limits, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(account.to_string())
                .bind(json)
                .bind(millis(at))
                .bind(by)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn accounts_with_own_limits(&self) -> Result<Vec<AccountId>> {
                // Clearing an account's limits stores an empty object.
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT account_id FROM account_limits WHERE limits <> '{}'")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                rows.iter()
                    .map(|(id,)| parse(id, "account_limits.account_id"))
                    .collect()
            }

            async fn admit(
                &self,
                slot: &Slot,
                checks: &[Check],
                now: Timestamp,
            ) -> Result<Admission> {
                let account = slot.account.to_string();
                let now = millis(now);
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                <$store as Dialect>::lock_account_admissions(&mut *tx, &account).await?;
                // The insert comes first: on SQLite a transaction that began by reading
                // could not take the write lock later, and with the place counted the
                // answer is the same.
                sqlx::query(
                    "INSERT INTO admission_slots (id, account_id, kind, scope, node, lease_until) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&slot.id)
                .bind(&account)
                .bind(slot.kind.as_str())
                .bind(&slot.scope)
                .bind(&slot.node)
                .bind(millis(slot.lease_until))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                for (index, check) in checks.iter().enumerate() {
                    let counted = Self::count(&mut *tx, &account, now, &check.counted).await?;
                    let in_use = counted.saturating_sub(u64::from(counts_own(&check.counted, slot)));
                    if in_use >= check.max {
                        // Dropping the transaction rolls the insert back.
                        return Ok(Admission::Refused { index, in_use });
                    }
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(Admission::Admitted)
            }

            async fn release_slot(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM admission_slots WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(StoreError::from_sqlx)
            }

            async fn renew_slots(&self, node: &str, until: Timestamp) -> Result<u64> {
                Ok(sqlx::query("UPDATE admission_slots SET lease_until = $2 WHERE node = $1")
                    .bind(node)
                    .bind(millis(until))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected())
            }

            async fn release_node_slots(&self, node: &str, now: Timestamp) -> Result<u64> {
                Ok(sqlx::query("DELETE FROM admission_slots WHERE node = $1 OR lease_until < $2")
                    .bind(node)
                    .bind(millis(now))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected())
            }

            async fn usage(
                &self,
                account: AccountId,
                now: Timestamp,
                day_start: Timestamp,
            ) -> Result<StoredUsage> {
                let id = account.to_string();
                let at = millis(now);
                let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
                let sessions = Self::count(&mut *conn, &id, at, &Counted::OpenSessions).await?;
                let viewers =
                    Self::count(&mut *conn, &id, at, &Counted::Held(SlotKind::Viewer)).await?;
                let cameras = Self::count(&mut *conn, &id, at, &Counted::Cameras).await?;
                let users = Self::count(&mut *conn, &id, at, &Counted::Users).await?;
                let kernels =
                    Self::count(&mut *conn, &id, at, &Counted::Held(SlotKind::Kernel)).await?;
                drop(conn);
                let busiest_session_viewers = self.scalar(BUSIEST_SESSION, &id, at).await?;
                let hour_ago = now - chrono::Duration::hours(1);
                let (snapshot_bytes, uploads_last_hour) =
                    self.snapshot_usage(account, hour_ago).await?;
                let day = day_start.format("%Y-%m-%d").to_string();
                Ok(StoredUsage {
                    sessions,
                    viewers,
                    busiest_session_viewers,
                    cameras,
                    snapshot_bytes,
                    uploads_last_hour,
                    kernels,
                    kernel_cpu_seconds_today: self.kernel_cpu_seconds(account, &day).await?,
                    cell_file_bytes: self.cell_file_bytes(account).await?,
                    users,
                })
            }

            async fn add_kernel_cpu(
                &self,
                account: AccountId,
                day: &str,
                millis: u64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO kernel_cpu (account_id, day, cpu_millis) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id, day) \
                     DO UPDATE SET cpu_millis = kernel_cpu.cpu_millis + excluded.cpu_millis",
                )
                .bind(account.to_string())
                .bind(day)
                .bind(i64::try_from(millis).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(StoreError::from_sqlx)
            }

            async fn snapshot_usage(
                &self,
                account: AccountId,
                since: Timestamp,
            ) -> Result<(u64, u64)> {
                let (bytes, recent): (i64, i64) = sqlx::query_as(SNAPSHOT_USAGE)
                    .bind(account.to_string())
                    .bind(millis(since))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok((non_negative(bytes), non_negative(recent)))
            }

            async fn cell_file_bytes(&self, account: AccountId) -> Result<u64> {
                sqlx::query_scalar::<_, i64>(CELL_FILE_BYTES)
                    .bind(account.to_string())
                    .fetch_one(&self.pool)
                    .await
                    .map(non_negative)
                    .map_err(StoreError::from_sqlx)
            }

            async fn invite_account(&self, code: &str, now: Timestamp) -> Result<AccountId> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT account_id FROM invites \
                     WHERE code = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(code)
                .bind(millis(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (id,) = row.ok_or(StoreError::NotFound)?;
                parse(&id, "invites.account_id")
            }

            async fn kernel_cpu_seconds(&self, account: AccountId, day: &str) -> Result<u64> {
                let millis: Option<i64> = sqlx::query_scalar(KERNEL_CPU)
                    .bind(account.to_string())
                    .bind(day)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(non_negative(millis.unwrap_or(0)) / 1000)
            }
        }
    };
}

impl_admission_store!(crate::sqlite::SqliteStore);
impl_admission_store!(crate::postgres::PgStore);
