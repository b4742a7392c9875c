//! The operations workspace: the manager's own tasks, delegations, notes and digests, edited in
//! opschat. Owns the rules (completing sets `completed_at`, a repeating task's next occurrence,
//! delegating a task, following up); `store::Workspace` makes each change atomic and logged.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

use crate::accounts::{Credential, Principal};
use crate::config::Clock;
use crate::domain::{
    Activity, Delegation, DelegationNote, DelegationStatus, Digest, ItemKind, Priority, Quadrant,
    Recurrence, Task, TaskStatus, User, quick,
};
use crate::store::{
    Actor, DelegationFilter, ImportSummary, Loaded, OpsBatch, Page, Store, StoreError, StoreResult,
    Target, TaskFilter, Write,
};

/// How far "followed up" moves the next follow-up when no date is given.
pub const DEFAULT_FOLLOW_UP_DAYS: u64 = 2;
/// The most activity entries one item lists.
pub const MAX_ACTIVITY: i64 = 500;

/// A new task.
#[derive(Debug, Clone)]
pub struct TaskDraft {
    pub title: String,
    pub description: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub time_estimate_minutes: Option<i32>,
    pub delegatable: bool,
    pub quadrant: Option<Quadrant>,
    pub recurrence: Option<Recurrence>,
    pub source: Option<String>,
}

impl TaskDraft {
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: None,
            due_date: None,
            priority: Priority::Medium,
            status: TaskStatus::Todo,
            time_estimate_minutes: None,
            delegatable: false,
            quadrant: None,
            recurrence: None,
            source: None,
        }
    }
}

/// Changes to a task. `None` leaves a field; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub due_date: Option<Option<NaiveDate>>,
    pub priority: Option<Priority>,
    pub status: Option<TaskStatus>,
    pub time_estimate_minutes: Option<Option<i32>>,
    pub delegatable: Option<bool>,
    pub quadrant: Option<Option<Quadrant>>,
    pub recurrence: Option<Option<Recurrence>>,
}

/// A new delegation, or the hand-over of a task.
#[derive(Debug, Clone)]
pub struct DelegationDraft {
    /// For a standalone delegation; a delegated task lends its title.
    pub task_description: Option<String>,
    pub assigned_to: String,
    pub assigned_to_email: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub follow_up_date: Option<NaiveDate>,
    pub priority: Option<Priority>,
    pub status: DelegationStatus,
    /// A first note for the log ("asked Marcus at the 3pm huddle").
    pub note: Option<String>,
}

/// Changes to a delegation.
#[derive(Debug, Clone, Default)]
pub struct DelegationPatch {
    pub task_description: Option<String>,
    pub assigned_to: Option<String>,
    pub assigned_to_email: Option<Option<String>>,
    pub due_date: Option<Option<NaiveDate>>,
    pub follow_up_date: Option<Option<NaiveDate>>,
    pub priority: Option<Priority>,
    pub status: Option<DelegationStatus>,
}

/// The actor of a request: the signed-in user and the credential they came with.
pub fn actor_of(p: &Principal) -> Actor {
    let via = match p.credential {
        Credential::Cookie(_) => "web",
        Credential::Token(_) => "api",
        Credential::TrustedHeader => "sso",
    };
    actor(&p.user, via)
}

/// `user` acting through `via`.
pub fn actor(user: &User, via: &str) -> Actor {
    Actor {
        id: user.owner_key(),
        name: user.display_name.clone(),
        via: via.to_string(),
    }
}

fn refused(message: impl Into<String>) -> StoreError {
    StoreError::Refused(message.into())
}

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The task a change targets, which must exist and not be deleted.
fn live_task(l: &Loaded) -> StoreResult<&Task> {
    let t = l.task.as_ref().ok_or(StoreError::NotFound)?;
    if t.deleted_at.is_some() {
        return Err(refused("the task is deleted; restore it first"));
    }
    Ok(t)
}

fn live_delegation(l: &Loaded) -> StoreResult<&Delegation> {
    let d = l.delegation.as_ref().ok_or(StoreError::NotFound)?;
    if d.deleted_at.is_some() {
        return Err(refused("the delegation is deleted; restore it first"));
    }
    Ok(d)
}

