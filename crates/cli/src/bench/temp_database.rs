//! A PostgreSQL database of its own for one benchmark run, created on the server the user
//! names and dropped at the end, so runs never see each other's rows.

use anyhow::Context;

/// A PostgreSQL database made for one run.
pub struct TempDatabase {
    /// The server's URL, for the administrative connection.
    server: String,
    /// The database's name, as shown to the user.
    pub name: String,
    /// The URL the nodes connect to.
    pub url: String,
}

impl TempDatabase {
    /// Creates a database with a random name on `server` (a URL without a database).
    pub async fn create(server: &str) -> anyhow::Result<TempDatabase> {
        let server = server.trim_end_matches('/').to_owned();
        // Only hex digits: the name goes into SQL unquoted.
        let name = format!("sb_bench_{:016x}", rand::random::<u64>());
        let mut conn = admin_connection(&server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name} on {server}"))?;
        close(conn).await;
        let url = format!("{server}/{name}");
        Ok(TempDatabase { server, name, url })
    }

    /// Drops the database, even while a server that did not exit cleanly holds it.
    pub async fn drop_it(&self) -> anyhow::Result<()> {
        let mut conn = admin_connection(&self.server).await?;
        // FORCE: a node that did not exit cleanly may still hold connections.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot drop database {}", self.name))?;
        close(conn).await;
        Ok(())
    }
}

async fn admin_connection(server: &str) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .with_context(|| {
            format!("cannot connect to PostgreSQL at {server} (is it running? see --database-url)")
        })
}

async fn close(conn: sqlx::PgConnection) {
    use sqlx::Connection;
    // The server closes its side anyway; a failed goodbye changes nothing.
    let _ = conn.close().await;
}
