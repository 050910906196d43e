//! [`CameraStore`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder
//! and type rules that let the same text run on SQLite and PostgreSQL).

use crate::cameras::{
    Camera, CameraAccess, CameraStore, Discard, NewSnapshot, PendingSnapshot, PreviousSnapshot,
    SearchHit, SnapshotInfo, SnapshotSearch, SnapshotState, StoredDetection,
};
use crate::convert::{key_version, known, millis, parse, timestamp, timestamp_opt, to_i64, to_u64};
use crate::error::{Result, StoreError};
use crate::types::StoredBlob;
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
    snapshots_last_hour: i64,
    deduplicated: i64,
    discarded: i64,
    live_suid: Option<String>,
    only_person: bool,
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
            snapshots_last_hour: to_u64(self.snapshots_last_hour, "snapshots_last_hour")?,
            deduplicated: to_u64(self.deduplicated, "cameras.deduplicated")?,
            discarded: to_u64(self.discarded, "cameras.discarded")?,
            live_suid: self
                .live_suid
                .as_deref()
                .map(|id| parse(id, "cameras.live_suid"))
                .transpose()?,
            only_person: self.only_person,
        })
    }
}

/// `$1` is the start of the last hour (for `snapshots_last_hour`).
const CAMERA_SELECT: &str = "SELECT c.id, c.account_id, c.name, c.created_at, c.last_seen_at, c.uploads, \
     (SELECT s.id FROM snapshots s WHERE s.camera_id = c.id ORDER BY s.taken_at DESC, s.id DESC LIMIT 1) AS last_snapshot_id, \
     (SELECT MAX(s.taken_at) FROM snapshots s WHERE s.camera_id = c.id) AS last_snapshot_at, \
     (SELECT COUNT(*) FROM snapshots s WHERE s.camera_id = c.id AND s.received_at >= $1) AS snapshots_last_hour, \
     c.deduplicated, c.discarded, c.live_suid, c.only_person \
     FROM cameras c";

/// Where "the last hour" of [`CAMERA_SELECT`] starts.
fn hour_ago() -> i64 {
    millis(chrono::Utc::now()) - 3_600_000
}

/// The most detection rows one search query reads; pages start at twice the snapshots
/// asked for (most snapshots hold one box of a label) and double while more are needed.
const SEARCH_PAGE_MAX: i64 = 1024;

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

/// One detection read by search.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SearchRow {
    id: i64,
    snapshot_id: String,
    camera_id: String,
    taken_at: i64,
    label: String,
    confidence: f64,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// One snapshot's detections of one label, as search meets them (consecutively), keeping
/// the most confident.
#[derive(Debug)]
struct SearchGroup {
    row: SearchRow,
}

fn add_to_groups(groups: &mut Vec<SearchGroup>, row: SearchRow) {
    if let Some(last) = groups.last_mut()
        && last.row.snapshot_id == row.snapshot_id
    {
        // Rows come newest id first: on a tie the earlier-stored box wins.
        if row.confidence >= last.row.confidence {
            last.row = row;
        }
        return;
    }
    groups.push(SearchGroup { row });
}

