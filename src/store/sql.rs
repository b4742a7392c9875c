//! The SQL shared by both backends. Both speak `$N` placeholders, `RETURNING` and
//! `ON CONFLICT`, so one body of queries serves PostgreSQL and SQLite; the macro below stamps it
//! out for each with that backend's row type and id representation (UUID vs hyphenated TEXT).

/// Converts between `Uuid` and the representation a backend stores.
pub(crate) trait IdRepr: Sized {
    fn from_uuid(id: uuid::Uuid) -> Self;
    fn into_uuid(self) -> uuid::Uuid;
}

impl IdRepr for uuid::Uuid {
    fn from_uuid(id: uuid::Uuid) -> Self {
        id
    }
    fn into_uuid(self) -> uuid::Uuid {
        self
    }
}

impl IdRepr for uuid::fmt::Hyphenated {
    fn from_uuid(id: uuid::Uuid) -> Self {
        id.hyphenated()
    }
    fn into_uuid(self) -> uuid::Uuid {
        self.into_uuid()
    }
}

pub(crate) const SESSION_COLUMNS: &str = "id, user_id, title, context_snapshot, started_at, \
     last_message_at, message_count, is_active";
pub(crate) const MESSAGE_COLUMNS: &str = "id, session_id, seq, role, content, context_used, \
     model_used, tokens_used, prompt_tokens, completion_tokens, status, error, reply_to, created_at, \
     provider, latency_ms, first_token_ms, cached_tokens, cost_usd";
pub(crate) const TASK_COLUMNS: &str = "id, external_id, title, description, due_date, priority, \
     status, time_estimate_minutes, source, delegatable, quadrant, recurrence, series_id, \
     previous_id, delegation_id, version, completed_at, deleted_at, created_at, updated_at";
pub(crate) const DELEGATION_COLUMNS: &str = "id, external_id, task_description, assigned_to, \
     assigned_to_email, due_date, follow_up_date, priority, status, task_id, \
     last_followed_up_at, version, completed_at, deleted_at, created_at, updated_at";
pub(crate) const DIGEST_COLUMNS: &str = "id, external_id, date, text, version, updated_at";

pub(crate) const USER_COLUMNS: &str = "id, username, display_name, password_hash, role, \
     time_zone, disabled_at, created_at";
/// `USER_COLUMNS` of `users u` in a join.
pub(crate) const USER_COLUMNS_U: &str = "u.id, u.username, u.display_name, u.password_hash, \
     u.role, u.time_zone, u.disabled_at, u.created_at";

/// `SESSION_COLUMNS` of a CTE `s`, each renamed `s_<column>` (read by `session_row_with`).
pub(crate) const SESSION_COLUMNS_S: &str = "s.id AS s_id, s.user_id AS s_user_id, \
     s.title AS s_title, s.context_snapshot AS s_context_snapshot, s.started_at AS s_started_at, \
     s.last_message_at AS s_last_message_at, s.message_count AS s_message_count, \
     s.is_active AS s_is_active";

/// The values of one new message in `MESSAGE_COLUMNS, question_key` order: its 20 parameters
/// (bound by `bind_message`) start at `$base + 1`, its seq is the expression `seq`.
pub(crate) fn message_values(base: usize, seq: &str) -> String {
    let p = |k: usize| format!("${}", base + k);
    let mut v = vec![p(4), p(1), seq.to_string()];
    v.extend((5..=14).map(p));
    v.push(p(3));
    v.extend((15..=20).map(p));
    v.join(", ")
}

/// The data-modifying CTE `m` that inserts `n` new messages after a CTE `s` whose `last_seq`
/// already counts them, each bound by `bind_message` in turn: the first gets seq
/// `last_seq - n + 1`, the last `last_seq`.
pub(crate) fn messages_cte(n: usize) -> String {
    format!(
        "m AS (INSERT INTO chat_messages ({MESSAGE_COLUMNS}, question_key) {} \
         RETURNING {MESSAGE_COLUMNS})",
        message_selects(n, "s")
    )
}

