//! User look-ups and deletion rules shared by both backends, from one set of SQL (`$N`
//! placeholders, read by both; see `ops_sql.rs`).

use crate::error::{Result, StoreError};
use crate::rows::{UserRow, user_columns};
use switchboard_core::User;

/// What a refused deletion of an account's last admin says.
pub(crate) const LAST_ADMIN: &str =
    "the user is the account's last admin and other users remain: the account would have no admin";

/// The `DELETE` that keeps every account with users also with an admin: an admin goes only
/// if another admin of the account remains, or nobody else does (the account is then empty).
pub(crate) const DELETE_KEEPING_AN_ADMIN: &str = "DELETE FROM users WHERE id = $1 AND ( \
     role <> 'admin' \
     OR EXISTS (SELECT 1 FROM users o WHERE o.account_id = users.account_id \
                AND o.role = 'admin' AND o.id <> users.id) \
     OR NOT EXISTS (SELECT 1 FROM users o WHERE o.account_id = users.account_id \
                    AND o.id <> users.id))";

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

            /// The user whose username is exactly `username`, else the one whose key matches
            /// (another case or a look-alike spelling of it). Exact first, so a row from before
            /// keys existed that shares another's key is still found by its own spelling.
            pub(crate) async fn find_user_by_name(&self, username: &str) -> Result<User> {
                let exact = sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username = $1"
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if let Some(row) = exact {
                    return row.into_user();
                }
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username_key = $1"
                ))
                .bind(switchboard_core::account::username_key(username))
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_user()
            }
        }
    };
}

impl_user_queries!(crate::sqlite::SqliteStore);
impl_user_queries!(crate::postgres::PgStore);
