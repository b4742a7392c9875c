//! Chat actions: the assistant proposes changes to the workspace, the manager confirms them.
//!
//! A model's tool call (or the offline analyst's understanding of a command) is validated here
//! like API input, against the user's own data only: an unknown or ambiguous item, a bad date or
//! a field it may not touch becomes an explanation in the reply, never a write. A valid one is
//! stored as `proposed` with the reply; confirming claims it (`proposed` -> `applying`) so a
//! second confirm, from another click or tab, finds it taken and applies nothing.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use uuid::Uuid;

use crate::assistant::analyst::{score, words};
use crate::assistant::tools::ToolCall;
use crate::config::Clock;
use crate::context::OpsContext;
use crate::domain::{
    ActionSpec, ActionStatus, ChatAction, Delegation, DelegationStatus, Priority, Task, TaskStatus,
    User,
};
use crate::store::{ActionSettlement, Actor, Store, StoreError, StoreResult};
use crate::workspace::{DelegationDraft, DelegationPatch, TaskDraft, TaskPatch, WorkspaceService};

/// What a search for an item found.
pub enum Found<'a, T> {
    One(&'a T),
    Many(Vec<&'a T>),
    None,
}

fn short_ref(s: &str, prefix: char) -> Option<usize> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let rest = s
        .strip_prefix(prefix)
        .or_else(|| s.strip_prefix(prefix.to_ascii_lowercase()))?;
    rest.parse::<usize>().ok().filter(|n| *n >= 1)
}

fn best<'a, T>(items: impl Iterator<Item = (&'a T, u32)>) -> Found<'a, T> {
    let scored: Vec<(&T, u32)> = items.filter(|(_, s)| *s >= 2).collect();
    let Some(top) = scored.iter().map(|(_, s)| *s).max() else {
        return Found::None;
    };
    let mut winners: Vec<&T> = scored
        .into_iter()
        .filter(|(_, s)| *s == top)
        .map(|(t, _)| t)
        .collect();
    if winners.len() == 1 {
        Found::One(winners.remove(0))
    } else {
        Found::Many(winners)
    }
}

/// The task `query` names: a prompt reference (T3), an id, an exact title, or the best match of
/// its words; open tasks before closed ones.
pub fn find_task<'a>(ctx: &'a OpsContext, query: &str) -> Found<'a, Task> {
    let q = query.trim();
    if let Some(n) = short_ref(q, 'T') {
        return ctx
            .prompt_tasks()
            .get(n - 1)
            .map_or(Found::None, Found::One);
    }
    let all = || ctx.open_tasks.iter().chain(ctx.closed_tasks.iter());
    if let Ok(id) = Uuid::parse_str(q) {
        return all().find(|t| t.id == id).map_or(Found::None, Found::One);
    }
    let lower = q.to_lowercase();
    for list in [&ctx.open_tasks, &ctx.closed_tasks] {
        let exact: Vec<&Task> = list
            .iter()
            .filter(|t| t.title.to_lowercase() == lower)
            .collect();
        match exact.len() {
            0 => {}
            1 => return Found::One(exact[0]),
            _ => return Found::Many(exact),
        }
    }
    let qw = words(q);
    match best(ctx.open_tasks.iter().map(|t| (t, score(&qw, &t.title)))) {
        Found::None => best(ctx.closed_tasks.iter().map(|t| (t, score(&qw, &t.title)))),
        found => found,
    }
}

/// The open delegation `query` names: a reference (D2), an id, its exact description, the
/// person it is assigned to, or the best match of its words.
pub fn find_delegation<'a>(ctx: &'a OpsContext, query: &str) -> Found<'a, Delegation> {
    let q = query.trim();
    if let Some(n) = short_ref(q, 'D') {
        return ctx.delegations.get(n - 1).map_or(Found::None, Found::One);
    }
    if let Ok(id) = Uuid::parse_str(q) {
        return ctx
            .delegations
            .iter()
            .find(|d| d.id == id)
            .map_or(Found::None, Found::One);
    }
    let lower = q.to_lowercase();
    let exact: Vec<&Delegation> = ctx
        .delegations
        .iter()
        .filter(|d| d.task_description.to_lowercase() == lower)
        .collect();
    if exact.len() == 1 {
        return Found::One(exact[0]);
    }
    // A person: "Dana" names Dana Ortiz's delegation when she has one.
    let qw = words(q);
    let by_person: Vec<&Delegation> = ctx
        .delegations
        .iter()
        .filter(|d| {
            let name = words(&d.assigned_to);
            !qw.is_empty() && qw.iter().all(|w| name.contains(w))
        })
        .collect();
    match by_person.len() {
        0 => {}
        1 => return Found::One(by_person[0]),
        _ => return Found::Many(by_person),
    }
    best(ctx.delegations.iter().map(|d| {
        (
            d,
            score(&qw, &format!("{} {}", d.task_description, d.assigned_to)),
        )
    }))
}

