//! [`CameraStore`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder
//! and type rules that let the same text run on SQLite and PostgreSQL).

use crate::cameras::{
    Camera, CameraStore, NewSnapshot, PendingSnapshot, SearchHit, SnapshotSearch, SnapshotState,
    StoredDetection,
};
use crate::convert::{known, millis, parse, timestamp, timestamp_opt, to_i64, to_u64};
use crate::{Result, StoreError};
use switchboard_core::{AccountId, Timestamp};
use uuid::Uuid;

/// A `cameras` row with its newest snapshot.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CameraRow {
    id: String,
    account_id: String,
    name: String,
    created_at: i64,
    last_seen_at: Option<i64>,
    uploads: i64,
    last_snapshot_id: Option<String>,
    last_snapshot_at: Option<i64>,
}

impl CameraRow {
    fn into_camera(self) -> Result<Camera> {
        Ok(Camera {
            id: parse(&self.id, "cameras.id")?,
            account_id: parse(&self.account_id, "cameras.account_id")?,
            name: self.name,
            created_at: timestamp(self.created_at, "cameras.created_at")?,
            last_seen_at: timestamp_opt(self.last_seen_at, "cameras.last_seen_at")?,
            uploads: to_u64(self.uploads, "cameras.uploads")?,
            last_snapshot_id: self
                .last_snapshot_id
                .as_deref()
                .map(|id| parse(id, "snapshots.id"))
                .transpose()?,
            last_snapshot_at: timestamp_opt(self.last_snapshot_at, "snapshots.taken_at")?,
        })
    }
}

const CAMERA_SELECT: &str = "SELECT c.id, c.account_id, c.name, c.created_at, c.last_seen_at, c.uploads, \
     (SELECT s.id FROM snapshots s WHERE s.camera_id = c.id ORDER BY s.taken_at DESC, s.id DESC LIMIT 1) AS last_snapshot_id, \
     (SELECT MAX(s.taken_at) FROM snapshots s WHERE s.camera_id = c.id) AS last_snapshot_at \
     FROM cameras c";

/// A `detections` row's object.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DetectionRow {
    label: String,
    confidence: f64,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl DetectionRow {
    fn into_detection(self) -> StoredDetection {
        StoredDetection {
            label: self.label,
            confidence: self.confidence,
            x: self.x,
            y: self.y,
            w: self.w,
            h: self.h,
        }
    }
}

/// A search result row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HitRow {
    snapshot_id: String,
    camera_id: String,
    camera_name: String,
    taken_at: i64,
    #[sqlx(flatten)]
    detection: DetectionRow,
}

