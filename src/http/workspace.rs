//! /api/tasks, /api/delegations, /api/digests, /api/activity: the operations workspace.
//!
//! Bodies are read field by field so that every bad value is a 400 naming its field. A write
//! may carry the version it saw (`If-Match: "3"` or `"version": 3`); a stale one is a 409 with
//! the item as it stands.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::str::FromStr;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, parse_id};
use crate::domain::recurrence::{Day, Frequency, Recurrence};
use crate::domain::{
    Delegation, DelegationStatus, Digest, ItemKind, Priority, Quadrant, Task, TaskStatus,
};
use crate::store::{DelegationFilter, TaskFilter};
use crate::workspace::{
    DelegationDraft, DelegationPatch, TaskDraft, TaskPatch, WorkspaceService, actor_of,
};

pub const MAX_TITLE: usize = 300;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_NOTE: usize = 4_000;
pub const MAX_NAME: usize = 200;
pub const MAX_DIGEST: usize = 100_000;
const DEFAULT_LIMIT: i64 = 200;
const MAX_LIMIT: i64 = 1000;

fn field_error(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {message}")).with("field", field)
}

/// A JSON object body read field by field.
struct Body(Map<String, Value>);

impl Body {
    fn new(v: Value, allowed: &[&str]) -> Result<Self, ApiError> {
        let Value::Object(map) = v else {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object",
            ));
        };
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(field_error(
                k,
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
        Ok(Self(map))
    }

    fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }

    /// A string: trimmed, at most `max` characters; `None` when absent.
    fn string(&self, k: &str, max: usize, allow_empty: bool) -> Result<Option<String>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() && !allow_empty {
                    return Err(field_error(k, "must not be empty"));
                }
                if s.chars().count() > max {
                    return Err(field_error(k, format!("at most {max} characters")));
                }
                Ok(Some(s.to_string()))
            }
            Some(_) => Err(field_error(k, "must be a string")),
        }
    }

    fn required(&self, k: &str, max: usize) -> Result<String, ApiError> {
        self.string(k, max, false)?
            .ok_or_else(|| field_error(k, "is required"))
    }

    /// A clearable string: `null` or `""` clears it.
    fn nullable_string(&self, k: &str, max: usize) -> Result<Option<Option<String>>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(_) => Ok(Some(self.string(k, max, true)?.filter(|s| !s.is_empty()))),
        }
    }

    fn email(&self, k: &str) -> Result<Option<Option<String>>, ApiError> {
        let v = self.nullable_string(k, 254)?;
        if let Some(Some(e)) = &v {
            let ok = e.split_once('@').is_some_and(|(a, b)| {
                !a.is_empty() && b.contains('.') && !e.contains(char::is_whitespace)
            });
            if !ok {
                return Err(field_error(k, format!("{e:?} is not an email address")));
            }
        }
        Ok(v)
    }

    fn date(&self, k: &str) -> Result<Option<Option<NaiveDate>>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
            Some(Value::String(s)) => parse_date(k, s).map(|d| Some(Some(d))),
            Some(_) => Err(field_error(k, "must be a date (YYYY-MM-DD) or null")),
        }
    }

    fn word<T: FromStr>(&self, k: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|e| field_error(k, e)),
            Some(_) => Err(field_error(k, "must be a string")),
        }
    }

    fn nullable_word<T: FromStr>(&self, k: &str) -> Result<Option<Option<T>>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
            Some(_) => self.word(k).map(Some),
        }
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(field_error(k, "must be true or false")),
        }
    }

    fn minutes(&self, k: &str) -> Result<Option<Option<i32>>, ApiError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => match v.as_i64() {
                Some(m) if (1..=10_080).contains(&m) => Ok(Some(Some(m as i32))),
                _ => Err(field_error(
                    k,
                    "must be a whole number of minutes from 1 to 10080 (a week), or null",
                )),
            },
        }
    }

    fn version(&self) -> Result<Option<i64>, ApiError> {
        match self.0.get("version") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or_else(|| field_error("version", "must be the item's version, a number")),
        }
    }

    fn recurrence(&self, k: &str) -> Result<Option<Option<Recurrence>>, ApiError> {
        let v = match self.0.get(k) {
            None => return Ok(None),
            Some(Value::Null) => return Ok(Some(None)),
            Some(Value::Object(o)) => o,
            Some(_) => {
                return Err(field_error(
                    k,
                    r#"must be an object like {"every": "week", "days": ["sun"]}, or null"#,
                ));
            }
        };
        let r = Body::new(
            Value::Object(v.clone()),
            &["every", "interval", "days", "month_day"],
        )
        .map_err(|_| {
            field_error(
                k,
                "takes only every (day, week, month, year), interval, days and month_day",
            )
        })?;
        let every: Frequency = r
            .word("every")
            .map_err(|e| field_error(&format!("{k}.every"), e.message))?
            .ok_or_else(|| {
                field_error(
                    &format!("{k}.every"),
                    "is required: day, week, month or year",
                )
            })?;
        let interval = match r.0.get("interval") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=u64::from(crate::domain::recurrence::MAX_INTERVAL)).contains(n))
                .ok_or_else(|| {
                    field_error(
                        &format!("{k}.interval"),
                        "must be a whole number from 1 to 366",
                    )
                })? as u32,
        };
        let days = match r.0.get("days") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| {
                    d.as_str().and_then(Day::parse_loose).ok_or_else(|| {
                        field_error(
                            &format!("{k}.days"),
                            format!("{d} is not a day of the week"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(field_error(&format!("{k}.days"), "must be a list of days")),
        };
        let month_day = match r.0.get("month_day") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| (1..=31).contains(n))
                    .ok_or_else(|| field_error(&format!("{k}.month_day"), "must be from 1 to 31"))?
                    as u32,
            ),
        };
        Ok(Some(Some(Recurrence {
            every,
            interval,
            days,
            month_day,
        })))
    }
}