/// A repeating task's rule made whole for its due date (a rule needs one: the first
/// occurrence from today when the task has none).
fn settle_recurrence(t: &mut Task, today: NaiveDate) -> StoreResult<()> {
    if let Some(rule) = t.recurrence.take() {
        let due = t.due_date.unwrap_or_else(|| {
            rule.clone()
                .normalized(today)
                .map(|r| r.first_on_or_after(today))
                .unwrap_or(today)
        });
        let rule = rule.normalized(due).map_err(|m| invalid("recurrence", m))?;
        t.due_date = Some(due);
        t.series_id.get_or_insert(t.id);
        t.recurrence = Some(rule);
    }
    Ok(())
}

/// The writes that complete `task` at `now`: the task itself and, for a repeating task that
/// has no open next occurrence yet, the next one.
fn completion(
    task: &Task,
    successor: Option<&Task>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<Write> {
    let mut done = task.clone();
    done.status = TaskStatus::Completed;
    done.completed_at = Some(now);
    let mut writes = vec![Write::Task {
        task: done,
        action: "completed",
    }];
    if let (Some(rule), None) = (&task.recurrence, successor) {
        let due = task.due_date.unwrap_or(today);
        let mut next = task.clone();
        next.id = Uuid::now_v7();
        next.external_id = None;
        next.status = TaskStatus::Todo;
        next.due_date = Some(rule.next(due, today));
        next.completed_at = None;
        next.delegation_id = None;
        next.previous_id = Some(task.id);
        next.series_id = Some(task.series_id.unwrap_or(task.id));
        writes.push(Write::Task {
            task: next,
            action: "repeated",
        });
    }
    writes
}

/// The first written task of a change.
fn written_task(writes: Vec<Write>) -> StoreResult<Task> {
    writes
        .into_iter()
        .find_map(|w| match w {
            Write::Task { task, .. } => Some(task),
            _ => None,
        })
        .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("a task change wrote no task")))
}

fn written_delegation(writes: &[Write]) -> StoreResult<Delegation> {
    writes
        .iter()
        .find_map(|w| match w {
            Write::Delegation { delegation, .. } => Some(delegation.clone()),
            _ => None,
        })
        .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("a change wrote no delegation")))
}

/// What a change of a task returned: the task, and the next occurrence if one was created.
#[derive(Debug, Clone)]
pub struct TaskChange {
    pub task: Task,
    pub next: Option<Task>,
}

/// The workspace service.
pub struct WorkspaceService {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl WorkspaceService {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The user's today: what is due, overdue and next is decided in their time zone.
    pub fn today(&self, user: &User) -> NaiveDate {
        self.clock
            .local_in(self.clock.now(), user.tz())
            .date_naive()
    }

    // ------------------------------------------------------------------ tasks

    pub async fn tasks(&self, user: &User, filter: &TaskFilter) -> StoreResult<Page<Task>> {
        self.store.list_tasks(&user.owner_key(), filter).await
    }

