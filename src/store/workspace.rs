//! The operations workspace in storage: filtered lists, and changes made as one unit of work.
//!
//! A change loads its target (and what is linked to it: a task's delegation and next
//! occurrence, a delegation's task) locked for the transaction, checks the version the client
//! saw, lets the service decide what to write from exactly that state, then writes it, bumps
//! versions and logs every write in `activity_log`. The rules live in `workspace/`; this
//! file only makes them atomic on both databases.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::StoreResult;
use crate::domain::{
    ActionStatus, Activity, ChatAction, Delegation, DelegationNote, DelegationStatus, Digest,
    ItemKind, Priority, Task, TaskStatus,
};

/// How a claimed action ended: its new status and what to record with it.
#[derive(Debug, Clone)]
pub struct ActionSettlement {
    pub status: ActionStatus,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub error: Option<String>,
    /// Set on confirm or cancel.
    pub decided_by: Option<String>,
    /// Set on undo.
    pub undone_by: Option<String>,
    pub at: DateTime<Utc>,
}

/// Who makes a change, and through what: recorded with every activity entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
    /// web, api, sso, cli, import, demo
    pub via: String,
}

/// What a task list is narrowed to. Empty lists and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub priorities: Vec<Priority>,
    /// Due strictly before this date.
    pub due_before: Option<NaiveDate>,
    /// Due strictly after this date.
    pub due_after: Option<NaiveDate>,
    /// Open and due before this date (the user's today).
    pub overdue_on: Option<NaiveDate>,
    /// Words in the title or description (case-insensitive).
    pub text: Option<String>,
    pub delegatable: Option<bool>,
    pub include_deleted: bool,
    pub limit: i64,
    pub offset: i64,
}

/// What a delegation list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct DelegationFilter {
    pub statuses: Vec<DelegationStatus>,
    /// The person it is assigned to (case-insensitive, whole name).
    pub assigned_to: Option<String>,
    /// Not completed, not on hold, and follow-up (or due) date on or before this date.
    pub follow_up_due_on: Option<NaiveDate>,
    pub text: Option<String>,
    pub include_deleted: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The item a change starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing: the change only creates.
    None,
    Task(Uuid),
    Delegation(Uuid),
}

/// The state a change is decided on, locked until the change commits.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub task: Option<Task>,
    pub delegation: Option<Delegation>,
    /// A task's next occurrence (created when it was completed), if it is not deleted.
    pub successor: Option<Task>,
}

/// One write of a change. A task or delegation whose id was loaded is updated (its version
/// bumped); any other is inserted.
#[derive(Debug, Clone)]
pub enum Write {
    Task {
        task: Task,
        action: &'static str,
    },
    Delegation {
        delegation: Delegation,
        action: &'static str,
    },
    Note {
        note: DelegationNote,
    },
}

/// Decides a change's writes from the loaded state; an `Err` writes nothing.
pub type Plan<'a> = &'a (dyn Fn(&Loaded) -> StoreResult<Vec<Write>> + Send + Sync);

/// A list page and how many items match in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// The workspace's storage, implemented once in SQL for both backends.
#[async_trait]
pub trait Workspace: Send + Sync {
    async fn list_tasks(&self, owner: &str, filter: &TaskFilter) -> StoreResult<Page<Task>>;
    /// The owner's task, deleted or not.
    async fn task(&self, owner: &str, id: Uuid) -> StoreResult<Option<Task>>;
    async fn list_delegations(
        &self,
        owner: &str,
        filter: &DelegationFilter,
    ) -> StoreResult<Page<Delegation>>;
    async fn delegation(&self, owner: &str, id: Uuid) -> StoreResult<Option<Delegation>>;
    /// A delegation's notes, oldest first.
    async fn notes(&self, owner: &str, delegation_id: Uuid) -> StoreResult<Vec<DelegationNote>>;
    /// The latest notes of the owner's open delegations, newest first, at most `limit`.
    async fn recent_notes(&self, owner: &str, limit: i64) -> StoreResult<Vec<DelegationNote>>;
    async fn digest(&self, owner: &str, date: NaiveDate) -> StoreResult<Option<Digest>>;
    /// The owner's digests, newest date first.
    async fn digests(&self, owner: &str, limit: i64) -> StoreResult<Vec<Digest>>;
    /// An item's activity, oldest first.
    async fn activity(&self, owner: &str, item_id: Uuid, limit: i64) -> StoreResult<Vec<Activity>>;
    /// The owner's latest activity, newest first.
    async fn recent_activity(&self, owner: &str, limit: i64) -> StoreResult<Vec<Activity>>;

    /// Runs a change as one transaction: load `target` (and what is linked to it) locked,
    /// compare its version with `expected_version` (`Stale` with the current item when they
    /// differ), ask `plan` what to write, write it with new versions and log it. Returns the
    /// writes as stored. A task update that changes nothing is not written.
    async fn change(
        &self,
        owner: &str,
        target: Target,
        expected_version: Option<i64>,
        actor: &Actor,
        now: DateTime<Utc>,
        plan: Plan<'_>,
    ) -> StoreResult<Vec<Write>>;

