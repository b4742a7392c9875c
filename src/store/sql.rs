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
     model_used, tokens_used, prompt_tokens, completion_tokens, status, error, reply_to, created_at";
pub(crate) const TASK_COLUMNS: &str = "id, external_id, title, description, due_date, priority, \
     status, time_estimate_minutes, source, delegatable";
pub(crate) const DELEGATION_COLUMNS: &str = "id, external_id, task_description, assigned_to, \
     assigned_to_email, due_date, follow_up_date, priority, status";

/// Parses a stored enum word; a bad word means the row was written by something else.
pub(crate) fn stored<T: std::str::FromStr>(word: String) -> Result<T, crate::store::StoreError>
where
    T::Err: std::fmt::Display,
{
    word.parse::<T>()
        .map_err(|e| crate::store::StoreError::Backend(anyhow::anyhow!("corrupt row: {e}")))
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $row:ty, $id:ty, $begin:expr, $one_statement_append:expr) => {
        use crate::store::sql::{
            stored, IdRepr, DELEGATION_COLUMNS, MESSAGE_COLUMNS, SESSION_COLUMNS, TASK_COLUMNS,
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
            })
        }

        /// Binds a new message's 14 values in the order both append statements use.
        fn bind_message<'q>(
            q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            m: &'q NewMessage,
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
        }

        /// Bumps the session ($1: id, $2: counted, $3: at) and returns the new seq and counts.
        const BUMP_SESSION: &str = "UPDATE chat_sessions SET last_seq = last_seq + 1, \
             message_count = message_count + $2, \
             last_message_at = CASE WHEN last_message_at < $3 THEN $3 ELSE last_message_at END \
             WHERE id = $1 RETURNING last_seq, message_count, last_message_at";
        const INSERT_VALUES: &str = "$4, $1, s.last_seq, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $3";

        fn appended(r: &$row) -> StoreResult<Appended> {
            Ok(Appended {
                message: message_row(r)?,
                message_count: r.try_get("session_message_count")?,
                last_message_at: r.try_get("session_last_message_at")?,
            })
        }

        /// Appends inside an open transaction: the session bump and the insert, two statements.
        async fn insert_message(
            tx: &mut sqlx::Transaction<'static, $db>,
            m: &NewMessage,
        ) -> StoreResult<Appended> {
            let bumped = sqlx::query(BUMP_SESSION)
                .bind(id(m.session_id))
                .bind(i32::from(m.status.in_conversation()))
                .bind(m.created_at)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let seq: i64 = bumped.try_get("last_seq")?;
            let sql = format!(
                "INSERT INTO chat_messages ({MESSAGE_COLUMNS}) \
                 SELECT {INSERT_VALUES} FROM (SELECT $15 AS last_seq) AS s \
                 RETURNING {MESSAGE_COLUMNS}"
            );
            let row = bind_message(sqlx::query(sqlx::AssertSqlSafe(sql)), m)
                .bind(seq)
                .fetch_one(&mut **tx)
                .await?;
            Ok(Appended {
                message: message_row(&row)?,
                message_count: bumped.try_get("message_count")?,
                last_message_at: bumped.try_get("last_message_at")?,
            })
        }

        /// Finds the row an imported record updates: by external id when it has one.
        async fn existing_id(
            tx: &mut sqlx::Transaction<'static, $db>,
            table: &'static str,
            external_id: Option<&str>,
        ) -> StoreResult<Option<uuid::Uuid>> {
            let Some(ext) = external_id else { return Ok(None) };
            let sql = format!("SELECT id FROM {table} WHERE external_id = $1");
            let found: Option<$id> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(ext)
                .fetch_optional(&mut **tx)
                .await?;
            Ok(found.map(IdRepr::into_uuid))
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

            async fn migrate(&self) -> StoreResult<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_session(
                &self,
                s: &NewSession,
                first: &NewMessage,
            ) -> StoreResult<(Session, Message)> {
                if $one_statement_append {
                    // The session and its first message in one statement, one round trip.
                    let sql = format!(
                        "WITH s AS (INSERT INTO chat_sessions ({SESSION_COLUMNS}, last_seq) \
                           VALUES ($1, $15, $16, $17, $18, $3, $2, TRUE, 1) \
                           RETURNING {SESSION_COLUMNS}, last_seq), \
                         m AS (INSERT INTO chat_messages ({MESSAGE_COLUMNS}) \
                               SELECT {INSERT_VALUES} FROM s RETURNING {MESSAGE_COLUMNS}) \
                         SELECT m.*, s.id AS s_id, s.user_id AS s_user_id, s.title AS s_title, \
                           s.context_snapshot AS s_context_snapshot, s.started_at AS s_started_at, \
                           s.last_message_at AS s_last_message_at, \
                           s.message_count AS s_message_count, s.is_active AS s_is_active \
                         FROM m CROSS JOIN s"
                    );
                    let row = bind_message(sqlx::query(sqlx::AssertSqlSafe(sql)), first)
                        .bind(&s.user_id)
                        .bind(&s.title)
                        .bind(s.context_snapshot.as_ref().map(Json))
                        .bind(s.started_at)
                        .fetch_one(&self.pool)
                        .await?;
                    let message = message_row(&row)?;
                    let session = session_row_with(&row, "s_")?;
                    return Ok((session, message));
                }
                let mut tx = self.pool.begin_with($begin).await?;
                let sql = format!(
                    "INSERT INTO chat_sessions ({SESSION_COLUMNS}, last_seq) \
                     VALUES ($1, $2, $3, $4, $5, $5, 0, TRUE, 0) RETURNING {SESSION_COLUMNS}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(s.id))
                    .bind(&s.user_id)
                    .bind(&s.title)
                    .bind(s.context_snapshot.as_ref().map(Json))
                    .bind(s.started_at)
                    .fetch_one(&mut *tx)
                    .await?;
                let message = insert_message(&mut tx, first).await?.message;
                let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(s.id))
                    .fetch_one(&mut *tx)
                    .await?;
                let session = session_row(&row)?;
                tx.commit().await?;
                Ok((session, message))
            }

            async fn session(&self, sid: uuid::Uuid) -> StoreResult<Option<Session>> {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(session_row).transpose()
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
                sid: uuid::Uuid,
                patch: &SessionPatch,
            ) -> StoreResult<Session> {
                let sql = format!(
                    "UPDATE chat_sessions SET title = COALESCE($2, title), \
                     is_active = COALESCE($3, is_active) WHERE id = $1 \
                     RETURNING {SESSION_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(&patch.title)
                    .bind(patch.is_active)
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
                         m AS (INSERT INTO chat_messages ({MESSAGE_COLUMNS}) \
                               SELECT {INSERT_VALUES} FROM s RETURNING {MESSAGE_COLUMNS}) \
                         SELECT m.*, s.message_count AS session_message_count, \
                                s.last_message_at AS session_last_message_at FROM m CROSS JOIN s"
                    );
                    let row = bind_message(sqlx::query(sqlx::AssertSqlSafe(sql)), m)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    return appended(&row);
                }
                let mut tx = self.pool.begin_with($begin).await?;
                let out = insert_message(&mut tx, m).await?;
                tx.commit().await?;
                Ok(out)
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
                let mut tx = self.pool.begin_with($begin).await?;
                let sql = format!(
                    "UPDATE chat_messages SET content = $2, \
                     status = CASE WHEN status = 'stopped' THEN 'stopped' ELSE $3 END, \
                     error = $4, model_used = $5, tokens_used = $6, prompt_tokens = $7, \
                     completion_tokens = $8, context_used = $9, heartbeat_at = $10 \
                     WHERE id = $1 AND status IN ('streaming', 'stopped') RETURNING {MESSAGE_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
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
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let message = message_row(&row)?;
                // The row was counted when it started streaming; a failure leaves the conversation.
                let delta = if message.status.in_conversation() { 0 } else { -1 };
                let (count, last): (i32, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
                    "UPDATE chat_sessions SET message_count = message_count + $2 WHERE id = $1 \
                     RETURNING message_count, last_message_at",
                )
                .bind(id(message.session_id))
                .bind(delta)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Appended { message, message_count: count, last_message_at: last })
            }

            async fn stop_streams(&self, sid: uuid::Uuid) -> StoreResult<Vec<uuid::Uuid>> {
                let ids: Vec<$id> = sqlx::query_scalar(
                    "UPDATE chat_messages SET status = 'stopped' \
                     WHERE session_id = $1 AND status = 'streaming' RETURNING id",
                )
                .bind(id(sid))
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
                let mut tx = self.pool.begin_with($begin).await?;
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
                sid: uuid::Uuid,
                before_seq: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<Message>> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM chat_messages \
                     WHERE session_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(before_seq.unwrap_or(i64::MAX))
                    .bind(limit)
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
                let rows = sqlx::query(
                    "SELECT id, seq, role, content, \
                     CASE WHEN role = 'user' THEN tokens_used ELSE completion_tokens END \
                     AS content_tokens FROM chat_messages \
                     WHERE session_id = $1 AND seq < $2 \
                     AND status NOT IN ('failed', 'superseded', 'streaming') \
                     ORDER BY seq DESC LIMIT $3",
                )
                .bind(id(sid))
                .bind(before_seq)
                .bind(limit)
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
                batch: &OpsBatch,
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
                let mut tx = self.pool.begin_with($begin).await?;
                for t in &batch.tasks {
                    let found = existing_id(&mut tx, "tasks", t.external_id.as_deref()).await?;
                    let sql = if found.is_some() {
                        "UPDATE tasks SET external_id = $2, title = $3, description = $4, \
                         due_date = $5, priority = $6, status = $7, time_estimate_minutes = $8, \
                         source = $9, delegatable = $10, updated_at = $11 WHERE id = $1"
                    } else {
                        "INSERT INTO tasks (id, external_id, title, description, due_date, \
                         priority, status, time_estimate_minutes, source, delegatable, \
                         created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
                    };
                    sqlx::query(sql)
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
                        .execute(&mut *tx)
                        .await?;
                    count(&mut summary.tasks, found.is_some());
                    tick();
                }
                for d in &batch.delegations {
                    let found =
                        existing_id(&mut tx, "delegations", d.external_id.as_deref()).await?;
                    let sql = if found.is_some() {
                        "UPDATE delegations SET external_id = $2, task_description = $3, \
                         assigned_to = $4, assigned_to_email = $5, due_date = $6, \
                         follow_up_date = $7, priority = $8, status = $9, updated_at = $10 \
                         WHERE id = $1"
                    } else {
                        "INSERT INTO delegations (id, external_id, task_description, \
                         assigned_to, assigned_to_email, due_date, follow_up_date, priority, \
                         status, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
                    };
                    sqlx::query(sql)
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
                        .execute(&mut *tx)
                        .await?;
                    count(&mut summary.delegations, found.is_some());
                    tick();
                }
                for g in &batch.digests {
                    // A digest is the digest of its date: the date is its natural key.
                    let found: Option<$id> =
                        sqlx::query_scalar("SELECT id FROM daily_digests WHERE date = $1")
                            .bind(g.date)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let found = found.map(IdRepr::into_uuid);
                    let sql = if found.is_some() {
                        "UPDATE daily_digests SET external_id = COALESCE($2, external_id), \
                         date = $3, text = $4, updated_at = $5 WHERE id = $1"
                    } else {
                        "INSERT INTO daily_digests (id, external_id, date, text, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
                    };
                    sqlx::query(sql)
                        .bind(id(found.unwrap_or_else(uuid::Uuid::now_v7)))
                        .bind(&g.external_id)
                        .bind(g.date)
                        .bind(&g.text)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    count(&mut summary.digests, found.is_some());
                    tick();
                }
                tx.commit().await?;
                progress(written);
                Ok(summary)
            }

            async fn tasks(&self, include_closed: bool) -> StoreResult<Vec<crate::domain::Task>> {
                let sql = format!(
                    "SELECT {TASK_COLUMNS} FROM tasks \
                     WHERE $1 OR status IN ('todo', 'in_progress') ORDER BY due_date, title"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(include_closed)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(task_row).collect()
            }

            async fn delegations(
                &self,
                include_closed: bool,
            ) -> StoreResult<Vec<crate::domain::Delegation>> {
                let sql = format!(
                    "SELECT {DELEGATION_COLUMNS} FROM delegations \
                     WHERE $1 OR status <> 'completed' ORDER BY follow_up_date, assigned_to"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(include_closed)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(delegation_row).collect()
            }

            async fn digest_on_or_before(
                &self,
                date: chrono::NaiveDate,
            ) -> StoreResult<Option<crate::domain::Digest>> {
                let row = sqlx::query(
                    "SELECT id, external_id, date, text FROM daily_digests \
                     WHERE date <= $1 ORDER BY date DESC LIMIT 1",
                )
                .bind(date)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| -> StoreResult<_> {
                    Ok(crate::domain::Digest {
                        id: r.try_get::<$id, _>("id")?.into_uuid(),
                        external_id: r.try_get("external_id")?,
                        date: r.try_get("date")?,
                        text: r.try_get("text")?,
                    })
                })
                .transpose()
            }

            async fn has_ops_data(&self) -> StoreResult<bool> {
                let any: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM tasks) OR EXISTS (SELECT 1 FROM delegations) \
                     OR EXISTS (SELECT 1 FROM daily_digests)",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(any)
            }
        }
    };
}

pub(crate) use sql_store;
