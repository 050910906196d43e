//! [`Store`] for both backends from one set of SQL (see `ops_sql.rs` for the placeholder and
//! type rules that let the same text run on SQLite and PostgreSQL). Where the dialects need
//! different statements, the shared code calls the backend's [`Dialect`] hooks.

use crate::Store;
use crate::convert::{cdr_of_ended, millis, parse, state_binds, to_json, truncate};
use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::rows::{
    AccountRow, CdrRow, ControlRow, SessionRow, StatsColumns, UserRow, account_columns, bind_cdr,
    bind_session, bind_user, cdr_columns, control_columns, device_json, session_columns,
    user_columns,
};
use crate::types::{Invite, SessionFilter};
use switchboard_core::{
    Account, AccountId, Cdr, Control, DeviceId, DeviceInfo, Session, SessionStats, Suid,
    TicketCode, Timestamp, User, UserId,
};

/// What a refused deletion of an account's last admin says.
const LAST_ADMIN: &str =
    "the user is the account's last admin and other users remain: the account would have no admin";

/// The `DELETE` that keeps every account with users also with an admin: an admin goes only
/// if another admin of the account remains, or nobody else does (the account is then empty).
/// On its own it is atomic only where one connection writes at a time (SQLite); PostgreSQL
/// first takes [`Dialect::lock_for_user_deletion`].
const DELETE_KEEPING_AN_ADMIN: &str = "DELETE FROM users WHERE id = $1 AND ( \
     role <> 'admin' \
     OR EXISTS (SELECT 1 FROM users o WHERE o.account_id = users.account_id \
                AND o.role = 'admin' AND o.id <> users.id) \
     OR NOT EXISTS (SELECT 1 FROM users o WHERE o.account_id = users.account_id \
                    AND o.id <> users.id))";

/// Saves one session's running totals while it is open (its CDR holds the final ones).
const UPDATE_STATS: &str = "UPDATE sessions SET frames = $1, bytes = $2, peak_viewers = $3, \
     viewer_seconds = $4, last_frame_at = $5, jpeg_bytes_out = $6, webrtc_frames_in = $7, \
     webrtc_bytes_in = $8, webrtc_bytes_out = $9 WHERE suid = $10 AND state <> 'ended'";

/// Binds [`StatsColumns`] in [`UPDATE_STATS`] order, then the session id.
macro_rules! bind_stats {
    ($query:expr, $stats:expr, $suid:expr) => {{
        let stats: &$crate::rows::StatsColumns = $stats;
        $query
            .bind(stats.frames)
            .bind(stats.bytes)
            .bind(stats.peak_viewers)
            .bind(stats.viewer_seconds)
            .bind(stats.last_frame_at)
            .bind(stats.jpeg_bytes_out)
            .bind(stats.webrtc_frames_in)
            .bind(stats.webrtc_bytes_in)
            .bind(stats.webrtc_bytes_out)
            .bind($suid)
    }};
}