    /// Stores actions proposed by a reply.
    async fn insert_actions(&self, owner: &str, actions: &[ChatAction]) -> StoreResult<()>;
    async fn action(&self, owner: &str, id: Uuid) -> StoreResult<Option<ChatAction>>;
    /// A session's actions, in the order they were proposed.
    async fn session_actions(&self, owner: &str, session_id: Uuid) -> StoreResult<Vec<ChatAction>>;
    /// Moves an action from `from` to `to` if it is in `from`: `false` when another confirm,
    /// cancel or undo got there first. This is what makes a double confirm apply once.
    async fn claim_action(
        &self,
        owner: &str,
        id: Uuid,
        from: ActionStatus,
        to: ActionStatus,
    ) -> StoreResult<bool>;
    /// Records how a claimed action ended.
    async fn settle_action(
        &self,
        owner: &str,
        id: Uuid,
        s: &ActionSettlement,
    ) -> StoreResult<ChatAction>;
    /// Takes a note back (an undone chat action's); logged on its delegation.
    async fn delete_note(
        &self,
        owner: &str,
        note_id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Removes the digest of `date` (an undone chat action created it).
    async fn delete_digest(
        &self,
        owner: &str,
        date: NaiveDate,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Logs an entry in an item's activity without changing it (an action proposed or
    /// cancelled in the chat).
    #[allow(clippy::too_many_arguments)]
    async fn log_item(
        &self,
        owner: &str,
        kind: ItemKind,
        id: Uuid,
        action: &str,
        actor: &Actor,
        details: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The owner's sessions (archived too) started in `[from, to)`, in creation order, after
    /// `after`: pages for an export that streams.
    async fn sessions_page(
        &self,
        owner: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<crate::domain::Session>>;
    /// A page of the owner's session's messages after `after_seq`, oldest first.
    async fn messages_after(
        &self,
        owner: &str,
        session_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<crate::domain::Message>>;

    /// Writes the digest of `date` (created or replaced); `true` when it was created.
    async fn put_digest(
        &self,
        owner: &str,
        date: NaiveDate,
        text: &str,
        expected_version: Option<i64>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<(Digest, bool)>;
}

/// The fields that changed between two snapshots, as `{"field": [before, after]}`; `None`
/// when nothing but bookkeeping (version, timestamps) differs.
pub fn diff(before: &Value, after: &Value) -> Option<Value> {
    const BOOKKEEPING: [&str; 3] = ["version", "updated_at", "created_at"];
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Some(serde_json::json!({ "value": [before, after] }));
    };
    let mut changes = serde_json::Map::new();
    for (k, v) in a {
        if BOOKKEEPING.contains(&k.as_str()) {
            continue;
        }
        let old = b.get(k).unwrap_or(&Value::Null);
        if old != v {
            changes.insert(k.clone(), serde_json::json!([old, v]));
        }
    }
    (!changes.is_empty()).then_some(Value::Object(changes))
}

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Date(NaiveDate),
    Bool(bool),
    Int(i64),
}

/// A `LIKE` pattern matching `needle` anywhere, with `%`, `_` and `\` taken literally.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Builds `WHERE` clauses with numbered placeholders.
#[derive(Debug, Default)]
pub(crate) struct Clauses {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Clauses {
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
    pub fn and(&mut self, clause: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(clause);
    }
    /// `column IN (…)` over words.
    pub fn any_of(&mut self, column: &str, words: &[&str]) {
        if words.is_empty() {
            return;
        }
        let marks: Vec<String> = words
            .iter()
            .map(|w| self.arg(Arg::Text((*w).to_string())))
            .collect();
        self.and(&format!("{column} IN ({})", marks.join(", ")));
    }
}

macro_rules! sql_workspace {
    ($store:ident, $db:ty, $row:ty, $id:ty, $is_postgres:expr) => {
        use crate::store::workspace::{
            ActionSettlement, Actor, Arg, Clauses, DelegationFilter, Loaded, Page, Plan, Target,
            TaskFilter, Workspace, Write, diff, like_pattern,
        };

        fn snapshot<T: serde::Serialize>(item: &T) -> serde_json::Value {
            serde_json::to_value(item).unwrap_or(serde_json::Value::Null)
        }

        fn bind_args<'q>(
            mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            args: &[Arg],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s.clone()),
                    Arg::Date(d) => q.bind(*d),
                    Arg::Bool(b) => q.bind(*b),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            q
        }

        /// Records one change of one item.
        #[allow(clippy::too_many_arguments)]
        async fn log_activity(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
            kind: crate::domain::ItemKind,
            item_id: uuid::Uuid,
            action: &str,
            actor: &Actor,
            changes: Option<serde_json::Value>,
            snapshot: serde_json::Value,
            version: i64,
            now: chrono::DateTime<chrono::Utc>,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO activity_log (id, user_id, item_type, item_id, action, actor_id, \
                 actor_name, via, changes, snapshot, item_version, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(id(uuid::Uuid::now_v7()))
            .bind(owner)
            .bind(kind.as_str())
            .bind(id(item_id))
            .bind(action)
            .bind(&actor.id)
            .bind(&actor.name)
            .bind(&actor.via)
            .bind(changes.map(Json))
            .bind(Json(snapshot))
            .bind(version)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        fn activity_row(r: &$row) -> StoreResult<crate::domain::Activity> {
            Ok(crate::domain::Activity {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                item_type: stored(r.try_get("item_type")?)?,
                item_id: r.try_get::<$id, _>("item_id")?.into_uuid(),
                action: r.try_get("action")?,
                actor_id: r.try_get("actor_id")?,
                actor_name: r.try_get("actor_name")?,
                via: r.try_get("via")?,
                changes: r
                    .try_get::<Option<Json<serde_json::Value>>, _>("changes")?
                    .map(|j| j.0),
                snapshot: r.try_get::<Json<serde_json::Value>, _>("snapshot")?.0,
                item_version: r.try_get("item_version")?,
                at: r.try_get("at")?,
            })
        }

        fn note_row(r: &$row) -> StoreResult<crate::domain::DelegationNote> {
            Ok(crate::domain::DelegationNote {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                delegation_id: r.try_get::<$id, _>("delegation_id")?.into_uuid(),
                body: r.try_get("body")?,
                author_id: r.try_get("author_id")?,
                author_name: r.try_get("author_name")?,
                created_at: r.try_get("created_at")?,
            })
        }

        const ACTION_COLUMNS: &str = "id, session_id, message_id, spec, summary, status, \
             before, after, error, proposed_at, decided_by, decided_at, undone_by, undone_at";

        fn action_row(r: &$row) -> StoreResult<crate::domain::ChatAction> {
            let spec: Json<serde_json::Value> = r.try_get("spec")?;
            Ok(crate::domain::ChatAction {
                id: r.try_get::<$id, _>("id")?.into_uuid(),
                session_id: r.try_get::<$id, _>("session_id")?.into_uuid(),
                message_id: r.try_get::<$id, _>("message_id")?.into_uuid(),
                spec: serde_json::from_value(spec.0).map_err(|e| {
                    StoreError::Backend(anyhow::anyhow!("corrupt action: {e}"))
                })?,
                summary: r.try_get("summary")?,
                status: stored(r.try_get("status")?)?,
                before: r
                    .try_get::<Option<Json<serde_json::Value>>, _>("before")?
                    .map(|j| j.0),
                after: r
                    .try_get::<Option<Json<serde_json::Value>>, _>("after")?
                    .map(|j| j.0),
                error: r.try_get("error")?,
                proposed_at: r.try_get("proposed_at")?,
                decided_by: r.try_get("decided_by")?,
                decided_at: r.try_get("decided_at")?,
                undone_by: r.try_get("undone_by")?,
                undone_at: r.try_get("undone_at")?,
            })
        }

        const NOTE_COLUMNS: &str = "id, delegation_id, body, author_id, author_name, created_at";
        const ACTIVITY_COLUMNS: &str = "id, item_type, item_id, action, actor_id, actor_name, \
             via, changes, snapshot, item_version, at";

        async fn load_task(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
            where_sql: &str,
            key: uuid::Uuid,
        ) -> StoreResult<Option<crate::domain::Task>> {
            let lock = if $is_postgres { " FOR UPDATE" } else { "" };
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 AND {where_sql}{lock}"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(id(key))
                .fetch_optional(&mut **tx)
                .await?;
            row.as_ref().map(task_row).transpose()
        }

        async fn load_delegation(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
            key: uuid::Uuid,
        ) -> StoreResult<Option<crate::domain::Delegation>> {
            let lock = if $is_postgres { " FOR UPDATE" } else { "" };
            let sql = format!(
                "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE user_id = $1 AND id = $2{lock}"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(id(key))
                .fetch_optional(&mut **tx)
                .await?;
            row.as_ref().map(delegation_row).transpose()
        }

        async fn write_task(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
            t: &crate::domain::Task,
            old_version: Option<i64>,
        ) -> StoreResult<u64> {
            let sql = if old_version.is_some() {
                "UPDATE tasks SET title = $3, description = $4, due_date = $5, priority = $6, \
                 status = $7, time_estimate_minutes = $8, source = $9, delegatable = $10, \
                 quadrant = $11, recurrence = $12, series_id = $13, previous_id = $14, \
                 delegation_id = $15, version = $16, completed_at = $17, deleted_at = $18, \
                 updated_at = $19, external_id = $20 WHERE id = $1 AND user_id = $2 AND version = $21"
            } else {
                "INSERT INTO tasks (id, user_id, title, description, due_date, priority, status, \
                 time_estimate_minutes, source, delegatable, quadrant, recurrence, series_id, \
                 previous_id, delegation_id, version, completed_at, deleted_at, updated_at, \
                 external_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
            };
            let recurrence = t
                .recurrence
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Backend(anyhow::Error::new(e)))?;
            let q = sqlx::query(sql)
                .bind(id(t.id))
                .bind(owner)
                .bind(&t.title)
                .bind(&t.description)
                .bind(t.due_date)
                .bind(t.priority.as_str())
                .bind(t.status.as_str())
                .bind(t.time_estimate_minutes)
                .bind(&t.source)
                .bind(t.delegatable)
                .bind(t.quadrant.map(|q| q.as_str()))
                .bind(recurrence)
                .bind(t.series_id.map(id))
                .bind(t.previous_id.map(id))
                .bind(t.delegation_id.map(id))
                .bind(t.version)
                .bind(t.completed_at)
                .bind(t.deleted_at)
                .bind(t.updated_at)
                .bind(&t.external_id);
            let q = match old_version {
                Some(v) => q.bind(v),
                None => q.bind(t.created_at),
            };
            Ok(q.execute(&mut **tx).await?.rows_affected())
        }

        async fn write_delegation(
            tx: &mut sqlx::Transaction<'static, $db>,
            owner: &str,
            d: &crate::domain::Delegation,
            old_version: Option<i64>,
        ) -> StoreResult<u64> {
            let sql = if old_version.is_some() {
                "UPDATE delegations SET task_description = $3, assigned_to = $4, \
                 assigned_to_email = $5, due_date = $6, follow_up_date = $7, priority = $8, \
                 status = $9, task_id = $10, last_followed_up_at = $11, version = $12, \
                 completed_at = $13, deleted_at = $14, updated_at = $15, external_id = $16 \
                 WHERE id = $1 AND user_id = $2 AND version = $17"
            } else {
                "INSERT INTO delegations (id, user_id, task_description, assigned_to, \
                 assigned_to_email, due_date, follow_up_date, priority, status, task_id, \
                 last_followed_up_at, version, completed_at, deleted_at, updated_at, external_id, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                 $15, $16, $17)"
            };
            let q = sqlx::query(sql)
                .bind(id(d.id))
                .bind(owner)
                .bind(&d.task_description)
                .bind(&d.assigned_to)
                .bind(&d.assigned_to_email)
                .bind(d.due_date)
                .bind(d.follow_up_date)
                .bind(d.priority.as_str())
                .bind(d.status.as_str())
                .bind(d.task_id.map(id))
                .bind(d.last_followed_up_at)
                .bind(d.version)
                .bind(d.completed_at)
                .bind(d.deleted_at)
                .bind(d.updated_at)
                .bind(&d.external_id);
            let q = match old_version {
                Some(v) => q.bind(v),
                None => q.bind(d.created_at),
            };
            Ok(q.execute(&mut **tx).await?.rows_affected())
        }

        #[async_trait::async_trait]
        impl Workspace for $store {
            async fn list_tasks(
                &self,
                owner: &str,
                f: &TaskFilter,
            ) -> StoreResult<Page<crate::domain::Task>> {
                let mut c = Clauses::default();
                let who = c.arg(Arg::Text(owner.to_string()));
                c.sql = format!("user_id = {who}");
                if !f.include_deleted {
                    c.and("deleted_at IS NULL");
                }
                let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
                c.any_of("status", &statuses);
                let priorities: Vec<&str> = f.priorities.iter().map(|p| p.as_str()).collect();
                c.any_of("priority", &priorities);
                if let Some(d) = f.due_before {
                    let m = c.arg(Arg::Date(d));
                    c.and(&format!("due_date < {m}"));
                }
                if let Some(d) = f.due_after {
                    let m = c.arg(Arg::Date(d));
                    c.and(&format!("due_date > {m}"));
                }
                if let Some(d) = f.overdue_on {
                    let m = c.arg(Arg::Date(d));
                    c.and(&format!("status IN ('todo', 'in_progress') AND due_date < {m}"));
                }
                if let Some(text) = &f.text {
                    let m = c.arg(Arg::Text(like_pattern(text)));
                    c.and(&format!(
                        "(LOWER(title) LIKE {m} ESCAPE '\\' \
                         OR LOWER(COALESCE(description, '')) LIKE {m} ESCAPE '\\')"
                    ));
                }
                if let Some(b) = f.delegatable {
                    let m = c.arg(Arg::Bool(b));
                    c.and(&format!("delegatable = {m}"));
                }
                let limit = c.arg(Arg::Int(f.limit));
                let offset = c.arg(Arg::Int(f.offset));
                let sql = format!(
                    "SELECT {TASK_COLUMNS}, COUNT(*) OVER () AS total FROM tasks WHERE {} \
                     ORDER BY CASE WHEN status IN ('todo', 'in_progress') THEN 0 ELSE 1 END, \
                     CASE WHEN due_date IS NULL THEN 1 ELSE 0 END, due_date, \
                     CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 \
                     WHEN 'medium' THEN 2 ELSE 3 END, id \
                     LIMIT {limit} OFFSET {offset}",
                    c.sql
                );
                let rows = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &c.args)
                    .fetch_all(&self.pool)
                    .await?;
                let total = match rows.first() {
                    Some(r) => r.try_get::<i64, _>("total")?,
                    None => 0,
                };
                Ok(Page {
                    items: rows.iter().map(task_row).collect::<StoreResult<_>>()?,
                    total,
                })
            }

            async fn task(
                &self,
                owner: &str,
                tid: uuid::Uuid,
            ) -> StoreResult<Option<crate::domain::Task>> {
                let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1 AND id = $2");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(tid))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(task_row).transpose()
            }

            async fn list_delegations(
                &self,
                owner: &str,
                f: &DelegationFilter,
            ) -> StoreResult<Page<crate::domain::Delegation>> {
                let mut c = Clauses::default();
                let who = c.arg(Arg::Text(owner.to_string()));
                c.sql = format!("user_id = {who}");
                if !f.include_deleted {
                    c.and("deleted_at IS NULL");
                }
                let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
                c.any_of("status", &statuses);
                if let Some(name) = &f.assigned_to {
                    let m = c.arg(Arg::Text(name.to_lowercase()));
                    c.and(&format!("LOWER(assigned_to) = {m}"));
                }
                if let Some(d) = f.follow_up_due_on {
                    let m = c.arg(Arg::Date(d));
                    c.and(&format!(
                        "status NOT IN ('completed', 'on_hold') \
                         AND COALESCE(follow_up_date, due_date) <= {m}"
                    ));
                }
                if let Some(text) = &f.text {
                    let m = c.arg(Arg::Text(like_pattern(text)));
                    c.and(&format!(
                        "(LOWER(task_description) LIKE {m} ESCAPE '\\' \
                         OR LOWER(assigned_to) LIKE {m} ESCAPE '\\')"
                    ));
                }
                let limit = c.arg(Arg::Int(f.limit));
                let offset = c.arg(Arg::Int(f.offset));
                let sql = format!(
                    "SELECT {DELEGATION_COLUMNS}, COUNT(*) OVER () AS total FROM delegations \
                     WHERE {} ORDER BY CASE WHEN status = 'completed' THEN 1 ELSE 0 END, \
                     CASE WHEN COALESCE(follow_up_date, due_date) IS NULL THEN 1 ELSE 0 END, \
                     COALESCE(follow_up_date, due_date), id LIMIT {limit} OFFSET {offset}",
                    c.sql
                );
                let rows = bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), &c.args)
                    .fetch_all(&self.pool)
                    .await?;
                let total = match rows.first() {
                    Some(r) => r.try_get::<i64, _>("total")?,
                    None => 0,
                };
                Ok(Page {
                    items: rows.iter().map(delegation_row).collect::<StoreResult<_>>()?,
                    total,
                })
            }

            async fn delegation(
                &self,
                owner: &str,
                did: uuid::Uuid,
            ) -> StoreResult<Option<crate::domain::Delegation>> {
                let sql = format!(
                    "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE user_id = $1 AND id = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(did))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(delegation_row).transpose()
            }

            async fn notes(
                &self,
                owner: &str,
                did: uuid::Uuid,
            ) -> StoreResult<Vec<crate::domain::DelegationNote>> {
                let sql = format!(
                    "SELECT {NOTE_COLUMNS} FROM delegation_notes \
                     WHERE user_id = $1 AND delegation_id = $2 AND deleted_at IS NULL ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(did))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(note_row).collect()
            }

            async fn recent_notes(
                &self,
                owner: &str,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::DelegationNote>> {
                let sql = format!(
                    "SELECT {} FROM delegation_notes n JOIN delegations d \
                     ON d.id = n.delegation_id AND d.user_id = n.user_id \
                     WHERE n.user_id = $1 AND d.status <> 'completed' AND d.deleted_at IS NULL \
                     AND n.deleted_at IS NULL \
                     ORDER BY n.id DESC LIMIT {limit}", // written in, as recent_conversation's
                    NOTE_COLUMNS
                        .split(", ")
                        .map(|c| format!("n.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(note_row).collect()
            }

            async fn digest(
                &self,
                owner: &str,
                date: chrono::NaiveDate,
            ) -> StoreResult<Option<crate::domain::Digest>> {
                let sql = format!(
                    "SELECT {DIGEST_COLUMNS} FROM daily_digests WHERE user_id = $1 AND date = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(date)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(digest_row).transpose()
            }

            async fn digests(
                &self,
                owner: &str,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::Digest>> {
                let sql = format!(
                    "SELECT {DIGEST_COLUMNS} FROM daily_digests WHERE user_id = $1 \
                     ORDER BY date DESC LIMIT $2"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(digest_row).collect()
            }

            async fn activity(
                &self,
                owner: &str,
                item: uuid::Uuid,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::Activity>> {
                let sql = format!(
                    "SELECT {ACTIVITY_COLUMNS} FROM activity_log \
                     WHERE user_id = $1 AND item_id = $2 ORDER BY id LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(item))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(activity_row).collect()
            }

            async fn recent_activity(
                &self,
                owner: &str,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::Activity>> {
                let sql = format!(
                    "SELECT {ACTIVITY_COLUMNS} FROM activity_log WHERE user_id = $1 \
                     ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(activity_row).collect()
            }

            async fn change(
                &self,
                owner: &str,
                target: Target,
                expected_version: Option<i64>,
                actor: &Actor,
                now: chrono::DateTime<chrono::Utc>,
                plan: Plan<'_>,
            ) -> StoreResult<Vec<Write>> {
                let (_writing, mut tx) = self.begin_write().await?;
                let mut loaded = Loaded::default();
                match target {
                    Target::None => {}
                    Target::Task(tid) => {
                        let t = load_task(&mut tx, owner, "id = $2", tid)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        if expected_version.is_some_and(|v| v != t.version) {
                            return Err(StoreError::Stale(snapshot(&t)));
                        }
                        // Locks go tasks first, then delegations, in every change, so two
                        // changes of a linked pair wait for each other instead of deadlocking.
                        loaded.successor = load_task(
                            &mut tx,
                            owner,
                            "previous_id = $2 AND deleted_at IS NULL",
                            tid,
                        )
                        .await?;
                        if let Some(did) = t.delegation_id {
                            loaded.delegation = load_delegation(&mut tx, owner, did).await?;
                        }
                        loaded.task = Some(t);
                    }
                    Target::Delegation(did) => {
                        // The linked task is locked before the delegation (see above): its
                        // id is read unlocked first; a delegation's task never changes.
                        let linked: Option<Option<$id>> = sqlx::query_scalar(
                            "SELECT task_id FROM delegations WHERE user_id = $1 AND id = $2",
                        )
                        .bind(owner)
                        .bind(id(did))
                        .fetch_optional(&mut *tx)
                        .await?;
                        let linked = linked.ok_or(StoreError::NotFound)?.map(IdRepr::into_uuid);
                        if let Some(tid) = linked {
                            loaded.task = load_task(&mut tx, owner, "id = $2", tid).await?;
                        }
                        let d = load_delegation(&mut tx, owner, did)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                        if expected_version.is_some_and(|v| v != d.version) {
                            return Err(StoreError::Stale(snapshot(&d)));
                        }
                        loaded.delegation = Some(d);
                    }
                }
                let writes = plan(&loaded)?;
                let mut applied = Vec::with_capacity(writes.len());
                for w in writes {
                    match w {
                        Write::Task { mut task, action } => {
                            let old = [loaded.task.as_ref(), loaded.successor.as_ref()]
                                .into_iter()
                                .flatten()
                                .find(|t| t.id == task.id);
                            match old {
                                Some(old) => {
                                    let Some(changes) = diff(&snapshot(old), &snapshot(&task))
                                    else {
                                        applied.push(Write::Task { task: old.clone(), action });
                                        continue;
                                    };
                                    task.version = old.version + 1;
                                    task.created_at = old.created_at;
                                    task.updated_at = now;
                                    if write_task(&mut tx, owner, &task, Some(old.version)).await?
                                        != 1
                                    {
                                        return Err(StoreError::Stale(snapshot(old)));
                                    }
                                    log_activity(
                                        &mut tx, owner, crate::domain::ItemKind::Task, task.id,
                                        action, actor, Some(changes), snapshot(&task),
                                        task.version, now,
                                    )
                                    .await?;
                                }
                                None => {
                                    task.version = 1;
                                    task.created_at = now;
                                    task.updated_at = now;
                                    write_task(&mut tx, owner, &task, None).await?;
                                    log_activity(
                                        &mut tx, owner, crate::domain::ItemKind::Task, task.id,
                                        action, actor, None, snapshot(&task), 1, now,
                                    )
                                    .await?;
                                }
                            }
                            applied.push(Write::Task { task, action });
                        }
                        Write::Delegation {
                            mut delegation,
                            action,
                        } => {
                            let old = loaded
                                .delegation
                                .as_ref()
                                .filter(|d| d.id == delegation.id);
                            match old {
                                Some(old) => {
                                    let Some(changes) =
                                        diff(&snapshot(old), &snapshot(&delegation))
                                    else {
                                        applied.push(Write::Delegation {
                                            delegation: old.clone(),
                                            action,
                                        });
                                        continue;
                                    };
                                    delegation.version = old.version + 1;
                                    delegation.created_at = old.created_at;
                                    delegation.updated_at = now;
                                    if write_delegation(
                                        &mut tx,
                                        owner,
                                        &delegation,
                                        Some(old.version),
                                    )
                                    .await?
                                        != 1
                                    {
                                        return Err(StoreError::Stale(snapshot(old)));
                                    }
                                    log_activity(
                                        &mut tx, owner, crate::domain::ItemKind::Delegation,
                                        delegation.id, action, actor, Some(changes),
                                        snapshot(&delegation), delegation.version, now,
                                    )
                                    .await?;
                                }
                                None => {
                                    delegation.version = 1;
                                    delegation.created_at = now;
                                    delegation.updated_at = now;
                                    write_delegation(&mut tx, owner, &delegation, None).await?;
                                    log_activity(
                                        &mut tx, owner, crate::domain::ItemKind::Delegation,
                                        delegation.id, action, actor, None,
                                        snapshot(&delegation), 1, now,
                                    )
                                    .await?;
                                }
                            }
                            applied.push(Write::Delegation { delegation, action });
                        }
                        Write::Note { mut note } => {
                            // The delegation as this change left it, or as loaded.
                            let version = applied
                                .iter()
                                .rev()
                                .find_map(|w| match w {
                                    Write::Delegation { delegation, .. }
                                        if delegation.id == note.delegation_id =>
                                    {
                                        Some(delegation.version)
                                    }
                                    _ => None,
                                })
                                .or(loaded
                                    .delegation
                                    .as_ref()
                                    .filter(|d| d.id == note.delegation_id)
                                    .map(|d| d.version))
                                .ok_or(StoreError::NotFound)?;
                            note.created_at = now;
                            note.author_id = actor.id.clone();
                            note.author_name = actor.name.clone();
                            sqlx::query(
                                "INSERT INTO delegation_notes (id, user_id, delegation_id, body, \
                                 author_id, author_name, created_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(id(note.id))
                            .bind(owner)
                            .bind(id(note.delegation_id))
                            .bind(&note.body)
                            .bind(&note.author_id)
                            .bind(&note.author_name)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                            log_activity(
                                &mut tx, owner, crate::domain::ItemKind::Delegation,
                                note.delegation_id, "note_added", actor, None, snapshot(&note),
                                version, now,
                            )
                            .await?;
                            applied.push(Write::Note { note });
                        }
                    }
                }
                tx.commit().await?;
                Ok(applied)
            }

            async fn sessions_page(
                &self,
                owner: &str,
                from: Option<chrono::DateTime<chrono::Utc>>,
                to: Option<chrono::DateTime<chrono::Utc>>,
                after: Option<uuid::Uuid>,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::Session>> {
                let mut sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE user_id = $1 \
                     AND ($2 IS NULL OR started_at >= $2) AND ($3 IS NULL OR started_at < $3)"
                );
                if after.is_some() {
                    sql.push_str(" AND id > $5");
                }
                sql.push_str(" ORDER BY id LIMIT $4");
                let q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(from)
                    .bind(to)
                    .bind(limit);
                let q = match after {
                    Some(a) => q.bind(id(a)),
                    None => q,
                };
                let rows = q.fetch_all(&self.pool).await?;
                rows.iter().map(session_row).collect()
            }

            async fn messages_after(
                &self,
                owner: &str,
                sid: uuid::Uuid,
                after_seq: i64,
                limit: i64,
            ) -> StoreResult<Vec<crate::domain::Message>> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM chat_messages \
                     WHERE session_id = $1 AND seq > $2 AND EXISTS \
                     (SELECT 1 FROM chat_sessions s WHERE s.id = $1 AND s.user_id = $4) \
                     ORDER BY seq LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id(sid))
                    .bind(after_seq)
                    .bind(limit)
                    .bind(owner)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(message_row).collect()
            }

            async fn insert_actions(
                &self,
                owner: &str,
                actions: &[crate::domain::ChatAction],
            ) -> StoreResult<()> {
                let (_writing, mut tx) = self.begin_write().await?;
                for a in actions {
                    let spec = serde_json::to_value(&a.spec)
                        .map_err(|e| StoreError::Backend(anyhow::Error::new(e)))?;
                    sqlx::query(
                        "INSERT INTO chat_actions (id, user_id, session_id, message_id, spec, \
                         summary, status, proposed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(id(a.id))
                    .bind(owner)
                    .bind(id(a.session_id))
                    .bind(id(a.message_id))
                    .bind(Json(spec))
                    .bind(&a.summary)
                    .bind(a.status.as_str())
                    .bind(a.proposed_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn action(
                &self,
                owner: &str,
                aid: uuid::Uuid,
            ) -> StoreResult<Option<crate::domain::ChatAction>> {
                let sql = format!(
                    "SELECT {ACTION_COLUMNS} FROM chat_actions WHERE user_id = $1 AND id = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(aid))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(action_row).transpose()
            }

            async fn session_actions(
                &self,
                owner: &str,
                sid: uuid::Uuid,
            ) -> StoreResult<Vec<crate::domain::ChatAction>> {
                let sql = format!(
                    "SELECT {ACTION_COLUMNS} FROM chat_actions \
                     WHERE user_id = $1 AND session_id = $2 ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(sid))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(action_row).collect()
            }

            async fn claim_action(
                &self,
                owner: &str,
                aid: uuid::Uuid,
                from: crate::domain::ActionStatus,
                to: crate::domain::ActionStatus,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE chat_actions SET status = $4 \
                     WHERE user_id = $1 AND id = $2 AND status = $3",
                )
                .bind(owner)
                .bind(id(aid))
                .bind(from.as_str())
                .bind(to.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn settle_action(
                &self,
                owner: &str,
                aid: uuid::Uuid,
                s: &ActionSettlement,
            ) -> StoreResult<crate::domain::ChatAction> {
                let sql = format!(
                    "UPDATE chat_actions SET status = $3, \
                     before = COALESCE($4, before), after = COALESCE($5, after), error = $6, \
                     decided_by = COALESCE($7, decided_by), \
                     decided_at = CASE WHEN $7 IS NULL THEN decided_at ELSE $9 END, \
                     undone_by = COALESCE($8, undone_by), \
                     undone_at = CASE WHEN $8 IS NULL THEN undone_at ELSE $9 END \
                     WHERE user_id = $1 AND id = $2 RETURNING {ACTION_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(aid))
                    .bind(s.status.as_str())
                    .bind(s.before.clone().map(Json))
                    .bind(s.after.clone().map(Json))
                    .bind(&s.error)
                    .bind(&s.decided_by)
                    .bind(&s.undone_by)
                    .bind(s.at)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                action_row(&row)
            }

            async fn delete_note(
                &self,
                owner: &str,
                note_id: uuid::Uuid,
                actor: &Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                let (_writing, mut tx) = self.begin_write().await?;
                let sql = format!(
                    "UPDATE delegation_notes SET deleted_at = $3 \
                     WHERE user_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {NOTE_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(note_id))
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let note = note_row(&row)?;
                let version: i64 = sqlx::query_scalar(
                    "SELECT version FROM delegations WHERE user_id = $1 AND id = $2",
                )
                .bind(owner)
                .bind(id(note.delegation_id))
                .fetch_one(&mut *tx)
                .await?;
                log_activity(
                    &mut tx, owner, crate::domain::ItemKind::Delegation, note.delegation_id,
                    "note_removed", actor, None, snapshot(&note), version, now,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_digest(
                &self,
                owner: &str,
                date: chrono::NaiveDate,
                actor: &Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                let (_writing, mut tx) = self.begin_write().await?;
                let sql = format!(
                    "DELETE FROM daily_digests WHERE user_id = $1 AND date = $2 \
                     RETURNING {DIGEST_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(date)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let digest = digest_row(&row)?;
                log_activity(
                    &mut tx, owner, crate::domain::ItemKind::Digest, digest.id, "deleted",
                    actor, None, snapshot(&digest), digest.version, now,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn log_item(
                &self,
                owner: &str,
                kind: crate::domain::ItemKind,
                item: uuid::Uuid,
                action: &str,
                actor: &Actor,
                details: serde_json::Value,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<()> {
                let (_writing, mut tx) = self.begin_write().await?;
                let table = match kind {
                    crate::domain::ItemKind::Task => "tasks",
                    crate::domain::ItemKind::Delegation => "delegations",
                    crate::domain::ItemKind::Digest => "daily_digests",
                };
                let sql = format!("SELECT version FROM {table} WHERE user_id = $1 AND id = $2");
                let version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(id(item))
                    .fetch_optional(&mut *tx)
                    .await?;
                let version = version.ok_or(StoreError::NotFound)?;
                log_activity(
                    &mut tx, owner, kind, item, action, actor, None, details, version, now,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn put_digest(
                &self,
                owner: &str,
                date: chrono::NaiveDate,
                text: &str,
                expected_version: Option<i64>,
                actor: &Actor,
                now: chrono::DateTime<chrono::Utc>,
            ) -> StoreResult<(crate::domain::Digest, bool)> {
                let (_writing, mut tx) = self.begin_write().await?;
                let lock = if $is_postgres { " FOR UPDATE" } else { "" };
                let sql = format!(
                    "SELECT {DIGEST_COLUMNS} FROM daily_digests \
                     WHERE user_id = $1 AND date = $2{lock}"
                );
                let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(date)
                    .fetch_optional(&mut *tx)
                    .await?;
                let found = found.as_ref().map(digest_row).transpose()?;
                let (digest, created, changes) = match found {
                    Some(old) => {
                        if expected_version.is_some_and(|v| v != old.version) {
                            return Err(StoreError::Stale(snapshot(&old)));
                        }
                        if old.text == text {
                            return Ok((old, false));
                        }
                        let sql = format!(
                            "UPDATE daily_digests SET text = $3, updated_at = $4, \
                             version = version + 1 WHERE user_id = $1 AND id = $2 \
                             RETURNING {DIGEST_COLUMNS}"
                        );
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(owner)
                            .bind(id(old.id))
                            .bind(text)
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?;
                        let changes = serde_json::json!({ "text": [old.text, text] });
                        (digest_row(&row)?, false, Some(changes))
                    }
                    None => {
                        let sql = format!(
                            "INSERT INTO daily_digests (id, user_id, date, text, created_at, \
                             updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {DIGEST_COLUMNS}"
                        );
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(id(uuid::Uuid::now_v7()))
                            .bind(owner)
                            .bind(date)
                            .bind(text)
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?;
                        (digest_row(&row)?, true, None)
                    }
                };
                log_activity(
                    &mut tx,
                    owner,
                    crate::domain::ItemKind::Digest,
                    digest.id,
                    if created { "created" } else { "updated" },
                    actor,
                    changes,
                    snapshot(&digest),
                    digest.version,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok((digest, created))
            }
        }
    };
}

pub(crate) use sql_workspace;