fn parse_date(field: &str, s: &str) -> Result<NaiveDate, ApiError> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| field_error(field, format!("{s:?} is not a date (YYYY-MM-DD)")))?;
    // Outside this range a date is a typo (20026, 1926), and far dates break date maths.
    if !(2000..=2099).contains(&chrono::Datelike::year(&d)) {
        return Err(field_error(
            field,
            format!("{s} is out of range: dates run from 2000-01-01 to 2099-12-31"),
        ));
    }
    Ok(d)
}

/// The version a write names: `If-Match` first, then the body's `version`.
fn expected_version(headers: &HeaderMap, body: Option<&Body>) -> Result<Option<i64>, ApiError> {
    if let Some(v) = headers.get(header::IF_MATCH) {
        let raw = v.to_str().unwrap_or("").trim();
        let n = raw
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1);
        return match n {
            Some(n) => Ok(Some(n)),
            None if raw == "*" => Ok(None),
            None => Err(field_error(
                "If-Match",
                format!("{raw:?} is not a version of this item"),
            )),
        };
    }
    body.map(Body::version).transpose().map(Option::flatten)
}

fn item_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    parse_id(raw, what)
}

/// A single item with its version as the `ETag`.
fn versioned(status: StatusCode, version: i64, body: Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// A task as the API shows it: stored fields plus what today makes of them.
pub fn task_view(t: &Task, today: NaiveDate, delegation: Option<&Delegation>) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        o.insert("overdue".into(), t.is_overdue(today).into());
        o.insert("due".into(), t.due(today).map(|d| d.describe()).into());
        o.insert(
            "recurrence_text".into(),
            t.recurrence.as_ref().map(Recurrence::describe).into(),
        );
        let delegated = delegation
            .filter(|d| Some(d.id) == t.delegation_id && d.deleted_at.is_none())
            .map(|d| {
                json!({
                    "id": d.id, "assigned_to": d.assigned_to, "status": d.status,
                    "follow_up_date": d.follow_up_date,
                })
            });
        o.insert("delegated_to".into(), delegated.unwrap_or(Value::Null));
    }
    v
}

/// A delegation as the API shows it.
pub fn delegation_view(d: &Delegation, today: NaiveDate) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        let follow = d.follow_up_date.or(d.due_date);
        let due_now = d.deleted_at.is_none()
            && d.status.is_open()
            && d.status != DelegationStatus::OnHold
            && follow.is_some_and(|f| f <= today);
        o.insert("follow_up_due".into(), due_now.into());
        o.insert(
            "follow_up_overdue".into(),
            (due_now && follow.is_some_and(|f| f < today)).into(),
        );
    }
    v
}

