//! [`AuditStore`] for both backends from one set of SQL (see `ops_sql.rs` for the rules).

use crate::audit::{AuditQuery, AuditStore};
use crate::convert::{millis, parse_opt, timestamp, to_i64, to_u64};
use crate::error::{Result, StoreError};
use switchboard_core::Timestamp;
use switchboard_core::audit::{
    Actor, ActorKind, AuditRecord, Checkpoint, CheckpointKind, Hash, Link, Target, hex_decode,
    hex_encode,
};

const RECORD_COLUMNS: &str = "node, seq, at, actor_kind, actor_id, account_id, action, \
     target_kind, target_id, outcome, detail, request_id, client, prev_hash, hash";

const INSERT_RECORD: &str = "INSERT INTO audit_records (node, seq, at, actor_kind, actor_id, \
     account_id, action, target_kind, target_id, outcome, detail, request_id, client, \
     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints \
     (node, seq, kind, hash, at, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (node, seq, kind) DO NOTHING";

/// An `audit_records` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecordRow {
    node: String,
    seq: i64,
    at: i64,
    actor_kind: String,
    actor_id: Option<String>,
    account_id: Option<String>,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    outcome: String,
    detail: String,
    request_id: Option<String>,
    client: Option<String>,
    prev_hash: String,
    hash: String,
}

impl RecordRow {
    /// Reads a row back as stored: a field the domain cannot read is corrupt data, except
    /// that the hashes are read as written, so verification (not decoding) judges them.
    fn into_record(self) -> Result<AuditRecord> {
        let kind = ActorKind::parse(&self.actor_kind).ok_or_else(|| {
            StoreError::Other(format!(
                "audit record {}/{}: unknown actor kind {:?}",
                self.node, self.seq, self.actor_kind
            ))
        })?;
        let target = match (self.target_kind, self.target_id) {
            (Some(kind), Some(id)) => Some(Target { kind, id }),
            _ => None,
        };
        Ok(AuditRecord {
            seq: to_u64(self.seq, "audit_records.seq")?,
            at: timestamp(self.at, "audit_records.at")?,
            actor: Actor {
                kind,
                id: self.actor_id,
            },
            account: parse_opt(self.account_id.as_deref(), "audit_records.account_id")?,
            action: self.action,
            target,
            outcome: self.outcome,
            detail: self.detail,
            request_id: self.request_id,
            client: self.client,
            prev_hash: hash_or_garbage(&self.prev_hash),
            hash: hash_or_garbage(&self.hash),
            node: self.node,
        })
    }
}

/// A stored hash that is not 64 hex digits was tampered with: it reads as one that matches
/// nothing, so the chain breaks there.
fn hash_or_garbage(text: &str) -> Hash {
    Hash::from_hex(text).unwrap_or(Hash([0xff; 32]))
}

/// An `audit_checkpoints` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    node: String,
    seq: i64,
    kind: String,
    hash: String,
    at: i64,
    public_key: String,
    signature: String,
}

impl CheckpointRow {
    fn into_checkpoint(self) -> Result<Checkpoint> {
        Ok(Checkpoint {
            seq: to_u64(self.seq, "audit_checkpoints.seq")?,
            kind: CheckpointKind::parse(&self.kind).ok_or_else(|| {
                StoreError::Other(format!("audit checkpoint: unknown kind {:?}", self.kind))
            })?,
            hash: hash_or_garbage(&self.hash),
            at: timestamp(self.at, "audit_checkpoints.at")?,
            // Bad hex reads as no key or no signature, which then does not verify.
            public_key: hex_decode(&self.public_key).unwrap_or_default(),
            signature: hex_decode(&self.signature).unwrap_or_default(),
            node: self.node,
        })
    }
}

fn link(seq: i64, hash: &str, column: &str) -> Result<Link> {
    Ok(Link {
        seq: to_u64(seq, column)?,
        hash: hash_or_garbage(hash),
    })
}

/// Binds a checkpoint's columns to [`INSERT_CHECKPOINT`], in order.
macro_rules! insert_checkpoint {
    ($checkpoint:expr) => {
        sqlx::query(INSERT_CHECKPOINT)
            .bind($checkpoint.node.clone())
            .bind(to_i64($checkpoint.seq, "checkpoint seq")?)
            .bind($checkpoint.kind.as_str())
            .bind($checkpoint.hash.to_hex())
            .bind(millis($checkpoint.at))
            .bind(hex_encode(&$checkpoint.public_key))
            .bind(hex_encode(&$checkpoint.signature))
    };
}

