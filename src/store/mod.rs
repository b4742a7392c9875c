//! Storage: one trait, a PostgreSQL and a SQLite implementation, chosen from the URL scheme.

pub mod analytics;
pub mod archive;
mod postgres;
pub mod search;
mod sql;
mod sqlite;
pub mod workspace;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

use crate::domain::{
    Delegation, DelegationStatus, Digest, Message, MessageStatus, Priority, Role, Session, Task,
    TaskStatus, User, UserRole,
};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use workspace::{
    ActionSettlement, Actor, DelegationFilter, Loaded, Page, Plan, Target, TaskFilter, Workspace,
    Write,
};

/// What went wrong in storage. SQL text never reaches a client: `http/` maps these to codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write named a version that is no longer current; holds the item as it stands now.
    #[error("the item changed since it was read")]
    Stale(Value),
    /// A change the rules refuse, naming the field at fault.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A change the item's state does not allow (editing a deleted task, delegating twice).
    #[error("{0}")]
    Refused(String),
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

/// A write transaction and, on SQLite, this process's turn to write (held until it is dropped,
/// after the commit): what every store method that writes begins with.
pub(crate) type WriteTx<'a, DB> = (
    Option<tokio::sync::MutexGuard<'a, ()>>,
    sqlx::Transaction<'static, DB>,
);

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

    #[test]
    fn the_default_pool_follows_the_database_and_the_cores() {
        assert_eq!(super::default_pool("postgres://postgres@127.0.0.1/ops"), 16);
        assert_eq!(super::default_pool("postgresql://db/ops"), 16);
        // Never fewer than the turn, the checkpointer, analytics and one more reader need;
        // never more than PostgreSQL's.
        for (cores, pool) in [
            (1, 4),
            (2, 4),
            (3, 6),
            (4, 8),
            (8, 16),
            (64, 16),
            (usize::MAX, 16),
        ] {
            assert_eq!(super::sqlite_pool(cores), pool, "{cores} cores");
        }
        let here = super::default_pool("sqlite:opschat.db");
        for url in ["sqlite://data/ops.db", "ops.db"] {
            assert_eq!(super::default_pool(url), here, "{url}");
        }
        assert!((4..=16).contains(&here));
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
    pub stats: crate::domain::ReplyStats,
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

/// What `Store::continue_session` wrote and read.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuedSession {
    /// The session with its counters after the append.
    pub session: Session,
    /// The rows as stored, in the order given.
    pub messages: Vec<Message>,
    /// The owner's workspace version (`Store::workspace_version`), read in the same statement.
    pub version: i64,
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
    pub stats: crate::domain::ReplyStats,
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
pub trait Store:
    Workspace + search::Search + archive::Archive + analytics::Analytics + Send + Sync + 'static
{
    fn backend(&self) -> Backend;
    /// The connection pool now: (in use, idle, max).
    fn pool_stats(&self) -> (u32, u32, u32);
    /// Applies the embedded migrations; safe to run any number of times.
    async fn migrate(&self) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a session and stores its first message in one transaction.
    async fn create_session(
        &self,
        session: &NewSession,
        first: &NewMessage,
    ) -> StoreResult<(Session, Message)> {
        let (session, mut messages) = self
            .start_session(session, std::slice::from_ref(first))
            .await?;
        let message = messages.pop().ok_or(StoreError::NotFound)?;
        Ok((session, message))
    }
    /// Creates a session with its first messages, in order, in one atomic write (one
    /// statement on PostgreSQL): a turn's question and, when it is streamed, the empty reply
    /// row, so that both are committed before any model is called.
    async fn start_session(
        &self,
        session: &NewSession,
        rows: &[NewMessage],
    ) -> StoreResult<(Session, Vec<Message>)>;
    /// `start_session` for a turn whose operations context came from the cache under the
    /// workspace version `expected`: the owner's version is read in the same write (one round
    /// trip less than reading it first) and the session's snapshot stored only while it is
    /// still `expected`; otherwise the session starts without one, for the caller to give it
    /// (`set_snapshot`) once it has read the changed data. Returns the version read.
    async fn start_session_at(
        &self,
        session: &NewSession,
        rows: &[NewMessage],
        expected: i64,
    ) -> StoreResult<(Session, Vec<Message>, i64)>;
    /// Gives the owner's session `id` its context snapshot if it has none.
    async fn set_snapshot(
        &self,
        owner: &str,
        id: Uuid,
        snapshot: &serde_json::Value,
    ) -> StoreResult<()>;
    /// The owner's session `id`; another owner's is `None`, as if it did not exist.
    async fn session(&self, owner: &str, id: Uuid) -> StoreResult<Option<Session>>;
    /// Appends a turn's messages, in order, to one of the owner's sessions in one atomic write
    /// (one statement on PostgreSQL) and reads the owner's workspace version with it: a
    /// continuing turn's question and, when it is streamed, its empty reply row. `None`, with
    /// nothing written, when the session is not the owner's.
    async fn continue_session(
        &self,
        owner: &str,
        id: Uuid,
        rows: &[NewMessage],
    ) -> StoreResult<Option<ContinuedSession>>;
    /// A number that moves, in the same transaction, with every write to the owner's tasks,
    /// delegations, delegation notes or digests (database triggers, migration 0016); 0 before
    /// the first. Equal versions mean the operations data is unchanged, on every instance.
    async fn workspace_version(&self, owner: &str) -> StoreResult<i64>;
    /// The owner's latest session whose conversation, as of its last OpenAI-compatible
    /// exchange, has the digest `key`, and that has since gained at most one message (a
    /// question whose answer failed).
    async fn session_by_thread(&self, owner: &str, key: &str) -> StoreResult<Option<Session>>;
    /// Remembers a session's conversation digest after an OpenAI-compatible exchange, with
    /// the number of messages it holds at that point.
    async fn set_thread(&self, owner: &str, id: Uuid, key: &str, messages: i32) -> StoreResult<()>;
    /// A user's sessions, most recent activity first.
    async fn sessions(
        &self,
        owner: &str,
        limit: i64,
        include_archived: bool,
    ) -> StoreResult<Vec<Session>>;
    /// `NotFound` unless the session is the owner's.
    async fn update_session(
        &self,
        owner: &str,
        id: Uuid,
        patch: &SessionPatch,
    ) -> StoreResult<Session>;
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
    /// Marks the owner's session's streaming replies stopped; returns their ids.
    async fn stop_streams(&self, owner: &str, session_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Marks streaming replies whose heartbeat is older than `cutoff` interrupted (their
    /// instance died); returns how many.
    async fn interrupt_stale_streams(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// Messages of the owner's session in seq order; `before_seq` pages backwards from the end.
    /// Another owner's session has none.
    async fn messages(
        &self,
        owner: &str,
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
        owner: &str,
        batch: &OpsBatch,
        actor: &Actor,
        now: DateTime<Utc>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> StoreResult<ImportSummary>;
    /// Tasks; closed ones (completed, cancelled) only when asked.
    async fn tasks(&self, owner: &str, include_closed: bool) -> StoreResult<Vec<Task>>;
    async fn delegations(&self, owner: &str, include_closed: bool) -> StoreResult<Vec<Delegation>>;
    /// The owner's digest of `date`, or the latest one before it.
    async fn digest_on_or_before(
        &self,
        owner: &str,
        date: NaiveDate,
    ) -> StoreResult<Option<Digest>>;
    /// Whether the owner has any operations data (decides whether the demo data is loaded).
    async fn has_ops_data(&self, owner: &str) -> StoreResult<bool>;

    // ---- accounts
    /// How many accounts exist.
    async fn user_count(&self) -> StoreResult<i64>;
    /// Creates an account. With `first`, it is the instance's first account: this fails with
    /// `Conflict` if another first account won a race, and in the same transaction it claims
    /// every row written before accounts existed (see `claim_legacy_rows`).
    /// A taken username is `Conflict`.
    async fn create_user(&self, user: &NewUser, first: bool) -> StoreResult<User>;
    /// Gives `owner` every session and operations row whose owner is not an account (rows of
    /// the single-user versions); returns how many rows moved.
    async fn claim_legacy_rows(&self, owner: &str) -> StoreResult<u64>;
    /// All accounts, oldest first.
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn user(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// An account by its (normalised) username, with its password hash.
    async fn user_by_username(&self, username: &str)
    -> StoreResult<Option<(User, Option<String>)>>;
    /// Applies a change to an account; `NotFound` when it does not exist. With
    /// `keep_an_admin`, `Conflict` when the change would leave no enabled admin: checked and
    /// applied atomically (the enabled admins are locked), so two admins demoting each other
    /// at once cannot both succeed.
    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        keep_an_admin: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<User>;
    /// Sets a password hash and ends every browser session of the account except `keep`.
    async fn set_password(
        &self,
        id: Uuid,
        hash: &str,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn create_web_session(&self, session: &NewWebSession) -> StoreResult<()>;
    /// The enabled account behind an unexpired browser session, with its last-seen time.
    async fn web_session_user(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(User, DateTime<Utc>)>>;
    /// Records activity on a browser session and slides its expiry.
    async fn touch_web_session(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn delete_web_session(&self, hash: &str) -> StoreResult<()>;
    /// Ends every browser session of an account.
    async fn delete_web_sessions_of(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Deletes browser sessions that expired (they are never accepted; this only tidies).
    async fn delete_expired_web_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<ApiToken>;
    /// An account's tokens that are not revoked, newest first.
    async fn api_tokens(&self, user_id: Uuid) -> StoreResult<Vec<ApiToken>>;
    /// Revokes the account's token; `false` when it has no such live token.
    async fn revoke_api_token(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The enabled account behind a live API token, with the token's id and last use.
    async fn api_token_user(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(User, Uuid, Option<DateTime<Utc>>)>>;
    async fn touch_api_token(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;

    /// Per account: sessions, messages and tokens spent. Figures only, never content.
    async fn usage_by_user(&self) -> StoreResult<Vec<UserUsage>>;
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub role: UserRole,
    pub time_zone: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<UserRole>,
    /// `Some(None)` clears the time zone (back to the instance default).
    pub time_zone: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// A browser session to store: only the hash of its token.
#[derive(Debug, Clone)]
pub struct NewWebSession {
    pub hash: String,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

/// A personal API token to store: only the hash of its secret.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub hash: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// A personal API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One account's usage figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserUsage {
    pub user_id: Uuid,
    pub sessions: i64,
    pub messages: i64,
    pub tokens: i64,
    pub last_active: Option<DateTime<Utc>>,
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

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The pool size when none is configured. PostgreSQL: 16, its connections are cheap for
/// opschat and the server does the work. SQLite: twice the cores, 4 to 16. Its statements run
/// in-process on one thread per connection, so more connections than the machine can run at once
/// add hand-offs and memory (each has its own page cache and prepared statements) but no
/// throughput: 4 instead of 16 on 2 cores held 3.5 MiB less at c=64 with as many turns per second
/// (`bench/RESULTS.md`). Writes are serialised anyway, and analytics takes at most half the cores.
pub fn default_pool(url: &str) -> u32 {
    if is_postgres(url) {
        return 16;
    }
    sqlite_pool(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
}

/// SQLite's pool for a machine with `cores` cores: twice the cores, 4 to 16.
fn sqlite_pool(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(2))
        .unwrap_or(16)
        .clamp(4, 16)
}

/// Opens the store a URL names: `postgres://…` or `sqlite:…` (a bare path is a SQLite file).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    if is_postgres(url) {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    }
}