fn digest_view(d: &Digest) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// Open delegations by id, to show who a task was handed to.
async fn delegations_by_id(
    ws: &WorkspaceService,
    user: &crate::domain::User,
    tasks: &[Task],
) -> Result<HashMap<Uuid, Delegation>, ApiError> {
    if tasks.iter().all(|t| t.delegation_id.is_none()) {
        return Ok(HashMap::new());
    }
    let page = ws
        .delegations(
            user,
            &DelegationFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await?;
    Ok(page.items.into_iter().map(|d| (d.id, d)).collect())
}

async fn task_response(
    s: &AppState,
    user: &crate::domain::User,
    status: StatusCode,
    t: &Task,
    extra: Option<(&str, Value)>,
) -> Result<Response, ApiError> {
    let delegation = match t.delegation_id {
        Some(id) => s.workspace.delegation(user, id).await.ok(),
        None => None,
    };
    let mut body = task_view(t, s.workspace.today(user), delegation.as_ref());
    if let (Some((k, v)), Value::Object(o)) = (extra, &mut body) {
        o.insert(k.into(), v);
    }
    Ok(versioned(status, t.version, body))
}

// ------------------------------------------------------------------- tasks

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    status: Option<String>,
    priority: Option<String>,
    due_before: Option<String>,
    due_after: Option<String>,
    overdue: Option<String>,
    q: Option<String>,
    delegatable: Option<String>,
    include_deleted: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn words<T: FromStr>(field: &str, raw: &str) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().map_err(|e| field_error(field, e)))
        .collect()
}

fn flag(field: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(field_error(
            field,
            format!("{other:?} is not true or false"),
        )),
    }
}

fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(field_error(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(field_error("offset", "must not be negative"));
    }
    Ok((limit, offset))
}

pub async fn list_tasks(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<Value>, ApiError> {
    let today = s.workspace.today(&me.user);
    let statuses = match q.status.as_deref().map(str::trim) {
        None | Some("") | Some("all") => vec![],
        Some("open") => vec![TaskStatus::Todo, TaskStatus::InProgress],
        Some("closed") => vec![TaskStatus::Completed, TaskStatus::Cancelled],
        Some(raw) => words("status", raw)?,
    };
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let filter = TaskFilter {
        statuses,
        priorities: q
            .priority
            .as_deref()
            .map(|p| words("priority", p))
            .transpose()?
            .unwrap_or_default(),
        due_before: q
            .due_before
            .as_deref()
            .map(|d| parse_date("due_before", d))
            .transpose()?,
        due_after: q
            .due_after
            .as_deref()
            .map(|d| parse_date("due_after", d))
            .transpose()?,
        overdue_on: flag("overdue", q.overdue.as_deref())?
            .filter(|o| *o)
            .map(|_| today),
        text: q.q.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        delegatable: flag("delegatable", q.delegatable.as_deref())?,
        include_deleted: flag("include_deleted", q.include_deleted.as_deref())?.unwrap_or(false),
        limit,
        offset,
    };
    if filter
        .text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TITLE)
    {
        return Err(field_error("q", format!("at most {MAX_TITLE} characters")));
    }
    let mut page = s.workspace.tasks(&me.user, &filter).await?;
    // `overdue=false` means "not overdue".
    if flag("overdue", q.overdue.as_deref())? == Some(false) {
        page.items.retain(|t| !t.is_overdue(today));
    }
    let delegations = delegations_by_id(&s.workspace, &me.user, &page.items).await?;
    let tasks: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            task_view(
                t,
                today,
                t.delegation_id.and_then(|id| delegations.get(&id)),
            )
        })
        .collect();
    Ok(Json(
        json!({ "tasks": tasks, "total": page.total, "today": today }),
    ))
}

/// What a task update may change.
pub(super) const TASK_UPDATE_FIELDS: &[&str] = &[
    "title",
    "description",
    "due_date",
    "priority",
    "status",
    "time_estimate_minutes",
    "delegatable",
    "quadrant",
    "recurrence",
    "version",
];
/// What a delegation update may change.
pub(super) const DELEGATION_UPDATE_FIELDS: &[&str] = &[
    "task_description",
    "assigned_to",
    "assigned_to_email",
    "due_date",
    "follow_up_date",
    "priority",
    "status",
    "complete_task",
    "version",
];
/// A note on a delegation.
pub(super) const NOTE_FIELDS: &[&str] = &["body"];
/// A follow-up recorded on a delegation.
pub(super) const FOLLOW_UP_FIELDS: &[&str] = &["next_follow_up_date", "note", "version"];
/// A day's digest.
pub(super) const DIGEST_FIELDS: &[&str] = &["text", "version"];

pub(super) const TASK_FIELDS: &[&str] = &[
    "title",
    "quick",
    "description",
    "due_date",
    "priority",
    "status",
    "time_estimate_minutes",
    "delegatable",
    "quadrant",
    "recurrence",
    "source",
    "version",
];

