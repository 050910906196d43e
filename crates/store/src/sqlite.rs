//! The embedded backend: one SQLite file in WAL mode, for a single node.

use crate::Store;
use crate::convert::{cdr_of_ended, millis, state_binds, to_json, truncate};
use crate::error::{Result, StoreError};
use crate::rows::{
    AccountRow, CdrRow, ControlRow, SessionRow, StatsColumns, UserRow, account_columns, bind_cdr,
    bind_session, bind_user, cdr_columns, control_columns, device_json, session_columns,
    user_columns,
};
use crate::types::{Invite, SessionFilter};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;
use switchboard_core::{
    Account, AccountId, Cdr, Control, DeviceId, DeviceInfo, Session, SessionStats, Suid,
    TicketCode, Timestamp, User, UserId,
};

/// How long a writer waits for another connection's write to finish before giving up with
/// [`StoreError::Unavailable`]. SQLite has one writer at a time; our writes are short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in a SQLite database file.
///
/// WAL mode lets readers proceed while one connection writes; `synchronous=NORMAL` keeps
/// commits durable across a process crash (a power cut may lose the last few), which is the
/// usual trade for WAL. Every multi-statement write starts with its write, so a transaction
/// never has to upgrade a read lock (which in WAL mode fails at once instead of waiting).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database at a `sqlite:` URL such
    /// as `sqlite:///var/lib/switchboard/db.sqlite` or `sqlite::memory:`, and brings its schema
    /// up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_private_file(options.get_filename())?;
        }
        let pool_options = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one,
            // forever (several would also contend on shared-cache table locks).
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let pool = pool_options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::from_sqlx)?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        // An older binary may start against a schema a newer one already migrated.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(StoreError::from_migrate)?;
        let store = SqliteStore { pool };
        store.backfill_username_keys().await?;
        Ok(store)
    }

    /// Closes every connection, waiting for them to finish; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether a session row exists, to tell `NotFound` from `Conflict` after a conditional
    /// update changed nothing.
    async fn session_exists(&self, suid: Suid) -> Result<bool> {
        sqlx::query("SELECT 1 FROM sessions WHERE suid = ?")
            .bind(suid.to_string())
            .fetch_optional(&self.pool)
            .await
            .map(|row| row.is_some())
            .map_err(StoreError::from_sqlx)
    }
}

/// Creates the directory a database file goes in (mode 0700 when it makes it) and the file
/// itself (0600) before SQLite does, so a fresh data directory just works and the database
/// is readable by this user alone; SQLite gives its `-wal` and `-shm` files the database
/// file's mode. A database file others may read (made by an older release) is tightened to
/// 0600, with its `-wal` and `-shm`, and a warning says so.
fn create_private_file(file: &std::path::Path) -> Result<()> {
    let unavailable = |what: &std::path::Path, e: std::io::Error| {
        StoreError::Unavailable(format!("{}: {e}", what.display()))
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| unavailable(dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tighten_database_files(file);
            Ok(())
        }
        Err(e) => Err(unavailable(file, e)),
    }
}

/// Takes group and other permissions off an existing database file and its `-wal`/`-shm`.
/// A failure (a file of another owner) is logged, not fatal: the database still works.
fn tighten_database_files(file: &std::path::Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700)) {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                from = format!("{mode:o}"),
                to = format!("{:o}", mode & 0o700),
                "the database file was readable by other users; tightened its permissions"
            ),
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "the database file is readable by other users and cannot be tightened"
            ),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
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
            ") VALUES (?, ?, ?)"
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
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
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
            " FROM accounts WHERE id = ?"
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
        // Claim the invite first: the write takes the lock, so a racing redemption waits and
        // then finds it used.
        let (account_id,): (String,) = sqlx::query_as(
            "UPDATE invites SET used_at = ?, used_by = ? \
             WHERE code = ? AND used_at IS NULL AND expires_at > ? RETURNING account_id",
        )
        .bind(millis(now))
        .bind(&row.id)
        .bind(code)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        row.account_id = account_id;
        let insert_user = sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
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
        self.find_user_by_name(username).await
    }

    async fn user(&self, id: UserId) -> Result<User> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
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
            " FROM users WHERE account_id = ? ORDER BY created_at, id"
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
        // One statement: SQLite runs one writer at a time, so the check and the delete
        // cannot interleave with another deletion.
        let done = sqlx::query(crate::users_sql::DELETE_KEEPING_AN_ADMIN)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?
                .is_some();
            return Err(if exists {
                StoreError::Conflict(crate::users_sql::LAST_ADMIN.into())
            } else {
                StoreError::NotFound
            });
        }
        Ok(())
    }

    async fn create_invite(&self, invite: &Invite) -> Result<()> {
        sqlx::query(
            "INSERT INTO invites (code, account_id, created_by, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
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
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) \
             ON CONFLICT (jti) DO UPDATE \
             SET expires_at = max(revoked_tokens.expires_at, excluded.expires_at)",
        )
        .bind(jti)
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(StoreError::from_sqlx)
    }

    async fn revoked_tokens(&self, now: Timestamp) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE expires_at > ?")
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
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
            " FROM sessions WHERE suid = ?"
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
            " FROM sessions WHERE ticket = ? \
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
            " FROM sessions WHERE account_id = ? AND state IN (?, ?, ?) \
             ORDER BY created_at DESC, suid DESC LIMIT ?"
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

    async fn mark_live(
        &self,
        suid: Suid,
        device_id: DeviceId,
        device: &DeviceInfo,
        at: Timestamp,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE sessions SET state = 'live', live_at = ?, device_id = ?, device = ? \
             WHERE suid = ? AND state = 'waiting'",
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
        let done = sqlx::query(
            "UPDATE sessions SET frames = ?, bytes = ?, peak_viewers = ?, viewer_seconds = ?, \
             last_frame_at = ? WHERE suid = ? AND state <> 'ended'",
        )
        .bind(stats.frames)
        .bind(stats.bytes)
        .bind(stats.peak_viewers)
        .bind(stats.viewer_seconds)
        .bind(stats.last_frame_at)
        .bind(suid.to_string())
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 && !self.session_exists(suid).await? {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn end_session(&self, session: &Session) -> Result<Cdr> {
        let cdr = cdr_of_ended(session)?;
        let row = SessionRow::from_session(session)?;
        let cdr_row = CdrRow::from_cdr(&cdr)?;
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        let done = sqlx::query(
            "UPDATE sessions SET state = 'ended', ended_at = ?, end_reason = ?, live_at = ?, \
             device_id = ?, device = ?, frames = ?, bytes = ?, peak_viewers = ?, \
             viewer_seconds = ?, last_frame_at = ? WHERE suid = ? AND state <> 'ended'",
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
        .bind(&row.suid)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM sessions WHERE suid = ?")
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
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
            " FROM cdrs WHERE ended_at >= ? AND ended_at < ? ORDER BY ended_at, suid"
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
        // SQLite has a single writer, so ids are assigned and committed in the same order.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO controls (suid, action, args, sent_by, sent_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(suid.to_string())
        .bind(action)
        .bind(to_json(args, "control arguments")?)
        .bind(sent_by.to_string())
        .bind(millis(at))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Control {
            id,
            suid,
            action: action.to_owned(),
            args: args.clone(),
            sent_by,
            sent_at: truncate(at)?,
        })
    }

    async fn controls_after(&self, suid: Suid, after: i64, limit: u32) -> Result<Vec<Control>> {
        sqlx::query_as::<_, ControlRow>(concat!(
            "SELECT ",
            control_columns!(),
            " FROM controls WHERE suid = ? AND id > ? ORDER BY id LIMIT ?"
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