/// Implements [`AuditStore`] for a store type with a `pool` field.
macro_rules! impl_audit_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl AuditStore for $store {
            async fn append_audit(&self, records: &[AuditRecord]) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                for r in records {
                    sqlx::query(INSERT_RECORD)
                        .bind(&r.node)
                        .bind(to_i64(r.seq, "audit seq")?)
                        .bind(millis(r.at))
                        .bind(r.actor.kind.as_str())
                        .bind(r.actor.id.as_deref())
                        .bind(r.account.map(|a| a.to_string()))
                        .bind(&r.action)
                        .bind(r.target.as_ref().map(|t| t.kind.as_str()))
                        .bind(r.target.as_ref().map(|t| t.id.as_str()))
                        .bind(&r.outcome)
                        .bind(&r.detail)
                        .bind(r.request_id.as_deref())
                        .bind(r.client.as_deref())
                        .bind(r.prev_hash.to_hex())
                        .bind(r.hash.to_hex())
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn audit_head(&self, node: &str) -> Result<Option<Link>> {
                let newest: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_records WHERE node = $1 \
                     ORDER BY seq DESC LIMIT 1",
                )
                .bind(node)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let cut: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_checkpoints WHERE node = $1 AND kind = 'prune' \
                     ORDER BY seq DESC LIMIT 1",
                )
                .bind(node)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                // Whichever is further along: a prune may have taken every record.
                let best = match (newest, cut) {
                    (Some(r), Some(c)) => Some(if c.0 > r.0 { c } else { r }),
                    (r, c) => r.or(c),
                };
                best.map(|(seq, hash)| link(seq, &hash, "audit_records.seq"))
                    .transpose()
            }

            async fn add_audit_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()> {
                insert_checkpoint!(checkpoint)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn register_audit_key(
                &self,
                node: &str,
                public_key: &[u8],
                at: Timestamp,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_keys (node, public_key, added_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (node, public_key) DO NOTHING",
                )
                .bind(node)
                .bind(hex_encode(public_key))
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(())
            }

            async fn audit_keys(&self, node: &str) -> Result<Vec<Vec<u8>>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT public_key FROM audit_keys WHERE node = $1 ORDER BY added_at",
                )
                .bind(node)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(rows.into_iter().filter_map(|(k,)| hex_decode(&k)).collect())
            }

            async fn audit_nodes(&self) -> Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT node FROM audit_keys UNION SELECT node FROM audit_checkpoints \
                     UNION SELECT DISTINCT node FROM audit_records ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(rows.into_iter().map(|(n,)| n).collect())
            }

            async fn audit_chain(
                &self,
                node: &str,
                after: u64,
                limit: u32,
            ) -> Result<Vec<AuditRecord>> {
                let rows = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {RECORD_COLUMNS} FROM audit_records WHERE node = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3"
                )))
                .bind(node)
                .bind(to_i64(after, "audit seq")?)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(RecordRow::into_record).collect()
            }

            async fn audit_checkpoints(&self, node: &str) -> Result<Vec<Checkpoint>> {
                let rows = sqlx::query_as::<_, CheckpointRow>(
                    "SELECT node, seq, kind, hash, at, public_key, signature \
                     FROM audit_checkpoints WHERE node = $1 ORDER BY seq, kind",
                )
                .bind(node)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter()
                    .map(CheckpointRow::into_checkpoint)
                    .collect()
            }

            async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
                // Each filter is `($n IS NULL OR …)` so one statement serves every mix;
                // the cursor compares (at, node, seq) as a row, newest first.
                let (c_at, c_node, c_seq) = match &query.after {
                    Some(c) => (
                        Some(millis(c.at)),
                        Some(c.node.clone()),
                        Some(to_i64(c.seq, "audit cursor")?),
                    ),
                    None => (None, None, None),
                };
                let rows = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {RECORD_COLUMNS} FROM audit_records WHERE \
                     ($1 IS NULL OR account_id = $1) \
                     AND ($2 IS NULL OR actor_id = $2) \
                     AND ($3 IS NULL OR target_id = $3) \
                     AND ($4 IS NULL OR action = $4) \
                     AND ($5 IS NULL OR at >= $5) \
                     AND ($6 IS NULL OR at < $6) \
                     AND ($7 IS NULL OR (at, node, seq) < ($7, $8, $9)) \
                     ORDER BY at DESC, node DESC, seq DESC LIMIT $10"
                )))
                .bind(query.account.map(|a| a.to_string()))
                .bind(query.actor.clone())
                .bind(query.target.clone())
                .bind(query.action.clone())
                .bind(query.from.map(millis))
                .bind(query.to.map(millis))
                .bind(c_at)
                .bind(c_node)
                .bind(c_seq)
                .bind(i64::from(query.limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(RecordRow::into_record).collect()
            }

            async fn audit_prune_point(
                &self,
                node: &str,
                before: Timestamp,
            ) -> Result<Option<Link>> {
                let row: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_records WHERE node = $1 AND at < $2 \
                     ORDER BY seq DESC LIMIT 1",
                )
                .bind(node)
                .bind(millis(before))
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                row.map(|(seq, hash)| link(seq, &hash, "audit_records.seq"))
                    .transpose()
            }

            async fn prune_audit(&self, checkpoint: &Checkpoint) -> Result<u64> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                insert_checkpoint!(checkpoint)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let deleted =
                    sqlx::query("DELETE FROM audit_records WHERE node = $1 AND seq <= $2")
                        .bind(&checkpoint.node)
                        .bind(to_i64(checkpoint.seq, "audit seq")?)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .rows_affected();
                // Checkpoints inside the cut part are covered by the new one.
                sqlx::query(
                    "DELETE FROM audit_checkpoints WHERE node = $1 AND seq < $2 \
                     OR (node = $1 AND seq = $2 AND kind = 'regular')",
                )
                .bind(&checkpoint.node)
                .bind(to_i64(checkpoint.seq, "audit seq")?)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(deleted)
            }
        }
    };
}

impl_audit_store!(crate::sqlite::SqliteStore);
impl_audit_store!(crate::postgres::PgStore);