pub async fn create_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let b = Body::new(v, TASK_FIELDS)?;
    let actor = actor_of(&me);
    let quick = b.string("quick", MAX_TITLE * 2, false)?;
    let mut draft = TaskDraft::titled(String::new());
    draft.description = b.nullable_string("description", MAX_DESCRIPTION)?.flatten();
    draft.due_date = b.date("due_date")?.flatten();
    let priority = b.word::<Priority>("priority")?;
    draft.priority = priority.unwrap_or(Priority::Medium);
    draft.status = b.word("status")?.unwrap_or(TaskStatus::Todo);
    draft.time_estimate_minutes = b.minutes("time_estimate_minutes")?.flatten();
    draft.delegatable = b.bool("delegatable")?.unwrap_or(false);
    draft.quadrant = b.nullable_word::<Quadrant>("quadrant")?.flatten();
    draft.recurrence = b.recurrence("recurrence")?.flatten();
    draft.source = b.nullable_string("source", MAX_NAME)?.flatten();
    let task = match quick {
        Some(line) if !b.has("title") => {
            s.workspace
                .quick_add(&me.user, &actor, &line, draft, priority.is_some())
                .await?
        }
        Some(_) => return Err(field_error("quick", "send either title or quick, not both")),
        None => {
            draft.title = b.required("title", MAX_TITLE)?;
            s.workspace.create_task(&me.user, &actor, draft).await?
        }
    };
    task_response(&s, &me.user, StatusCode::CREATED, &task, None).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsOfQuery {
    /// An RFC 3339 time: the item as it stood then.
    as_of: Option<String>,
}

fn parse_as_of(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            field_error(
                "as_of",
                format!("{raw:?} is not a time (RFC 3339, e.g. 2026-11-24T09:30:00Z)"),
            )
        })
}

/// The snapshot of an item at a past time, as the activity log recorded it.
async fn as_of_response(
    s: &AppState,
    user: &crate::domain::User,
    kind: ItemKind,
    id: Uuid,
    raw: &str,
) -> Result<Response, ApiError> {
    let at = parse_as_of(raw)?;
    let snapshot = s
        .workspace
        .as_of(user, kind, id, at)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::not_found(format!("no such item at {raw}"))
            }
            other => other.into(),
        })?;
    Ok(Json(json!({ "as_of": at, "item": snapshot })).into_response())
}

pub async fn get_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AsOfQuery>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "task id")?;
    if let Some(raw) = &q.as_of {
        return as_of_response(&s, &me.user, ItemKind::Task, id, raw).await;
    }
    let task = s.workspace.task(&me.user, id).await?;
    task_response(&s, &me.user, StatusCode::OK, &task, None).await
}

pub async fn update_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "task id")?;
    let b = Body::new(v, TASK_UPDATE_FIELDS)?;
    let patch = TaskPatch {
        title: b.string("title", MAX_TITLE, false)?,
        description: b.nullable_string("description", MAX_DESCRIPTION)?,
        due_date: b.date("due_date")?,
        priority: b.word("priority")?,
        status: b.word("status")?,
        time_estimate_minutes: b.minutes("time_estimate_minutes")?,
        delegatable: b.bool("delegatable")?,
        quadrant: b.nullable_word("quadrant")?,
        recurrence: b.recurrence("recurrence")?,
    };
    let version = expected_version(&headers, Some(&b))?;
    let change = s
        .workspace
        .update_task(&me.user, &actor_of(&me), id, version, patch)
        .await?;
    let today = s.workspace.today(&me.user);
    let next = change.next.as_ref().map(|n| task_view(n, today, None));
    task_response(
        &s,
        &me.user,
        StatusCode::OK,
        &change.task,
        next.map(|n| ("next_occurrence", n)),
    )
    .await
}

pub async fn delete_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "task id")?;
    let version = expected_version(&headers, None)?;
    let task = s
        .workspace
        .set_task_deleted(&me.user, &actor_of(&me), id, version, true)
        .await?;
    task_response(&s, &me.user, StatusCode::OK, &task, None).await
}

pub async fn restore_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "task id")?;
    let version = expected_version(&headers, None)?;
    let task = s
        .workspace
        .set_task_deleted(&me.user, &actor_of(&me), id, version, false)
        .await?;
    task_response(&s, &me.user, StatusCode::OK, &task, None).await
}

