//! [`KeyStore`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder
//! and type rules that let the same text run on SQLite and PostgreSQL).

use crate::convert::{key_version, millis, parse, timestamp, to_u32, to_u64};
use crate::error::{Result, StoreError};
use crate::keys::{CellFileBlob, KeyStore, KeyUsage, SnapshotBlobs, Stale, WrappedKey};
use std::collections::BTreeMap;
use switchboard_core::AccountId;

/// A `data_keys` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DataKeyRow {
    account_id: String,
    version: i64,
    wrapped: Vec<u8>,
    master_key_id: String,
    created_at: i64,
}

impl DataKeyRow {
    fn into_key(self) -> Result<WrappedKey> {
        Ok(WrappedKey {
            account_id: parse(&self.account_id, "data_keys.account_id")?,
            version: to_u32(self.version, "data_keys.version")?,
            wrapped: self.wrapped,
            master_key_id: self.master_key_id,
            created_at: timestamp(self.created_at, "data_keys.created_at")?,
        })
    }
}

const KEY_SELECT: &str =
    "SELECT account_id, version, wrapped, master_key_id, created_at FROM data_keys";

/// A snapshot row as re-encryption reads it.
type SnapshotBlobRow = (String, String, Vec<u8>, Option<Vec<u8>>, Option<i64>);
/// A cell file row as re-encryption reads it.
type CellFileBlobRow = (String, String, String, Vec<u8>, Option<i64>);

fn snapshot_blobs(row: SnapshotBlobRow) -> Result<SnapshotBlobs> {
    let (id, account_id, jpeg, signature, version) = row;
    Ok(SnapshotBlobs {
        id: parse(&id, "snapshots.id")?,
        account_id: parse(&account_id, "snapshots.account_id")?,
        jpeg,
        signature,
        key_version: key_version(version, "snapshots.key_version")?,
    })
}

fn cell_file_blob(row: CellFileBlobRow) -> Result<CellFileBlob> {
    let (cell_id, account_id, name, content, version) = row;
    Ok(CellFileBlob {
        cell_id: parse(&cell_id, "cell_files.cell_id")?,
        account_id: parse(&account_id, "cells.account_id")?,
        name,
        content,
        key_version: key_version(version, "cell_files.key_version")?,
    })
}

/// The key version as bound to a statement.
fn bind_version(version: Option<u32>) -> Option<i64> {
    version.map(i64::from)
}