/// "Which one: **A** (due …) or **B**?": the question asked instead of guessing.
pub fn which_task(query: &str, many: &[&Task]) -> String {
    let names: Vec<String> = many
        .iter()
        .map(|t| match t.due_date {
            Some(d) => format!("**{}** (due {})", t.title, day(d)),
            None => format!("**{}**", t.title),
        })
        .collect();
    format!(
        "“{}” matches {} tasks: {}. Which one do you mean?",
        query.trim(),
        many.len(),
        names.join(", ")
    )
}

pub fn which_delegation(query: &str, many: &[&Delegation]) -> String {
    let names: Vec<String> = many
        .iter()
        .map(|d| format!("**{}** ({})", d.task_description, d.assigned_to))
        .collect();
    format!(
        "“{}” matches {} delegations: {}. Which one do you mean?",
        query.trim(),
        many.len(),
        names.join(", ")
    )
}

fn day(d: NaiveDate) -> String {
    d.format("%a %-d %b").to_string()
}

/// A tool call's arguments: an object with only the allowed keys.
struct Args<'a> {
    tool: &'a str,
    map: Map<String, Value>,
}

impl<'a> Args<'a> {
    fn parse(call: &'a ToolCall, allowed: &[&str]) -> Result<Self, String> {
        let v: Value = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&call.arguments)
                .map_err(|_| format!("the arguments of `{}` were not valid JSON", call.name))?
        };
        let Value::Object(map) = v else {
            return Err(format!(
                "the arguments of `{}` were not a JSON object",
                call.name
            ));
        };
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!(
                "`{}` tried to set `{k}`, which it may not touch",
                call.name
            ));
        }
        Ok(Self {
            tool: &call.name,
            map,
        })
    }

    fn text(&self, k: &str, max: usize) -> Result<Option<String>, String> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    Ok(None)
                } else if s.chars().count() > max {
                    Err(format!("`{k}` is longer than {max} characters"))
                } else {
                    Ok(Some(s.to_string()))
                }
            }
            Some(_) => Err(format!("`{k}` must be text")),
        }
    }

    fn required(&self, k: &str, max: usize) -> Result<String, String> {
        self.text(k, max)?
            .ok_or_else(|| format!("`{}` needs `{k}`", self.tool))
    }

    fn date(&self, k: &str) -> Result<Option<NaiveDate>, String> {
        match self.text(k, 40)? {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=2099).contains(&chrono::Datelike::year(d)))
                .map(Some)
                .ok_or_else(|| format!("“{s}” is not a date (YYYY-MM-DD)")),
        }
    }

    fn word<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(k, 40)? {
            None => Ok(None),
            Some(s) => s.parse::<T>().map(Some).map_err(|e| e.to_string()),
        }
    }

    fn minutes(&self, k: &str) -> Result<Option<i32>, String> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|m| (1..=10_080).contains(m))
                .map(|m| Some(m as i32))
                .ok_or_else(|| format!("`{k}` must be a number of minutes from 1 to 10080")),
        }
    }
}

fn task_arg<'c>(ctx: &'c OpsContext, a: &Args<'_>) -> Result<&'c Task, String> {
    let q = a.required("task", 300)?;
    match find_task(ctx, &q) {
        Found::One(t) => Ok(t),
        Found::Many(many) => Err(which_task(&q, &many)),
        Found::None => Err(format!("I can't find a task called “{q}” in your list")),
    }
}

fn delegation_arg<'c>(ctx: &'c OpsContext, a: &Args<'_>) -> Result<&'c Delegation, String> {
    let q = a.required("delegation", 300)?;
    match find_delegation(ctx, &q) {
        Found::One(d) => Ok(d),
        Found::Many(many) => Err(which_delegation(&q, &many)),
        Found::None => Err(format!("I can't find an open delegation matching “{q}”")),
    }
}

