//! [`TaughtStore`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder
//! and type rules that let the same text run on SQLite and PostgreSQL).

use crate::convert::{key_version, millis, parse, timestamp, timestamp_opt, to_i64, to_u64};
use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::keys::Stale;
use crate::taught::{
    HistorySnapshot, NewTaughtMatch, NewTaughtObject, NormalizedBox, ScanProgress, Taught,
    TaughtBlob, TaughtHit, TaughtObject, TaughtSearch, TaughtStore, TaughtTemplate,
};
use crate::types::StoredBlob;
use switchboard_core::{AccountId, Timestamp};
use uuid::Uuid;

/// The state a look through the history skips: pictures that never decoded.
const FAILED: &str = "failed";

/// A `taught_objects` row without its template, with its match count and newest match.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TaughtRow {
    id: String,
    account_id: String,
    name: String,
    snapshot_id: Option<String>,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    created_at: i64,
    updated_at: i64,
    scan_started_at: Option<i64>,
    scan_updated_at: Option<i64>,
    scan_finished_at: Option<i64>,
    scan_total: i64,
    scan_scanned: i64,
    scan_found: i64,
    matches: i64,
    latest_snapshot: Option<String>,
}

const TAUGHT_SELECT: &str = "SELECT t.id, t.account_id, t.name, t.snapshot_id, t.x, t.y, t.w, t.h, \
     t.created_at, t.updated_at, t.scan_started_at, t.scan_updated_at, t.scan_finished_at, \
     t.scan_total, t.scan_scanned, t.scan_found, \
     (SELECT COUNT(*) FROM taught_matches m WHERE m.taught_object_id = t.id) AS matches, \
     (SELECT m.snapshot_id FROM taught_matches m WHERE m.taught_object_id = t.id \
      ORDER BY m.taken_at DESC, m.snapshot_id DESC LIMIT 1) AS latest_snapshot \
     FROM taught_objects t";

impl TaughtRow {
    fn into_object(self, latest_match: Option<TaughtHit>) -> Result<TaughtObject> {
        let scan = match self.scan_started_at {
            None => None,
            Some(started) => Some(ScanProgress {
                started_at: timestamp(started, "taught_objects.scan_started_at")?,
                updated_at: timestamp(
                    self.scan_updated_at.unwrap_or(started),
                    "taught_objects.scan_updated_at",
                )?,
                finished_at: timestamp_opt(
                    self.scan_finished_at,
                    "taught_objects.scan_finished_at",
                )?,
                total: to_u64(self.scan_total, "taught_objects.scan_total")?,
                scanned: to_u64(self.scan_scanned, "taught_objects.scan_scanned")?,
                found: to_u64(self.scan_found, "taught_objects.scan_found")?,
            }),
        };
        Ok(TaughtObject {
            id: parse(&self.id, "taught_objects.id")?,
            account_id: parse(&self.account_id, "taught_objects.account_id")?,
            name: self.name,
            snapshot_id: self
                .snapshot_id
                .as_deref()
                .map(|id| parse(id, "taught_objects.snapshot_id"))
                .transpose()?,
            bbox: NormalizedBox {
                x: self.x,
                y: self.y,
                w: self.w,
                h: self.h,
            },
            created_at: timestamp(self.created_at, "taught_objects.created_at")?,
            updated_at: timestamp(self.updated_at, "taught_objects.updated_at")?,
            matches: to_u64(self.matches, "matches")?,
            latest_match,
            scan,
        })
    }
}

/// A `taught_matches` row with its object's and camera's names.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HitRow {
    taught_object_id: String,
    name: String,
    snapshot_id: String,
    camera_id: String,
    camera_name: String,
    taken_at: i64,
    score: f64,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

const HIT_SELECT: &str = "SELECT m.taught_object_id, t.name, m.snapshot_id, m.camera_id, \
     c.name AS camera_name, m.taken_at, m.score, m.x, m.y, m.w, m.h \
     FROM taught_matches m JOIN taught_objects t ON t.id = m.taught_object_id \
     JOIN cameras c ON c.id = m.camera_id";

impl HitRow {
    fn into_hit(self) -> Result<TaughtHit> {
        Ok(TaughtHit {
            taught_object_id: parse(&self.taught_object_id, "taught_matches.taught_object_id")?,
            name: self.name,
            snapshot_id: parse(&self.snapshot_id, "taught_matches.snapshot_id")?,
            camera_id: parse(&self.camera_id, "taught_matches.camera_id")?,
            camera_name: self.camera_name,
            taken_at: timestamp(self.taken_at, "taught_matches.taken_at")?,
            score: self.score,
            bbox: NormalizedBox {
                x: self.x,
                y: self.y,
                w: self.w,
                h: self.h,
            },
        })
    }
}

