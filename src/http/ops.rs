//! /api/operations: import and today's dashboard data; /healthz.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::extract::ApiJson;
use super::workspace::{delegation_view, task_view};
use crate::domain::{Delegation, Priority, Task};

pub async fn import(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(doc): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let actor = crate::workspace::actor_of(&me);
    let summary = s
        .workspace
        .import(&me.user, &actor, doc, &|_| {})
        .await
        .map_err(|e| match e {
            crate::workspace::ImportError::Invalid(e) => {
                ApiError::bad_request("invalid_import", format!("nothing was imported: {e}"))
                    .with("problems", e.problems)
            }
            crate::workspace::ImportError::Store(e) => e.into(),
        })?;
    Ok(Json(json!({ "imported": summary })))
}

/// Everything the dashboard shows, from the live data.
pub async fn today(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let ctx = s.chat.context_now(&me.user, None).await?;
    let today = ctx.today;
    let by_id: std::collections::HashMap<_, _> =
        ctx.delegations.iter().map(|d| (d.id, d)).collect();
    let task_json = |t: &Task, _: chrono::NaiveDate| {
        task_view(
            t,
            today,
            t.delegation_id.and_then(|id| by_id.get(&id).copied()),
        )
    };
    let delegation_json = |d: &Delegation| delegation_view(d, today);
    let by_priority: serde_json::Map<String, Value> = Priority::ALL
        .iter()
        .rev()
        .map(|p| {
            let tasks: Vec<Value> = ctx
                .open_tasks
                .iter()
                .filter(|t| t.priority == *p)
                .map(|t| task_json(t, today))
                .collect();
            (p.as_str().to_string(), Value::Array(tasks))
        })
        .collect();
    let follow: Vec<Value> = ctx.follow_ups_due().map(delegation_json).collect();
    let active: Vec<Value> = ctx.active_delegations().map(delegation_json).collect();
    let delegations: Vec<Value> = ctx.delegations.iter().map(delegation_json).collect();
    let deadlines: Vec<Value> = ctx
        .deadlines()
        .into_iter()
        .map(|t| task_json(t, today))
        .collect();
    Ok(Json(json!({
        "now": ctx.local_now,
        "today": today,
        "digest": ctx.digest,
        "counts": {
            "open": ctx.open_tasks.len(),
            "overdue": ctx.overdue().count(),
            "due_today": ctx.due_today().count(),
            "deadlines_next_7_days": deadlines.len(),
            "follow_ups_due": follow.len(),
            "active_delegations": active.len(),
        },
        "open_tasks_by_priority": by_priority,
        "deadlines": deadlines,
        "follow_ups_due": follow,
        "active_delegations": active,
        "delegations": delegations,
    })))
}

pub async fn health(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = match s.chat.store().backend() {
        crate::store::Backend::Postgres => "postgres",
        crate::store::Backend::Sqlite => "sqlite",
    };
    match s.chat.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": backend })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": backend })),
            )
        }
    }
}
