//! Where the two backends need different statements. Everything else the store runs is one SQL
//! text for both (`store_sql.rs` and the other `*_sql.rs` modules). What remains are the locks
//! PostgreSQL needs because several connections and nodes write at once (SQLite lets one
//! connection write at a time, so its side of each is nothing), and clearing what a deletion
//! left in SQLite's files.

use crate::error::Result;

/// The hooks the shared SQL of [`Store`](crate::Store) calls where the dialects differ. Each
/// runs first in the caller's transaction, and what it locks stays locked until that
/// transaction ends.
pub(crate) trait Dialect {
    /// The sqlx database the backend speaks to.
    type Database: sqlx::Database;

    /// Locks what `delete_user`'s last-admin check reads (the user and the admins of their
    /// account), so two deletions in one account run one after the other and the second sees
    /// what the first did. May fail with `NotFound` when there is no such user; the caller
    /// checks that too.
    async fn lock_for_user_deletion(
        conn: &mut <Self::Database as sqlx::Database>::Connection,
        user_id: &str,
    ) -> Result<()>;

    /// Locks the controls of one session, so they commit in the order of their ids and a
    /// reader that saw an id never later finds a smaller one.
    async fn lock_session_controls(
        conn: &mut <Self::Database as sqlx::Database>::Connection,
        suid: &str,
    ) -> Result<()>;

    /// Serializes the admissions of one account (`admit` in `admission_sql.rs`), so two nodes
    /// racing for an account's last place count each other's.
    async fn lock_account_admissions(
        conn: &mut <Self::Database as sqlx::Database>::Connection,
        account_id: &str,
    ) -> Result<()>;

    /// Clears what committed deletions left in the database's own files, where the backend
    /// can, so deleted data keys cannot be dug out of them (`delete_account`).
    async fn purge_deleted(pool: &sqlx::Pool<Self::Database>) -> Result<()>;
}
