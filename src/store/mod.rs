//! Storage: one trait, a PostgreSQL and a SQLite implementation, chosen from the URL scheme.

mod postgres;
mod sql;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

use crate::domain::{
    Delegation, DelegationStatus, Digest, Message, MessageStatus, Priority, Role, Session, Task,
    TaskStatus,
};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// What went wrong in storage. SQL text never reaches a client: `http/` maps these to codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0:#}")]
    Backend(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            _ => StoreError::Backend(anyhow::Error::new(e)),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_a_password() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/ops"),
            "postgres://app:***@db:5432/ops"
        );
        assert_eq!(
            super::redact("postgres://postgres@127.0.0.1/ops"),
            "postgres://postgres@127.0.0.1/ops"
        );
        assert_eq!(super::redact("sqlite:opschat.db"), "sqlite:opschat.db");
    }
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A session to create together with its first message.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    pub context_snapshot: Option<Value>,
    pub started_at: DateTime<Utc>,
}

/// A message to append to a session.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub content: String,
    pub context_used: Option<Value>,
    pub model_used: Option<String>,
    pub tokens_used: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub reply_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A message as conversation history: just what is sent back to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub seq: i64,
    pub role: Role,
    pub content: String,
    /// The stored token count of `content`, when known.
    pub content_tokens: Option<i32>,
}

/// A message just appended, with its session's counters after the append.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub message: Message,
    pub message_count: i32,
    pub last_message_at: DateTime<Utc>,
}

/// How a streamed reply ended.
#[derive(Debug, Clone)]
pub struct FinishedReply {
    pub content: String,
    /// `Complete`, `Stopped`, `Interrupted` or `Failed`. A reply already stopped by a stop
    /// request stays `Stopped`.
    pub status: MessageStatus,
    pub error: Option<String>,
    pub model_used: Option<String>,
    pub tokens_used: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub context_used: Option<Value>,
}

/// Changes a user may make to a session.
#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    pub title: Option<String>,
    pub is_active: Option<bool>,
}

/// A task as imported: `external_id` decides between insert and update.
#[derive(Debug, Clone)]
pub struct TaskInput {
    pub external_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub time_estimate_minutes: Option<i32>,
    pub source: Option<String>,
    pub delegatable: bool,
}

/// A delegation as imported.
#[derive(Debug, Clone)]
pub struct DelegationInput {
    pub external_id: Option<String>,
    pub task_description: String,
    pub assigned_to: String,
    pub assigned_to_email: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub follow_up_date: Option<NaiveDate>,
    pub priority: Priority,
    pub status: DelegationStatus,
}

/// A digest as imported: one per date.
#[derive(Debug, Clone)]
pub struct DigestInput {
    pub external_id: Option<String>,
    pub date: NaiveDate,
    pub text: String,
}

/// A whole, already validated import document, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct OpsBatch {
    pub tasks: Vec<TaskInput>,
    pub delegations: Vec<DelegationInput>,
    pub digests: Vec<DigestInput>,
}

/// How many rows an import created and updated, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub created: u32,
    pub updated: u32,
}

/// The outcome of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub tasks: ImportCounts,
    pub delegations: ImportCounts,
    pub digests: ImportCounts,
}

/// Everything opschat keeps, behind one interface for both databases.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Applies the embedded migrations; safe to run any number of times.
    async fn migrate(&self) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a session and stores its first message in one transaction.
    async fn create_session(
        &self,
        session: &NewSession,
        first: &NewMessage,
    ) -> StoreResult<(Session, Message)>;
    async fn session(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// A user's sessions, most recent activity first.
    async fn sessions(
        &self,
        user_id: &str,
        limit: i64,
        include_archived: bool,
    ) -> StoreResult<Vec<Session>>;
    async fn update_session(&self, id: Uuid, patch: &SessionPatch) -> StoreResult<Session>;
    /// Appends a message: gives it the next seq and updates the session's counters atomically.
    /// `NotFound` when the session does not exist.
    async fn append_message(&self, message: &NewMessage) -> StoreResult<Appended>;
    /// Marks a reply superseded (replaced by a regenerated one) and takes it out of the
    /// session's count; returns the new `message_count`. `NotFound` unless it is a visible reply.
    async fn supersede(&self, message_id: Uuid) -> StoreResult<i32>;
    /// Saves a streaming reply's text so far and its heartbeat. `false` when the reply is no
    /// longer streaming (a stop request, from any instance, ended it).
    async fn stream_progress(&self, message_id: Uuid, content: &str) -> StoreResult<bool>;
    /// Ends a streaming reply; returns it as stored and the session's new `message_count`.
    async fn finish_stream(&self, message_id: Uuid, done: &FinishedReply) -> StoreResult<Appended>;
    /// Marks a session's streaming replies stopped; returns their ids.
    async fn stop_streams(&self, session_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Marks streaming replies whose heartbeat is older than `cutoff` interrupted (their
    /// instance died); returns how many.
    async fn interrupt_stale_streams(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// Messages in seq order; `before_seq` pages backwards from the end.
    async fn messages(
        &self,
        session_id: Uuid,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
    /// The latest `limit` conversation messages (not failed, not superseded) before `before_seq`,
    /// newest first, light: no context or usage columns.
    async fn recent_conversation(
        &self,
        session_id: Uuid,
        before_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<HistoryEntry>>;

    /// Writes a whole import in one transaction: all of it or nothing.
    /// `progress` is told how many records are written so far.
    async fn import(
        &self,
        batch: &OpsBatch,
        now: DateTime<Utc>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary>;
    /// Tasks; closed ones (completed, cancelled) only when asked.
    async fn tasks(&self, include_closed: bool) -> StoreResult<Vec<Task>>;
    async fn delegations(&self, include_closed: bool) -> StoreResult<Vec<Delegation>>;
    /// The digest of `date`, or the latest one before it.
    async fn digest_on_or_before(&self, date: NaiveDate) -> StoreResult<Option<Digest>>;
    /// Whether any operations data exists (decides whether the demo data is loaded).
    async fn has_ops_data(&self) -> StoreResult<bool>;
}

/// A database URL fit for logs: its password, if it has one, replaced by `***`.
pub fn redact(url: &str) -> String {
    if let (Some(scheme), Some(at)) = (url.find("://"), url.rfind('@'))
        && at > scheme
        && let Some((user, _password)) = url[scheme + 3..at].split_once(':')
    {
        return format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]);
    }
    url.to_string()
}

/// Opens the store a URL names: `postgres://…` or `sqlite:…` (a bare path is a SQLite file).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    }
}