/// Implements [`KeyStore`] for a store type with a `pool` field.
macro_rules! impl_key_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl KeyStore for $store {
            async fn data_keys(&self, account: AccountId) -> Result<Vec<WrappedKey>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{KEY_SELECT} WHERE account_id = $1 ORDER BY version"
                ));
                sqlx::query_as::<_, DataKeyRow>(sql)
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(DataKeyRow::into_key)
                    .collect()
            }

            async fn all_data_keys(&self) -> Result<Vec<WrappedKey>> {
                let sql = sqlx::AssertSqlSafe(format!("{KEY_SELECT} ORDER BY account_id, version"));
                sqlx::query_as::<_, DataKeyRow>(sql)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(DataKeyRow::into_key)
                    .collect()
            }

            async fn any_data_key(&self) -> Result<Option<WrappedKey>> {
                let sql = sqlx::AssertSqlSafe(format!("{KEY_SELECT} ORDER BY created_at DESC LIMIT 1"));
                sqlx::query_as::<_, DataKeyRow>(sql)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .map(DataKeyRow::into_key)
                    .transpose()
            }

            async fn insert_data_key(&self, key: &WrappedKey) -> Result<()> {
                sqlx::query(
                    "INSERT INTO data_keys (account_id, version, wrapped, master_key_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(key.account_id.to_string())
                .bind(i64::from(key.version))
                .bind(key.wrapped.as_slice())
                .bind(&key.master_key_id)
                .bind(millis(key.created_at))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn rewrap_data_keys(&self, from_master: &str, keys: &[WrappedKey]) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // The first statement writes, so SQLite takes its write lock at once.
                for key in keys {
                    let done = sqlx::query(
                        "UPDATE data_keys SET wrapped = $1, master_key_id = $2 \
                         WHERE account_id = $3 AND version = $4 AND master_key_id = $5",
                    )
                    .bind(key.wrapped.as_slice())
                    .bind(&key.master_key_id)
                    .bind(key.account_id.to_string())
                    .bind(i64::from(key.version))
                    .bind(from_master)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict(format!(
                            "data key {} of account {} is not wrapped by master key {from_master}",
                            key.version, key.account_id
                        )));
                    }
                }
                let (left,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM data_keys WHERE master_key_id = $1")
                        .bind(from_master)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                if left != 0 {
                    return Err(StoreError::Conflict(format!(
                        "{left} data keys were added while rotating; rotate again"
                    )));
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn delete_unused_data_key(&self, account: AccountId, version: u32) -> Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM data_keys WHERE account_id = $1 AND version = $2 \
                     AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.account_id = $1 AND s.key_version = $2) \
                     AND NOT EXISTS (SELECT 1 FROM cell_files f JOIN cells c ON c.id = f.cell_id \
                                     WHERE c.account_id = $1 AND f.key_version = $2) \
                     AND NOT EXISTS (SELECT 1 FROM taught_objects t WHERE t.account_id = $1 AND t.key_version = $2)",
                )
                .bind(account.to_string())
                .bind(i64::from(version))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn stale_snapshots(&self, which: Stale, after: &str, limit: u32) -> Result<Vec<SnapshotBlobs>> {
                let rows: Vec<SnapshotBlobRow> = match which {
                    Stale::Plain => sqlx::query_as::<_, SnapshotBlobRow>(
                        "SELECT id, account_id, jpeg, signature, key_version FROM snapshots \
                         WHERE key_version IS NULL AND id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await,
                    Stale::Below { account, version } => sqlx::query_as::<_, SnapshotBlobRow>(
                        "SELECT id, account_id, jpeg, signature, key_version FROM snapshots \
                         WHERE account_id = $1 AND (key_version IS NULL OR key_version < $2) \
                         AND id > $3 ORDER BY id LIMIT $4",
                    )
                    .bind(account.to_string())
                    .bind(i64::from(version))
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await,
                }
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(snapshot_blobs).collect()
            }

            async fn reseal_snapshot(&self, old: &SnapshotBlobs, new: &SnapshotBlobs) -> Result<bool> {
                // The picture never changes once stored; its signature and key version may
                // (detection, another node's pass), so those are the condition.
                let done = sqlx::query(
                    "UPDATE snapshots SET jpeg = $1, signature = $2, key_version = $3 \
                     WHERE id = $4 AND key_version IS NOT DISTINCT FROM $5 \
                     AND signature IS NOT DISTINCT FROM $6",
                )
                .bind(new.jpeg.as_slice())
                .bind(new.signature.as_deref())
                .bind(bind_version(new.key_version))
                .bind(old.id.to_string())
                .bind(bind_version(old.key_version))
                .bind(old.signature.as_deref())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn stale_cell_files(
                &self,
                which: Stale,
                after: &(String, String),
                limit: u32,
            ) -> Result<Vec<CellFileBlob>> {
                let rows: Vec<CellFileBlobRow> = match which {
                    Stale::Plain => sqlx::query_as::<_, CellFileBlobRow>(
                        "SELECT f.cell_id, c.account_id, f.name, f.content, f.key_version \
                         FROM cell_files f JOIN cells c ON c.id = f.cell_id \
                         WHERE f.key_version IS NULL AND (f.cell_id, f.name) > ($1, $2) \
                         ORDER BY f.cell_id, f.name LIMIT $3",
                    )
                    .bind(&after.0)
                    .bind(&after.1)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await,
                    Stale::Below { account, version } => sqlx::query_as::<_, CellFileBlobRow>(
                        "SELECT f.cell_id, c.account_id, f.name, f.content, f.key_version \
                         FROM cell_files f JOIN cells c ON c.id = f.cell_id \
                         WHERE c.account_id = $1 AND (f.key_version IS NULL OR f.key_version < $2) \
                         AND (f.cell_id, f.name) > ($3, $4) \
                         ORDER BY f.cell_id, f.name LIMIT $5",
                    )
                    .bind(account.to_string())
                    .bind(i64::from(version))
                    .bind(&after.0)
                    .bind(&after.1)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await,
                }
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(cell_file_blob).collect()
            }

            async fn reseal_cell_file(&self, old: &CellFileBlob, new: &CellFileBlob) -> Result<bool> {
                // A later run may have replaced the file meanwhile: then its content differs.
                let done = sqlx::query(
                    "UPDATE cell_files SET content = $1, key_version = $2 \
                     WHERE cell_id = $3 AND name = $4 AND key_version IS NOT DISTINCT FROM $5 \
                     AND content = $6",
                )
                .bind(new.content.as_slice())
                .bind(bind_version(new.key_version))
                .bind(old.cell_id.to_string())
                .bind(&old.name)
                .bind(bind_version(old.key_version))
                .bind(old.content.as_slice())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn key_usage(&self) -> Result<Vec<KeyUsage>> {
                let snapshots: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT account_id, key_version, COUNT(*) FROM snapshots \
                     GROUP BY account_id, key_version",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let files: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT c.account_id, f.key_version, COUNT(*) FROM cell_files f \
                     JOIN cells c ON c.id = f.cell_id GROUP BY c.account_id, f.key_version",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let taught: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT account_id, key_version, COUNT(*) FROM taught_objects \
                     GROUP BY account_id, key_version",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let mut usage: BTreeMap<(String, Option<i64>), (u64, u64, u64)> = BTreeMap::new();
                for (account, version, count) in snapshots {
                    usage.entry((account, version)).or_default().0 = to_u64(count, "snapshots")?;
                }
                for (account, version, count) in files {
                    usage.entry((account, version)).or_default().1 = to_u64(count, "cell_files")?;
                }
                for (account, version, count) in taught {
                    usage.entry((account, version)).or_default().2 =
                        to_u64(count, "taught_objects")?;
                }
                usage
                    .into_iter()
                    .map(|((account, version), (snapshots, cell_files, taught_objects))| {
                        Ok(KeyUsage {
                            account_id: parse(&account, "account_id")?,
                            key_version: key_version(version, "key_version")?,
                            snapshots,
                            cell_files,
                            taught_objects,
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_key_store!(crate::sqlite::SqliteStore);
impl_key_store!(crate::postgres::PgStore);
