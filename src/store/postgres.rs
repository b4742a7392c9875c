//! The PostgreSQL store: what real deployments use; several opschat instances may share it.

use anyhow::Context as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// Storage on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .with_context(|| {
                format!("connecting to PostgreSQL at {}", crate::store::redact(url))
            })?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn backend_kind(&self) -> crate::store::Backend {
        crate::store::Backend::Postgres
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(())
    }
}

crate::store::sql::sql_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    uuid::Uuid,
    "BEGIN",
    true
);

crate::store::workspace::sql_workspace!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    uuid::Uuid,
    "BEGIN",
    true
);