    pub async fn task(&self, user: &User, id: Uuid) -> StoreResult<Task> {
        self.store
            .task(&user.owner_key(), id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn create_task(
        &self,
        user: &User,
        actor: &Actor,
        draft: TaskDraft,
    ) -> StoreResult<Task> {
        let now = self.clock.now();
        let today = self.today(user);
        let id = Uuid::now_v7();
        let mut task = Task {
            id,
            external_id: None,
            title: draft.title,
            description: draft.description,
            due_date: draft.due_date,
            priority: draft.priority,
            status: draft.status,
            time_estimate_minutes: draft.time_estimate_minutes,
            source: draft.source,
            delegatable: draft.delegatable,
            quadrant: draft.quadrant,
            recurrence: draft.recurrence,
            series_id: None,
            previous_id: None,
            delegation_id: None,
            version: 1,
            completed_at: (draft.status == TaskStatus::Completed).then_some(now),
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        settle_recurrence(&mut task, today)?;
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::None,
                None,
                actor,
                now,
                &move |_| {
                    Ok(vec![Write::Task {
                        task: task.clone(),
                        action: "created",
                    }])
                },
            )
            .await?;
        written_task(writes)
    }

    /// Adds a task from a quick-add line ("Call linen supplier tomorrow !high"); explicit
    /// fields of `draft` win over what the line says.
    pub async fn quick_add(
        &self,
        user: &User,
        actor: &Actor,
        text: &str,
        mut draft: TaskDraft,
        explicit_priority: bool,
    ) -> StoreResult<Task> {
        let q = quick::parse(text, self.today(user));
        draft.title = q.title;
        draft.due_date = draft.due_date.or(q.due_date);
        if !explicit_priority && let Some(p) = q.priority {
            draft.priority = p;
        }
        draft.recurrence = draft.recurrence.or(q.recurrence);
        self.create_task(user, actor, draft).await
    }

    pub async fn update_task(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        patch: TaskPatch,
    ) -> StoreResult<TaskChange> {
        let now = self.clock.now();
        let today = self.today(user);
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let old = live_task(l)?;
            let mut t = old.clone();
            if let Some(v) = &patch.title {
                t.title = v.clone();
            }
            if let Some(v) = &patch.description {
                t.description = v.clone();
            }
            if let Some(v) = patch.due_date {
                t.due_date = v;
            }
            if let Some(v) = patch.priority {
                t.priority = v;
            }
            if let Some(v) = patch.time_estimate_minutes {
                t.time_estimate_minutes = v;
            }
            if let Some(v) = patch.delegatable {
                t.delegatable = v;
            }
            if let Some(v) = patch.quadrant {
                t.quadrant = v;
            }
            if let Some(v) = &patch.recurrence {
                t.recurrence = v.clone();
            }
            if t.recurrence.is_some() && t.due_date.is_none() && patch.due_date.is_some() {
                return Err(invalid(
                    "due_date",
                    "a repeating task needs a due date; stop the repeat first",
                ));
            }
            settle_recurrence(&mut t, today)?;
            let status = patch.status.unwrap_or(old.status);
            let mut writes = Vec::new();
            match (old.status.is_open(), status) {
                (true, TaskStatus::Completed) => {
                    writes.extend(completion(&t, l.successor.as_ref(), today, now));
                }
                (false, s) if s.is_open() => {
                    t.status = s;
                    t.completed_at = None;
                    writes.push(Write::Task {
                        task: t,
                        action: "reopened",
                    });
                    // Undoing a completion takes back the next occurrence it created, as
                    // long as nobody has touched it since.
                    if let Some(next) = l.successor.as_ref().filter(|n| n.version == 1) {
                        let mut gone = next.clone();
                        gone.deleted_at = Some(now);
                        writes.push(Write::Task {
                            task: gone,
                            action: "deleted",
                        });
                    }
                }
                (_, s) => {
                    let action = if s == TaskStatus::Cancelled && old.status != s {
                        "cancelled"
                    } else {
                        "updated"
                    };
                    if s != TaskStatus::Completed {
                        t.completed_at = None;
                    }
                    t.status = s;
                    writes.push(Write::Task { task: t, action });
                }
            }
            Ok(writes)
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Task(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        let next = writes.iter().find_map(|w| match w {
            Write::Task {
                task,
                action: "repeated",
            } => Some(task.clone()),
            _ => None,
        });
        Ok(TaskChange {
            task: written_task(writes)?,
            next,
        })
    }

    /// Deletes (`deleted`) or restores a task. Deleted tasks leave lists and the assistant's
    /// context but stay readable by id, so a chat answer that cites one still resolves.
    pub async fn set_task_deleted(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        deleted: bool,
    ) -> StoreResult<Task> {
        let now = self.clock.now();
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let mut t = l.task.clone().ok_or(StoreError::NotFound)?;
            let action = if deleted { "deleted" } else { "restored" };
            if t.deleted_at.is_some() == deleted {
                return Ok(vec![Write::Task { task: t, action }]);
            }
            t.deleted_at = deleted.then_some(now);
            Ok(vec![Write::Task { task: t, action }])
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Task(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        written_task(writes)
    }

    /// Hands a task over: creates a delegation from it and links the two.
    pub async fn delegate_task(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        draft: DelegationDraft,
    ) -> StoreResult<(Task, Delegation)> {
        let now = self.clock.now();
        let today = self.today(user);
        check_follow_up(draft.follow_up_date, today)?;
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let task = live_task(l)?;
            if !task.status.is_open() {
                return Err(refused("the task is closed; reopen it to delegate it"));
            }
            if let Some(d) = l
                .delegation
                .as_ref()
                .filter(|d| d.deleted_at.is_none() && d.status.is_open())
            {
                return Err(refused(format!(
                    "the task is already delegated to {}",
                    d.assigned_to
                )));
            }
            let delegation = Delegation {
                id: Uuid::now_v7(),
                external_id: None,
                task_description: draft
                    .task_description
                    .clone()
                    .unwrap_or_else(|| task.title.clone()),
                assigned_to: draft.assigned_to.clone(),
                assigned_to_email: draft.assigned_to_email.clone(),
                due_date: draft.due_date.or(task.due_date),
                follow_up_date: draft.follow_up_date,
                priority: draft.priority.unwrap_or(task.priority),
                status: draft.status,
                task_id: Some(task.id),
                last_followed_up_at: None,
                version: 1,
                completed_at: None,
                deleted_at: None,
                created_at: now,
                updated_at: now,
            };
            let mut t = task.clone();
            t.delegation_id = Some(delegation.id);
            let mut writes = vec![
                Write::Task {
                    task: t,
                    action: "delegated",
                },
                Write::Delegation {
                    delegation: delegation.clone(),
                    action: "created",
                },
            ];
            if let Some(body) = &draft.note {
                writes.push(Write::Note {
                    note: new_note(delegation.id, body),
                });
            }
            Ok(writes)
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Task(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        let delegation = written_delegation(&writes)?;
        Ok((written_task(writes)?, delegation))
    }

    // ------------------------------------------------------------ delegations

    pub async fn delegations(
        &self,
        user: &User,
        filter: &DelegationFilter,
    ) -> StoreResult<Page<Delegation>> {
        self.store.list_delegations(&user.owner_key(), filter).await
    }

    pub async fn delegation(&self, user: &User, id: Uuid) -> StoreResult<Delegation> {
        self.store
            .delegation(&user.owner_key(), id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn create_delegation(
        &self,
        user: &User,
        actor: &Actor,
        draft: DelegationDraft,
    ) -> StoreResult<Delegation> {
        let now = self.clock.now();
        check_follow_up(draft.follow_up_date, self.today(user))?;
        let description = draft
            .task_description
            .clone()
            .ok_or_else(|| invalid("task_description", "say what is delegated"))?;
        let delegation = Delegation {
            id: Uuid::now_v7(),
            external_id: None,
            task_description: description,
            assigned_to: draft.assigned_to.clone(),
            assigned_to_email: draft.assigned_to_email.clone(),
            due_date: draft.due_date,
            follow_up_date: draft.follow_up_date,
            priority: draft.priority.unwrap_or(Priority::Medium),
            status: draft.status,
            task_id: None,
            last_followed_up_at: None,
            version: 1,
            completed_at: (draft.status == DelegationStatus::Completed).then_some(now),
            deleted_at: None,
            created_at: now,
            updated_at: now,
        };
        let note = draft.note.clone();
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::None,
                None,
                actor,
                now,
                &move |_| {
                    let mut w = vec![Write::Delegation {
                        delegation: delegation.clone(),
                        action: "created",
                    }];
                    if let Some(body) = &note {
                        w.push(Write::Note {
                            note: new_note(delegation.id, body),
                        });
                    }
                    Ok(w)
                },
            )
            .await?;
        written_delegation(&writes)
    }

    /// Applies a change; completing it also completes the task it was made from when
    /// `complete_task` (and that task is still open).
    pub async fn update_delegation(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        patch: DelegationPatch,
        complete_task: bool,
    ) -> StoreResult<(Delegation, Option<Task>)> {
        let now = self.clock.now();
        let today = self.today(user);
        if let Some(Some(f)) = patch.follow_up_date {
            check_follow_up(Some(f), today)?;
        }
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let old = live_delegation(l)?;
            let mut d = old.clone();
            if let Some(v) = &patch.task_description {
                d.task_description = v.clone();
            }
            if let Some(v) = &patch.assigned_to {
                d.assigned_to = v.clone();
            }
            if let Some(v) = &patch.assigned_to_email {
                d.assigned_to_email = v.clone();
            }
            if let Some(v) = patch.due_date {
                d.due_date = v;
            }
            if let Some(v) = patch.follow_up_date {
                d.follow_up_date = v;
            }
            if let Some(v) = patch.priority {
                d.priority = v;
            }
            let status = patch.status.unwrap_or(old.status);
            let completing = status == DelegationStatus::Completed && old.status.is_open();
            let action = if completing {
                "completed"
            } else if status.is_open() && !old.status.is_open() {
                "reopened"
            } else {
                "updated"
            };
            d.completed_at = match status {
                DelegationStatus::Completed => old.completed_at.or(Some(now)),
                _ => None,
            };
            d.status = status;
            let mut writes = vec![Write::Delegation {
                delegation: d,
                action,
            }];
            if completing
                && complete_task
                && let Some(t) = l
                    .task
                    .as_ref()
                    .filter(|t| t.deleted_at.is_none() && t.status.is_open())
            {
                writes.extend(completion(t, l.successor.as_ref(), today, now));
            }
            Ok(writes)
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Delegation(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        let delegation = written_delegation(&writes)?;
        let task = writes.into_iter().find_map(|w| match w {
            Write::Task {
                task,
                action: "completed",
            } => Some(task),
            _ => None,
        });
        Ok((delegation, task))
    }

    /// Records that the manager followed up: the next follow-up moves to `next` (by default
    /// two days on), with an optional note of what was said.
    pub async fn follow_up(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        next: Option<NaiveDate>,
        note: Option<String>,
    ) -> StoreResult<Delegation> {
        let now = self.clock.now();
        let today = self.today(user);
        let next = next.unwrap_or(today + Days::new(DEFAULT_FOLLOW_UP_DAYS));
        if next <= today {
            return Err(invalid(
                "next_follow_up_date",
                "the next follow-up must be after today",
            ));
        }
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let old = live_delegation(l)?;
            if !old.status.is_open() {
                return Err(refused("the delegation is completed"));
            }
            let mut d = old.clone();
            d.follow_up_date = Some(next);
            d.last_followed_up_at = Some(now);
            let mut writes = vec![Write::Delegation {
                delegation: d,
                action: "followed_up",
            }];
            if let Some(body) = &note {
                writes.push(Write::Note {
                    note: new_note(old.id, body),
                });
            }
            Ok(writes)
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Delegation(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        written_delegation(&writes)
    }

    pub async fn add_note(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        body: String,
    ) -> StoreResult<DelegationNote> {
        let now = self.clock.now();
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let d = live_delegation(l)?;
            Ok(vec![Write::Note {
                note: new_note(d.id, &body),
            }])
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Delegation(id),
                None,
                actor,
                now,
                &plan,
            )
            .await?;
        writes
            .into_iter()
            .find_map(|w| match w {
                Write::Note { note } => Some(note),
                _ => None,
            })
            .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("the note was not written")))
    }

    pub async fn notes(&self, user: &User, id: Uuid) -> StoreResult<Vec<DelegationNote>> {
        self.delegation(user, id).await?;
        self.store.notes(&user.owner_key(), id).await
    }

    /// Deletes or restores a delegation. Deleting frees its task to be delegated again.
    pub async fn set_delegation_deleted(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
        version: Option<i64>,
        deleted: bool,
    ) -> StoreResult<Delegation> {
        let now = self.clock.now();
        let plan = move |l: &Loaded| -> StoreResult<Vec<Write>> {
            let mut d = l.delegation.clone().ok_or(StoreError::NotFound)?;
            let action = if deleted { "deleted" } else { "restored" };
            if d.deleted_at.is_some() == deleted {
                return Ok(vec![Write::Delegation {
                    delegation: d,
                    action,
                }]);
            }
            d.deleted_at = deleted.then_some(now);
            let mut writes = vec![Write::Delegation {
                delegation: d.clone(),
                action,
            }];
            if let Some(t) = &l.task {
                let linked = t.delegation_id == Some(d.id);
                if deleted && linked || !deleted && t.delegation_id.is_none() {
                    let mut t = t.clone();
                    t.delegation_id = (!deleted).then_some(d.id);
                    writes.push(Write::Task {
                        task: t,
                        action: "updated",
                    });
                }
            }
            Ok(writes)
        };
        let writes = self
            .store
            .change(
                &user.owner_key(),
                Target::Delegation(id),
                version,
                actor,
                now,
                &plan,
            )
            .await?;
        written_delegation(&writes)
    }

    // ---------------------------------------------------------------- digests

    pub async fn digest(&self, user: &User, date: NaiveDate) -> StoreResult<Digest> {
        self.store
            .digest(&user.owner_key(), date)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn digests(&self, user: &User, limit: i64) -> StoreResult<Vec<Digest>> {
        self.store.digests(&user.owner_key(), limit).await
    }

    pub async fn put_digest(
        &self,
        user: &User,
        actor: &Actor,
        date: NaiveDate,
        text: &str,
        version: Option<i64>,
    ) -> StoreResult<(Digest, bool)> {
        self.store
            .put_digest(
                &user.owner_key(),
                date,
                text,
                version,
                actor,
                self.clock.now(),
            )
            .await
    }

    // --------------------------------------------------------------- activity

    /// An item's history, oldest first; `NotFound` unless the item is the user's.
    pub async fn activity(
        &self,
        user: &User,
        kind: ItemKind,
        id: Uuid,
    ) -> StoreResult<Vec<Activity>> {
        let owner = user.owner_key();
        let exists = match kind {
            ItemKind::Task => self.store.task(&owner, id).await?.is_some(),
            ItemKind::Delegation => self.store.delegation(&owner, id).await?.is_some(),
            ItemKind::Digest => true,
        };
        if !exists {
            return Err(StoreError::NotFound);
        }
        self.store.activity(&owner, id, MAX_ACTIVITY).await
    }

    /// The item as it stood at `at`: the snapshot of its last change at or before then (what
    /// a chat answer given at `at` was looking at). `NotFound` if it did not exist yet.
    pub async fn as_of(
        &self,
        user: &User,
        kind: ItemKind,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<Value> {
        let log = self.activity(user, kind, id).await?;
        log.into_iter()
            .rfind(|a| a.at <= at && a.action != "note_added")
            .map(|a| a.snapshot)
            .ok_or(StoreError::NotFound)
    }

    pub async fn digest_activity(
        &self,
        user: &User,
        date: NaiveDate,
    ) -> StoreResult<Vec<Activity>> {
        let d = self.digest(user, date).await?;
        self.store
            .activity(&user.owner_key(), d.id, MAX_ACTIVITY)
            .await
    }

    /// The user's latest changes, newest first.
    pub async fn recent_activity(&self, user: &User, limit: i64) -> StoreResult<Vec<Activity>> {
        self.store.recent_activity(&user.owner_key(), limit).await
    }

    // ----------------------------------------------------------------- import

    /// Validates and writes an import document: all of it or nothing.
    pub async fn import(
        &self,
        user: &User,
        actor: &Actor,
        doc: Value,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportSummary, ImportError> {
        let batch: OpsBatch = crate::import::validate(doc).map_err(ImportError::Invalid)?;
        Ok(self
            .store
            .import(&user.owner_key(), &batch, actor, self.clock.now(), progress)
            .await?)
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Invalid(crate::import::ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_follow_up(date: Option<NaiveDate>, today: NaiveDate) -> StoreResult<()> {
    // A follow-up that was missed recently is real (it shows as overdue); one more than a
    // year back is a typo of the year.
    if let Some(d) = date
        && d < today - Days::new(365)
    {
        return Err(invalid(
            "follow_up_date",
            format!("{d} is more than a year in the past; check the year"),
        ));
    }
    Ok(())
}

/// A note to write; the store stamps its author (the actor) and time.
fn new_note(delegation_id: Uuid, body: &str) -> DelegationNote {
    DelegationNote {
        id: Uuid::now_v7(),
        delegation_id,
        body: body.to_string(),
        author_id: String::new(),
        author_name: String::new(),
        created_at: DateTime::UNIX_EPOCH,
    }
}