fn delegation_draft(b: &Body, description_required: bool) -> Result<DelegationDraft, ApiError> {
    Ok(DelegationDraft {
        task_description: if description_required {
            Some(b.required("task_description", MAX_TITLE)?)
        } else {
            b.string("task_description", MAX_TITLE, false)?
        },
        assigned_to: b.required("assigned_to", MAX_NAME)?,
        assigned_to_email: b.email("assigned_to_email")?.flatten(),
        due_date: b.date("due_date")?.flatten(),
        follow_up_date: b.date("follow_up_date")?.flatten(),
        priority: b.word("priority")?,
        status: b.word("status")?.unwrap_or(DelegationStatus::Active),
        note: b.nullable_string("note", MAX_NOTE)?.flatten(),
    })
}

pub(super) const DELEGATION_FIELDS: &[&str] = &[
    "task_description",
    "assigned_to",
    "assigned_to_email",
    "due_date",
    "follow_up_date",
    "priority",
    "status",
    "note",
    "version",
];

pub async fn delegate_task(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "task id")?;
    let b = Body::new(v, DELEGATION_FIELDS)?;
    let draft = delegation_draft(&b, false)?;
    let version = expected_version(&headers, Some(&b))?;
    let (task, delegation) = s
        .workspace
        .delegate_task(&me.user, &actor_of(&me), id, version, draft)
        .await?;
    let today = s.workspace.today(&me.user);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "task": task_view(&task, today, Some(&delegation)),
            "delegation": delegation_view(&delegation, today),
        })),
    )
        .into_response())
}

pub async fn task_activity(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id, "task id")?;
    let activity = s.workspace.activity(&me.user, ItemKind::Task, id).await?;
    Ok(Json(json!({ "activity": activity })))
}

// ------------------------------------------------------------- delegations

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationQuery {
    status: Option<String>,
    assigned_to: Option<String>,
    follow_up_due: Option<String>,
    q: Option<String>,
    include_deleted: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list_delegations(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<DelegationQuery>,
) -> Result<Json<Value>, ApiError> {
    let today = s.workspace.today(&me.user);
    let statuses = match q.status.as_deref().map(str::trim) {
        None | Some("") | Some("all") => vec![],
        Some("open") => vec![
            DelegationStatus::Planning,
            DelegationStatus::Active,
            DelegationStatus::OnHold,
        ],
        Some(raw) => words("status", raw)?,
    };
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let filter = DelegationFilter {
        statuses,
        assigned_to: q
            .assigned_to
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty()),
        follow_up_due_on: flag("follow_up_due", q.follow_up_due.as_deref())?
            .filter(|f| *f)
            .map(|_| today),
        text: q.q.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        include_deleted: flag("include_deleted", q.include_deleted.as_deref())?.unwrap_or(false),
        limit,
        offset,
    };
    let page = s.workspace.delegations(&me.user, &filter).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|d| delegation_view(d, today))
        .collect();
    Ok(Json(
        json!({ "delegations": items, "total": page.total, "today": today }),
    ))
}

pub async fn create_delegation(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let b = Body::new(v, DELEGATION_FIELDS)?;
    let draft = delegation_draft(&b, true)?;
    let d = s
        .workspace
        .create_delegation(&me.user, &actor_of(&me), draft)
        .await?;
    let today = s.workspace.today(&me.user);
    Ok(versioned(
        StatusCode::CREATED,
        d.version,
        delegation_view(&d, today),
    ))
}

pub async fn get_delegation(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AsOfQuery>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "delegation id")?;
    if let Some(raw) = &q.as_of {
        return as_of_response(&s, &me.user, ItemKind::Delegation, id, raw).await;
    }
    let d = s.workspace.delegation(&me.user, id).await?;
    let notes = s.workspace.notes(&me.user, id).await?;
    let mut body = delegation_view(&d, s.workspace.today(&me.user));
    if let Value::Object(o) = &mut body {
        o.insert(
            "notes".into(),
            serde_json::to_value(notes).unwrap_or_default(),
        );
    }
    Ok(versioned(StatusCode::OK, d.version, body))
}

