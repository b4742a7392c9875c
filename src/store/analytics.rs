//! What the analytics page is computed from: one compact row per reply, per question and per
//! session in a time range, for one user or the whole instance. The figures themselves (days in
//! the user's time zone, percentiles, question groups) are computed in `crate::analytics`, the
//! same way for both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::MessageStatus;

/// The longest question text read for grouping: enough for any question worth counting.
pub const QUESTION_CHARS: i64 = 300;

/// One reply of the assistant.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyFact {
    pub created_at: DateTime<Utc>,
    pub session_id: Uuid,
    pub user_id: String,
    pub model: Option<String>,
    pub status: MessageStatus,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    /// The items the answer drew on (`context_used.items_used`), as stored JSON.
    pub items_used: Option<String>,
}

/// One question of a user (its first `QUESTION_CHARS` characters).
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionFact {
    pub created_at: DateTime<Utc>,
    pub session_id: Uuid,
    pub user_id: String,
    pub text: String,
}

/// A session active in the range.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFact {
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub message_count: i64,
    pub context_snapshot: Option<Value>,
}

#[async_trait]
pub trait Analytics: Send + Sync {
    /// Replies created in `[from, to)`, of `owner` or of everyone; `items_used` is read only
    /// `with_items` (it is the one costly column).
    async fn reply_facts(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        with_items: bool,
    ) -> StoreResult<Vec<ReplyFact>>;
    /// Questions asked in `[from, to)`, of `owner` or of everyone.
    async fn question_facts(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<QuestionFact>>;
    /// Sessions with a message in `[from, to)`, of `owner` or of everyone.
    async fn session_facts(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionFact>>;
}

/// `AND s.user_id = $3` when one user is asked about.
pub(crate) fn owner_clause(owner: Option<&str>) -> &'static str {
    if owner.is_some() {
        " AND s.user_id = $3"
    } else {
        ""
    }
}

macro_rules! sql_analytics {
    ($store:ident, $row:ty, $id:ty, $items:expr) => {
        impl $store {
            /// Runs an analytics query: `$1`/`$2` the range, `$3` the owner when there is one.
            async fn analytics_rows(
                &self,
                sql: String,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<$row>> {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
                if let Some(o) = owner {
                    q = q.bind(o.to_string());
                }
                Ok(q.fetch_all(&self.pool).await?)
            }
        }

        #[async_trait::async_trait]
        impl crate::store::analytics::Analytics for $store {
            async fn reply_facts(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                with_items: bool,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::ReplyFact>> {
                use crate::store::sql::{IdRepr, stored};
                use sqlx::Row;
                let sql = format!(
                    "SELECT m.created_at, m.session_id, s.user_id, m.model_used, m.status, \
                       m.prompt_tokens, m.completion_tokens, m.tokens_used, m.cached_tokens, \
                       m.cost_usd, m.latency_ms, m.first_token_ms, {} AS items_used \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                     WHERE m.role = 'assistant' AND m.created_at >= $1 AND m.created_at < $2{} \
                     ORDER BY m.created_at",
                    if with_items { $items } else { "CAST(NULL AS TEXT)" },
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        let prompt: Option<i32> = r.try_get("prompt_tokens")?;
                        let completion: Option<i32> = r.try_get("completion_tokens")?;
                        let total: Option<i32> = r.try_get("tokens_used")?;
                        // Rows from before the split kept only a total: count it as output.
                        let (prompt, completion) = match (prompt, completion, total) {
                            (None, None, Some(t)) => (0, t),
                            (p, c, _) => (p.unwrap_or(0), c.unwrap_or(0)),
                        };
                        Ok(crate::store::analytics::ReplyFact {
                            created_at: r.try_get("created_at")?,
                            session_id: IdRepr::into_uuid(r.try_get::<$id, _>("session_id")?),
                            user_id: r.try_get("user_id")?,
                            model: r.try_get("model_used")?,
                            status: stored(r.try_get("status")?)?,
                            prompt_tokens: i64::from(prompt),
                            completion_tokens: i64::from(completion),
                            cached_tokens: i64::from(
                                r.try_get::<Option<i32>, _>("cached_tokens")?.unwrap_or(0),
                            ),
                            cost_usd: r.try_get::<Option<f64>, _>("cost_usd")?.unwrap_or(0.0),
                            latency_ms: r
                                .try_get::<Option<i32>, _>("latency_ms")?
                                .map(i64::from),
                            first_token_ms: r
                                .try_get::<Option<i32>, _>("first_token_ms")?
                                .map(i64::from),
                            items_used: r.try_get("items_used")?,
                        })
                    })
                    .collect()
            }

            async fn question_facts(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::QuestionFact>> {
                use crate::store::sql::IdRepr;
                use sqlx::Row;
                let sql = format!(
                    "SELECT m.created_at, m.session_id, s.user_id, substr(m.content, 1, {}) AS text \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                     WHERE m.role = 'user' AND m.created_at >= $1 AND m.created_at < $2{} \
                     ORDER BY m.created_at",
                    crate::store::analytics::QUESTION_CHARS,
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::QuestionFact {
                            created_at: r.try_get("created_at")?,
                            session_id: IdRepr::into_uuid(r.try_get::<$id, _>("session_id")?),
                            user_id: r.try_get("user_id")?,
                            text: r.try_get("text")?,
                        })
                    })
                    .collect()
            }

            async fn session_facts(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::SessionFact>> {
                use crate::store::sql::IdRepr;
                use sqlx::Row;
                let sql = format!(
                    "SELECT s.id, s.user_id, s.title, s.started_at, s.last_message_at, \
                       s.message_count, s.context_snapshot \
                     FROM chat_sessions s \
                     WHERE s.last_message_at >= $1 AND s.started_at < $2{} \
                     ORDER BY s.started_at",
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::SessionFact {
                            id: IdRepr::into_uuid(r.try_get::<$id, _>("id")?),
                            user_id: r.try_get("user_id")?,
                            title: r.try_get("title")?,
                            started_at: r.try_get("started_at")?,
                            last_message_at: r.try_get("last_message_at")?,
                            message_count: i64::from(r.try_get::<i32, _>("message_count")?),
                            context_snapshot: r
                                .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(
                                    "context_snapshot",
                                )?
                                .map(|j| j.0),
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use sql_analytics;
