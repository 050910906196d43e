//! The connect-time backfill of `users.username_key`, one SQL text for both backends (see
//! `ops_sql.rs` for the placeholder rule). Each backend's `connect` runs it on its new pool,
//! so this module is generic over the database and knows neither backend.

use crate::error::{Result, StoreError};

/// Fills in `username_key` of rows written before keys existed (migration 0007). A row whose
/// key another row already holds keeps NULL (it is still found by its exact name), and is
/// reported once per start.
pub(crate) async fn backfill<DB>(pool: &sqlx::Pool<DB>) -> Result<()>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'r> (String, String): sqlx::FromRow<'r, DB::Row>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE username_key IS NULL")
            .fetch_all(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    for (id, username) in rows {
        let key = switchboard_core::account::username_key(&username);
        let filled = sqlx::query(
            "UPDATE users SET username_key = $1 WHERE id = $2 AND username_key IS NULL",
        )
        .bind(key)
        .bind(id.clone())
        .execute(pool)
        .await
        .map_err(StoreError::from_sqlx);
        match filled {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => tracing::warn!(
                user = %id,
                %username,
                "this username looks like another user's (case or look-alike letters); it \
                 signs in by its exact spelling only"
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
