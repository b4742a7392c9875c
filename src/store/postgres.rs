//! The PostgreSQL store: what real deployments use; several opschat instances may share it.

use anyhow::Context as _;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// How long a pooled connection may sit idle before it is pinged ahead of its next use.
const PING_WHEN_IDLE: Duration = Duration::from_secs(1);

/// Storage on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        // A connection is pinged before use only when it has been idle a while: sqlx's default
        // pings before every use, a round trip to the server ahead of each statement. One used
        // a moment ago is alive; one idle longer may have been dropped (a restart, a proxy's
        // idle timeout) and is replaced before it fails a request.
        let pool = PgPoolOptions::new()
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
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

    /// Begins a write transaction. PostgreSQL orders concurrent writers itself, row by row: no
    /// process-wide gate.
    async fn begin_write(&self) -> sqlx::Result<crate::store::WriteTx<'_, sqlx::Postgres>> {
        Ok((None, self.pool.begin().await?))
    }

    /// None: writes share the pool.
    fn separate_writer(&self) -> Option<&PgPool> {
        None
    }

    /// No turn to wait for: PostgreSQL orders its writers itself.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
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
    true
);

crate::store::workspace::sql_workspace!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    uuid::Uuid,
    true
);

#[async_trait::async_trait]
impl crate::store::search::Search for PgStore {
    async fn search_messages(
        &self,
        owner: &str,
        f: &crate::store::search::SearchFilter,
    ) -> crate::store::StoreResult<crate::store::Page<crate::store::search::MessageHit>> {
        use crate::store::search::{MARK_END, MARK_START, bind_filters, filters};
        use sqlx::Row;
        let (mut extra, args) = filters(f, 5);
        // A quoted phrase first narrows to the messages holding its neighbouring word pairs
        // (`search_pairs`, migration 0009); the function folds to a constant when planned, so
        // the condition is either an index condition or, for a phrase with no pair, nothing.
        let phrases = f.query.required_phrases();
        for i in 0..phrases.len() {
            let n = 5 + args.len() + i;
            extra.push_str(&format!(
                " AND (opschat_pairs_query(${n}) IS NULL \
                       OR m.search_pairs @@ opschat_pairs_query(${n}))"
            ));
        }
        let matching = format!(
            "FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
             WHERE s.user_id = $2 AND m.search @@ to_tsquery('english', $1){extra}"
        );
        // One pass: the newest CANDIDATES matches (the planner walks `created_at` newest first
        // for a common word, the GIN index for a rare one), ranked; their number is the total
        // (CANDIDATES >= MAX_COUNT), headlines only for the page. Not prepared for reuse: a
        // generic plan cannot see whether the words are common or rare, and the right plan
        // differs by orders of magnitude between them.
        let sql = format!(
            "SELECT h.*, ts_headline('english', h.content, to_tsquery('english', $1), \
                 'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=28, MinWords=10, \
                  MaxFragments=2, FragmentDelimiter=\" … \"') AS snippet \
             FROM (SELECT c.*, COUNT(*) OVER () AS total \
                   FROM (SELECT m.id, m.session_id, m.seq, m.role, m.model_used, m.created_at, \
                                m.content, s.title, s.started_at, s.is_active, \
                                ts_rank_cd(m.search, to_tsquery('english', $1)) AS rank \
                         {matching} ORDER BY m.created_at DESC LIMIT {candidates}) c \
                   ORDER BY c.rank DESC, c.created_at DESC LIMIT $3 OFFSET $4) h \
             ORDER BY h.rank DESC, h.created_at DESC",
            candidates = crate::store::search::CANDIDATES
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(f.query.to_tsquery())
            .bind(owner)
            .bind(f.limit)
            .bind(f.offset);
        let mut q = bind_filters!(q, &args);
        for p in &phrases {
            q = q.bind(p);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let total = match rows.first() {
            Some(r) => r.try_get::<i64, _>("total")?,
            // A page past the end still says how many there are.
            None if f.offset > 0 => {
                let count_sql = format!(
                    "SELECT COUNT(*) FROM (SELECT 1 {matching} AND $3 > 0 AND $4 >= 0 LIMIT {}) AS n",
                    crate::store::search::MAX_COUNT
                );
                let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql))
                    .persistent(false)
                    .bind(f.query.to_tsquery())
                    .bind(owner)
                    .bind(f.limit)
                    .bind(f.offset);
                let mut q = bind_filters!(q, &args);
                for p in &phrases {
                    q = q.bind(p);
                }
                q.fetch_one(&self.pool).await?
            }
            None => 0,
        }
        .min(crate::store::search::MAX_COUNT);
        let items = rows
            .iter()
            .map(|r| {
                Ok(crate::store::search::MessageHit {
                    message_id: r.try_get("id")?,
                    session_id: r.try_get("session_id")?,
                    session_title: r.try_get("title")?,
                    session_started_at: r.try_get("started_at")?,
                    session_archived: !r.try_get::<bool, _>("is_active")?,
                    seq: r.try_get("seq")?,
                    role: crate::store::sql::stored(r.try_get("role")?)?,
                    model_used: r.try_get("model_used")?,
                    created_at: r.try_get("created_at")?,
                    snippet: r.try_get("snippet")?,
                    rank: f64::from(r.try_get::<f32, _>("rank")?),
                })
            })
            .collect::<crate::store::StoreResult<Vec<_>>>()?;
        Ok(crate::store::Page { items, total })
    }