/// Implements [`Store`] for a store type with a `pool` field and a [`Dialect`].
macro_rules! impl_store {
    ($store:ty) => {
        impl $store {
            /// Whether a session row exists, to tell `NotFound` from `Conflict` after a
            /// conditional update changed nothing.
            async fn session_exists(&self, suid: Suid) -> Result<bool> {
                sqlx::query("SELECT 1 FROM sessions WHERE suid = $1")
                    .bind(suid.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map(|row| row.is_some())
                    .map_err(StoreError::from_sqlx)
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(StoreError::from_sqlx)
            }

            async fn create_account(&self, account: &Account, admin: &User) -> Result<()> {
                let account = AccountRow::from_account(account);
                let admin = UserRow::from_user(admin);
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                sqlx::query(concat!(
                    "INSERT INTO accounts (",
                    account_columns!(),
                    ") VALUES ($1, $2, $3)"
                ))
                .bind(&account.id)
                .bind(&account.name)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                let insert_user = sqlx::query(concat!(
                    "INSERT INTO users (",
                    user_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ));
                bind_user!(insert_user, &admin)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn account(&self, id: AccountId) -> Result<Account> {
                sqlx::query_as::<_, AccountRow>(concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts WHERE id = $1"
                ))
                .bind(id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_account()
            }

            async fn create_user_with_invite(
                &self,
                code: &str,
                user: &User,
                now: Timestamp,
            ) -> Result<User> {
                let mut row = UserRow::from_user(user);
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // Claim the invite first. The write takes the lock (SQLite's one writer, or
                // PostgreSQL's row lock), so a racing redemption waits, re-checks
                // `used_at IS NULL` after we commit, and finds nothing to claim.
                let (account_id,): (String,) = sqlx::query_as(
                    "UPDATE invites SET used_at = $1, used_by = $2 \
                     WHERE code = $3 AND used_at IS NULL AND expires_at > $1 RETURNING account_id",
                )
                .bind(millis(now))
                .bind(&row.id)
                .bind(code)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                row.account_id = account_id;
                let insert_user = sqlx::query(concat!(
                    "INSERT INTO users (",
                    user_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ));
                // On a taken username this returns early and dropping `tx` rolls the claim back.
                bind_user!(insert_user, &row)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                row.into_user()
            }

            async fn user_by_name(&self, username: &str) -> Result<User> {
                // Exact first, so a row from before keys existed that shares another's key is
                // still found by its own spelling.
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

            async fn user(&self, id: UserId) -> Result<User> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_user()
            }

            async fn list_users(&self, account: AccountId) -> Result<Vec<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE account_id = $1 ORDER BY created_at, id"
                ))
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(UserRow::into_user)
                .collect()
            }

            async fn delete_user(&self, id: UserId) -> Result<()> {
                let id = id.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                <$store as Dialect>::lock_for_user_deletion(&mut *tx, &id).await?;
                let done = sqlx::query(DELETE_KEEPING_AN_ADMIN)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .is_some();
                    return Err(if exists {
                        StoreError::Conflict(LAST_ADMIN.into())
                    } else {
                        StoreError::NotFound
                    });
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn delete_account(&self, id: AccountId) -> Result<()> {
                let id = id.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                // The keys go first: the rest is unreadable from this statement on, and the
                // transaction removes it all or nothing. Tables whose rows belong to the
                // account without a cascading key to it are cleared one by one; the rest
                // (sign-ins, second factors, controls, snapshots, detections, cell files,
                // limits) cascade from these rows.
                for statement in [
                    "DELETE FROM data_keys WHERE account_id = $1",
                    "DELETE FROM users WHERE account_id = $1",
                    "DELETE FROM invites WHERE account_id = $1",
                    "DELETE FROM account_security WHERE account_id = $1",
                    "DELETE FROM sessions WHERE account_id = $1",
                    "DELETE FROM cdrs WHERE account_id = $1",
                    "DELETE FROM admission_slots WHERE account_id = $1",
                    "DELETE FROM kernel_cpu WHERE account_id = $1",
                    "DELETE FROM cameras WHERE account_id = $1",
                    "DELETE FROM cells WHERE account_id = $1",
                ] {
                    sqlx::query(statement)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?;
                }
                let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                // The deletion stands either way; what is left in files is a lesser matter.
                if let Err(e) = <$store as Dialect>::purge_deleted(&self.pool).await {
                    tracing::warn!(error = %e, "cannot clear deleted rows from the database files");
                }
                Ok(())
            }

            async fn create_invite(&self, invite: &Invite) -> Result<()> {
                sqlx::query(
                    "INSERT INTO invites (code, account_id, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&invite.code)
                .bind(invite.account_id.to_string())
                .bind(invite.created_by.to_string())
                .bind(millis(invite.created_at))
                .bind(millis(invite.expires_at))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(StoreError::from_sqlx)
            }

            async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<()> {
                // The later expiry wins; a `WHERE` on the update says so in both dialects
                // (SQLite's two-argument `max` is PostgreSQL's `GREATEST`).
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE excluded.expires_at > revoked_tokens.expires_at",
                )
                .bind(jti)
                .bind(millis(expires_at))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(StoreError::from_sqlx)
            }

            async fn revoked_tokens(&self, now: Timestamp) -> Result<Vec<String>> {
                sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE expires_at > $1")
                    .bind(millis(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from_sqlx)
            }

            async fn insert_session(&self, session: &Session) -> Result<()> {
                let row = SessionRow::from_session(session)?;
                let insert = sqlx::query(concat!(
                    "INSERT INTO sessions (",
                    session_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15, $16, $17, $18, $19, $20, $21, $22, $23)"
                ));
                bind_session!(insert, &row)
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(StoreError::from_sqlx)
            }

            async fn session(&self, suid: Suid) -> Result<Session> {
                sqlx::query_as::<_, SessionRow>(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE suid = $1"
                ))
                .bind(suid.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_session()
            }

            async fn session_by_ticket(&self, ticket: &TicketCode) -> Result<Session> {
                sqlx::query_as::<_, SessionRow>(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE ticket = $1 \
                     ORDER BY state = 'ended', created_at DESC, suid DESC LIMIT 1"
                ))
                .bind(ticket.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_session()
            }

            async fn list_sessions(
                &self,
                account: AccountId,
                filter: &SessionFilter,
            ) -> Result<Vec<Session>> {
                let [a, b, c] = state_binds(&filter.states);
                sqlx::query_as::<_, SessionRow>(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE account_id = $1 AND state IN ($2, $3, $4) \
                     ORDER BY created_at DESC, suid DESC LIMIT $5"
                ))
                .bind(account.to_string())
                .bind(a)
                .bind(b)
                .bind(c)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(SessionRow::into_session)
                .collect()
            }

            async fn open_sessions(&self) -> Result<Vec<Session>> {
                sqlx::query_as::<_, SessionRow>(concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE state <> 'ended' ORDER BY created_at, suid"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(SessionRow::into_session)
                .collect()
            }

            async fn open_session_ids(&self) -> Result<Vec<Suid>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT suid FROM sessions WHERE state <> 'ended' ORDER BY created_at, suid",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .iter()
                .map(|suid| parse(suid, "sessions.suid"))
                .collect()
            }

            async fn mark_live(
                &self,
                suid: Suid,
                device_id: DeviceId,
                device: &DeviceInfo,
                at: Timestamp,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE sessions SET state = 'live', live_at = $1, device_id = $2, \
                     device = $3 WHERE suid = $4 AND state = 'waiting'",
                )
                .bind(millis(at))
                .bind(device_id.to_string())
                .bind(device_json(Some(device))?)
                .bind(suid.to_string())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else if self.session_exists(suid).await? {
                    Err(StoreError::Conflict("session is not waiting".into()))
                } else {
                    Err(StoreError::NotFound)
                }
            }

            async fn update_stats(&self, suid: Suid, stats: &SessionStats) -> Result<()> {
                let stats = StatsColumns::from_stats(stats)?;
                let done = bind_stats!(sqlx::query(UPDATE_STATS), &stats, suid.to_string())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 && !self.session_exists(suid).await? {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn update_stats_many(&self, batch: &[(Suid, SessionStats)]) -> Result<()> {
                let rows = batch
                    .iter()
                    .map(|(suid, stats)| Ok((suid.to_string(), StatsColumns::from_stats(stats)?)))
                    .collect::<Result<Vec<_>>>()?;
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                for (suid, stats) in rows {
                    bind_stats!(sqlx::query(UPDATE_STATS), &stats, suid)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                }
                tx.commit().await.map_err(StoreError::from_sqlx)
            }

            async fn end_session(&self, session: &Session) -> Result<Cdr> {
                let cdr = cdr_of_ended(session)?;
                let row = SessionRow::from_session(session)?;
                let cdr_row = CdrRow::from_cdr(&cdr)?;
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                let done = sqlx::query(
                    "UPDATE sessions SET state = 'ended', ended_at = $1, end_reason = $2, \
                     live_at = $3, device_id = $4, device = $5, frames = $6, bytes = $7, \
                     peak_viewers = $8, viewer_seconds = $9, last_frame_at = $10, \
                     jpeg_bytes_out = $11, webrtc_frames_in = $12, webrtc_bytes_in = $13, \
                     webrtc_bytes_out = $14 WHERE suid = $15 AND state <> 'ended'",
                )
                .bind(row.ended_at)
                .bind(&row.end_reason)
                .bind(row.live_at)
                .bind(&row.device_id)
                .bind(&row.device)
                .bind(row.frames)
                .bind(row.bytes)
                .bind(row.peak_viewers)
                .bind(row.viewer_seconds)
                .bind(row.last_frame_at)
                .bind(row.jpeg_bytes_out)
                .bind(row.webrtc_frames_in)
                .bind(row.webrtc_bytes_in)
                .bind(row.webrtc_bytes_out)
                .bind(&row.suid)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                if done.rows_affected() == 0 {
                    let exists = sqlx::query("SELECT 1 FROM sessions WHERE suid = $1")
                        .bind(&row.suid)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::from_sqlx)?
                        .is_some();
                    return Err(if exists {
                        StoreError::Conflict("session has already ended".into())
                    } else {
                        StoreError::NotFound
                    });
                }
                let insert = sqlx::query(concat!(
                    "INSERT INTO cdrs (",
                    cdr_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15, $16, $17, $18, $19, $20, $21)"
                ));
                bind_cdr!(insert, &cdr_row)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                cdr_row.into_cdr()
            }

            async fn cdrs(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Cdr>> {
                sqlx::query_as::<_, CdrRow>(concat!(
                    "SELECT ",
                    cdr_columns!(),
                    " FROM cdrs WHERE ended_at >= $1 AND ended_at < $2 ORDER BY ended_at, suid"
                ))
                .bind(millis(from))
                .bind(millis(to))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(CdrRow::into_cdr)
                .collect()
            }

            async fn insert_control(
                &self,
                suid: Suid,
                action: &str,
                args: &serde_json::Value,
                sent_by: UserId,
                at: Timestamp,
            ) -> Result<Control> {
                let suid_text = suid.to_string();
                let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
                <$store as Dialect>::lock_session_controls(&mut *tx, &suid_text).await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO controls (suid, action, args, sent_by, sent_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(&suid_text)
                .bind(action)
                .bind(to_json(args, "control arguments")?)
                .bind(sent_by.to_string())
                .bind(millis(at))
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
                tx.commit().await.map_err(StoreError::from_sqlx)?;
                Ok(Control {
                    id,
                    suid,
                    action: action.to_owned(),
                    args: args.clone(),
                    sent_by,
                    sent_at: truncate(at)?,
                })
            }

            async fn controls_after(
                &self,
                suid: Suid,
                after: i64,
                limit: u32,
            ) -> Result<Vec<Control>> {
                sqlx::query_as::<_, ControlRow>(concat!(
                    "SELECT ",
                    control_columns!(),
                    " FROM controls WHERE suid = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(suid.to_string())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(ControlRow::into_control)
                .collect()
            }
        }
    };
}

impl_store!(crate::sqlite::SqliteStore);
impl_store!(crate::postgres::PgStore);
