//! The embedded SQLite store: `cargo run` on a bare machine, one file, WAL mode, foreign keys on.

use anyhow::Context as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the WAL is copied back into the database file after writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL frames (pages) past which a checkpoint waits for readers and truncates the WAL: reached
/// only when, checkpoint after checkpoint, some reader still held an older snapshot.
const TRUNCATE_AFTER_FRAMES: i64 = 16_384;
/// What SQLite may leave of the WAL file on disk after it restarts it.
const WAL_SIZE_LIMIT: &str = "67108864";
/// A reading connection's page cache, in KiB (negative: SQLite's unit for a size in KiB; its
/// default is 2,000). In WAL mode a connection drops its whole cache when another has committed
/// since its last read, so under chat turns a reader's holds little, and a search or analytics
/// scan of a large history reads more than any of these sizes: 512 KiB searched and summed a
/// 200,000-message history as fast as 2 MiB did, and 256 KiB keeps the peak under load 1-2 MiB
/// lower again (bench/RESULTS.md, 2026-12-05).
const READER_PAGE_CACHE: &str = "-256";
/// The writer's: only its own commits change the file under it, so its cache stays warm with
/// the pages every turn writes (the ends of the messages' tables and indexes).
const WRITER_PAGE_CACHE: &str = "-512";

/// Storage in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for the writes that take this process's turn (see [`Writes`]).
    writer: SqlitePool,
    writes: Arc<Writes>,
}

/// How this process orders its writes to the one file and keeps the WAL short.
///
/// SQLite lets one writer in at a time; the others wait in its busy handler, which polls with
/// sleeps of up to 100 ms, and the commit that crosses the automatic checkpoint threshold copies
/// the whole WAL into the database before its turn can answer. Under load both showed as p99
/// stalls of most of a second. So writers of this process queue on a FIFO gate instead (woken
/// the moment the previous write commits), and a background task checkpoints off the turn path.
struct Writes {
    gate: tokio::sync::Mutex<()>,
    /// Set by every gated write; the checkpointer sleeps while nothing is written.
    dirty: AtomicBool,
    pool: SqlitePool,
}

impl Writes {
    /// Copies the WAL back into the database: the bulk while turns keep writing, then the few
    /// frames written meanwhile with the writers held, so that the WAL is fully copied and the
    /// next write starts it again from the beginning (a WAL that never restarts grows without
    /// bound under constant load).
    async fn checkpoint(&self) -> sqlx::Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        let _writing = self.gate.lock().await;
        let (_busy, frames, _copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&self.pool)
                .await?;
        if frames > TRUNCATE_AFTER_FRAMES {
            // Readers are short: waiting for them costs milliseconds, once in a long while.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
            tracing::debug!(frames, "WAL truncated");
        }
        Ok(())
    }
}

/// The checkpointer: ends when the last clone of the store is dropped or its pool is closed.
async fn keep_wal_short(writes: Weak<Writes>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(w) = writes.upgrade() else { return };
        if w.pool.is_closed() {
            return;
        }
        if !w.dirty.swap(false, Ordering::AcqRel) {
            continue;
        }
        if let Err(e) = w.checkpoint().await {
            tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying after the next write");
            w.dirty.store(true, Ordering::Release);
        }
    }
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
            .busy_timeout(Duration::from_secs(10))
            // The checkpointer below does this off the turn path.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        // The turn's writes go one at a time through the gate below, so they need one
        // connection, and the same one each time: in WAL mode a connection drops its page cache
        // whenever another connection has committed since its last transaction, so writes spread
        // over the pool read every page they touch again (`pread`, most of a write's time).
        // The readers are the rest of the pool.
        // No ping before each use (sqlx's default): a SQLite connection is a thread of this
        // process, it cannot drop like a network connection, and the ping was a hand-off to that
        // thread and back before every statement.
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max_connections.saturating_sub(1).max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().pragma("cache_size", READER_PAGE_CACHE))
            .await
            .with_context(|| format!("opening SQLite database {url}"))?;
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.pragma("cache_size", WRITER_PAGE_CACHE))
            .await
            .with_context(|| format!("opening SQLite database {url} for writing"))?;
        let writes = Arc::new(Writes {
            gate: tokio::sync::Mutex::new(()),
            dirty: AtomicBool::new(false),
            pool: pool.clone(),
        });
        tokio::spawn(keep_wal_short(Arc::downgrade(&writes)));
        Ok(Self {
            pool,
            writer,
            writes,
        })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn backend_kind(&self) -> crate::store::Backend {
        crate::store::Backend::Sqlite
    }

    /// Begins a write transaction in this process's turn (see [`Writes`]). IMMEDIATE takes the
    /// write lock up front, so that a writer of another process (the CLI) waits on busy_timeout
    /// instead of failing with SQLITE_BUSY when a read transaction tries to upgrade.
    async fn begin_write(&self) -> sqlx::Result<crate::store::WriteTx<'_, sqlx::Sqlite>> {
        let turn = self.write_turn().await;
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok((turn, tx))
    }

    /// The pool of the writes that take `write_turn`, apart from the readers'.
    fn separate_writer(&self) -> Option<&SqlitePool> {
        Some(&self.writer)
    }

    /// This process's turn to write (see [`Writes`]), held until the guard is dropped.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let turn = self.writes.gate.lock().await;
        self.writes.dirty.store(true, Ordering::Release);
        Some(turn)
    }

    async fn run_migrations(&self) -> crate::store::StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .context("applying SQLite migrations")?;
        Ok(())
    }
}

