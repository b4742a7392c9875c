//! The embedded SQLite store: `cargo run` on a bare machine, one file, WAL mode, foreign keys on.

use anyhow::Context as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Storage in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the SQLite database `url` names: `sqlite:path`,
    /// `sqlite://path` or a bare file path.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let url = if url.starts_with("sqlite:") {
            url.to_string()
        } else {
            format!("sqlite:{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)
            .with_context(|| format!("parsing SQLite URL {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {url}"))?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn backend_kind(&self) -> crate::store::Backend {
        crate::store::Backend::Sqlite
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .context("applying SQLite migrations")?;
        Ok(())
    }
}

// IMMEDIATE takes the write lock up front, so concurrent turns queue on busy_timeout instead of
// failing with SQLITE_BUSY when a read transaction tries to upgrade.
crate::store::sql::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    "BEGIN IMMEDIATE",
    // SQLite has no data-modifying CTEs: it appends in a transaction.
    false
);

crate::store::workspace::sql_workspace!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    "BEGIN IMMEDIATE",
    false
);
