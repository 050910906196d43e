//! [`OpsStore`] for both backends from one set of SQL. The statements use `$N` placeholders,
//! which PostgreSQL reads natively; SQLite reads `$N` as a named parameter, and sqlx binds it to
//! the N-th value bound, so on both a placeholder may repeat or come out of order. With only
//! portable column types besides, the same text runs on both.

use crate::convert::{known, millis, millis_opt, timestamp, timestamp_opt, to_i64, to_u32, to_u64};
use crate::ops::{EndCount, OpsStore, Pruned};
use crate::rows::{AccountRow, UserRow, account_columns, bind_user, user_columns};

use crate::error::{Result, StoreError};
use switchboard_core::{Account, AccountId, EndReason, Service, ServiceStatus, Timestamp, User};

/// A `services` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ServiceRow {
    id: String,
    node: String,
    kind: String,
    address: String,
    port: i64,
    pid: i64,
    started_at: i64,
    stopped_at: Option<i64>,
    running: bool,
}

impl ServiceRow {
    fn into_service(self) -> Result<Service> {
        Ok(Service {
            port: u16::try_from(self.port).map_err(|_| {
                StoreError::Other(format!("services.port out of range: {}", self.port))
            })?,
            pid: to_u32(self.pid, "services.pid")?,
            started_at: timestamp(self.started_at, "services.started_at")?,
            stopped_at: timestamp_opt(self.stopped_at, "services.stopped_at")?,
            id: self.id,
            node: self.node,
            kind: self.kind,
            address: self.address,
            running: self.running,
        })
    }
}

/// A `service_status` row (without its id).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StatusRow {
    service_id: String,
    at: i64,
    load: f64,
    cpu_percent: f64,
    memory_percent: f64,
    cpu_seconds: f64,
    wall_seconds: f64,
    virtual_bytes: i64,
    resident_bytes: i64,
    sessions: i64,
    viewers: i64,
    devices: i64,
    kernels: i64,
}

impl StatusRow {
    fn into_status(self) -> Result<ServiceStatus> {
        Ok(ServiceStatus {
            at: timestamp(self.at, "service_status.at")?,
            load: self.load,
            cpu_percent: self.cpu_percent,
            memory_percent: self.memory_percent,
            cpu_seconds: self.cpu_seconds,
            wall_seconds: self.wall_seconds,
            virtual_bytes: to_u64(self.virtual_bytes, "service_status.virtual_bytes")?,
            resident_bytes: to_u64(self.resident_bytes, "service_status.resident_bytes")?,
            sessions: to_u32(self.sessions, "service_status.sessions")?,
            viewers: to_u32(self.viewers, "service_status.viewers")?,
            devices: to_u32(self.devices, "service_status.devices")?,
            kernels: to_u32(self.kernels, "service_status.kernels")?,
            service_id: self.service_id,
        })
    }
}

const STATUS_COLUMNS: &str = "service_id, at, load, cpu_percent, memory_percent, cpu_seconds, \
     wall_seconds, virtual_bytes, resident_bytes, sessions, viewers, devices, kernels";