fn status_words(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Completed => "completed",
        TaskStatus::Cancelled => "cancelled",
        TaskStatus::InProgress => "in progress",
        TaskStatus::Todo => "to do",
    }
}

/// Validates one call against the day's data: the action and its summary, or why not.
pub fn validate(call: &ToolCall, ctx: &OpsContext) -> Result<(ActionSpec, String), String> {
    match call.name.as_str() {
        "create_task" => {
            let a = Args::parse(
                call,
                &["title", "due_date", "priority", "time_estimate_minutes"],
            )?;
            let title = a.required("title", 300)?;
            let due_date = a.date("due_date")?;
            let priority: Option<Priority> = a.word("priority")?;
            let minutes = a.minutes("time_estimate_minutes")?;
            let mut summary = format!("Add the task **{title}**");
            if let Some(d) = due_date {
                summary.push_str(&format!(", due {}", day(d)));
            }
            if let Some(p) = priority {
                summary.push_str(&format!(", {p} priority"));
            }
            if let Some(m) = minutes {
                summary.push_str(&format!(", about {m} min"));
            }
            Ok((
                ActionSpec::CreateTask {
                    title,
                    due_date,
                    priority,
                    time_estimate_minutes: minutes,
                },
                summary,
            ))
        }
        "update_task" => {
            let a = Args::parse(
                call,
                &[
                    "task",
                    "status",
                    "due_date",
                    "priority",
                    "time_estimate_minutes",
                ],
            )?;
            let t = task_arg(ctx, &a)?;
            let status: Option<TaskStatus> = a.word("status")?;
            let due_date = a.date("due_date")?;
            let priority: Option<Priority> = a.word("priority")?;
            let minutes = a.minutes("time_estimate_minutes")?;
            let status = status.filter(|s| *s != t.status);
            let due_date = due_date.filter(|d| Some(*d) != t.due_date);
            let priority = priority.filter(|p| *p != t.priority);
            let minutes = minutes.filter(|m| Some(*m) != t.time_estimate_minutes);
            let mut parts = Vec::new();
            if let Some(s) = status {
                parts.push(match s {
                    TaskStatus::Todo if !t.status.is_open() => format!("Reopen **{}**", t.title),
                    s => format!("Mark **{}** {}", t.title, status_words(s)),
                });
            }
            if let Some(d) = due_date {
                parts.push(format!("move **{}** to {}", t.title, day(d)));
            }
            if let Some(p) = priority {
                parts.push(format!("make **{}** {p} priority", t.title));
            }
            if let Some(m) = minutes {
                parts.push(format!("estimate **{}** at {m} min", t.title));
            }
            if parts.is_empty() {
                return Err(format!(
                    "**{}** is already like that: nothing to change",
                    t.title
                ));
            }
            let mut summary = parts.join("; ");
            if let Some(first) = summary.get(..1) {
                summary = first.to_uppercase() + &summary[1..];
            }
            Ok((
                ActionSpec::UpdateTask {
                    task_id: t.id,
                    status,
                    due_date,
                    priority,
                    time_estimate_minutes: minutes,
                },
                summary,
            ))
        }
        "delegate_task" => {
            let a = Args::parse(call, &["task", "assigned_to", "due_date", "follow_up_date"])?;
            let t = task_arg(ctx, &a)?;
            let who = a.required("assigned_to", 200)?;
            let due_date = a.date("due_date")?;
            let follow_up_date = a.date("follow_up_date")?;
            if !t.status.is_open() {
                return Err(format!("**{}** is already {}", t.title, t.status));
            }
            if let Some(d) = ctx.delegation_of(t) {
                return Err(format!(
                    "**{}** is already delegated to {}",
                    t.title, d.assigned_to
                ));
            }
            let mut summary = format!("Delegate **{}** to {who}", t.title);
            if let Some(d) = due_date.or(t.due_date) {
                summary.push_str(&format!(", due {}", day(d)));
            }
            if let Some(f) = follow_up_date {
                summary.push_str(&format!(", follow up {}", day(f)));
            }
            Ok((
                ActionSpec::DelegateTask {
                    task_id: t.id,
                    assigned_to: who,
                    due_date,
                    follow_up_date,
                },
                summary,
            ))
        }
        "add_delegation_note" => {
            let a = Args::parse(call, &["delegation", "note"])?;
            let d = delegation_arg(ctx, &a)?;
            let body = a.required("note", 4000)?;
            let summary = format!(
                "Add a note to **{}** ({}): “{}”",
                d.task_description,
                d.assigned_to,
                crate::context::one_line(&body, 160)
            );
            Ok((
                ActionSpec::AddNote {
                    delegation_id: d.id,
                    body,
                },
                summary,
            ))
        }
        "set_follow_up" => {
            let a = Args::parse(call, &["delegation", "follow_up_date"])?;
            let d = delegation_arg(ctx, &a)?;
            let date = a.date("follow_up_date")?;
            let summary = match date {
                Some(f) => format!(
                    "Follow up with {} on **{}** {}",
                    d.assigned_to,
                    d.task_description,
                    day(f)
                ),
                None => format!(
                    "Clear the follow-up with {} on **{}**",
                    d.assigned_to, d.task_description
                ),
            };
            Ok((
                ActionSpec::SetFollowUp {
                    delegation_id: d.id,
                    follow_up_date: date,
                },
                summary,
            ))
        }
        "complete_delegation" => {
            let a = Args::parse(call, &["delegation"])?;
            let d = delegation_arg(ctx, &a)?;
            Ok((
                ActionSpec::CompleteDelegation {
                    delegation_id: d.id,
                },
                format!(
                    "Mark **{}** ({}) completed",
                    d.task_description, d.assigned_to
                ),
            ))
        }
        "set_digest" => {
            let a = Args::parse(call, &["text"])?;
            let text = a.required("text", 100_000)?;
            Ok((
                ActionSpec::SetDigest {
                    date: ctx.today,
                    text: text.clone(),
                },
                format!(
                    "Set today's digest to “{}”",
                    crate::context::one_line(&text, 120)
                ),
            ))
        }
        other => Err(format!("there is no action called `{other}`")),
    }
}