/// Newest first, then by snapshot, then best first: the order search answers in.
fn newest_first(a: &TaughtHit, b: &TaughtHit) -> std::cmp::Ordering {
    b.taken_at
        .cmp(&a.taken_at)
        .then_with(|| b.snapshot_id.cmp(&a.snapshot_id))
        .then_with(|| b.score.total_cmp(&a.score))
}

/// A template row as re-encryption reads it.
type TaughtBlobRow = (String, String, Vec<u8>, Option<i64>);

fn taught_blob(row: TaughtBlobRow) -> Result<TaughtBlob> {
    let (id, account_id, template, version) = row;
    Ok(TaughtBlob {
        id: parse(&id, "taught_objects.id")?,
        account_id: parse(&account_id, "taught_objects.account_id")?,
        template,
        key_version: key_version(version, "taught_objects.key_version")?,
    })
}

/// Implements [`TaughtStore`] for a store type with a `pool` field.
macro_rules! impl_taught_store {
    ($store:ty) => {
        impl $store {
            /// The newest match of an object found by [`TAUGHT_SELECT`], by primary key.
            async fn latest_hit(&self, row: &TaughtRow) -> Result<Option<TaughtHit>> {
                let Some(snapshot) = &row.latest_snapshot else {
                    return Ok(None);
                };
                let sql = sqlx::AssertSqlSafe(format!(
                    "{HIT_SELECT} WHERE m.taught_object_id = $1 AND m.snapshot_id = $2"
                ));
                sqlx::query_as::<_, HitRow>(sql)
                    .bind(&row.id)
                    .bind(snapshot)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .map(HitRow::into_hit)
                    .transpose()
            }
        }

        #[async_trait::async_trait]
        impl TaughtStore for $store {
            async fn create_taught_object(&self, t: &NewTaughtObject, max: u32) -> Result<Taught> {
                let account = t.account_id.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                <$store as Dialect>::lock_account_admissions(&mut *tx, &account).await?;
                // The snapshot must be the account's; the count includes the new row, so the
                // transaction starts with its write (SQLite) and rolls back when over.
                let done = sqlx::query(
                    "INSERT INTO taught_objects (id, account_id, name, name_key, template, key_version, \
                     snapshot_id, x, y, w, h, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, $6, s.id, $7, $8, $9, $10, $11, $11 \
                     FROM snapshots s WHERE s.id = $12 AND s.account_id = $2",
                )
                .bind(t.id.to_string())
                .bind(&account)
                .bind(&t.name)
                .bind(&t.name_key)
                .bind(t.template.bytes.as_slice())
                .bind(t.template.key_version.map(i64::from))
                .bind(t.bbox.x)
                .bind(t.bbox.y)
                .bind(t.bbox.w)
                .bind(t.bbox.h)
                .bind(millis(t.created_at))
                .bind(t.snapshot_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                let (count,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM taught_objects WHERE account_id = $1")
                        .bind(&account)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                if count > i64::from(max) {
                    tx.rollback().await.map_err(StoreError::from_sqlx)?;
                    return Ok(Taught::Full { max });
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(Taught::Created)
            }

            async fn taught_objects(&self, account: AccountId) -> Result<Vec<TaughtObject>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{TAUGHT_SELECT} WHERE t.account_id = $1 ORDER BY t.created_at, t.id"
                ));
                let rows = sqlx::query_as::<_, TaughtRow>(sql)
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let mut objects = Vec::with_capacity(rows.len());
                for row in rows {
                    let latest = self.latest_hit(&row).await?;
                    objects.push(row.into_object(latest)?);
                }
                Ok(objects)
            }

            async fn taught_object(&self, account: AccountId, id: Uuid) -> Result<TaughtObject> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{TAUGHT_SELECT} WHERE t.account_id = $1 AND t.id = $2"
                ));
                let row = sqlx::query_as::<_, TaughtRow>(sql)
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .ok_or(StoreError::NotFound)?;
                let latest = self.latest_hit(&row).await?;
                row.into_object(latest)
            }

            async fn rename_taught_object(
                &self,
                account: AccountId,
                id: Uuid,
                name: &str,
                name_key: &str,
                at: Timestamp,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE taught_objects SET name = $1, name_key = $2, updated_at = $3 \
                     WHERE id = $4 AND account_id = $5",
                )
                .bind(name)
                .bind(name_key)
                .bind(millis(at))
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

            async fn delete_taught_object(&self, account: AccountId, id: Uuid) -> Result<()> {
                let done = sqlx::query("DELETE FROM taught_objects WHERE id = $1 AND account_id = $2")
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

            async fn taught_names(&self, account: AccountId) -> Result<Vec<(Uuid, String)>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, name FROM taught_objects WHERE account_id = $1 ORDER BY id",
                )
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(id, name)| Ok((parse(&id, "taught_objects.id")?, name)))
                    .collect()
            }

            async fn taught_templates(
                &self,
                account: AccountId,
                only: Option<Uuid>,
            ) -> Result<Vec<TaughtTemplate>> {
                let rows: Vec<(String, Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, template, key_version FROM taught_objects \
                     WHERE account_id = $1 AND (id = $2 OR $3) ORDER BY id",
                )
                .bind(account.to_string())
                .bind(only.map(|id| id.to_string()).unwrap_or_default())
                .bind(only.is_none())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(id, bytes, version)| {
                        Ok(TaughtTemplate {
                            id: parse(&id, "taught_objects.id")?,
                            template: StoredBlob {
                                bytes,
                                key_version: key_version(version, "taught_objects.key_version")?,
                            },
                        })
                    })
                    .collect()
            }

            async fn insert_taught_matches(
                &self,
                snapshot: Uuid,
                matches: &[NewTaughtMatch],
                at: Timestamp,
            ) -> Result<u64> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let mut stored = 0;
                for m in matches {
                    // Only an object and a snapshot of one account, both still there.
                    stored += sqlx::query(
                        "INSERT INTO taught_matches (taught_object_id, snapshot_id, account_id, camera_id, \
                         score, x, y, w, h, taken_at, matched_at) \
                         SELECT t.id, s.id, s.account_id, s.camera_id, $3, $4, $5, $6, $7, s.taken_at, $8 \
                         FROM snapshots s JOIN taught_objects t ON t.account_id = s.account_id \
                         WHERE s.id = $2 AND t.id = $1 \
                         ON CONFLICT (taught_object_id, snapshot_id) DO UPDATE SET score = excluded.score, \
                         x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h, \
                         matched_at = excluded.matched_at",
                    )
                    .bind(m.taught_object_id.to_string())
                    .bind(snapshot.to_string())
                    .bind(m.score)
                    .bind(m.bbox.x)
                    .bind(m.bbox.y)
                    .bind(m.bbox.w)
                    .bind(m.bbox.h)
                    .bind(millis(at))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .rows_affected();
                }
                if stored == 0 {
                    let found: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM snapshots WHERE id = $1")
                            .bind(snapshot.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(StoreError::from_sqlx)?;
                    if found.is_none() {
                        return Err(StoreError::NotFound);
                    }
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(stored)
            }

            async fn taught_hits(&self, q: &TaughtSearch) -> Result<Vec<TaughtHit>> {
                if q.taught_object_ids.is_empty() || q.limit == 0 {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "{HIT_SELECT} WHERE m.taught_object_id = $1 AND m.account_id = $2 \
                     AND m.taken_at < $3 AND m.taken_at >= $4 AND (m.camera_id = $5 OR $6) \
                     ORDER BY m.taken_at DESC, m.snapshot_id DESC LIMIT $7"
                );
                let mut hits = Vec::new();
                for id in &q.taught_object_ids {
                    let rows = sqlx::query_as::<_, HitRow>(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(id.to_string())
                        .bind(q.account_id.to_string())
                        .bind(q.until.map_or(i64::MAX, millis))
                        .bind(q.since.map_or(i64::MIN, millis))
                        .bind(q.camera_id.map(|c| c.to_string()).unwrap_or_default())
                        .bind(q.camera_id.is_none())
                        .bind(i64::from(q.limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                    for row in rows {
                        hits.push(row.into_hit()?);
                    }
                }
                hits.sort_by(newest_first);
                hits.truncate(usize::try_from(q.limit).unwrap_or(usize::MAX));
                Ok(hits)
            }

            async fn snapshot_taught_hits(&self, account: AccountId, snapshot: Uuid) -> Result<Vec<TaughtHit>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{HIT_SELECT} WHERE m.account_id = $1 AND m.snapshot_id = $2 \
                     ORDER BY m.score DESC, m.taught_object_id"
                ));
                sqlx::query_as::<_, HitRow>(sql)
                    .bind(account.to_string())
                    .bind(snapshot.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?
                    .into_iter()
                    .map(HitRow::into_hit)
                    .collect()
            }

            async fn history_size(&self, account: AccountId, cap: u64) -> Result<u64> {
                let (count,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM snapshots WHERE account_id = $1 AND state <> $2",
                )
                .bind(account.to_string())
                .bind(FAILED)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(to_u64(count, "snapshots")?.min(cap))
            }

            async fn history_snapshots(
                &self,
                account: AccountId,
                after: Option<(Timestamp, Uuid)>,
                limit: u32,
            ) -> Result<Vec<HistorySnapshot>> {
                let (at, id) = match after {
                    Some((at, id)) => (millis(at), id.to_string()),
                    // Before everything: no stored id sorts above the end of the alphabet.
                    None => (i64::MAX, String::from("~")),
                };
                let rows: Vec<(String, i64, Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, taken_at, jpeg, key_version FROM snapshots \
                     WHERE account_id = $1 AND state <> $2 AND (taken_at, id) < ($3, $4) \
                     ORDER BY taken_at DESC, id DESC LIMIT $5",
                )
                .bind(account.to_string())
                .bind(FAILED)
                .bind(at)
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(|(id, taken_at, bytes, version)| {
                        Ok(HistorySnapshot {
                            id: parse(&id, "snapshots.id")?,
                            taken_at: timestamp(taken_at, "snapshots.taken_at")?,
                            jpeg: StoredBlob {
                                bytes,
                                key_version: key_version(version, "snapshots.key_version")?,
                            },
                        })
                    })
                    .collect()
            }

            async fn start_taught_scan(
                &self,
                account: AccountId,
                id: Uuid,
                total: u64,
                now: Timestamp,
                stale_before: Timestamp,
            ) -> Result<()> {
                let account = account.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                <$store as Dialect>::lock_account_admissions(&mut *tx, &account).await?;
                let done = sqlx::query(
                    "UPDATE taught_objects SET scan_started_at = $1, scan_updated_at = $1, \
                     scan_finished_at = NULL, scan_total = $2, scan_scanned = 0, scan_found = 0 \
                     WHERE id = $3 AND account_id = $4 AND NOT EXISTS (SELECT 1 FROM taught_objects o \
                     WHERE o.account_id = $4 AND o.scan_started_at IS NOT NULL \
                     AND o.scan_finished_at IS NULL AND o.scan_updated_at >= $5)",
                )
                .bind(millis(now))
                .bind(to_i64(total, "scan_total")?)
                .bind(id.to_string())
                .bind(&account)
                .bind(millis(stale_before))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 1 {
                    tx.commit().await.map_err(StoreError::from_sqlx)?;
                    return Ok(());
                }
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM taught_objects WHERE id = $1 AND account_id = $2",
                )
                .bind(id.to_string())
                .bind(&account)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.rollback().await.map_err(StoreError::from_sqlx)?;
                match exists {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::Conflict(
                        "a look through the history is already running for this account".into(),
                    )),
                }
            }

            async fn taught_scan_progress(
                &self,
                id: Uuid,
                scanned: u64,
                found: u64,
                now: Timestamp,
                finished: bool,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE taught_objects SET scan_scanned = $1, scan_found = $2, scan_updated_at = $3, \
                     scan_finished_at = $4 WHERE id = $5",
                )
                .bind(to_i64(scanned, "scan_scanned")?)
                .bind(to_i64(found, "scan_found")?)
                .bind(millis(now))
                .bind(finished.then(|| millis(now)))
                .bind(id.to_string())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn stale_taught_templates(
                &self,
                which: Stale,
                after: &str,
                limit: u32,
            ) -> Result<Vec<TaughtBlob>> {
                let rows: Vec<TaughtBlobRow> = match which {
                    Stale::Plain => sqlx::query_as::<_, TaughtBlobRow>(
                        "SELECT id, account_id, template, key_version FROM taught_objects \
                         WHERE key_version IS NULL AND id > $1 ORDER BY id LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await,
                    Stale::Below { account, version } => sqlx::query_as::<_, TaughtBlobRow>(
                        "SELECT id, account_id, template, key_version FROM taught_objects \
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
                rows.into_iter().map(taught_blob).collect()
            }

            async fn reseal_taught_template(&self, old: &TaughtBlob, new: &TaughtBlob) -> Result<bool> {
                // A template never changes once stored; only its key version may (another
                // node's pass), so that is the condition.
                let done = sqlx::query(
                    "UPDATE taught_objects SET template = $1, key_version = $2 \
                     WHERE id = $3 AND key_version IS NOT DISTINCT FROM $4",
                )
                .bind(new.template.as_slice())
                .bind(new.key_version.map(i64::from))
                .bind(old.id.to_string())
                .bind(old.key_version.map(i64::from))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_taught_store!(crate::sqlite::SqliteStore);
impl_taught_store!(crate::postgres::PgStore);