/// Implements [`CameraStore`] for a store type with a `pool` field of the given sqlx database.
macro_rules! impl_camera_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl CameraStore for $store {
            async fn create_camera(&self, c: &Camera, token_hash: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO cameras (id, account_id, name, token_hash, created_at, last_seen_at, uploads, only_person) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(c.id.to_string())
                .bind(c.account_id.to_string())
                .bind(&c.name)
                .bind(token_hash)
                .bind(millis(c.created_at))
                .bind(c.last_seen_at.map(millis))
                .bind(to_i64(c.uploads, "uploads")?)
                .bind(c.only_person)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn cameras(&self, account: AccountId) -> Result<Vec<Camera>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{CAMERA_SELECT} WHERE c.account_id = $2 ORDER BY c.created_at, c.id"
                ));
                sqlx::query_as::<_, CameraRow>(sql)
                    .bind(hour_ago())
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
                    "{CAMERA_SELECT} WHERE c.account_id = $2 AND c.id = $3"
                ));
                sqlx::query_as::<_, CameraRow>(sql)
                    .bind(hour_ago())
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .ok_or(StoreError::NotFound)?
                    .into_camera()
            }

            async fn camera_access(&self, id: Uuid) -> Result<CameraAccess> {
                let row: Option<(String, String, bool, Option<String>)> = sqlx::query_as(
                    "SELECT account_id, token_hash, only_person, live_suid FROM cameras WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (account, token_hash, only_person, live) = row.ok_or(StoreError::NotFound)?;
                Ok(CameraAccess {
                    account_id: parse(&account, "cameras.account_id")?,
                    token_hash,
                    only_person,
                    live_suid: live
                        .as_deref()
                        .map(|s| parse(s, "cameras.live_suid"))
                        .transpose()?,
                })
            }

            async fn update_camera(
                &self,
                account: AccountId,
                id: Uuid,
                name: Option<&str>,
                only_person: Option<bool>,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE cameras SET name = COALESCE($1, name), only_person = COALESCE($2, only_person) \
                     WHERE id = $3 AND account_id = $4",
                )
                .bind(name)
                .bind(only_person)
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
                    "INSERT INTO snapshots (id, camera_id, account_id, taken_at, received_at, bytes, jpeg, state, key_version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(s.id.to_string())
                .bind(s.camera_id.to_string())
                .bind(s.account_id.to_string())
                .bind(millis(s.taken_at))
                .bind(millis(s.received_at))
                .bind(to_i64(s.size, "snapshot bytes")?)
                .bind(s.jpeg.as_slice())
                .bind(SnapshotState::Pending.as_str())
                .bind(s.key_version.map(i64::from))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn pending_snapshots(&self, limit: u32) -> Result<Vec<PendingSnapshot>> {
                let rows: Vec<(String, String, String, i64, Vec<u8>, Option<i64>, bool)> = sqlx::query_as(
                    "SELECT s.id, s.camera_id, s.account_id, s.taken_at, s.jpeg, s.key_version, c.only_person \
                     FROM snapshots s JOIN cameras c ON c.id = s.camera_id \
                     WHERE s.state = $1 ORDER BY s.received_at, s.id LIMIT $2",
                )
                .bind(SnapshotState::Pending.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(id, camera_id, account_id, taken_at, jpeg, version, only_person)| {
                        Ok(PendingSnapshot {
                            id: parse(&id, "snapshots.id")?,
                            camera_id: parse(&camera_id, "snapshots.camera_id")?,
                            account_id: parse(&account_id, "snapshots.account_id")?,
                            taken_at: timestamp(taken_at, "snapshots.taken_at")?,
                            jpeg,
                            key_version: key_version(version, "snapshots.key_version")?,
                            only_person,
                        })
                    })
                    .collect()
            }

            async fn finish_snapshot(
                &self,
                id: Uuid,
                state: SnapshotState,
                detections: &[StoredDetection],
                signature: Option<&[u8]>,
                version: Option<u32>,
            ) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let done = sqlx::query(
                    "UPDATE snapshots SET state = $1, \
                     signature = CASE WHEN key_version IS NOT DISTINCT FROM $4 THEN $2 ELSE NULL END \
                     WHERE id = $3",
                )
                    .bind(state.as_str())
                    .bind(signature)
                    .bind(id.to_string())
                    .bind(version.map(i64::from))
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
                let limit = usize::try_from(q.limit).unwrap_or(usize::MAX);
                let mut hits = Vec::new();
                for label in &q.labels {
                    let mut groups: Vec<SearchGroup> = Vec::new();
                    // Keyset paging over the (account, label, taken_at, snapshot, id) index,
                    // newest first: `until` is the first cursor, so the scan never sorts.
                    let mut cursor = (q.until.map_or(i64::MAX, millis), String::new(), 0_i64);
                    let mut page = (i64::from(q.limit) + 1).saturating_mul(2).min(SEARCH_PAGE_MAX);
                    loop {
                        let rows: Vec<SearchRow> = sqlx::query_as(
                            "SELECT d.id, d.snapshot_id, d.camera_id, d.taken_at, d.label, d.confidence, d.x, d.y, d.w, d.h \
                             FROM detections d WHERE d.account_id = $1 AND d.label = $2 \
                             AND (d.taken_at, d.snapshot_id, d.id) < ($3, $4, $5) AND d.taken_at >= $6 \
                             AND (d.camera_id = $7 OR $8) \
                             ORDER BY d.taken_at DESC, d.snapshot_id DESC, d.id DESC LIMIT $9",
                        )
                        .bind(q.account_id.to_string())
                        .bind(label)
                        .bind(cursor.0)
                        .bind(&cursor.1)
                        .bind(cursor.2)
                        .bind(q.since.map_or(i64::MIN, millis))
                        .bind(q.camera_id.map(|c| c.to_string()).unwrap_or_default())
                        .bind(q.camera_id.is_none())
                        .bind(page)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                        let full = rows.len() as i64 == page;
                        page = page.saturating_mul(2).min(SEARCH_PAGE_MAX);
                        if let Some(last) = rows.last() {
                            cursor = (last.taken_at, last.snapshot_id.clone(), last.id);
                        }
                        for row in rows {
                            add_to_groups(&mut groups, row);
                        }
                        // Once a group past the limit has begun, the first `limit` are whole.
                        if !full || groups.len() > limit {
                            break;
                        }
                    }
                    groups.truncate(limit);
                    hits.extend(groups);
                }
                hits.sort_by(|a, b| {
                    b.row.taken_at
                        .cmp(&a.row.taken_at)
                        .then_with(|| b.row.snapshot_id.cmp(&a.row.snapshot_id))
                        .then_with(|| b.row.confidence.total_cmp(&a.row.confidence))
                });
                hits.truncate(limit);
                let names: std::collections::HashMap<String, String> =
                    sqlx::query_as::<_, (String, String)>("SELECT id, name FROM cameras WHERE account_id = $1")
                        .bind(q.account_id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .into_iter()
                        .collect();
                hits.into_iter()
                    .map(|group| {
                        let row = group.row;
                        Ok(SearchHit {
                            snapshot_id: parse(&row.snapshot_id, "detections.snapshot_id")?,
                            camera_id: parse(&row.camera_id, "detections.camera_id")?,
                            camera_name: names.get(&row.camera_id).cloned().unwrap_or_default(),
                            taken_at: timestamp(row.taken_at, "detections.taken_at")?,
                            detection: StoredDetection {
                                label: row.label,
                                confidence: row.confidence,
                                x: row.x,
                                y: row.y,
                                w: row.w,
                                h: row.h,
                            },
                        })
                    })
                    .collect()
            }

            async fn previous_snapshot(
                &self,
                camera_id: Uuid,
                taken_at: Timestamp,
                except: Uuid,
            ) -> Result<Option<PreviousSnapshot>> {
                let row: Option<(String, Option<Vec<u8>>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, signature, key_version FROM snapshots WHERE camera_id = $1 AND taken_at <= $2 \
                     AND id <> $3 AND state = $4 ORDER BY taken_at DESC, id DESC LIMIT 1",
                )
                .bind(camera_id.to_string())
                .bind(millis(taken_at))
                .bind(except.to_string())
                .bind(SnapshotState::Done.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let Some((id, signature, version)) = row else { return Ok(None) };
                let labels: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT label FROM detections WHERE snapshot_id = $1 ORDER BY label",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(Some(PreviousSnapshot {
                    id: parse(&id, "snapshots.id")?,
                    signature,
                    key_version: key_version(version, "snapshots.key_version")?,
                    labels: labels.into_iter().map(|(l,)| l).collect(),
                }))
            }

            async fn discard_snapshot(&self, id: Uuid, why: Discard) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let row: Option<(String,)> = sqlx::query_as("SELECT camera_id FROM snapshots WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let (camera_id,) = row.ok_or(StoreError::NotFound)?;
                sqlx::query("DELETE FROM snapshots WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let counter = match why {
                    Discard::Duplicate => "UPDATE cameras SET deduplicated = deduplicated + 1 WHERE id = $1",
                    Discard::NoPerson => "UPDATE cameras SET discarded = discarded + 1 WHERE id = $1",
                };
                sqlx::query(counter)
                    .bind(camera_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn pin_snapshots(&self, ids: &[Uuid], until: Timestamp) -> Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let list = (0..ids.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE snapshots SET pinned_until = $1 WHERE id IN ({list}) \
                     AND (pinned_until IS NULL OR pinned_until < $1)"
                ));
                let mut query = sqlx::query(sql).bind(millis(until));
                for id in ids {
                    query = query.bind(id.to_string());
                }
                query.execute(&self.pool).await.map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn set_camera_live(&self, account: AccountId, id: Uuid, suid: Option<Uuid>) -> Result<()> {
                let done = sqlx::query("UPDATE cameras SET live_suid = $1 WHERE id = $2 AND account_id = $3")
                    .bind(suid.map(|s| s.to_string()))
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

            async fn snapshot_info(&self, account: AccountId, id: Uuid) -> Result<SnapshotInfo> {
                let row: Option<(String, String, i64, i64, String, i64)> = sqlx::query_as(
                    "SELECT s.camera_id, c.name, s.taken_at, s.received_at, s.state, s.bytes \
                     FROM snapshots s JOIN cameras c ON c.id = s.camera_id \
                     WHERE s.account_id = $1 AND s.id = $2",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (camera_id, camera_name, taken_at, received_at, state, bytes) =
                    row.ok_or(StoreError::NotFound)?;
                Ok(SnapshotInfo {
                    id,
                    camera_id: parse(&camera_id, "snapshots.camera_id")?,
                    camera_name,
                    taken_at: timestamp(taken_at, "snapshots.taken_at")?,
                    received_at: timestamp(received_at, "snapshots.received_at")?,
                    state: known(&state, "snapshots.state", SnapshotState::parse)?,
                    bytes: to_u64(bytes, "snapshots.bytes")?,
                })
            }

            async fn snapshot_jpeg(&self, account: AccountId, id: Uuid) -> Result<StoredBlob> {
                let row: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT jpeg, key_version FROM snapshots WHERE account_id = $1 AND id = $2",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (bytes, version) = row.ok_or(StoreError::NotFound)?;
                Ok(StoredBlob {
                    bytes,
                    key_version: key_version(version, "snapshots.key_version")?,
                })
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

            async fn prune_snapshots(&self, before: Timestamp, max_bytes: Option<u64>, now: Timestamp) -> Result<u64> {
                let now = millis(now);
                let old = sqlx::query(
                    "DELETE FROM snapshots WHERE taken_at < $1 AND (pinned_until IS NULL OR pinned_until <= $2)",
                )
                .bind(millis(before))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .rows_affected();
                let Some(max_bytes) = max_bytes else { return Ok(old) };
                // Keep the newest snapshots whose running total fits; the rest go.
                let over = sqlx::query(
                    "DELETE FROM snapshots WHERE id IN (SELECT id FROM \
                     (SELECT id, pinned_until, SUM(bytes) OVER (ORDER BY taken_at DESC, id DESC) AS running FROM snapshots) t \
                     WHERE t.running > $1 AND (t.pinned_until IS NULL OR t.pinned_until <= $2))",
                )
                .bind(to_i64(max_bytes, "max_bytes")?)
                .bind(now)
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
