//! The store's error type: small enough for callers to match on.

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A uniqueness or state condition failed; the text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or timed out; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corrupt data, a failed migration.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Classifies a sqlx error into what a caller can act on: retry (`Unavailable`), report a
    /// clash (`Conflict`), a missing row (`NotFound`), or give up (`Other`).
    pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
        use sqlx::Error as E;
        match err {
            E::RowNotFound => StoreError::NotFound,
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(err.to_string())
            }
            E::Database(db) => StoreError::from_database(db.as_ref()),
            E::Migrate(m) => StoreError::from_migrate(*m),
            other => StoreError::Other(other.to_string()),
        }
    }

    /// Classifies a failed migration; a connection lost while migrating is still `Unavailable`.
    pub(crate) fn from_migrate(err: sqlx::migrate::MigrateError) -> StoreError {
        use sqlx::migrate::MigrateError as M;
        match err {
            M::Execute(e) => StoreError::from_sqlx(e),
            M::ExecuteMigration(e, version) => match StoreError::from_sqlx(e) {
                unavailable @ StoreError::Unavailable(_) => unavailable,
                other => StoreError::Other(format!("migration {version} failed: {other}")),
            },
            other => StoreError::Other(format!("migration failed: {other}")),
        }
    }

    fn from_database(db: &dyn sqlx::error::DatabaseError) -> StoreError {
        if db.is_unique_violation() {
            return StoreError::Conflict(unique_violation_meaning(db));
        }
        if db.is_foreign_key_violation() {
            // Every foreign key points at the row an operation needs to exist (the account of
            // an invite, the session of a control), so a violation means that row is missing.
            return StoreError::NotFound;
        }
        if is_transient(db) {
            return StoreError::Unavailable(db.message().to_owned());
        }
        StoreError::Other(db.to_string())
    }
}

/// Unique constraints in the schema and what their violation means to a caller:
/// (PostgreSQL constraint or index name, SQLite `table.column` as in its error message, meaning).
const UNIQUE_CONSTRAINTS: &[(&str, &str, &str)] = &[
    (
        "users_username_key",
        "users.username",
        "username is already taken",
    ),
    (
        "users_username_key_unique",
        "users.username_key",
        "username is already taken",
    ),
    (
        "users_pkey",
        "users.id",
        "a user with this id already exists",
    ),
    (
        "accounts_pkey",
        "accounts.id",
        "an account with this id already exists",
    ),
    (
        "invites_pkey",
        "invites.code",
        "an invite with this code already exists",
    ),
    (
        "sessions_pkey",
        "sessions.suid",
        "a session with this id already exists",
    ),
    (
        "sessions_open_ticket",
        "sessions.ticket",
        "ticket is already in use by an open session",
    ),
    ("cdrs_pkey", "cdrs.suid", "the session already has a CDR"),
];

/// Says which uniqueness rule a write broke, in words a caller can pass on.
fn unique_violation_meaning(db: &dyn sqlx::error::DatabaseError) -> String {
    let message = db.message();
    UNIQUE_CONSTRAINTS
        .iter()
        .find(|(pg, sqlite, _)| {
            db.constraint() == Some(*pg) || message.ends_with(&format!(": {sqlite}"))
        })
        .map(|(_, _, meaning)| (*meaning).to_owned())
        .unwrap_or_else(|| message.to_owned())
}

/// Whether a database error is about reaching or sharing the database rather than the query:
/// worth retrying later.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        // 08: connection exception; 53: insufficient resources; 57P0x: shutting down or
        // starting up; 40001/40P01: serialization failure and deadlock, which succeed on retry.
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01");
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The primary result code is the low byte of the extended one.
        let primary = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
        return matches!(primary, Some(5 | 6 | 10 | 13 | 14));
    }
    false
}
