//! [`SecurityStore`] for both backends from one set of SQL (see `ops_sql.rs` for the
//! placeholder and type rules that let the same text run on SQLite and PostgreSQL).

use crate::convert::timestamp_opt;
use crate::convert::{millis, parse, timestamp, to_u64};
use crate::error::{Result, StoreError};
use crate::rows::UserRow;
use crate::security::{SecondFactor, SecurityStore, SignIn};
use switchboard_core::security::Standing;
use switchboard_core::{AccountId, Timestamp, User, UserId};

/// A user with their standing: `users` joined with their security row and their account's.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StandingRow {
    #[sqlx(flatten)]
    user: UserRow,
    must_change_password: bool,
    second_factor_enabled: bool,
    second_factor_required: bool,
}

const STANDING_SELECT: &str = "SELECT u.id, u.account_id, u.username, u.password_hash, u.role, \
     u.created_at, u.username_key, \
     COALESCE(s.must_change_password, FALSE) AS must_change_password, \
     (s.totp_secret IS NOT NULL) AS second_factor_enabled, \
     COALESCE(a.require_second_factor, FALSE) AS second_factor_required \
     FROM users u \
     LEFT JOIN user_security s ON s.user_id = u.id \
     LEFT JOIN account_security a ON a.account_id = u.account_id \
     WHERE u.id = $1";

/// A `sign_ins` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SignInRow {
    jti: String,
    user_id: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    client_addr: Option<String>,
    user_agent: Option<String>,
}

impl SignInRow {
    fn into_sign_in(self) -> Result<SignIn> {
        Ok(SignIn {
            id: self.jti,
            user_id: parse(&self.user_id, "sign_ins.user_id")?,
            created_at: timestamp(self.created_at, "sign_ins.created_at")?,
            last_used_at: timestamp(self.last_used_at, "sign_ins.last_used_at")?,
            expires_at: timestamp(self.expires_at, "sign_ins.expires_at")?,
            client_addr: self.client_addr,
            user_agent: self.user_agent,
        })
    }
}

/// The TOTP columns of a `user_security` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SecondFactorRow {
    totp_secret: Option<String>,
    totp_pending_secret: Option<String>,
    totp_pending_at: Option<i64>,
    totp_last_step: Option<i64>,
}

impl SecondFactorRow {
    fn into_second_factor(self) -> Result<SecondFactor> {
        let pending_at = timestamp_opt(self.totp_pending_at, "user_security.totp_pending_at")?;
        Ok(SecondFactor {
            secret: self.totp_secret,
            pending: self.totp_pending_secret.zip(pending_at),
            last_step: self.totp_last_step,
            recovery_codes_left: 0,
        })
    }
}

const SIGN_IN_COLUMNS: &str =
    "jti, user_id, created_at, last_used_at, expires_at, client_addr, user_agent";

/// Stores a token id as revoked until `$2` (the later expiry wins), as `Store::revoke_token`.
const REVOKE: &str = "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE excluded.expires_at > revoked_tokens.expires_at";