/// A reply's calls, reviewed: the valid ones to propose, and the text to add to the reply
/// (the proposals, and why any call was not taken).
pub fn review(calls: &[ToolCall], ctx: &OpsContext) -> (Vec<(ActionSpec, String)>, String) {
    let mut valid = Vec::new();
    let mut refused = Vec::new();
    for c in calls.iter().take(20) {
        match validate(c, ctx) {
            Ok(v) => valid.push(v),
            Err(why) => refused.push(why),
        }
    }
    let mut text = String::new();
    if !valid.is_empty() {
        text.push_str("**Proposed changes** (nothing changes until you confirm):\n\n");
        for (_, summary) in &valid {
            text.push_str(&format!("- {summary}\n"));
        }
        text.push_str("\nConfirm on each card, or say “yes” to confirm all.\n");
    }
    if !refused.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        for why in refused {
            text.push_str(&format!("I did not propose a change: {why}.\n"));
        }
    }
    (valid, text)
}

/// What a "yes" or "no" in the chat means for the proposals waiting in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Cancel,
}

/// Reads a short reply to proposals: "yes", "do it", "go ahead" confirm; "no", "cancel" cancel.
pub fn decision(message: &str) -> Option<Decision> {
    let m: String = message
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let m = m.split_whitespace().collect::<Vec<_>>().join(" ");
    const YES: &[&str] = &[
        "yes",
        "y",
        "yes please",
        "yep",
        "yeah",
        "do it",
        "yes do it",
        "go ahead",
        "confirm",
        "confirmed",
        "ok",
        "okay",
        "ok do it",
        "sure",
        "please do",
        "yes go ahead",
        "do that",
        "sounds good",
        "approve",
        "apply",
        "confirm all",
        "yes confirm",
    ];
    const NO: &[&str] = &[
        "no",
        "n",
        "nope",
        "cancel",
        "cancel it",
        "cancel that",
        "don't",
        "dont",
        "don't do it",
        "never mind",
        "nevermind",
        "no thanks",
        "no cancel",
        "stop",
        "forget it",
    ];
    if YES.contains(&m.as_str()) {
        Some(Decision::Confirm)
    } else if NO.contains(&m.as_str()) {
        Some(Decision::Cancel)
    } else {
        None
    }
}