crate::store::sql::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    // SQLite has no data-modifying CTEs: it appends in a transaction.
    false
);

crate::store::workspace::sql_workspace!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    false
);

#[async_trait::async_trait]
impl crate::store::search::Search for SqliteStore {
    async fn search_messages(
        &self,
        owner: &str,
        f: &crate::store::search::SearchFilter,
    ) -> crate::store::StoreResult<crate::store::Page<crate::store::search::MessageHit>> {
        use crate::store::search::{MARK_END, MARK_START, bind_filters, filters};
        use sqlx::Row;
        let (extra, args) = filters(f, 5);
        // CROSS JOIN keeps the full-text match as the outer loop: left to the planner, SQLite
        // may walk every message and probe the index for each (seconds at 200,000 messages).
        let from = "FROM chat_messages_fts \
                    CROSS JOIN chat_messages m ON m.rowid = chat_messages_fts.rowid \
                    CROSS JOIN chat_sessions s ON s.id = m.session_id \
                    WHERE chat_messages_fts MATCH $1 AND s.user_id = $2";
        // The newest CANDIDATES matches (FTS5 walks its doclists by rowid, newest first, and
        // stops there), ranked by bm25 (lower is better); their number is the total
        // (CANDIDATES >= MAX_COUNT). The page's ids first, then their snippets, which cost a
        // re-read of the text each.
        let sql = format!(
            "SELECT c.fts_rowid, c.score, COUNT(*) OVER () AS total FROM \
             (SELECT chat_messages_fts.rowid AS fts_rowid, bm25(chat_messages_fts) AS score, \
                     m.created_at AS created_at {from}{extra} \
              ORDER BY chat_messages_fts.rowid DESC LIMIT {}) c \
             ORDER BY c.score, c.created_at DESC LIMIT $3 OFFSET $4",
            crate::store::search::CANDIDATES
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.query.to_fts5())
            .bind(owner)
            .bind(f.limit)
            .bind(f.offset);
        let found = bind_filters!(q, &args).fetch_all(&self.pool).await?;
        let total = match found.first() {
            Some(r) => r.try_get::<i64, _>("total")?,
            // A page past the end still says how many there are.
            None if f.offset > 0 => {
                let count_sql = format!(
                    "SELECT COUNT(*) FROM (SELECT 1 {from}{extra} AND $3 > 0 AND $4 >= 0 LIMIT {}) AS n",
                    crate::store::search::MAX_COUNT
                );
                let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql))
                    .bind(f.query.to_fts5())
                    .bind(owner)
                    .bind(f.limit)
                    .bind(f.offset);
                bind_filters!(q, &args).fetch_one(&self.pool).await?
            }
            None => 0,
        }
        .min(crate::store::search::MAX_COUNT);
        let page: Vec<(i64, f64)> = found
            .iter()
            .map(|r| Ok((r.try_get("fts_rowid")?, r.try_get("score")?)))
            .collect::<crate::store::StoreResult<_>>()?;
        if page.is_empty() {
            return Ok(crate::store::Page {
                items: Vec::new(),
                total,
            });
        }
        let ids: Vec<String> = page.iter().map(|(r, _)| r.to_string()).collect();
        let sql = format!(
            "SELECT chat_messages_fts.rowid AS fts_rowid, m.id, m.session_id, m.seq, m.role, \
                    m.model_used, m.created_at, s.title, s.started_at, s.is_active, \
                    snippet(chat_messages_fts, 0, '{MARK_START}', '{MARK_END}', ' … ', 24) AS snippet \
             FROM chat_messages_fts \
             CROSS JOIN chat_messages m ON m.rowid = chat_messages_fts.rowid \
             CROSS JOIN chat_sessions s ON s.id = m.session_id \
             WHERE chat_messages_fts MATCH $1 AND chat_messages_fts.rowid IN ({})",
            ids.join(", ")
        );
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.query.to_fts5())
            .fetch_all(&self.pool)
            .await?;
        let place = |r: &sqlx::sqlite::SqliteRow| {
            let rowid: i64 = r.try_get("fts_rowid").unwrap_or_default();
            page.iter()
                .position(|(id, _)| *id == rowid)
                .unwrap_or(usize::MAX)
        };
        rows.sort_by_key(place);
        let items = rows
            .iter()
            .map(|r| {
                Ok(crate::store::search::MessageHit {
                    message_id: r.try_get::<uuid::fmt::Hyphenated, _>("id")?.into_uuid(),
                    session_id: r
                        .try_get::<uuid::fmt::Hyphenated, _>("session_id")?
                        .into_uuid(),
                    session_title: r.try_get("title")?,
                    session_started_at: r.try_get("started_at")?,
                    session_archived: !r.try_get::<bool, _>("is_active")?,
                    seq: r.try_get("seq")?,
                    role: crate::store::sql::stored(r.try_get("role")?)?,
                    model_used: r.try_get("model_used")?,
                    created_at: r.try_get("created_at")?,
                    snippet: r.try_get("snippet")?,
                    rank: page.get(place(r)).map_or(0.0, |(_, score)| -score),
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
            "SELECT s.id, s.title, s.started_at, s.last_message_at, s.is_active \
             FROM chat_sessions_fts CROSS JOIN chat_sessions s ON s.rowid = chat_sessions_fts.rowid \
             WHERE chat_sessions_fts MATCH $1 AND s.user_id = $2 AND ($3 OR s.is_active) \
             ORDER BY s.last_message_at DESC LIMIT 20",
        )
        .bind(f.query.to_fts5())
        .bind(owner)
        .bind(f.include_archived)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::store::search::TitleHit {
                    session_id: r.try_get::<uuid::fmt::Hyphenated, _>("id")?.into_uuid(),
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
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    "ANALYZE"
);

crate::store::analytics::sql_analytics!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    uuid::fmt::Hyphenated,
    crate::store::analytics::Dialect {
        epoch: |c| format!("unixepoch({c})"),
        cited_join: ", json_each(CASE WHEN json_type(m.context_used, '$.items_used') = 'array' \
            THEN json_extract(m.context_used, '$.items_used') ELSE '[]' END) AS e",
        cited_field: |f| format!(
            "(CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.{f}') END)"
        ),
        open_tasks: "(CASE WHEN json_type(s.context_snapshot, '$.open_tasks') = 'integer' \
            THEN CAST(json_extract(s.context_snapshot, '$.open_tasks') AS TEXT) END)",
        overdue: "(CASE WHEN json_type(s.context_snapshot, '$.overdue') = 'array' \
            THEN json_array_length(s.context_snapshot, '$.overdue') END)",
        int_list: |c| format!("group_concat({c}, ',')"),
        set_keys: "UPDATE chat_messages SET question_key = v.k \
            FROM (SELECT json_extract(value, '$.i') AS i, json_extract(value, '$.k') AS k \
                  FROM json_each($1)) AS v \
            WHERE chat_messages.id = v.i",
    }
);