/// `n` new messages as a `SELECT … UNION ALL …` from `from`, a source of one row `s` whose
/// `last_seq` already counts them: the first gets seq `last_seq - n + 1`, the last `last_seq`.
pub(crate) fn message_selects(n: usize, from: &str) -> String {
    (0..n)
        .map(|i| {
            let seq = match n - 1 - i {
                0 => "s.last_seq".to_string(),
                back => format!("s.last_seq - {back}"),
            };
            format!("SELECT {} FROM {from}", message_values(20 * i, &seq))
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// What a batch of new messages adds to their session: how many, how many of them count in
/// the conversation, and the latest time. `None` for an empty batch or one whose messages
/// do not all belong to `session`.
pub(crate) fn batch_totals(
    session: uuid::Uuid,
    rows: &[crate::store::NewMessage],
) -> Option<(i64, i32, chrono::DateTime<chrono::Utc>)> {
    let latest = rows.iter().map(|m| m.created_at).max()?;
    if rows.iter().any(|m| m.session_id != session) {
        return None;
    }
    let counted = rows
        .iter()
        .map(|m| i32::from(m.status.in_conversation()))
        .sum();
    Some((rows.len() as i64, counted, latest))
}

/// The statuses that `MessageStatus::in_conversation` leaves out, as an SQL list: a reply that
/// ends with one of them no longer counts in its session's `message_count`.
pub(crate) const OUT_OF_CONVERSATION: &str = "('failed', 'superseded')";

/// Parses a stored enum word; a bad word means the row was written by something else.
pub(crate) fn stored<T: std::str::FromStr>(word: String) -> Result<T, crate::store::StoreError>
where
    T::Err: std::fmt::Display,
{
    word.parse::<T>()
        .map_err(|e| crate::store::StoreError::Backend(anyhow::anyhow!("corrupt row: {e}")))
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $row:ty, $id:ty, $one_statement_append:expr) => {
        use crate::store::sql::{
            batch_totals, message_selects, messages_cte, stored, IdRepr, DELEGATION_COLUMNS,
            DIGEST_COLUMNS, MESSAGE_COLUMNS, OUT_OF_CONVERSATION, SESSION_COLUMNS,
            SESSION_COLUMNS_S, TASK_COLUMNS, USER_COLUMNS, USER_COLUMNS_U,
        };
        use crate::store::*;
        use sqlx::types::Json;
        use sqlx::Row;

        fn id(u: uuid::Uuid) -> $id {
            <$id as IdRepr>::from_uuid(u)
        }

        fn session_row(r: &$row) -> StoreResult<Session> {
            session_row_with(r, "")
        }

        /// A session from columns named with `prefix` (a joined row names them `s_…`).
        fn session_row_with(r: &$row, prefix: &str) -> StoreResult<Session> {
            let col = |name: &str| format!("{prefix}{name}");
            Ok(Session {
                id: r.try_get::<$id, _>(col("id").as_str())?.into_uuid(),
                user_id: r.try_get(col("user_id").as_str())?,
                title: r.try_get(col("title").as_str())?,
                context_snapshot: r
                    .try_get::<Option<Json<serde_json::Value>>, _>(col("context_snapshot").as_str())?
                    .map(|j| j.0),
                started_at: r.try_get(col("started_at").as_str())?,
                last_message_at: r.try_get(col("last_message_at").as_str())?,
                message_count: r.try_get(col("message_count").as_str())?,
                is_active: r.try_get(col("is_active").as_str())?,
            })
        }

        fn message_row(r: &$row) -> StoreResult<Message> {
            Ok(Message {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                session_id: r.try_get::<$id, _>("session_id")?.into_uuid(),
                seq: r.try_get("seq")?,
                role: stored(r.try_get("role")?)?,
                content: r.try_get("content")?,
                context_used: r
                    .try_get::<Option<Json<serde_json::Value>>, _>("context_used")?
                    .map(|j| j.0),
                model_used: r.try_get("model_used")?,
                tokens_used: r.try_get("tokens_used")?,
                prompt_tokens: r.try_get("prompt_tokens")?,
                completion_tokens: r.try_get("completion_tokens")?,
                status: stored(r.try_get("status")?)?,
                error: r.try_get("error")?,
                reply_to: r.try_get::<Option<$id>, _>("reply_to")?.map(IdRepr::into_uuid),
                created_at: r.try_get("created_at")?,
                stats: crate::domain::ReplyStats {
                    provider: r.try_get("provider")?,
                    latency_ms: r.try_get("latency_ms")?,
                    first_token_ms: r.try_get("first_token_ms")?,
                    cached_tokens: r.try_get("cached_tokens")?,
                    cost_usd: r.try_get("cost_usd")?,
                },
            })
        }

        fn task_row(r: &$row) -> StoreResult<crate::domain::Task> {
            Ok(crate::domain::Task {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                external_id: r.try_get("external_id")?,
                title: r.try_get("title")?,
                description: r.try_get("description")?,
                due_date: r.try_get("due_date")?,
                priority: stored(r.try_get("priority")?)?,
                status: stored(r.try_get("status")?)?,
                time_estimate_minutes: r.try_get("time_estimate_minutes")?,
                source: r.try_get("source")?,
                delegatable: r.try_get("delegatable")?,
                quadrant: r
                    .try_get::<Option<String>, _>("quadrant")?
                    .map(stored)
                    .transpose()?,
                recurrence: r
                    .try_get::<Option<String>, _>("recurrence")?
                    .map(|j| {
                        serde_json::from_str(&j).map_err(|e| {
                            StoreError::Backend(anyhow::anyhow!("corrupt recurrence: {e}"))
                        })
                    })
                    .transpose()?,
                series_id: r.try_get::<Option<$id>, _>("series_id")?.map(IdRepr::into_uuid),
                previous_id: r.try_get::<Option<$id>, _>("previous_id")?.map(IdRepr::into_uuid),
                delegation_id: r
                    .try_get::<Option<$id>, _>("delegation_id")?
                    .map(IdRepr::into_uuid),
                version: r.try_get("version")?,
                completed_at: r.try_get("completed_at")?,
                deleted_at: r.try_get("deleted_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn delegation_row(r: &$row) -> StoreResult<crate::domain::Delegation> {
            Ok(crate::domain::Delegation {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                external_id: r.try_get("external_id")?,
                task_description: r.try_get("task_description")?,
                assigned_to: r.try_get("assigned_to")?,
                assigned_to_email: r.try_get("assigned_to_email")?,
                due_date: r.try_get("due_date")?,
                follow_up_date: r.try_get("follow_up_date")?,
                priority: stored(r.try_get("priority")?)?,
                status: stored(r.try_get("status")?)?,
                task_id: r.try_get::<Option<$id>, _>("task_id")?.map(IdRepr::into_uuid),
                last_followed_up_at: r.try_get("last_followed_up_at")?,
                version: r.try_get("version")?,
                completed_at: r.try_get("completed_at")?,
                deleted_at: r.try_get("deleted_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn digest_row(r: &$row) -> StoreResult<crate::domain::Digest> {
            Ok(crate::domain::Digest {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                external_id: r.try_get("external_id")?,
                date: r.try_get("date")?,
                text: r.try_get("text")?,
                version: r.try_get("version")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        /// Binds a new message's 20 values in the order both append statements use: the
        /// last is a question's grouping key (`store::analytics::stored_key`), kept with it
        /// so that analytics never has to compute it later.
        fn bind_message<'q>(
            q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            m: &NewMessage,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            q.bind(id(m.session_id))
                .bind(i32::from(m.status.in_conversation()))
                .bind(m.created_at)
                .bind(id(m.id))
                .bind(m.role.as_str())
                .bind(&m.content)
                .bind(m.context_used.as_ref().map(Json))
                .bind(&m.model_used)
                .bind(m.tokens_used)
                .bind(m.prompt_tokens)
                .bind(m.completion_tokens)
                .bind(m.status.as_str())
                .bind(&m.error)
                .bind(m.reply_to.map(id))
                .bind(&m.stats.provider)
                .bind(m.stats.latency_ms)
                .bind(m.stats.first_token_ms)
                .bind(m.stats.cached_tokens)
                .bind(m.stats.cost_usd)
                .bind((m.role == crate::domain::Role::User).then(|| {
                    crate::store::analytics::stored_key(&m.content)
                }))
        }

        /// Bumps the session ($1: id, $2: counted, $3: at) and returns the new seq and counts.
        const BUMP_SESSION: &str = "UPDATE chat_sessions SET last_seq = last_seq + 1, \
             message_count = message_count + $2, \
             last_message_at = CASE WHEN last_message_at < $3 THEN $3 ELSE last_message_at END \
             WHERE id = $1 RETURNING last_seq, message_count, last_message_at";

        fn appended(r: &$row) -> StoreResult<Appended> {
            Ok(Appended {
                message: message_row(r)?,
                message_count: r.try_get("session_message_count")?,
                last_message_at: r.try_get("session_last_message_at")?,
            })
        }
        /// The same from a SQLite script's rows: the message, and the session's
        /// `message_count` and `last_message_at` in a row of their own.
        fn appended_apart(message: &$row, session: &$row) -> StoreResult<Appended> {
            Ok(Appended {
                message: message_row(message)?,
                message_count: session.try_get("message_count")?,
                last_message_at: session.try_get("last_message_at")?,
            })
        }

        /// Takes the row lock of a message's session before the message is changed, in a
        /// transaction that then updates the session's counters. Appends lock the session
        /// first (the bump comes before the insert and its analytics triggers); a change that
        /// locked the message and its analytics rows first and the session last would deadlock
        /// with a concurrent append to the same session (PostgreSQL; SQLite's writes are
        /// serialised by `begin_write`).
        async fn lock_session_of(
            tx: &mut sqlx::Transaction<'static, $db>,
            mid: uuid::Uuid,
        ) -> StoreResult<()> {
            if $one_statement_append {
                sqlx::query(
                    "SELECT 1 FROM chat_sessions WHERE id = \
                     (SELECT session_id FROM chat_messages WHERE id = $1) FOR UPDATE",
                )
                .bind(id(mid))
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        /// Message rows in seq order (SQLite's RETURNING gives no order).
        fn in_order(rows: &[$row]) -> StoreResult<Vec<Message>> {
            let mut messages = rows.iter().map(message_row).collect::<StoreResult<Vec<_>>>()?;
            messages.sort_by_key(|m| m.seq);
            Ok(messages)
        }

        impl $store {
            /// A new session with its final counters and its first messages, and the owner's
            /// workspace version: one statement (PostgreSQL) or one script (SQLite), one round
            /// trip. The snapshot is stored unless `expected` is given and the version is not it.
            async fn start_with(
                &self,
                s: &NewSession,
                rows: &[NewMessage],
                expected: Option<i64>,
            ) -> StoreResult<(Session, Vec<Message>, i64)> {
                let (n, counted, latest) = batch_totals(s.id, rows).ok_or_else(|| {
                    StoreError::Backend(anyhow::anyhow!("a session starts with its own messages"))
                })?;
                // `$1` is the messages' session id, bound first by `bind_message`.
                let b = 20 * rows.len();
                let version = format!(
                    "SELECT COALESCE((SELECT version FROM workspace_versions \
                       WHERE user_id = ${u}), 0) AS version",
                    u = b + 1
                );
                let session_values = format!(
                    "SELECT $1, ${u}, ${t}, \
                       CASE WHEN ${e} IS NULL OR v.version = ${e} THEN ${c} END, \
                       ${a}, ${l}, ${k}, TRUE, ${n} FROM v",
                    u = b + 1,
                    t = b + 2,
                    c = b + 3,
                    a = b + 4,
                    l = b + 5,
                    k = b + 6,
                    n = b + 7,
                    e = b + 8,
                );
                let sql = if $one_statement_append {
                    format!(
                        "WITH v AS ({version}), \
                         s AS (INSERT INTO chat_sessions ({SESSION_COLUMNS}, last_seq) \
                           {session_values} RETURNING {SESSION_COLUMNS}, last_seq), \
                         {rows} \
                         SELECT m.*, {SESSION_COLUMNS_S}, \
                           (SELECT version FROM v) AS workspace_version \
                         FROM m CROSS JOIN s ORDER BY m.seq",
                        rows = messages_cte(rows.len()),
                    )
                } else {
                    // Rows come back as: the version, the session, its messages.
                    format!(
                        "BEGIN IMMEDIATE; \
                         {version}; \
                         INSERT INTO chat_sessions ({SESSION_COLUMNS}, last_seq) \
                           WITH v AS ({version}) {session_values} RETURNING {SESSION_COLUMNS}; \
                         INSERT INTO chat_messages ({MESSAGE_COLUMNS}, question_key) \
                           {rows} RETURNING {MESSAGE_COLUMNS}; \
                         COMMIT",
                        rows = message_selects(
                            rows.len(),
                            &format!("(SELECT ${n} AS last_seq) AS s", n = b + 7)
                        ),
                    )
                };
                let q = rows
                    .iter()
                    .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), bind_message)
                    .bind(&s.user_id)
                    .bind(&s.title)
                    .bind(s.context_snapshot.as_ref().map(Json))
                    .bind(s.started_at)
                    .bind(latest)
                    .bind(counted)
                    .bind(n)
                    .bind(expected);
                if $one_statement_append {
                    let got = q.fetch_all(&self.pool).await?;
                    let first = got.first().ok_or(StoreError::NotFound)?;
                    let session = session_row_with(first, "s_")?;
                    let version = first.try_get("workspace_version")?;
                    let messages = got.iter().map(message_row).collect::<StoreResult<_>>()?;
                    return Ok((session, messages, version));
                }
                let got = self.run_script(q).await?;
                let [version, session, messages @ ..] = got.as_slice() else {
                    return Err(StoreError::NotFound);
                };
                Ok((
                    session_row(session)?,
                    in_order(messages)?,
                    version.try_get("version")?,
                ))
            }

            /// Runs `q`, a script that begins its write transaction (`BEGIN IMMEDIATE`) and
            /// commits it, in this process's turn to write (SQLite only). SQLite runs a whole
            /// script on the connection's thread in one hand-off, where a transaction of separate
            /// statements takes one per statement, each a wake-up of two threads: most of a
            /// streamed turn's time before its first token.
            ///
            /// In a task of its own: a caller that goes away part-way (a client hanging up)
            /// must not leave the transaction open on a pooled connection. A script that fails
            /// part-way is rolled back, and its connection closed if even that fails.
            async fn run_script(
                &self,
                q: sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>,
            ) -> StoreResult<Vec<$row>> {
                let store = self.clone();
                let ran = tokio::spawn(async move {
                    let _writing = store.write_turn().await;
                    let pool = store.separate_writer().unwrap_or(&store.pool);
                    let mut conn = pool.acquire().await?;
                    match q.fetch_all(&mut *conn).await {
                        Ok(rows) => Ok(rows),
                        Err(e) => {
                            if let Err(r) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                                tracing::debug!(error = %r, "rolling back a failed write script");
                                let _ = conn.close().await;
                            }
                            Err(e)
                        }
                    }
                })
                .await
                .map_err(|e| StoreError::Backend(anyhow::anyhow!("a write script's task: {e}")))?;
                Ok(ran?)
            }
        }

        /// Finds the row an imported record updates: by external id when it has one.
        async fn existing_id(
            tx: &mut sqlx::Transaction<'static, $db>,
            table: &'static str,
            owner: &str,
            external_id: Option<&str>,
        ) -> StoreResult<Option<uuid::Uuid>> {
            let Some(ext) = external_id else { return Ok(None) };
            let sql = format!("SELECT id FROM {table} WHERE user_id = $1 AND external_id = $2");
            let found: Option<$id> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(ext)
                .fetch_optional(&mut **tx)
                .await?;
            Ok(found.map(IdRepr::into_uuid))
        }

        /// An account and its password hash, from `USER_COLUMNS` (bare or `u.`-qualified).
        fn user_row(r: &$row) -> StoreResult<(crate::domain::User, Option<String>)> {
            let hash: Option<String> = r.try_get("password_hash")?;
            let disabled: Option<chrono::DateTime<chrono::Utc>> = r.try_get("disabled_at")?;
            Ok((
                crate::domain::User {
                    id: r.try_get::<$id, _>("id")?.into_uuid(),
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    role: stored(r.try_get("role")?)?,
                    time_zone: r.try_get("time_zone")?,
                    disabled: disabled.is_some(),
                    has_password: hash.is_some(),
                    created_at: r.try_get("created_at")?,
                },
                hash,
            ))
        }

        /// Moves rows whose owner is not an account (written before accounts) to `owner`.
        async fn claim_legacy(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
        ) -> StoreResult<u64> {
            let mut moved = 0;
            for table in ["chat_sessions", "tasks", "delegations", "daily_digests"] {
                let sql = format!(
                    "UPDATE {table} SET user_id = $1 \
                     WHERE user_id NOT IN (SELECT CAST(id AS TEXT) FROM users)"
                );
                moved += sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            }
            Ok(moved)
        }

        fn count(c: &mut ImportCounts, updated: bool) {
            if updated {
                c.updated += 1;
            } else {
                c.created += 1;
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                self.backend_kind()
            }

            fn pool_stats(&self) -> (u32, u32, u32) {
                let mut stats = (0, 0, 0);
                for pool in std::iter::once(&self.pool).chain(self.separate_writer()) {
                    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
                    stats.0 += pool.size().saturating_sub(idle);
                    stats.1 += idle;
                    stats.2 += pool.options().get_max_connections();
                }
                stats
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn start_session(
                &self,
                s: &NewSession,
                rows: &[NewMessage],
            ) -> StoreResult<(Session, Vec<Message>)> {
                let (session, messages, _) = self.start_with(s, rows, None).await?;
                Ok((session, messages))
            }

            async fn start_session_at(
                &self,
                s: &NewSession,
                rows: &[NewMessage],
                expected: i64,
            ) -> StoreResult<(Session, Vec<Message>, i64)> {
                self.start_with(s, rows, Some(expected)).await
            }

            async fn set_snapshot(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                snapshot: &serde_json::Value,
            ) -> StoreResult<()> {
                let q = sqlx::query(
                    "UPDATE chat_sessions SET context_snapshot = $3 \
                     WHERE id = $1 AND user_id = $2 AND context_snapshot IS NULL",
                )
                .bind(id(sid))
                .bind(owner)
                .bind(Json(snapshot));
                if $one_statement_append {
                    q.execute(&self.pool).await?;
                } else {
                    let (_writing, mut tx) = self.begin_write().await?;
                    q.execute(&mut *tx).await?;
                    tx.commit().await?;
                }
                Ok(())
            }

            async fn session(&self, owner: &str, sid: uuid::Uuid) -> StoreResult<Option<Session>> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1 AND user_id = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(owner)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(session_row).transpose()
            }

            async fn continue_session(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                rows: &[NewMessage],
            ) -> StoreResult<Option<ContinuedSession>> {
                let (n, counted, latest) = batch_totals(sid, rows).ok_or_else(|| {
                    StoreError::Backend(anyhow::anyhow!("a turn appends its own session's messages"))
                })?;
                // The owner's check, the session bump, the rows and the workspace version:
                // one statement (PostgreSQL) or one script (SQLite), one round trip, one commit.
                let b = 20 * rows.len();
                let bump = format!(
                    "UPDATE chat_sessions SET last_seq = last_seq + ${n}, \
                       message_count = message_count + ${k}, \
                       last_message_at = CASE WHEN last_message_at < ${l} THEN ${l} \
                         ELSE last_message_at END \
                     WHERE id = $1 AND user_id = ${o} \
                     RETURNING {SESSION_COLUMNS}, last_seq",
                    n = b + 1,
                    k = b + 2,
                    l = b + 3,
                    o = b + 4,
                );
                let version = format!(
                    "COALESCE((SELECT version FROM workspace_versions WHERE user_id = ${o}), 0) \
                     AS workspace_version",
                    o = b + 4
                );
                let sql = if $one_statement_append {
                    format!(
                        "WITH s AS ({bump}), {rows} \
                         SELECT m.*, {SESSION_COLUMNS_S}, {version} \
                         FROM m CROSS JOIN s ORDER BY m.seq",
                        rows = messages_cte(rows.len()),
                    )
                } else {
                    // The version first, so that rows come back as: version, the session if
                    // it is the owner's, its new messages. Nothing is written for another
                    // owner's session: the bump and the inserts find no row.
                    format!(
                        "BEGIN IMMEDIATE; \
                         SELECT {version}; \
                         {bump}; \
                         INSERT INTO chat_messages ({MESSAGE_COLUMNS}, question_key) \
                           {rows} RETURNING {MESSAGE_COLUMNS}; \
                         COMMIT",
                        rows = message_selects(
                            rows.len(),
                            &format!(
                                "chat_sessions s WHERE s.id = $1 AND s.user_id = ${o}",
                                o = b + 4
                            )
                        ),
                    )
                };
                let q = rows
                    .iter()
                    .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), bind_message)
                    .bind(n)
                    .bind(counted)
                    .bind(latest)
                    .bind(owner);
                if $one_statement_append {
                    let got = q.fetch_all(&self.pool).await?;
                    let Some(first) = got.first() else {
                        return Ok(None);
                    };
                    return Ok(Some(ContinuedSession {
                        session: session_row_with(first, "s_")?,
                        version: first.try_get("workspace_version")?,
                        messages: got.iter().map(message_row).collect::<StoreResult<_>>()?,
                    }));
                }
                let got = self.run_script(q).await?;
                let [version, session, messages @ ..] = got.as_slice() else {
                    return Ok(None);
                };
                Ok(Some(ContinuedSession {
                    session: session_row(session)?,
                    version: version.try_get("workspace_version")?,
                    messages: in_order(messages)?,
                }))
            }

            async fn workspace_version(&self, owner: &str) -> StoreResult<i64> {
                let v: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM workspace_versions WHERE user_id = $1")
                        .bind(owner)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(v.unwrap_or(0))
            }

            async fn session_by_thread(
                &self,
                owner: &str,
                key: &str,
            ) -> StoreResult<Option<Session>> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM chat_sessions \
                     WHERE user_id = $1 AND thread_key = $2 \
                       AND message_count - thread_messages IN (0, 1) \
                     ORDER BY last_message_at DESC, id DESC LIMIT 1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(session_row).transpose()
            }

            async fn set_thread(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                key: &str,
                messages: i32,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE chat_sessions SET thread_key = $3, thread_messages = $4 \
                     WHERE id = $1 AND user_id = $2",
                )
                .bind(id(sid))
                .bind(owner)
                .bind(key)
                .bind(messages)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn sessions(
                &self,
                user_id: &str,
                limit: i64,
                include_archived: bool,
            ) -> StoreResult<Vec<Session>> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM chat_sessions \
                     WHERE user_id = $1 AND (is_active OR $2) \
                     ORDER BY last_message_at DESC, id DESC LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user_id)
                    .bind(include_archived)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(session_row).collect()
            }

            async fn update_session(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                patch: &SessionPatch,
            ) -> StoreResult<Session> {
                let sql = format!(
                    "UPDATE chat_sessions SET title = COALESCE($2, title), \
                     is_active = COALESCE($3, is_active) WHERE id = $1 AND user_id = $4 \
                     RETURNING {SESSION_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(&patch.title)
                    .bind(patch.is_active)
                    .bind(owner)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(session_row).transpose()?.ok_or(StoreError::NotFound)
            }

            async fn append_message(&self, m: &NewMessage) -> StoreResult<Appended> {
                if $one_statement_append {
                    // One atomic statement, one round trip: the bump's row lock orders
                    // concurrent appends to a session, as the transaction does.
                    let sql = format!(
                        "WITH s AS ({BUMP_SESSION}), \
                         {} \
                         SELECT m.*, s.message_count AS session_message_count, \
                                s.last_message_at AS session_last_message_at FROM m CROSS JOIN s",
                        messages_cte(1)
                    );
                    let row = bind_message(sqlx::query(sqlx::AssertSqlSafe(sql)), m)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    return appended(&row);
                }
                // One script: the bump, then the insert with the bumped seq.
                let sql = format!(
                    "BEGIN IMMEDIATE; {BUMP_SESSION}; \
                     INSERT INTO chat_messages ({MESSAGE_COLUMNS}, question_key) {} \
                       RETURNING {MESSAGE_COLUMNS}; \
                     COMMIT",
                    message_selects(1, "chat_sessions s WHERE s.id = $1")
                );
                let got = self
                    .run_script(bind_message(sqlx::query(sqlx::AssertSqlSafe(sql)), m))
                    .await?;
                let [bumped, row] = got.as_slice() else {
                    return Err(StoreError::NotFound);
                };
                appended_apart(row, bumped)
            }

            async fn stream_progress(&self, mid: uuid::Uuid, content: &str) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE chat_messages SET content = $2, heartbeat_at = $3 \
                     WHERE id = $1 AND status = 'streaming'",
                )
                .bind(id(mid))
                .bind(content)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_stream(&self, mid: uuid::Uuid, d: &FinishedReply) -> StoreResult<Appended> {
                const FINISH: &str = "UPDATE chat_messages SET content = $2, \
                     status = CASE WHEN status = 'stopped' THEN 'stopped' ELSE $3 END, \
                     error = $4, model_used = $5, tokens_used = $6, prompt_tokens = $7, \
                     completion_tokens = $8, context_used = $9, heartbeat_at = $10, \
                     provider = $11, latency_ms = $12, first_token_ms = $13, cached_tokens = $14, \
                     cost_usd = $15 \
                     WHERE id = $1 AND status IN ('streaming', 'stopped')";
                let q = |sql: String| {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id(mid))
                        .bind(&d.content)
                        .bind(d.status.as_str())
                        .bind(&d.error)
                        .bind(&d.model_used)
                        .bind(d.tokens_used)
                        .bind(d.prompt_tokens)
                        .bind(d.completion_tokens)
                        .bind(d.context_used.as_ref().map(Json))
                        .bind(chrono::Utc::now())
                        .bind(&d.stats.provider)
                        .bind(d.stats.latency_ms)
                        .bind(d.stats.first_token_ms)
                        .bind(d.stats.cached_tokens)
                        .bind(d.stats.cost_usd)
                };
                if !$one_statement_append {
                    // SQLite: one script, one hand-off to the writer's thread where a
                    // transaction of separate statements took four, with the writers' turn held
                    // across all of them. The session's count moves only when the reply's row
                    // was updated (`changes()`: the rows the previous statement changed itself,
                    // not its triggers); a failure leaves the conversation. Rows come back as:
                    // the reply, then the session's count and latest time.
                    let sql = format!(
                        "BEGIN IMMEDIATE; \
                         {FINISH} RETURNING {MESSAGE_COLUMNS}; \
                         UPDATE chat_sessions SET message_count = message_count + \
                           CASE WHEN m.status IN {OUT_OF_CONVERSATION} THEN -1 ELSE 0 END \
                         FROM chat_messages m \
                         WHERE changes() = 1 AND m.id = $1 AND chat_sessions.id = m.session_id \
                         RETURNING chat_sessions.message_count, chat_sessions.last_message_at; \
                         COMMIT"
                    );
                    let got = self.run_script(q(sql)).await?;
                    let [row, session] = got.as_slice() else {
                        return Err(StoreError::NotFound);
                    };
                    return appended_apart(row, session);
                }
                // PostgreSQL: one statement, one round trip where a transaction took five. The
                // session's row is locked first (`l`), as every write that touches a session and
                // one of its messages does, so that none waits on the other in turn; the count
                // then moves by the status the reply was saved with (`m`'s, re-read after any
                // wait for its row).
                let sql = format!(
                    "WITH l AS (SELECT id FROM chat_sessions \
                       WHERE id = (SELECT session_id FROM chat_messages WHERE id = $1) FOR UPDATE), \
                     m AS ({FINISH} AND EXISTS (SELECT 1 FROM l) RETURNING {MESSAGE_COLUMNS}), \
                     c AS (UPDATE chat_sessions s SET message_count = s.message_count + \
                         CASE WHEN m.status IN {OUT_OF_CONVERSATION} THEN -1 ELSE 0 END \
                       FROM m WHERE s.id = m.session_id \
                       RETURNING s.message_count, s.last_message_at) \
                     SELECT m.*, c.message_count AS session_message_count, \
                       c.last_message_at AS session_last_message_at FROM m CROSS JOIN c"
                );
                let row = q(sql)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                appended(&row)
            }

            async fn stop_streams(
                &self,
                owner: &str,
                sid: uuid::Uuid,
            ) -> StoreResult<Vec<uuid::Uuid>> {
                let ids: Vec<$id> = sqlx::query_scalar(
                    "UPDATE chat_messages SET status = 'stopped' \
                     WHERE session_id = $1 AND status = 'streaming' AND EXISTS \
                     (SELECT 1 FROM chat_sessions s WHERE s.id = $1 AND s.user_id = $2) \
                     RETURNING id",
                )
                .bind(id(sid))
                .bind(owner)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(IdRepr::into_uuid).collect())
            }

            async fn interrupt_stale_streams(
                &self,
                cutoff: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<u64> {
                let done = sqlx::query(
                    "UPDATE chat_messages SET status = 'interrupted', \
                     error = 'the server stopped while this reply was streaming' \
                     WHERE status = 'streaming' AND COALESCE(heartbeat_at, created_at) < $1",
                )
                .bind(cutoff)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn supersede(&self, mid: uuid::Uuid) -> StoreResult<i32> {
                let (_writing, mut tx) = self.begin_write().await?;
                lock_session_of(&mut tx, mid).await?;
                let sid: Option<$id> = sqlx::query_scalar(
                    "UPDATE chat_messages SET status = 'superseded' WHERE id = $1 \
                     AND role = 'assistant' AND status IN ('complete', 'stopped', 'interrupted') \
                     RETURNING session_id",
                )
                .bind(id(mid))
                .fetch_optional(&mut *tx)
                .await?;
                let sid = sid.ok_or(StoreError::NotFound)?;
                let count: i32 = sqlx::query_scalar(
                    "UPDATE chat_sessions SET message_count = message_count - 1 WHERE id = $1 \
                     RETURNING message_count",
                )
                .bind(sid)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(count)
            }

            async fn messages(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                before_seq: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<Message>> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM chat_messages \
                     WHERE session_id = $1 AND seq < $2 AND EXISTS \
                     (SELECT 1 FROM chat_sessions s WHERE s.id = $1 AND s.user_id = $4) \
                     ORDER BY seq DESC LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(before_seq.unwrap_or(i64::MAX))
                    .bind(limit)
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = rows.iter().map(message_row).collect::<StoreResult<Vec<_>>>()?;
                out.reverse();
                Ok(out)
            }

            async fn recent_conversation(
                &self,
                sid: uuid::Uuid,
                before_seq: i64,
                limit: i64,
            ) -> StoreResult<Vec<HistoryEntry>> {
                // The limit is written into the statement rather than bound: SQLite plans a
                // bound LIMIT as a constant and so prepares the statement again every time it
                // is bound (3-4% of a SQLite turn's CPU). The few page sizes each stay cached.
                let sql = format!(
                    "SELECT id, seq, role, content, \
                     CASE WHEN role = 'user' THEN tokens_used ELSE completion_tokens END \
                     AS content_tokens FROM chat_messages \
                     WHERE session_id = $1 AND seq < $2 \
                     AND status NOT IN ('failed', 'superseded', 'streaming') \
                     ORDER BY seq DESC LIMIT {limit}"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(before_seq)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(HistoryEntry {
                            id: r.try_get::<$id, _>("id")?.into_uuid(),
                            seq: r.try_get("seq")?,
                            role: stored(r.try_get("role")?)?,
                            content: r.try_get("content")?,
                            content_tokens: r.try_get("content_tokens")?,
                        })
                    })
                    .collect()
            }

            async fn import(
                &self,
                owner: &str,
                batch: &OpsBatch,
                actor: &Actor,
                now: chrono::DateTime<chrono::Utc>,
                progress: &(dyn Fn(u64) + Send + Sync),
            ) -> StoreResult<ImportSummary> {
                let mut summary = ImportSummary::default();
                let mut written = 0u64;
                let mut tick = || {
                    written += 1;
                    if written % 100 == 0 {
                        progress(written);
                    }
                };
                let (_writing, mut tx) = self.begin_write().await?;
                for t in &batch.tasks {
                    let found = existing_id(&mut tx, "tasks", owner, t.external_id.as_deref()).await?;
                    let sql = if found.is_some() {
                        format!(
                            "UPDATE tasks SET external_id = $2, title = $3, description = $4, \
                             due_date = $5, priority = $6, status = $7, \
                             time_estimate_minutes = $8, source = $9, delegatable = $10, \
                             updated_at = $11, version = version + 1, \
                             completed_at = CASE WHEN $7 = 'completed' \
                                 THEN COALESCE(completed_at, $11) END \
                             WHERE id = $1 AND user_id = $12 RETURNING {TASK_COLUMNS}"
                        )
                    } else {
                        format!(
                            "INSERT INTO tasks (id, external_id, title, description, due_date, \
                             priority, status, time_estimate_minutes, source, delegatable, \
                             created_at, updated_at, user_id, completed_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, \
                             CASE WHEN $7 = 'completed' THEN $11 END) RETURNING {TASK_COLUMNS}"
                        )
                    };
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id(found.unwrap_or_else(uuid::Uuid::now_v7)))
                        .bind(&t.external_id)
                        .bind(&t.title)
                        .bind(&t.description)
                        .bind(t.due_date)
                        .bind(t.priority.as_str())
                        .bind(t.status.as_str())
                        .bind(t.time_estimate_minutes)
                        .bind(&t.source)
                        .bind(t.delegatable)
                        .bind(now)
                        .bind(owner)
                        .fetch_one(&mut *tx)
                        .await?;
                    let task = task_row(&row)?;
                    log_activity(
                        &mut tx,
                        owner,
                        crate::domain::ItemKind::Task,
                        task.id,
                        "imported",
                        actor,
                        None,
                        snapshot(&task),
                        task.version,
                        now,
                    )
                    .await?;
                    count(&mut summary.tasks, found.is_some());
                    tick();
                }
                for d in &batch.delegations {
                    let found =
                        existing_id(&mut tx, "delegations", owner, d.external_id.as_deref()).await?;
                    let sql = if found.is_some() {
                        format!(
                            "UPDATE delegations SET external_id = $2, task_description = $3, \
                             assigned_to = $4, assigned_to_email = $5, due_date = $6, \
                             follow_up_date = $7, priority = $8, status = $9, updated_at = $10, \
                             version = version + 1, completed_at = CASE WHEN $9 = 'completed' \
                                 THEN COALESCE(completed_at, $10) END \
                             WHERE id = $1 AND user_id = $11 RETURNING {DELEGATION_COLUMNS}"
                        )
                    } else {
                        format!(
                            "INSERT INTO delegations (id, external_id, task_description, \
                             assigned_to, assigned_to_email, due_date, follow_up_date, priority, \
                             status, created_at, updated_at, user_id, completed_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, \
                             CASE WHEN $9 = 'completed' THEN $10 END) \
                             RETURNING {DELEGATION_COLUMNS}"
                        )
                    };
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id(found.unwrap_or_else(uuid::Uuid::now_v7)))
                        .bind(&d.external_id)
                        .bind(&d.task_description)
                        .bind(&d.assigned_to)
                        .bind(&d.assigned_to_email)
                        .bind(d.due_date)
                        .bind(d.follow_up_date)
                        .bind(d.priority.as_str())
                        .bind(d.status.as_str())
                        .bind(now)
                        .bind(owner)
                        .fetch_one(&mut *tx)
                        .await?;
                    let delegation = delegation_row(&row)?;
                    log_activity(
                        &mut tx,
                        owner,
                        crate::domain::ItemKind::Delegation,
                        delegation.id,
                        "imported",
                        actor,
                        None,
                        snapshot(&delegation),
                        delegation.version,
                        now,
                    )
                    .await?;
                    count(&mut summary.delegations, found.is_some());
                    tick();
                }
                for g in &batch.digests {
                    // A digest is the digest of its date: the date is its natural key.
                    let found: Option<$id> =
                        sqlx::query_scalar(
                            "SELECT id FROM daily_digests WHERE user_id = $1 AND date = $2",
                        )
                        .bind(owner)
                        .bind(g.date)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let found = found.map(IdRepr::into_uuid);
                    let sql = if found.is_some() {
                        format!(
                            "UPDATE daily_digests SET external_id = COALESCE($2, external_id), \
                             date = $3, text = $4, updated_at = $5, version = version + 1 \
                             WHERE id = $1 AND user_id = $6 RETURNING {DIGEST_COLUMNS}"
                        )
                    } else {
                        format!(
                            "INSERT INTO daily_digests (id, external_id, date, text, created_at, \
                             updated_at, user_id) VALUES ($1, $2, $3, $4, $5, $5, $6) \
                             RETURNING {DIGEST_COLUMNS}"
                        )
                    };
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id(found.unwrap_or_else(uuid::Uuid::now_v7)))
                        .bind(&g.external_id)
                        .bind(g.date)
                        .bind(&g.text)
                        .bind(now)
                        .bind(owner)
                        .fetch_one(&mut *tx)
                        .await?;
                    let digest = digest_row(&row)?;
                    log_activity(
                        &mut tx,
                        owner,
                        crate::domain::ItemKind::Digest,
                        digest.id,
                        "imported",
                        actor,
                        None,
                        snapshot(&digest),
                        digest.version,
                        now,
                    )
                    .await?;
                    count(&mut summary.digests, found.is_some());
                    tick();
                }
                tx.commit().await?;
                progress(written);
                Ok(summary)
            }

            async fn tasks(
                &self,
                owner: &str,
                include_closed: bool,
            ) -> StoreResult<Vec<crate::domain::Task>> {
                let sql = format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $2 AND deleted_at IS NULL \
                     AND ($1 OR status IN ('todo', 'in_progress')) ORDER BY due_date, title"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(include_closed)
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(task_row).collect()
            }

            async fn delegations(
                &self,
                owner: &str,
                include_closed: bool,
            ) -> StoreResult<Vec<crate::domain::Delegation>> {
                let sql = format!(
                    "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE user_id = $2 \
                     AND deleted_at IS NULL AND ($1 OR status <> 'completed') \
                     ORDER BY follow_up_date, assigned_to"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(include_closed)
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delegation_row).collect()
            }

            async fn digest_on_or_before(
                &self,
                owner: &str,
                date: chrono::NaiveDate,
            ) -> StoreResult<Option<crate::domain::Digest>> {
                let sql = format!(
                    "SELECT {DIGEST_COLUMNS} FROM daily_digests \
                     WHERE user_id = $2 AND date <= $1 ORDER BY date DESC LIMIT 1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(date)
                    .bind(owner)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(digest_row).transpose()
            }

            async fn has_ops_data(&self, owner: &str) -> StoreResult<bool> {
                let any: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM tasks WHERE user_id = $1) \
                     OR EXISTS (SELECT 1 FROM delegations WHERE user_id = $1) \
                     OR EXISTS (SELECT 1 FROM daily_digests WHERE user_id = $1)",
                )
                .bind(owner)
                .fetch_one(&self.pool)
                .await?;
                Ok(any)
            }

            // ---------------------------------------------------------------- accounts

            async fn user_count(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            async fn create_user(&self, u: &NewUser, first: bool) -> StoreResult<crate::domain::User> {
                let (_writing, mut tx) = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO users (id, username, display_name, password_hash, role, \
                     time_zone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                     RETURNING {USER_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(u.id))
                    .bind(&u.username)
                    .bind(&u.display_name)
                    .bind(&u.password_hash)
                    .bind(u.role.as_str())
                    .bind(&u.time_zone)
                    .bind(u.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                let (user, _) = user_row(&row)?;
                if first {
                    // The primary key makes a second concurrent first account fail here.
                    sqlx::query(
                        "INSERT INTO instance_setup (id, first_user_id, set_up_at) VALUES (1, $1, $2)",
                    )
                    .bind(id(u.id))
                    .bind(u.created_at)
                    .execute(&mut *tx)
                    .await?;
                    claim_legacy(&mut tx, &user.owner_key()).await?;
                }
                tx.commit().await?;
                Ok(user)
            }

            async fn claim_legacy_rows(&self, owner: &str) -> StoreResult<u64> {
                let (_writing, mut tx) = self.begin_write().await?;
                let moved = claim_legacy(&mut tx, owner).await?;
                tx.commit().await?;
                Ok(moved)
            }

            async fn users(&self) -> StoreResult<Vec<crate::domain::User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
                rows.iter().map(|r| user_row(r).map(|(u, _)| u)).collect()
            }

            async fn user(&self, uid: uuid::Uuid) -> StoreResult<Option<crate::domain::User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(uid))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(|r| user_row(r).map(|(u, _)| u)).transpose()
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> StoreResult<Option<(crate::domain::User, Option<String>)>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(user_row).transpose()
            }

            async fn update_user(
                &self,
                uid: uuid::Uuid,
                p: &UserPatch,
                keep_an_admin: bool,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<crate::domain::User> {
                let (_writing, mut tx) = self.begin_write().await?;
                if keep_an_admin {
                    // Every enabled admin row (the target's too), locked in id order: two
                    // admins demoting each other wait for one another instead of deadlocking.
                    // SQLite's IMMEDIATE transaction already holds the write lock.
                    let sql = format!(
                        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL \
                         ORDER BY id{}",
                        if $one_statement_append { " FOR UPDATE" } else { "" }
                    );
                    let admins: Vec<$id> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&mut *tx)
                        .await?;
                    let others: Vec<uuid::Uuid> = admins
                        .into_iter()
                        .map(IdRepr::into_uuid)
                        .filter(|a| *a != uid)
                        .collect();
                    if others.is_empty() {
                        return Err(StoreError::Conflict("the last enabled admin".into()));
                    }
                }
                let sql = format!(
                    "UPDATE users SET display_name = COALESCE($2, display_name), \
                     role = COALESCE($3, role), \
                     time_zone = CASE WHEN $4 THEN $5 ELSE time_zone END, \
                     disabled_at = CASE WHEN $6 IS NULL THEN disabled_at \
                                        WHEN $6 THEN COALESCE(disabled_at, $7) ELSE NULL END, \
                     updated_at = $7 WHERE id = $1 RETURNING {USER_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(uid))
                    .bind(&p.display_name)
                    .bind(p.role.map(|r| r.as_str()))
                    .bind(p.time_zone.is_some())
                    .bind(p.time_zone.clone().flatten())
                    .bind(p.disabled)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(user_row(&row)?.0)
            }

            async fn set_password(
                &self,
                uid: uuid::Uuid,
                hash: &str,
                keep: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                let (_writing, mut tx) = self.begin_write().await?;
                let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                    .bind(id(uid))
                    .bind(hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id <> COALESCE($2, '')")
                    .bind(id(uid))
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_web_session(&self, w: &NewWebSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO web_sessions (id, user_id, created_at, last_seen_at, expires_at, \
                     user_agent) VALUES ($1, $2, $3, $3, $4, $5)",
                )
                .bind(&w.hash)
                .bind(id(w.user_id))
                .bind(w.created_at)
                .bind(w.expires_at)
                .bind(&w.user_agent)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn web_session_user(
                &self,
                hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<Option<(crate::domain::User, chrono::DateTime<chrono::Utc>)>> {
                let sql = format!(
                    "SELECT {USER_COLUMNS_U}, w.last_seen_at AS seen FROM web_sessions w \
                     JOIN users u ON u.id = w.user_id \
                     WHERE w.id = $1 AND w.expires_at > $2 AND u.disabled_at IS NULL"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| -> StoreResult<_> { Ok((user_row(&r)?.0, r.try_get("seen")?)) })
                    .transpose()
            }

            async fn touch_web_session(
                &self,
                hash: &str,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE web_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
                    .bind(hash)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_web_session(&self, hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM web_sessions WHERE id = $1")
                    .bind(hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_web_sessions_of(&self, uid: uuid::Uuid) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
                    .bind(id(uid))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn delete_expired_web_sessions(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn create_api_token(&self, t: &NewApiToken) -> StoreResult<ApiToken> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id(t.id))
                .bind(id(t.user_id))
                .bind(&t.name)
                .bind(&t.hash)
                .bind(&t.prefix)
                .bind(t.created_at)
                .execute(&self.pool)
                .await?;
                Ok(ApiToken {
                    id: t.id,
                    name: t.name.clone(),
                    prefix: t.prefix.clone(),
                    created_at: t.created_at,
                    last_used_at: None,
                })
            }

            async fn api_tokens(&self, uid: uuid::Uuid) -> StoreResult<Vec<ApiToken>> {
                let rows = sqlx::query(
                    "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens \
                     WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
                )
                .bind(id(uid))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ApiToken {
                            id: r.try_get::<$id, _>("id")?.into_uuid(),
                            name: r.try_get("name")?,
                            prefix: r.try_get("prefix")?,
                            created_at: r.try_get("created_at")?,
                            last_used_at: r.try_get("last_used_at")?,
                        })
                    })
                    .collect()
            }

            async fn revoke_api_token(
                &self,
                uid: uuid::Uuid,
                tid: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $3 \
                     WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(id(tid))
                .bind(id(uid))
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn api_token_user(
                &self,
                hash: &str,
            ) -> StoreResult<Option<(crate::domain::User, uuid::Uuid, Option<chrono::DateTime<chrono::Utc>>)>> {
                let sql = format!(
                    "SELECT {USER_COLUMNS_U}, t.id AS token_id, t.last_used_at AS token_used \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| -> StoreResult<_> {
                    Ok((
                        user_row(&r)?.0,
                        r.try_get::<$id, _>("token_id")?.into_uuid(),
                        r.try_get("token_used")?,
                    ))
                })
                .transpose()
            }

            async fn touch_api_token(
                &self,
                tid: uuid::Uuid,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id(tid))
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn usage_by_user(&self) -> StoreResult<Vec<UserUsage>> {
                let rows = sqlx::query(
                    "SELECT u.id AS user_id, \
                       (SELECT COUNT(*) FROM chat_sessions s WHERE s.user_id = CAST(u.id AS TEXT)) AS sessions, \
                       (SELECT COUNT(*) FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                          WHERE s.user_id = CAST(u.id AS TEXT)) AS messages, \
                       (SELECT COALESCE(SUM(CASE WHEN m.role = 'assistant' THEN m.tokens_used ELSE 0 END), 0) \
                          FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                          WHERE s.user_id = CAST(u.id AS TEXT)) AS tokens, \
                       (SELECT MAX(s.last_message_at) FROM chat_sessions s \
                          WHERE s.user_id = CAST(u.id AS TEXT)) AS last_active \
                     FROM users u ORDER BY u.created_at, u.id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(UserUsage {
                            user_id: r.try_get::<$id, _>("user_id")?.into_uuid(),
                            sessions: r.try_get("sessions")?,
                            messages: r.try_get("messages")?,
                            tokens: r.try_get::<i64, _>("tokens")?,
                            last_active: r.try_get("last_active")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    use crate::domain::MessageStatus;

    #[test]
    fn the_sql_list_of_statuses_out_of_the_conversation_is_the_domain_rule() {
        for s in MessageStatus::ALL {
            let listed = super::OUT_OF_CONVERSATION.contains(&format!("'{}'", s.as_str()));
            assert_eq!(listed, !s.in_conversation(), "{}", s.as_str());
        }
    }
}