pub async fn update_delegation(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let b = Body::new(v, DELEGATION_UPDATE_FIELDS)?;
    let patch = DelegationPatch {
        task_description: b.string("task_description", MAX_TITLE, false)?,
        assigned_to: b.string("assigned_to", MAX_NAME, false)?,
        assigned_to_email: b.email("assigned_to_email")?,
        due_date: b.date("due_date")?,
        follow_up_date: b.date("follow_up_date")?,
        priority: b.word("priority")?,
        status: b.word("status")?,
    };
    let complete_task = b.bool("complete_task")?.unwrap_or(true);
    let version = expected_version(&headers, Some(&b))?;
    let (d, task) = s
        .workspace
        .update_delegation(&me.user, &actor_of(&me), id, version, patch, complete_task)
        .await?;
    let today = s.workspace.today(&me.user);
    let mut body = delegation_view(&d, today);
    if let Value::Object(o) = &mut body {
        o.insert(
            "completed_task".into(),
            task.map(|t| task_view(&t, today, Some(&d)))
                .unwrap_or(Value::Null),
        );
    }
    Ok(versioned(StatusCode::OK, d.version, body))
}

pub async fn delete_delegation(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_delegation_deleted(s, me, id, headers, true).await
}

pub async fn restore_delegation(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_delegation_deleted(s, me, id, headers, false).await
}

async fn set_delegation_deleted(
    s: AppState,
    me: crate::accounts::Principal,
    id: String,
    headers: HeaderMap,
    deleted: bool,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let version = expected_version(&headers, None)?;
    let d = s
        .workspace
        .set_delegation_deleted(&me.user, &actor_of(&me), id, version, deleted)
        .await?;
    let today = s.workspace.today(&me.user);
    Ok(versioned(
        StatusCode::OK,
        d.version,
        delegation_view(&d, today),
    ))
}

pub async fn notes(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let notes = s.workspace.notes(&me.user, id).await?;
    Ok(Json(json!({ "notes": notes })))
}

pub async fn add_note(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let b = Body::new(v, NOTE_FIELDS)?;
    let body = b.required("body", MAX_NOTE)?;
    let note = s
        .workspace
        .add_note(&me.user, &actor_of(&me), id, body)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(note))).into_response())
}

pub async fn follow_up(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let b = Body::new(v, FOLLOW_UP_FIELDS)?;
    let next = b.date("next_follow_up_date")?.flatten();
    let note = b.nullable_string("note", MAX_NOTE)?.flatten();
    let version = expected_version(&headers, Some(&b))?;
    let d = s
        .workspace
        .follow_up(&me.user, &actor_of(&me), id, version, next, note)
        .await?;
    let today = s.workspace.today(&me.user);
    Ok(versioned(
        StatusCode::OK,
        d.version,
        delegation_view(&d, today),
    ))
}

pub async fn delegation_activity(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = item_id(&id, "delegation id")?;
    let activity = s
        .workspace
        .activity(&me.user, ItemKind::Delegation, id)
        .await?;
    Ok(Json(json!({ "activity": activity })))
}

// ----------------------------------------------------------------- digests

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    limit: Option<i64>,
}

pub async fn list_digests(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let (limit, _) = page_bounds(q.limit.or(Some(30)), None)?;
    let digests = s.workspace.digests(&me.user, limit).await?;
    let items: Vec<Value> = digests.iter().map(digest_view).collect();
    Ok(Json(json!({ "digests": items })))
}

pub async fn get_digest(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(date): Path<String>,
) -> Result<Response, ApiError> {
    let date = parse_date("date", &date)?;
    let d = s.workspace.digest(&me.user, date).await?;
    Ok(versioned(StatusCode::OK, d.version, digest_view(&d)))
}

pub async fn put_digest(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(date): Path<String>,
    headers: HeaderMap,
    ApiJson(v): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let date = parse_date("date", &date)?;
    let b = Body::new(v, DIGEST_FIELDS)?;
    let text = b.required("text", MAX_DIGEST)?;
    let version = expected_version(&headers, Some(&b))?;
    let (d, created) = s
        .workspace
        .put_digest(&me.user, &actor_of(&me), date, &text, version)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(versioned(status, d.version, digest_view(&d)))
}

pub async fn digest_activity(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(date): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let date = parse_date("date", &date)?;
    let activity = s.workspace.digest_activity(&me.user, date).await?;
    Ok(Json(json!({ "activity": activity })))
}

// ---------------------------------------------------------------- activity

pub async fn recent_activity(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Value>, ApiError> {
    let (limit, _) = page_bounds(q.limit.or(Some(50)), None)?;
    let activity = s.workspace.recent_activity(&me.user, limit).await?;
    // The newest entry's id: a client polls this to see another tab's changes.
    let revision = activity.first().map(|a| a.id);
    Ok(Json(json!({ "activity": activity, "revision": revision })))
}