/// Implements [`SecurityStore`] for a store type with a `pool` field.
macro_rules! impl_security_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl SecurityStore for $store {
            async fn user_standing(&self, id: UserId) -> Result<(User, Standing)> {
                let row = sqlx::query_as::<_, StandingRow>(STANDING_SELECT)
                    .bind(id.to_string())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                let standing = Standing {
                    must_change_password: row.must_change_password,
                    second_factor_enabled: row.second_factor_enabled,
                    second_factor_required: row.second_factor_required,
                };
                Ok((row.user.into_user()?, standing))
            }

            async fn set_password(
                &self,
                user: UserId,
                password_hash: &str,
                must_change: bool,
            ) -> Result<()> {
                let id = user.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(&id)
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                sqlx::query(
                    "INSERT INTO user_security (user_id, must_change_password) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE \
                     SET must_change_password = excluded.must_change_password",
                )
                .bind(&id)
                .bind(must_change)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn rename_user(&self, user: UserId, username: &str) -> Result<()> {
                // One statement: the unique key index decides a race for a name, and the
                // old name's key is released by the same write.
                let done = sqlx::query(
                    "UPDATE users SET username = $2, username_key = $3 WHERE id = $1",
                )
                .bind(user.to_string())
                .bind(username)
                .bind(switchboard_core::account::username_key(username))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn second_factor_required(&self, account: AccountId) -> Result<bool> {
                let row: Option<(bool,)> = sqlx::query_as(
                    "SELECT require_second_factor FROM account_security WHERE account_id = $1",
                )
                .bind(account.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(row.is_some_and(|(required,)| required))
            }

            async fn set_second_factor_required(
                &self,
                account: AccountId,
                required: bool,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO account_security (account_id, require_second_factor) \
                     VALUES ($1, $2) ON CONFLICT (account_id) DO UPDATE \
                     SET require_second_factor = excluded.require_second_factor",
                )
                .bind(account.to_string())
                .bind(required)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(StoreError::from_sqlx)
            }

            async fn second_factor(&self, user: UserId) -> Result<SecondFactor> {
                let id = user.to_string();
                let row = sqlx::query_as::<_, SecondFactorRow>(
                    "SELECT totp_secret, totp_pending_secret, totp_pending_at, totp_last_step \
                     FROM user_security WHERE user_id = $1",
                )
                .bind(&id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let (left,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(&id)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                let left = u32::try_from(to_u64(left, "recovery codes left")?)
                    .unwrap_or(u32::MAX);
                row.map_or(Ok(SecondFactor::default()), |r| r.into_second_factor())
                    .map(|f| SecondFactor {
                        recovery_codes_left: left,
                        ..f
                    })
            }

            async fn begin_totp(&self, user: UserId, secret: &str, at: Timestamp) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO user_security (user_id, totp_pending_secret, totp_pending_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE \
                     SET totp_pending_secret = excluded.totp_pending_secret, \
                         totp_pending_at = excluded.totp_pending_at \
                     WHERE user_security.totp_secret IS NULL",
                )
                .bind(user.to_string())
                .bind(secret)
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(
                        "a second factor is already enabled".into(),
                    ));
                }
                Ok(())
            }

            async fn enable_totp(
                &self,
                user: UserId,
                secret: &str,
                step: i64,
                recovery_hashes: &[String],
                at: Timestamp,
            ) -> Result<()> {
                let id = user.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let done = sqlx::query(
                    "UPDATE user_security SET totp_secret = totp_pending_secret, \
                     totp_pending_secret = NULL, totp_pending_at = NULL, totp_enabled_at = $4, \
                     totp_last_step = CASE WHEN totp_last_step IS NULL OR totp_last_step < $3 \
                                      THEN $3 ELSE totp_last_step END \
                     WHERE user_id = $1 AND totp_pending_secret = $2 AND totp_secret IS NULL",
                )
                .bind(&id)
                .bind(secret)
                .bind(step)
                .bind(millis(at))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(
                        "the enrolment was replaced or already confirmed".into(),
                    ));
                }
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                for hash in recovery_hashes {
                    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                        .bind(&id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE user_security SET totp_last_step = $2 \
                     WHERE user_id = $1 AND totp_secret IS NOT NULL \
                     AND (totp_last_step IS NULL OR totp_last_step < $2)",
                )
                .bind(user.to_string())
                .bind(step)
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn disable_totp(&self, user: UserId) -> Result<()> {
                let id = user.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                sqlx::query(
                    "UPDATE user_security SET totp_secret = NULL, totp_pending_secret = NULL, \
                     totp_pending_at = NULL, totp_enabled_at = NULL WHERE user_id = $1",
                )
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn use_recovery_code(
                &self,
                user: UserId,
                code_hash: &str,
                at: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.to_string())
                .bind(code_hash)
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_sign_in(&self, sign_in: &SignIn) -> Result<()> {
                let user = sign_in.user_id.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // Expired rows are cleared here, per user, so the table needs no sweeper.
                sqlx::query("DELETE FROM sign_ins WHERE user_id = $1 AND expires_at <= $2")
                    .bind(&user)
                    .bind(millis(sign_in.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO sign_ins ({SIGN_IN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                )))
                .bind(&sign_in.id)
                .bind(&user)
                .bind(millis(sign_in.created_at))
                .bind(millis(sign_in.last_used_at))
                .bind(millis(sign_in.expires_at))
                .bind(&sign_in.client_addr)
                .bind(&sign_in.user_agent)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn sign_ins(&self, user: UserId, now: Timestamp) -> Result<Vec<SignIn>> {
                sqlx::query_as::<_, SignInRow>(sqlx::AssertSqlSafe(format!(
                    "SELECT {SIGN_IN_COLUMNS} FROM sign_ins WHERE user_id = $1 AND expires_at > $2 \
                     ORDER BY created_at DESC, jti"
                )))
                .bind(user.to_string())
                .bind(millis(now))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(SignInRow::into_sign_in)
                .collect()
            }

            async fn touch_sign_in(&self, id: &str, at: Timestamp) -> Result<()> {
                sqlx::query(
                    "UPDATE sign_ins SET last_used_at = $2 WHERE jti = $1 AND last_used_at < $2",
                )
                .bind(id)
                .bind(millis(at))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(StoreError::from_sqlx)
            }

            async fn revoke_sign_in(&self, user: UserId, id: &str) -> Result<SignIn> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let row = sqlx::query_as::<_, SignInRow>(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM sign_ins WHERE user_id = $1 AND jti = $2 \
                     RETURNING {SIGN_IN_COLUMNS}"
                )))
                .bind(user.to_string())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?
                .ok_or(StoreError::NotFound)?;
                sqlx::query(REVOKE)
                    .bind(&row.jti)
                    .bind(row.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                row.into_sign_in()
            }

            async fn revoke_sign_ins(
                &self,
                user: UserId,
                keep: Option<&str>,
            ) -> Result<Vec<SignIn>> {
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // Token ids are never empty, so "" keeps none.
                let rows = sqlx::query_as::<_, SignInRow>(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM sign_ins WHERE user_id = $1 AND jti <> $2 \
                     RETURNING {SIGN_IN_COLUMNS}"
                )))
                .bind(user.to_string())
                .bind(keep.unwrap_or(""))
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                for row in &rows {
                    sqlx::query(REVOKE)
                        .bind(&row.jti)
                        .bind(row.expires_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                rows.into_iter().map(SignInRow::into_sign_in).collect()
            }
        }
    };
}

impl_security_store!(crate::sqlite::SqliteStore);
impl_security_store!(crate::postgres::PgStore);
