//! [`LeaseStore`] for both backends from one set of SQL (see `ops_sql.rs` for the rules).

use crate::convert::{millis, parse, timestamp};
use crate::error::{Result, StoreError};
use crate::leases::LeaseStore;
use switchboard_core::{Suid, Timestamp};

/// Implements [`LeaseStore`] for a store type with a `pool` field.
macro_rules! impl_lease_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl LeaseStore for $store {
            async fn claim_sessions(
                &self,
                node: &str,
                now: Timestamp,
                until: Timestamp,
            ) -> Result<Vec<Suid>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "UPDATE sessions SET owner_node = $1, lease_until = $2 \
                     WHERE state <> 'ended' \
                     AND (owner_node = $1 OR owner_node IS NULL OR lease_until IS NULL OR lease_until < $3) \
                     RETURNING suid",
                )
                .bind(node)
                .bind(millis(until))
                .bind(millis(now))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(suid,)| parse(&suid, "sessions.suid"))
                    .collect()
            }

            async fn claim_session(
                &self,
                suid: Suid,
                node: &str,
                now: Timestamp,
                until: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE sessions SET owner_node = $1, lease_until = $2 \
                     WHERE suid = $4 AND state <> 'ended' \
                     AND (owner_node = $1 OR owner_node IS NULL OR lease_until IS NULL OR lease_until < $3)",
                )
                .bind(node)
                .bind(millis(until))
                .bind(millis(now))
                .bind(suid.to_string())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_sessions(&self, node: &str) -> Result<u64> {
                Ok(sqlx::query(
                    "UPDATE sessions SET lease_until = NULL WHERE owner_node = $1 AND state <> 'ended'",
                )
                .bind(node)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .rows_affected())
            }

            async fn session_owner(&self, suid: Suid) -> Result<Option<(String, Timestamp)>> {
                let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT owner_node, lease_until FROM sessions WHERE suid = $1 AND state <> 'ended'",
                )
                .bind(suid.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                match row {
                    Some((Some(node), Some(until))) => {
                        Ok(Some((node, timestamp(until, "sessions.lease_until")?)))
                    }
                    _ => Ok(None),
                }
            }
        }
    };
}

impl_lease_store!(crate::sqlite::SqliteStore);
impl_lease_store!(crate::postgres::PgStore);