/// Implements [`OpsStore`] for a store type with a `pool` field of the given sqlx database.
macro_rules! impl_ops_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl OpsStore for $store {
            async fn register_service(&self, s: &Service) -> Result<()> {
                sqlx::query(
                    "INSERT INTO services (id, node, kind, address, port, pid, started_at, stopped_at, running) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET node = excluded.node, kind = excluded.kind, \
                     address = excluded.address, port = excluded.port, pid = excluded.pid, \
                     started_at = excluded.started_at, stopped_at = excluded.stopped_at, running = excluded.running",
                )
                .bind(&s.id)
                .bind(&s.node)
                .bind(&s.kind)
                .bind(&s.address)
                .bind(i64::from(s.port))
                .bind(i64::from(s.pid))
                .bind(millis(s.started_at))
                .bind(millis_opt(s.stopped_at))
                .bind(s.running)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn mark_service_stopped(&self, id: &str, at: Timestamp) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE services SET running = $1, stopped_at = $2 WHERE id = $3",
                )
                .bind(false)
                .bind(millis(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn mark_node_stopped(&self, node: &str, at: Timestamp) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE services SET running = $1, stopped_at = $2 WHERE node = $3 AND running = $4",
                )
                .bind(false)
                .bind(millis(at))
                .bind(node)
                .bind(true)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected())
            }

            async fn record_status(&self, st: &ServiceStatus, keep: u32) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                sqlx::query(
                    "INSERT INTO service_status (service_id, at, load, cpu_percent, memory_percent, \
                     cpu_seconds, wall_seconds, virtual_bytes, resident_bytes, sessions, viewers, devices, kernels) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&st.service_id)
                .bind(millis(st.at))
                .bind(st.load)
                .bind(st.cpu_percent)
                .bind(st.memory_percent)
                .bind(st.cpu_seconds)
                .bind(st.wall_seconds)
                .bind(to_i64(st.virtual_bytes, "virtual_bytes")?)
                .bind(to_i64(st.resident_bytes, "resident_bytes")?)
                .bind(i64::from(st.sessions))
                .bind(i64::from(st.viewers))
                .bind(i64::from(st.devices))
                .bind(i64::from(st.kernels))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                // Everything at or below the id of the (keep+1)-th newest sample goes.
                sqlx::query(
                    "DELETE FROM service_status WHERE service_id = $1 AND id <= \
                     (SELECT id FROM service_status WHERE service_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                )
                .bind(&st.service_id)
                .bind(i64::from(keep))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn services(&self) -> Result<Vec<Service>> {
                sqlx::query_as::<_, ServiceRow>(
                    "SELECT id, node, kind, address, port, pid, started_at, stopped_at, running \
                     FROM services ORDER BY running DESC, started_at DESC, id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(ServiceRow::into_service)
                .collect()
            }

            async fn latest_statuses(&self) -> Result<Vec<ServiceStatus>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {STATUS_COLUMNS} FROM service_status WHERE id IN \
                     (SELECT MAX(id) FROM service_status GROUP BY service_id) ORDER BY service_id"
                ));
                sqlx::query_as::<_, StatusRow>(sql)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(StatusRow::into_status)
                    .collect()
            }

            async fn status_history(&self, service_id: &str, since: Timestamp) -> Result<Vec<ServiceStatus>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {STATUS_COLUMNS} FROM service_status WHERE service_id = $1 AND at >= $2 ORDER BY id"
                ));
                sqlx::query_as::<_, StatusRow>(sql)
                    .bind(service_id)
                    .bind(millis(since))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(StatusRow::into_status)
                    .collect()
            }

            async fn end_counts(&self, account: Option<AccountId>, since: Timestamp) -> Result<Vec<EndCount>> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT end_reason, COUNT(*), SUM(CASE WHEN incomplete THEN 1 ELSE 0 END) \
                     FROM cdrs WHERE ended_at >= $1 AND (account_id = $2 OR $3) \
                     GROUP BY end_reason ORDER BY end_reason",
                )
                .bind(millis(since))
                .bind(account.map(|a| a.to_string()).unwrap_or_default())
                .bind(account.is_none())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(reason, count, incomplete)| {
                        Ok(EndCount {
                            reason: known(&reason, "cdrs.end_reason", EndReason::parse)?,
                            count: to_u64(count, "count")?,
                            incomplete: to_u64(incomplete, "incomplete")?,
                        })
                    })
                    .collect()
            }

            async fn create_user(&self, user: &User) -> Result<()> {
                let row = UserRow::from_user(user);
                let insert = sqlx::query(concat!(
                    "INSERT INTO users (",
                    user_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ));
                bind_user!(insert, &row)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn accounts(&self) -> Result<Vec<Account>> {
                sqlx::query_as::<_, AccountRow>(concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(AccountRow::into_account)
                .collect()
            }

            async fn all_users(&self) -> Result<Vec<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(UserRow::into_user)
                .collect()
            }

            async fn prune(&self, now: Timestamp, stopped_before: Timestamp) -> Result<Pruned> {
                let tokens = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
                    .bind(millis(now))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let services = sqlx::query(
                    "DELETE FROM services WHERE running = $1 AND stopped_at < $2",
                )
                .bind(false)
                .bind(millis(stopped_before))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(Pruned {
                    revoked_tokens: tokens.rows_affected(),
                    services: services.rows_affected(),
                })
            }
        }
    };
}

impl_ops_store!(crate::sqlite::SqliteStore);
impl_ops_store!(crate::postgres::PgStore);
