//! What a cluster writes to PostgreSQL: rows inserted, updated and deleted per table, and
//! transactions committed, read from the database's statistics views. PostgreSQL publishes
//! these counters about once a second, so a window of a minute reads them to within a
//! second's writes.

use anyhow::Context;
use sqlx::Connection;
use std::collections::BTreeMap;

/// The database's write counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgWrites {
    /// Rows inserted, updated or deleted, per table.
    pub rows: BTreeMap<String, i64>,
    /// Transactions committed (reads included: every statement outside one is one).
    pub commits: i64,
}

impl PgWrites {
    /// Reads the counters of the database at `url`, on a connection of its own (statistics
    /// are read once per transaction, so a fresh one sees the newest).
    pub async fn read(url: &str) -> anyhow::Result<PgWrites> {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint \
             FROM pg_stat_user_tables",
        )
        .fetch_all(&mut conn)
        .await
        .context("cannot read pg_stat_user_tables")?;
        let (commits,): (i64,) = sqlx::query_as(
            "SELECT xact_commit::bigint FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .context("cannot read pg_stat_database")?;
        // The server closes its side anyway; a failed goodbye changes nothing.
        let _ = conn.close().await;
        Ok(PgWrites {
            rows: rows.into_iter().collect(),
            commits,
        })
    }

    /// What happened between `earlier` and this reading; tables without writes are left out.
    pub fn since(&self, earlier: &PgWrites) -> PgWrites {
        let rows = self
            .rows
            .iter()
            .map(|(table, n)| {
                let before = earlier.rows.get(table).copied().unwrap_or(0);
                (table.clone(), (n - before).max(0))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        PgWrites {
            rows,
            commits: (self.commits - earlier.commits).max(0),
        }
    }

    /// Rows written in every table together.
    pub fn total_rows(&self) -> i64 {
        self.rows.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_table_by_table() {
        let earlier = PgWrites {
            rows: BTreeMap::from([("sessions".to_owned(), 10), ("cdrs".to_owned(), 3)]),
            commits: 100,
        };
        let later = PgWrites {
            rows: BTreeMap::from([
                ("sessions".to_owned(), 25),
                ("cdrs".to_owned(), 3),
                ("nodes".to_owned(), 4),
            ]),
            commits: 160,
        };
        let delta = later.since(&earlier);
        assert_eq!(
            delta.rows,
            BTreeMap::from([("nodes".to_owned(), 4), ("sessions".to_owned(), 15)])
        );
        assert_eq!(delta.total_rows(), 19);
        assert_eq!(delta.commits, 60);
    }
}