/// Implements [`CameraStore`] for a store type with a `pool` field of the given sqlx database.
macro_rules! impl_camera_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl CameraStore for $store {
            async fn create_camera(&self, c: &Camera, token_hash: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO cameras (id, account_id, name, token_hash, created_at, last_seen_at, uploads) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(c.id.to_string())
                .bind(c.account_id.to_string())
                .bind(&c.name)
                .bind(token_hash)
                .bind(millis(c.created_at))
                .bind(c.last_seen_at.map(millis))
                .bind(to_i64(c.uploads, "uploads")?)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn cameras(&self, account: AccountId) -> Result<Vec<Camera>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{CAMERA_SELECT} WHERE c.account_id = $1 ORDER BY c.created_at, c.id"
                ));
                sqlx::query_as::<_, CameraRow>(sql)
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(CameraRow::into_camera)
                    .collect()
            }

            async fn camera(&self, account: AccountId, id: Uuid) -> Result<Camera> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{CAMERA_SELECT} WHERE c.account_id = $1 AND c.id = $2"
                ));
                sqlx::query_as::<_, CameraRow>(sql)
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .ok_or(StoreError::NotFound)?
                    .into_camera()
            }

            async fn camera_credentials(&self, id: Uuid) -> Result<(AccountId, String)> {
                let row: Option<(String, String)> =
                    sqlx::query_as("SELECT account_id, token_hash FROM cameras WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                let (account, hash) = row.ok_or(StoreError::NotFound)?;
                Ok((parse(&account, "cameras.account_id")?, hash))
            }

            async fn set_camera_token(&self, account: AccountId, id: Uuid, token_hash: &str) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE cameras SET token_hash = $1 WHERE id = $2 AND account_id = $3",
                )
                .bind(token_hash)
                .bind(id.to_string())
                .bind(account.to_string())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn insert_snapshot(&self, s: &NewSnapshot) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let counted = sqlx::query(
                    "UPDATE cameras SET uploads = uploads + 1, last_seen_at = $1 \
                     WHERE id = $2 AND account_id = $3",
                )
                .bind(millis(s.received_at))
                .bind(s.camera_id.to_string())
                .bind(s.account_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if counted.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                sqlx::query(
                    "INSERT INTO snapshots (id, camera_id, account_id, taken_at, received_at, bytes, jpeg, state, duplicate) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(s.id.to_string())
                .bind(s.camera_id.to_string())
                .bind(s.account_id.to_string())
                .bind(millis(s.taken_at))
                .bind(millis(s.received_at))
                .bind(to_i64(s.jpeg.len() as u64, "snapshot bytes")?)
                .bind(s.jpeg.as_slice())
                .bind(SnapshotState::Pending.as_str())
                .bind(s.duplicate)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn pending_snapshots(&self, limit: u32) -> Result<Vec<PendingSnapshot>> {
                let rows: Vec<(String, String, String, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT id, camera_id, account_id, taken_at, jpeg FROM snapshots \
                     WHERE state = $1 ORDER BY received_at, id LIMIT $2",
                )
                .bind(SnapshotState::Pending.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(id, camera_id, account_id, taken_at, jpeg)| {
                        Ok(PendingSnapshot {
                            id: parse(&id, "snapshots.id")?,
                            camera_id: parse(&camera_id, "snapshots.camera_id")?,
                            account_id: parse(&account_id, "snapshots.account_id")?,
                            taken_at: timestamp(taken_at, "snapshots.taken_at")?,
                            jpeg,
                        })
                    })
                    .collect()
            }

            async fn finish_snapshot(&self, id: Uuid, state: SnapshotState, detections: &[StoredDetection]) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let done = sqlx::query("UPDATE snapshots SET state = $1 WHERE id = $2")
                    .bind(state.as_str())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                let (camera_id, account_id, taken_at): (String, String, i64) = sqlx::query_as(
                    "SELECT camera_id, account_id, taken_at FROM snapshots WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                sqlx::query("DELETE FROM detections WHERE snapshot_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                for d in detections {
                    sqlx::query(
                        "INSERT INTO detections (snapshot_id, account_id, camera_id, label, confidence, x, y, w, h, taken_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(id.to_string())
                    .bind(&account_id)
                    .bind(&camera_id)
                    .bind(&d.label)
                    .bind(d.confidence)
                    .bind(d.x)
                    .bind(d.y)
                    .bind(d.w)
                    .bind(d.h)
                    .bind(taken_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn snapshot_state(&self, account: AccountId, id: Uuid) -> Result<SnapshotState> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT state FROM snapshots WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                let (state,) = row.ok_or(StoreError::NotFound)?;
                known(&state, "snapshots.state", SnapshotState::parse)
            }

            async fn search_snapshots(&self, q: &SnapshotSearch) -> Result<Vec<SearchHit>> {
                if q.labels.is_empty() || q.limit == 0 {
                    return Ok(Vec::new());
                }
                let labels = (0..q.labels.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let n = q.labels.len() + 2;
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT t.snapshot_id, t.camera_id, c.name AS camera_name, t.taken_at, \
                     t.label, t.confidence, t.x, t.y, t.w, t.h FROM ( \
                       SELECT d.snapshot_id, d.camera_id, d.taken_at, d.label, d.confidence, d.x, d.y, d.w, d.h, \
                       ROW_NUMBER() OVER (PARTITION BY d.snapshot_id, d.label ORDER BY d.confidence DESC, d.id) AS rn \
                       FROM detections d WHERE d.account_id = $1 AND d.label IN ({labels}) \
                       AND (d.camera_id = ${} OR ${}) AND d.taken_at >= ${} AND d.taken_at < ${} \
                     ) t JOIN cameras c ON c.id = t.camera_id WHERE t.rn = 1 \
                     ORDER BY t.taken_at DESC, t.snapshot_id DESC, t.confidence DESC LIMIT ${}",
                    n,
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4
                ));
                let mut query = sqlx::query_as::<_, HitRow>(sql).bind(q.account_id.to_string());
                for label in &q.labels {
                    query = query.bind(label);
                }
                query
                    .bind(q.camera_id.map(|c| c.to_string()).unwrap_or_default())
                    .bind(q.camera_id.is_none())
                    .bind(q.since.map_or(i64::MIN, millis))
                    .bind(q.until.map_or(i64::MAX, millis))
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(|row| {
                        Ok(SearchHit {
                            snapshot_id: parse(&row.snapshot_id, "detections.snapshot_id")?,
                            camera_id: parse(&row.camera_id, "detections.camera_id")?,
                            camera_name: row.camera_name,
                            taken_at: timestamp(row.taken_at, "detections.taken_at")?,
                            detection: row.detection.into_detection(),
                        })
                    })
                    .collect()
            }

            async fn snapshot_jpeg(&self, account: AccountId, id: Uuid) -> Result<Vec<u8>> {
                let row: Option<(Vec<u8>,)> =
                    sqlx::query_as("SELECT jpeg FROM snapshots WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                Ok(row.ok_or(StoreError::NotFound)?.0)
            }

            async fn snapshot_detections(&self, account: AccountId, id: Uuid) -> Result<Vec<StoredDetection>> {
                // The snapshot must exist in this account even when nothing was detected in it.
                self.snapshot_state(account, id).await?;
                Ok(sqlx::query_as::<_, DetectionRow>(
                    "SELECT label, confidence, x, y, w, h FROM detections \
                     WHERE account_id = $1 AND snapshot_id = $2 ORDER BY confidence DESC, id",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(DetectionRow::into_detection)
                .collect())
            }

            async fn prune_snapshots(&self, before: Timestamp, max_bytes: Option<u64>) -> Result<u64> {
                let old = sqlx::query("DELETE FROM snapshots WHERE taken_at < $1")
                    .bind(millis(before))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected();
                let Some(max_bytes) = max_bytes else { return Ok(old) };
                // Keep the newest snapshots whose running total fits; the rest go.
                let over = sqlx::query(
                    "DELETE FROM snapshots WHERE id IN (SELECT id FROM \
                     (SELECT id, SUM(bytes) OVER (ORDER BY taken_at DESC, id DESC) AS running FROM snapshots) t \
                     WHERE t.running > $1)",
                )
                .bind(to_i64(max_bytes, "max_bytes")?)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .rows_affected();
                Ok(old + over)
            }
        }
    };
}

impl_camera_store!(crate::sqlite::SqliteStore);
impl_camera_store!(crate::postgres::PgStore);
