//! The connect-time backfill of `users.username_key`, shared by both backends, from one set of
//! SQL (`$N` placeholders, read by both; see `ops_sql.rs`).

use crate::error::{Result, StoreError};

macro_rules! impl_user_queries {
    ($store:ty) => {
        impl $store {
            /// Fills in `username_key` of rows written before keys existed. A row whose key
            /// another row already holds keeps NULL (it is still found by its exact name),
            /// and is reported once per start.
            pub(crate) async fn backfill_username_keys(&self) -> Result<()> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT id, username FROM users WHERE username_key IS NULL")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                for (id, username) in rows {
                    let key = switchboard_core::account::username_key(&username);
                    let filled = sqlx::query(
                        "UPDATE users SET username_key = $1 WHERE id = $2 AND username_key IS NULL",
                    )
                    .bind(&key)
                    .bind(&id)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx);
                    match filled {
                        Ok(_) => {}
                        Err(StoreError::Conflict(_)) => tracing::warn!(
                            user = %id,
                            %username,
                            "this username looks like another user's (case or look-alike \
                             letters); it signs in by its exact spelling only"
                        ),
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    };
}

impl_user_queries!(crate::sqlite::SqliteStore);
impl_user_queries!(crate::postgres::PgStore);
