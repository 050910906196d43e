//! [`CellStore`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder
//! and type rules that let the same text run on SQLite and PostgreSQL).

use crate::cells::{Cell, CellFile, CellStore};
use crate::convert::{key_version, millis, parse, timestamp, to_i64, to_u64};
use crate::error::{Result, StoreError};
use crate::types::StoredBlob;
use switchboard_core::Timestamp;
use uuid::Uuid;

/// A `cells` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CellRow {
    id: String,
    permalink: String,
    account_id: String,
    owner_id: String,
    kernel: String,
    code: String,
    created_at: i64,
}

impl CellRow {
    fn into_cell(self) -> Result<Cell> {
        Ok(Cell {
            id: parse(&self.id, "cells.id")?,
            permalink: self.permalink,
            account_id: parse(&self.account_id, "cells.account_id")?,
            owner: parse(&self.owner_id, "cells.owner_id")?,
            kernel: self.kernel,
            code: self.code,
            created_at: timestamp(self.created_at, "cells.created_at")?,
        })
    }
}

const CELL_SELECT: &str =
    "SELECT id, permalink, account_id, owner_id, kernel, code, created_at FROM cells";

fn cell_file(name: String, size: i64, updated_at: i64) -> Result<CellFile> {
    Ok(CellFile {
        name,
        size: to_u64(size, "cell_files.size")?,
        updated_at: timestamp(updated_at, "cell_files.updated_at")?,
    })
}

/// Implements [`CellStore`] for a store type with a `pool` field of the given sqlx database.
macro_rules! impl_cell_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl CellStore for $store {
            async fn create_cell(&self, c: &Cell) -> Result<()> {
                // The account is checked first: a foreign-key failure would read as `Other`.
                let account: Option<(String,)> = sqlx::query_as("SELECT id FROM accounts WHERE id = $1")
                    .bind(c.account_id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if account.is_none() {
                    return Err(StoreError::NotFound);
                }
                sqlx::query(
                    "INSERT INTO cells (id, permalink, account_id, owner_id, kernel, code, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(c.id.to_string())
                .bind(&c.permalink)
                .bind(c.account_id.to_string())
                .bind(c.owner.to_string())
                .bind(&c.kernel)
                .bind(&c.code)
                .bind(millis(c.created_at))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn cell(&self, id: Uuid) -> Result<Cell> {
                let sql = sqlx::AssertSqlSafe(format!("{CELL_SELECT} WHERE id = $1"));
                sqlx::query_as::<_, CellRow>(sql)
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .ok_or(StoreError::NotFound)?
                    .into_cell()
            }

            async fn cell_by_permalink(&self, permalink: &str) -> Result<Cell> {
                let sql = sqlx::AssertSqlSafe(format!("{CELL_SELECT} WHERE permalink = $1"));
                sqlx::query_as::<_, CellRow>(sql)
                    .bind(permalink)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .ok_or(StoreError::NotFound)?
                    .into_cell()
            }

            async fn put_cell_file(
                &self,
                cell: Uuid,
                name: &str,
                content: &StoredBlob,
                size: u64,
                at: Timestamp,
                max_files: u32,
            ) -> Result<CellFile> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // Locks the cell's row on PostgreSQL, so two nodes storing files of one cell
                // at once cannot both pass the count check (SQLite writes one at a time).
                let exists = sqlx::query("UPDATE cells SET id = id WHERE id = $1")
                    .bind(cell.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if exists.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                let (others,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM cell_files WHERE cell_id = $1 AND name <> $2",
                )
                .bind(cell.to_string())
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if others >= i64::from(max_files) {
                    return Err(StoreError::Conflict(format!(
                        "the cell already has {others} files, the most it may"
                    )));
                }
                let size = to_i64(size, "cell file size")?;
                sqlx::query(
                    "INSERT INTO cell_files (cell_id, name, size, content, updated_at, key_version) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (cell_id, name) DO UPDATE SET size = excluded.size, \
                     content = excluded.content, updated_at = excluded.updated_at, \
                     key_version = excluded.key_version",
                )
                .bind(cell.to_string())
                .bind(name)
                .bind(size)
                .bind(content.bytes.as_slice())
                .bind(millis(at))
                .bind(content.key_version.map(i64::from))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                cell_file(name.to_owned(), size, millis(at))
            }

            async fn cell_files(&self, cell: Uuid) -> Result<Vec<CellFile>> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT name, size, updated_at FROM cell_files WHERE cell_id = $1 ORDER BY name",
                )
                .bind(cell.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(name, size, updated_at)| cell_file(name, size, updated_at))
                    .collect()
            }

            async fn cell_file(&self, cell: Uuid, name: &str) -> Result<(CellFile, StoredBlob)> {
                let row: Option<(String, i64, i64, Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT name, size, updated_at, content, key_version FROM cell_files \
                     WHERE cell_id = $1 AND name = $2",
                )
                .bind(cell.to_string())
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (name, size, updated_at, bytes, version) = row.ok_or(StoreError::NotFound)?;
                let content = StoredBlob {
                    bytes,
                    key_version: key_version(version, "cell_files.key_version")?,
                };
                Ok((cell_file(name, size, updated_at)?, content))
            }
        }
    };
}

impl_cell_store!(crate::sqlite::SqliteStore);
impl_cell_store!(crate::postgres::PgStore);