    async fn search_titles(
        &self,
        owner: &str,
        f: &crate::store::search::SearchFilter,
    ) -> crate::store::StoreResult<Vec<crate::store::search::TitleHit>> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT id, title, started_at, last_message_at, is_active FROM chat_sessions \
             WHERE user_id = $2 AND to_tsvector('english', title) @@ to_tsquery('english', $1) \
             AND ($3 OR is_active) ORDER BY last_message_at DESC LIMIT 20",
        )
        .bind(f.query.to_tsquery())
        .bind(owner)
        .bind(f.include_archived)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::store::search::TitleHit {
                    session_id: r.try_get("id")?,
                    title: r.try_get("title")?,
                    started_at: r.try_get("started_at")?,
                    last_message_at: r.try_get("last_message_at")?,
                    archived: !r.try_get::<bool, _>("is_active")?,
                })
            })
            .collect()
    }
}

crate::store::archive::sql_archive!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    uuid::Uuid,
    "VACUUM (ANALYZE)"
);

crate::store::analytics::sql_analytics!(
    PgStore,
    sqlx::postgres::PgRow,
    uuid::Uuid,
    crate::store::analytics::Dialect {
        epoch: |c| format!("CAST(FLOOR(EXTRACT(EPOCH FROM {c})) AS BIGINT)"),
        cited_join: "CROSS JOIN LATERAL jsonb_array_elements(CASE \
            WHEN jsonb_typeof(m.context_used -> 'items_used') = 'array' \
            THEN m.context_used -> 'items_used' ELSE '[]'::jsonb END) AS e(value)",
        cited_field: |f| format!(
            "(CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value ->> '{f}' END)"
        ),
        open_tasks: "(CASE WHEN jsonb_typeof(s.context_snapshot -> 'open_tasks') = 'number' \
            THEN s.context_snapshot ->> 'open_tasks' END)",
        overdue: "(CASE WHEN jsonb_typeof(s.context_snapshot -> 'overdue') = 'array' \
            THEN CAST(jsonb_array_length(s.context_snapshot -> 'overdue') AS BIGINT) END)",
        int_list: |c| format!("string_agg(CAST({c} AS TEXT), ',')"),
        set_keys: "UPDATE chat_messages m SET question_key = v.k \
            FROM jsonb_to_recordset(CAST($1 AS jsonb)) AS v(i uuid, k text) WHERE m.id = v.i",
    }
);
