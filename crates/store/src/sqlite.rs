//! The embedded backend: one SQLite file in WAL mode, for a single node.

use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::username_keys;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// How long a writer waits for another connection's write to finish before giving up with
/// [`StoreError::Unavailable`]. SQLite has one writer at a time; our writes are short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::Store) in a SQLite database file.
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
            .foreign_keys(true)
            // Deleted rows are overwritten with zeros where that costs no extra I/O (small
            // rows such as data keys always are), so free pages keep nothing readable.
            .pragma("secure_delete", "FAST");
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
        username_keys::backfill(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Closes every connection, waiting for them to finish; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Nothing to lock: SQLite lets one connection write at a time, and the shared SQL starts each
/// of these transactions with its write, so the whole transaction runs alone. Control ids are
/// therefore also committed in the order they are assigned.
impl Dialect for SqliteStore {
    type Database = sqlx::Sqlite;

    async fn lock_for_user_deletion(_: &mut SqliteConnection, _user_id: &str) -> Result<()> {
        Ok(())
    }

    async fn lock_session_controls(_: &mut SqliteConnection, _suid: &str) -> Result<()> {
        Ok(())
    }

    async fn lock_account_admissions(_: &mut SqliteConnection, _account_id: &str) -> Result<()> {
        Ok(())
    }

    /// Deleted rows are zeroed in the database file (`secure_delete`), but the write-ahead
    /// log still holds the pages as they were before; a checkpoint that truncates it drops
    /// them. A checkpoint that readers hold back leaves the log to the next one.
    async fn purge_deleted(pool: &SqlitePool) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .map(drop)
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