/// Why a confirm, cancel or undo did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such action")]
    NotFound,
    /// The action is not in a state that allows this (cancelled, not applied yet…).
    #[error("{0}")]
    NotNow(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies, cancels and undoes proposed actions through the workspace service, so every
/// change is versioned and logged like any other (`via` "chat").
pub struct ActionService {
    store: Arc<dyn Store>,
    workspace: Arc<WorkspaceService>,
    clock: Clock,
}

fn json_of<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn version_of(v: &Value) -> Option<i64> {
    v.get("version").and_then(Value::as_i64)
}

fn id_of(v: &Value) -> Option<Uuid> {
    v.get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

impl ActionService {
    pub fn new(store: Arc<dyn Store>, workspace: Arc<WorkspaceService>, clock: Clock) -> Self {
        Self {
            store,
            workspace,
            clock,
        }
    }

    /// A settlement to `status` now, recording nothing else unless filled in.
    fn settlement(&self, status: ActionStatus) -> ActionSettlement {
        ActionSettlement {
            status,
            before: None,
            after: None,
            error: None,
            decided_by: None,
            undone_by: None,
            at: self.clock.now(),
        }
    }

    /// Stores the actions a reply proposes and notes them in each item's activity.
    pub async fn propose(
        &self,
        owner: &str,
        actor: &Actor,
        session_id: Uuid,
        message_id: Uuid,
        specs: Vec<(ActionSpec, String)>,
    ) -> StoreResult<Vec<ChatAction>> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let actions: Vec<ChatAction> = specs
            .into_iter()
            .map(|(spec, summary)| ChatAction {
                id: Uuid::now_v7(),
                session_id,
                message_id,
                spec,
                summary,
                status: ActionStatus::Proposed,
                before: None,
                after: None,
                error: None,
                proposed_at: now,
                decided_by: None,
                decided_at: None,
                undone_by: None,
                undone_at: None,
            })
            .collect();
        self.store.insert_actions(owner, &actions).await?;
        for a in &actions {
            self.note_on_item(owner, actor, a, "action_proposed").await;
        }
        Ok(actions)
    }

    /// Logs a chat action in its item's activity; a failure here is logged, not fatal.
    async fn note_on_item(&self, owner: &str, actor: &Actor, a: &ChatAction, what: &str) {
        if let Some((kind, id)) = a.spec.target() {
            let details =
                json!({"action_id": a.id, "summary": a.summary, "message_id": a.message_id});
            if let Err(e) = self
                .store
                .log_item(owner, kind, id, what, actor, details, self.clock.now())
                .await
            {
                tracing::warn!(error = %e, action = %a.id, "could not log a chat action on its item");
            }
        }
    }

    pub async fn get(&self, user: &User, id: Uuid) -> Result<ChatAction, ActionError> {
        self.store
            .action(&user.owner_key(), id)
            .await?
            .ok_or(ActionError::NotFound)
    }

    /// The session's actions, oldest first.
    pub async fn of_session(&self, user: &User, session_id: Uuid) -> StoreResult<Vec<ChatAction>> {
        self.store
            .session_actions(&user.owner_key(), session_id)
            .await
    }

    /// The proposals still waiting in a session: those of the latest reply that proposed any.
    pub async fn pending(&self, owner: &str, session_id: Uuid) -> StoreResult<Vec<ChatAction>> {
        let all = self.store.session_actions(owner, session_id).await?;
        let Some(last) = all.iter().map(|a| a.message_id).max() else {
            return Ok(Vec::new());
        };
        Ok(all
            .into_iter()
            .filter(|a| a.message_id == last && a.status == ActionStatus::Proposed)
            .collect())
    }

    /// Applies a proposed action once. Confirming one that is applied (or being applied by
    /// another request) returns it as it is, without applying it again.
    pub async fn confirm(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
    ) -> Result<ChatAction, ActionError> {
        let owner = user.owner_key();
        let action = self.get(user, id).await?;
        match action.status {
            ActionStatus::Proposed => {}
            ActionStatus::Applying | ActionStatus::Applied => return Ok(action),
            ActionStatus::Cancelled => {
                return Err(ActionError::NotNow("this change was cancelled".into()));
            }
            ActionStatus::Undoing | ActionStatus::Undone => {
                return Err(ActionError::NotNow(
                    "this change was applied and undone".into(),
                ));
            }
            ActionStatus::Failed => {
                return Err(ActionError::NotNow(format!(
                    "this change could not be applied: {}",
                    action.error.as_deref().unwrap_or("it failed")
                )));
            }
        }
        if !self
            .store
            .claim_action(&owner, id, ActionStatus::Proposed, ActionStatus::Applying)
            .await?
        {
            // Another confirm (or a cancel) got there first.
            return self.get(user, id).await;
        }
        let outcome = self.apply(user, actor, &action.spec).await;
        let settlement = match outcome {
            Ok((before, after)) => ActionSettlement {
                before: Some(before),
                after: Some(after),
                decided_by: Some(actor.name.clone()),
                ..self.settlement(ActionStatus::Applied)
            },
            Err(e) => ActionSettlement {
                error: Some(failure_text(&e)),
                decided_by: Some(actor.name.clone()),
                ..self.settlement(ActionStatus::Failed)
            },
        };
        Ok(self.store.settle_action(&owner, id, &settlement).await?)
    }

    pub async fn cancel(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
    ) -> Result<ChatAction, ActionError> {
        let owner = user.owner_key();
        let action = self.get(user, id).await?;
        match action.status {
            ActionStatus::Cancelled => return Ok(action),
            ActionStatus::Proposed => {}
            _ => {
                return Err(ActionError::NotNow(
                    "this change was already applied; undo it instead".into(),
                ));
            }
        }
        if !self
            .store
            .claim_action(&owner, id, ActionStatus::Proposed, ActionStatus::Cancelled)
            .await?
        {
            let now = self.get(user, id).await?;
            if now.status == ActionStatus::Cancelled {
                return Ok(now);
            }
            return Err(ActionError::NotNow(
                "this change was confirmed meanwhile; undo it instead".into(),
            ));
        }
        let settled = self
            .store
            .settle_action(
                &owner,
                id,
                &ActionSettlement {
                    decided_by: Some(actor.name.clone()),
                    ..self.settlement(ActionStatus::Cancelled)
                },
            )
            .await?;
        self.note_on_item(&owner, actor, &settled, "action_cancelled")
            .await;
        Ok(settled)
    }

    /// Takes an applied action back, if its item has not changed since.
    pub async fn undo(
        &self,
        user: &User,
        actor: &Actor,
        id: Uuid,
    ) -> Result<ChatAction, ActionError> {
        let owner = user.owner_key();
        let action = self.get(user, id).await?;
        match action.status {
            ActionStatus::Undone | ActionStatus::Undoing => return Ok(action),
            ActionStatus::Applied => {}
            _ => {
                return Err(ActionError::NotNow(
                    "only an applied change can be undone".into(),
                ));
            }
        }
        if !self
            .store
            .claim_action(&owner, id, ActionStatus::Applied, ActionStatus::Undoing)
            .await?
        {
            return self.get(user, id).await;
        }
        let result = self.reverse(user, actor, &action).await;
        let settlement = match result {
            Ok(()) => ActionSettlement {
                undone_by: Some(actor.name.clone()),
                ..self.settlement(ActionStatus::Undone)
            },
            Err(e) => ActionSettlement {
                error: Some(format!("could not undo: {}", failure_text(&e))),
                ..self.settlement(ActionStatus::Applied)
            },
        };
        let settled = self.store.settle_action(&owner, id, &settlement).await?;
        if settled.status == ActionStatus::Undone {
            self.note_on_item(&owner, actor, &settled, "action_undone")
                .await;
        }
        if settled.status == ActionStatus::Applied {
            return Err(ActionError::NotNow(
                settled.error.clone().unwrap_or_default(),
            ));
        }
        Ok(settled)
    }

    /// Applies a spec; returns the item before and after.
    async fn apply(
        &self,
        user: &User,
        actor: &Actor,
        spec: &ActionSpec,
    ) -> StoreResult<(Value, Value)> {
        let ws = &self.workspace;
        match spec {
            ActionSpec::CreateTask {
                title,
                due_date,
                priority,
                time_estimate_minutes,
            } => {
                let mut draft = TaskDraft::titled(title.clone());
                draft.due_date = *due_date;
                draft.priority = priority.unwrap_or(Priority::Medium);
                draft.time_estimate_minutes = *time_estimate_minutes;
                draft.source = Some("chat".into());
                let t = ws.create_task(user, actor, draft).await?;
                Ok((Value::Null, json_of(&t)))
            }
            ActionSpec::UpdateTask {
                task_id,
                status,
                due_date,
                priority,
                time_estimate_minutes,
            } => {
                let before = ws.task(user, *task_id).await?;
                let patch = TaskPatch {
                    status: *status,
                    due_date: due_date.map(Some),
                    priority: *priority,
                    time_estimate_minutes: time_estimate_minutes.map(Some),
                    ..Default::default()
                };
                let changed = ws
                    .update_task(user, actor, *task_id, Some(before.version), patch)
                    .await?;
                let mut after = json_of(&changed.task);
                if let Some(next) = &changed.next {
                    after["next_occurrence"] = json_of(next);
                }
                Ok((json_of(&before), after))
            }
            ActionSpec::DelegateTask {
                task_id,
                assigned_to,
                due_date,
                follow_up_date,
            } => {
                let before = ws.task(user, *task_id).await?;
                let (task, delegation) = ws
                    .delegate_task(
                        user,
                        actor,
                        *task_id,
                        Some(before.version),
                        DelegationDraft {
                            task_description: None,
                            assigned_to: assigned_to.clone(),
                            assigned_to_email: None,
                            due_date: *due_date,
                            follow_up_date: *follow_up_date,
                            priority: None,
                            status: DelegationStatus::Active,
                            note: None,
                        },
                    )
                    .await?;
                Ok((
                    json_of(&before),
                    json!({"task": task, "delegation": delegation}),
                ))
            }
            ActionSpec::AddNote {
                delegation_id,
                body,
            } => {
                let before = ws.delegation(user, *delegation_id).await?;
                let note = ws
                    .add_note(user, actor, *delegation_id, body.clone())
                    .await?;
                Ok((json_of(&before), json_of(&note)))
            }
            ActionSpec::SetFollowUp {
                delegation_id,
                follow_up_date,
            } => {
                let before = ws.delegation(user, *delegation_id).await?;
                let (after, _) = ws
                    .update_delegation(
                        user,
                        actor,
                        *delegation_id,
                        Some(before.version),
                        DelegationPatch {
                            follow_up_date: Some(*follow_up_date),
                            ..Default::default()
                        },
                        false,
                    )
                    .await?;
                Ok((json_of(&before), json_of(&after)))
            }
            ActionSpec::CompleteDelegation { delegation_id } => {
                let before = ws.delegation(user, *delegation_id).await?;
                let task_before = match before.task_id {
                    Some(t) => ws.task(user, t).await.ok(),
                    None => None,
                };
                let (after, task) = ws
                    .update_delegation(
                        user,
                        actor,
                        *delegation_id,
                        Some(before.version),
                        DelegationPatch {
                            status: Some(DelegationStatus::Completed),
                            ..Default::default()
                        },
                        true,
                    )
                    .await?;
                Ok((
                    json!({"delegation": before, "task": task_before}),
                    json!({"delegation": after, "completed_task": task}),
                ))
            }
            ActionSpec::SetDigest { date, text } => {
                let before = ws.digest(user, *date).await.ok();
                let version = before.as_ref().map(|d| d.version);
                let (after, _) = ws.put_digest(user, actor, *date, text, version).await?;
                Ok((json_of(&before), json_of(&after)))
            }
        }
    }

    /// Puts an applied action's item back as it was.
    async fn reverse(&self, user: &User, actor: &Actor, a: &ChatAction) -> StoreResult<()> {
        let ws = &self.workspace;
        let before = a.before.clone().unwrap_or(Value::Null);
        let after = a.after.clone().unwrap_or(Value::Null);
        let gone = || StoreError::Refused("the change left nothing to undo".into());
        match &a.spec {
            ActionSpec::CreateTask { .. } => {
                let id = id_of(&after).ok_or_else(gone)?;
                ws.set_task_deleted(user, actor, id, version_of(&after), true)
                    .await?;
            }
            ActionSpec::UpdateTask {
                task_id,
                status,
                due_date,
                priority,
                time_estimate_minutes,
            } => {
                let old: Task = serde_json::from_value(before).map_err(|_| gone())?;
                let patch = TaskPatch {
                    status: status.map(|_| old.status),
                    due_date: due_date.map(|_| old.due_date),
                    priority: priority.map(|_| old.priority),
                    time_estimate_minutes: time_estimate_minutes.map(|_| old.time_estimate_minutes),
                    ..Default::default()
                };
                ws.update_task(user, actor, *task_id, version_of(&after), patch)
                    .await?;
            }
            ActionSpec::DelegateTask { .. } => {
                let d = after.get("delegation").cloned().unwrap_or(Value::Null);
                let id = id_of(&d).ok_or_else(gone)?;
                ws.set_delegation_deleted(user, actor, id, version_of(&d), true)
                    .await?;
            }
            ActionSpec::AddNote { .. } => {
                let id = id_of(&after).ok_or_else(gone)?;
                self.store
                    .delete_note(&user.owner_key(), id, actor, self.clock.now())
                    .await?;
            }
            ActionSpec::SetFollowUp { delegation_id, .. } => {
                let old: Delegation = serde_json::from_value(before).map_err(|_| gone())?;
                ws.update_delegation(
                    user,
                    actor,
                    *delegation_id,
                    version_of(&after),
                    DelegationPatch {
                        follow_up_date: Some(old.follow_up_date),
                        ..Default::default()
                    },
                    false,
                )
                .await?;
            }
            ActionSpec::CompleteDelegation { delegation_id } => {
                let old: Delegation =
                    serde_json::from_value(before.get("delegation").cloned().unwrap_or_default())
                        .map_err(|_| gone())?;
                let now = after.get("delegation").cloned().unwrap_or_default();
                ws.update_delegation(
                    user,
                    actor,
                    *delegation_id,
                    version_of(&now),
                    DelegationPatch {
                        status: Some(old.status),
                        ..Default::default()
                    },
                    false,
                )
                .await?;
                if let (Some(task), Some(old_task)) = (
                    after.get("completed_task").filter(|t| !t.is_null()),
                    before.get("task").filter(|t| !t.is_null()),
                ) && let (Some(id), Ok(old_task)) = (
                    id_of(task),
                    serde_json::from_value::<Task>(old_task.clone()),
                ) {
                    ws.update_task(
                        user,
                        actor,
                        id,
                        version_of(task),
                        TaskPatch {
                            status: Some(old_task.status),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
            }
            ActionSpec::SetDigest { date, .. } => {
                if before.is_null() {
                    self.store
                        .delete_digest(&user.owner_key(), *date, actor, self.clock.now())
                        .await?;
                } else {
                    let text = before.get("text").and_then(Value::as_str).unwrap_or("");
                    ws.put_digest(user, actor, *date, text, version_of(&after))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Answers a "yes" or "no" in the chat: confirms or cancels the waiting proposals and says
    /// what happened.
    pub async fn decide_all(
        &self,
        user: &User,
        actor: &Actor,
        pending: &[ChatAction],
        decision: Decision,
    ) -> String {
        let mut lines = Vec::new();
        for a in pending {
            let r = match decision {
                Decision::Confirm => self.confirm(user, actor, a.id).await,
                Decision::Cancel => self.cancel(user, actor, a.id).await,
            };
            lines.push(match r {
                Ok(done) if done.status == ActionStatus::Applied => {
                    format!("- Done: {}", done.summary)
                }
                Ok(done) if done.status == ActionStatus::Cancelled => {
                    format!("- Cancelled: {}", done.summary)
                }
                Ok(done) if done.status == ActionStatus::Failed => format!(
                    "- Not done: {} ({})",
                    done.summary,
                    done.error.unwrap_or_default()
                ),
                Ok(done) => format!("- {}: {}", done.status, done.summary),
                Err(e) => format!("- Not done: {} ({e})", a.summary),
            });
        }
        let head = match decision {
            Decision::Confirm => "Confirmed.",
            Decision::Cancel => "Cancelled; nothing was changed.",
        };
        format!("{head}\n\n{}", lines.join("\n"))
    }
}

/// A store failure as a sentence for the chat.
fn failure_text(e: &StoreError) -> String {
    match e {
        StoreError::Stale(_) => "the item changed since; look at it again".into(),
        StoreError::NotFound => "the item no longer exists".into(),
        StoreError::Invalid { field, message } => format!("{field}: {message}"),
        StoreError::Refused(m) => m.clone(),
        StoreError::Conflict(_) => "a concurrent change conflicted; try again".into(),
        StoreError::Backend(_) => "the database could not complete it; try again".into(),
    }
}
