//! /api/operations-chat: turns, sessions, history, suggestions.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, IdPath, parse_id};
use crate::chat::{StreamEvent, TurnRequest};
use crate::domain::{Message, Session};
use crate::store::SessionPatch;

/// The original's request body.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct TurnBody {
    message: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    model: Option<String>,
}

/// Whether the client asked for Server-Sent Events.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// A streamed turn as SSE: `start`, `delta`s, then `done` or `error`.
fn sse(rx: tokio::sync::mpsc::Receiver<StreamEvent>) -> Response {
    let events = futures::stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        let (name, data) = match ev {
            StreamEvent::Start(s) => (
                "start",
                json!({"session_id": s.session_id, "user_message_id": s.user_message_id,
                       "message_id": s.message_id, "model": s.model, "title": s.title}),
            ),
            StreamEvent::Delta(text) => ("delta", json!({ "text": text })),
            StreamEvent::Done(reply) => {
                let status = reply.answer.status;
                let mut v = reply_json(*reply);
                v["status"] = json!(status);
                ("done", v)
            }
            StreamEvent::Error(e) => (
                "error",
                json!({"code": e.code, "message": e.message, "session_id": e.session_id,
                       "user_message_id": e.user_message_id, "message_id": e.message_id}),
            ),
        };
        let event = Event::default().event(name).data(data.to_string());
        Some((Ok::<_, std::convert::Infallible>(event), rx))
    });
    (
        [("x-accel-buffering", "no")],
        Sse::new(events).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

pub async fn turn(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TurnBody>,
) -> Result<Response, ApiError> {
    let session_id = match body
        .session_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(raw) => Some(parse_id(raw, "session_id")?),
        None => None,
    };
    let request = TurnRequest {
        message: body.message,
        session_id,
        context: body.context,
        model: body.model,
        history: None,
    };
    if wants_stream(&headers) {
        let prepared = s.chat.ask_streamed(&me.user, request).await?;
        return Ok(sse(s.chat.stream(prepared).await?));
    }
    let chat = s.chat.clone();
    let reply = to_the_end(async move { chat.turn(&me.user, request).await }).await?;
    Ok(Json(reply_json(reply)).into_response())
}

/// Runs a turn in its own task: a client that disconnects mid-turn must not cancel it
/// half-way, so its answer is saved and shown on the next load.
async fn to_the_end(
    turn: impl std::future::Future<Output = Result<crate::chat::TurnReply, crate::chat::ChatError>>
    + Send
    + 'static,
) -> Result<crate::chat::TurnReply, ApiError> {
    let reply = tokio::spawn(turn).await.map_err(|e| {
        tracing::error!(error = %e, "chat turn task failed");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "turn_aborted",
            "the turn was aborted; try again",
        )
    })?;
    Ok(reply?)
}

/// A proposed change as the API shows it: its summary also as sanitised HTML for the card.
pub fn action_json(a: &crate::domain::ChatAction) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    v["summary_html"] = Value::String(crate::markdown::to_html(&a.summary));
    v
}

fn reply_json(reply: crate::chat::TurnReply) -> Value {
    json!({
        "actions": reply.actions.iter().map(action_json).collect::<Vec<_>>(),
        "response_html": crate::markdown::to_html(&reply.answer.content),
        "response": reply.answer.content,
        "session_id": reply.session.id,
        "timestamp": reply.answer.created_at,
        "message_id": reply.answer.id,
        "user_message_id": reply.question.id,
        "model": reply.answer.model_used,
        "tokens_used": reply.answer.tokens_used,
        "prompt_tokens": reply.answer.prompt_tokens,
        "completion_tokens": reply.answer.completion_tokens,
        "cached_tokens": reply.answer.stats.cached_tokens,
        "provider": reply.answer.stats.provider,
        "latency_ms": reply.answer.stats.latency_ms,
        "first_token_ms": reply.answer.stats.first_token_ms,
        "cost_usd": reply.answer.stats.cost_usd,
        "items_used": reply.items_used,
        "title": reply.session.title,
        "message_count": reply.session.message_count,
    })
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    #[serde(default)]
    model: Option<String>,
}

/// Answers the session's last question again (after a failure, or to regenerate).
pub async fn retry(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: none, `{}` or `{"model": "..."}`.
    let body: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid body: {e}")))?
    };
    let model = body.model;
    if wants_stream(&headers) {
        let prepared = s.chat.again(&me.user, id, model.as_deref()).await?;
        return Ok(sse(s.chat.stream(prepared).await?));
    }
    let chat = s.chat.clone();
    let reply = to_the_end(async move { chat.retry(&me.user, id, model.as_deref()).await }).await?;
    Ok(Json(reply_json(reply)).into_response())
}

/// Stops the session's streaming reply (on whichever instance it runs).
pub async fn stop(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let stopped = s.chat.stop(&me.user, id).await?;
    Ok(Json(json!({ "stopped": stopped })))
}

fn session_json(s: &Session) -> Value {
    json!({
        "id": s.id,
        "title": s.title,
        "started_at": s.started_at,
        "last_message_at": s.last_message_at,
        "message_count": s.message_count,
        "is_active": s.is_active,
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SessionsQuery {
    limit: Option<i64>,
    #[serde(default)]
    include_archived: bool,
}

pub async fn sessions(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<SessionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = bounded(q.limit, 10, 100, "limit")?;
    let list = s.chat.sessions(&me.user, limit, q.include_archived).await?;
    Ok(Json(
        json!({ "sessions": list.iter().map(session_json).collect::<Vec<_>>() }),
    ))
}

pub async fn session(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let session = s.chat.session(&me.user, id).await?;
    let mut v = session_json(&session);
    v["context_snapshot"] = session.context_snapshot.unwrap_or(Value::Null);
    Ok(Json(v))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionUpdate {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
}

pub async fn update_session(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<SessionUpdate>,
) -> Result<Json<Value>, ApiError> {
    let title = match body.title {
        Some(t) => {
            let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if t.is_empty() || t.chars().count() > 200 {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "title must be 1 to 200 characters",
                ));
            }
            Some(t)
        }
        None => None,
    };
    if title.is_none() && body.is_active.is_none() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send a title and/or is_active",
        ));
    }
    let updated = s
        .chat
        .update_session(
            &me.user,
            id,
            &SessionPatch {
                title,
                is_active: body.is_active,
            },
        )
        .await?;
    Ok(Json(session_json(&updated)))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct HistoryQuery {
    limit: Option<i64>,
    before: Option<i64>,
    #[serde(default)]
    include_context: bool,
}

fn message_json(m: &Message, include_context: bool) -> Value {
    let mut v = json!({
        "id": m.id,
        "seq": m.seq,
        "role": m.role,
        "content": m.content,
        "content_html": if m.role == crate::domain::Role::Assistant { Value::String(crate::markdown::to_html(&m.content)) } else { Value::Null },
        "timestamp": m.created_at,
        "status": m.status,
        "model_used": m.model_used,
        "tokens_used": m.tokens_used,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cached_tokens": m.stats.cached_tokens,
        "provider": m.stats.provider,
        "latency_ms": m.stats.latency_ms,
        "first_token_ms": m.stats.first_token_ms,
        "cost_usd": m.stats.cost_usd,
        "error": m.error,
        "reply_to": m.reply_to,
        "items_used": m.context_used.as_ref().and_then(|c| c.get("items_used")).cloned().unwrap_or(json!([])),
    });
    if include_context {
        v["context_used"] = m.context_used.clone().unwrap_or(Value::Null);
    }
    v
}

pub async fn history(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = bounded(q.limit, 200, 1000, "limit")?;
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "before must be a positive message seq",
        ));
    }
    let session = s.chat.session(&me.user, id).await?;
    let messages = s.chat.messages(&me.user, id, q.before, limit).await?;
    let actions = s.chat.actions().of_session(&me.user, id).await?;
    let first = messages.first().map(|m| m.seq);
    let has_more = first.is_some_and(|f| f > 1);
    Ok(Json(json!({
        "session_id": session.id,
        "title": session.title,
        "started_at": session.started_at,
        "last_message_at": session.last_message_at,
        "message_count": session.message_count,
        "is_active": session.is_active,
        "messages": messages.iter().map(|m| {
            let mut v = message_json(m, q.include_context);
            let mine: Vec<Value> = actions.iter().filter(|a| a.message_id == m.id).map(action_json).collect();
            if m.role == crate::domain::Role::Assistant {
                v["actions"] = Value::Array(mine);
            }
            v
        }).collect::<Vec<_>>(),
        "has_more": has_more,
        "next_before": if has_more { first } else { None },
    })))
}

pub async fn suggestions(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let ctx = s.chat.context_now(&me.user, None).await?;
    Ok(Json(
        json!({ "suggestions": crate::chat::suggestions::for_today(&ctx) }),
    ))
}

pub async fn models(State(s): State<AppState>) -> Json<Value> {
    Json(
        json!({ "models": s.chat.providers().models(), "default": s.chat.providers().default_model() }),
    )
}

/// A numeric query parameter: `default` when absent, 400 outside 1..=max.
pub(super) fn bounded(v: Option<i64>, default: i64, max: i64, name: &str) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("{name} {n} must be from 1 to {max}"),
        )
        .with("field", name)),
    }
}

/// A proposed change.
pub async fn action(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = super::extract::parse_id(&id, "action id")?;
    let a = s.chat.actions().get(&me.user, id).await?;
    Ok(Json(action_json(&a)))
}

#[derive(Clone, Copy)]
enum Decide {
    Confirm,
    Cancel,
    Undo,
}

async fn decide(
    s: AppState,
    me: crate::accounts::Principal,
    id: String,
    how: Decide,
) -> Result<Json<Value>, ApiError> {
    let id = super::extract::parse_id(&id, "action id")?;
    let actor = crate::workspace::actor(&me.user, "chat");
    let actions = s.chat.actions();
    let a = match how {
        Decide::Confirm => actions.confirm(&me.user, &actor, id).await?,
        Decide::Cancel => actions.cancel(&me.user, &actor, id).await?,
        Decide::Undo => actions.undo(&me.user, &actor, id).await?,
    };
    Ok(Json(action_json(&a)))
}

/// Confirms a proposed change: applied once, however many times this is called.
pub async fn confirm_action(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    decide(s, me, id, Decide::Confirm).await
}

pub async fn cancel_action(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    decide(s, me, id, Decide::Cancel).await
}

pub async fn undo_action(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    decide(s, me, id, Decide::Undo).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQueryParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    role: Option<String>,
    model: Option<String>,
    #[serde(default)]
    include_archived: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A snippet as HTML: the text escaped, the matches in `<mark>`.
fn snippet_html(snippet: &str) -> String {
    use crate::store::search::{MARK_END, MARK_START};
    let mut out = String::with_capacity(snippet.len() + 32);
    for c in snippet.chars() {
        match c {
            MARK_START => out.push_str("<mark>"),
            MARK_END => out.push_str("</mark>"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Searches the user's messages and session titles.
pub async fn search(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<SearchQueryParams>,
) -> Result<Json<Value>, ApiError> {
    let raw = p.q.unwrap_or_default();
    let query = crate::domain::search::parse(&raw).map_err(|m| ApiError::invalid_query("q", m))?;
    let day = |field: &str, v: &Option<String>| -> Result<Option<chrono::NaiveDate>, ApiError> {
        v.as_deref()
            .map(|d| {
                chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    ApiError::invalid_query(field, format!("{d:?} is not a date (YYYY-MM-DD)"))
                })
            })
            .transpose()
    };
    let from = day("from", &p.from)?.map(|d| s.chat.day_start(&me.user, d));
    let to = day("to", &p.to)?
        .and_then(|d| d.succ_opt())
        .map(|d| s.chat.day_start(&me.user, d));
    let role = p
        .role
        .as_deref()
        .map(|r| {
            r.parse::<crate::domain::Role>()
                .map_err(|e| ApiError::invalid_query("role", e.to_string()))
        })
        .transpose()?;
    let limit = bounded(p.limit, 20, 100, "limit")?;
    let offset = p.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_query("offset", "must not be negative"));
    }
    let filter = crate::store::search::SearchFilter {
        query,
        from,
        to,
        role,
        model: p
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty()),
        include_archived: p.include_archived,
        limit,
        offset,
    };
    let (hits, titles) = s.chat.search(&me.user, &filter).await?;
    let results: Vec<Value> = hits
        .items
        .iter()
        .map(|h| {
            let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
            let plain: String = h
                .snippet
                .chars()
                .filter(|c| {
                    *c != crate::store::search::MARK_START && *c != crate::store::search::MARK_END
                })
                .collect();
            v["snippet"] = Value::String(plain);
            v["snippet_html"] = Value::String(snippet_html(&h.snippet));
            v
        })
        .collect();
    Ok(Json(json!({
        "query": raw,
        "results": results,
        "total": hits.total,
        // Counting stops at 1,000 matches: then `total` means "at least".
        "total_capped": hits.total >= crate::store::search::MAX_COUNT,
        "sessions": titles,
        "next_offset": if offset + limit < hits.total { Some(offset + limit) } else { None },
    })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn export_format(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<crate::chat::export::Format, ApiError> {
    let raw = raw.unwrap_or("md");
    crate::chat::export::Format::parse(raw)
        .filter(|f| allowed.contains(&f.extension()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("format: {raw:?} is not one of {}", allowed.join(", ")),
            )
            .with("field", "format")
        })
}

fn attachment(format: crate::chat::export::Format, name: &str, body: axum::body::Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    r
}

/// One session as a Markdown, JSON or HTML file.
pub async fn export_session(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    if q.from.is_some() || q.to.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "from and to are for exporting all sessions",
        ));
    }
    let format = export_format(q.format.as_deref(), &["md", "json", "html"])?;
    let (session, body) = s.chat.export_session(&me.user, id, format).await?;
    let day = s
        .chat
        .clock()
        .local_in(session.started_at, me.user.tz())
        .format("%Y-%m-%d")
        .to_string();
    let name = crate::chat::export::file_name(&session.title, &day, format);
    Ok(attachment(format, &name, axum::body::Body::from(body)))
}

/// All of the user's sessions (started in the range), streamed as JSON or Markdown.
pub async fn export_all(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = export_format(q.format.as_deref(), &["md", "json"])?;
    let day = |field: &str, v: &Option<String>| -> Result<Option<chrono::NaiveDate>, ApiError> {
        v.as_deref()
            .map(|d| {
                chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("{field}: {d:?} is not a date (YYYY-MM-DD)"),
                    )
                    .with("field", field)
                })
            })
            .transpose()
    };
    let from = day("from", &q.from)?.map(|d| s.chat.day_start(&me.user, d));
    let to = day("to", &q.to)?
        .and_then(|d| d.succ_opt())
        .map(|d| s.chat.day_start(&me.user, d));
    let today = s.chat.local_now(&me.user).format("%Y-%m-%d").to_string();
    let name = format!("opschat-export-{today}.{}", format.extension());
    let rx = s.chat.export_all(me.user.clone(), format, from, to);
    let stream = tokio_stream_of(rx);
    Ok(attachment(
        format,
        &name,
        axum::body::Body::from_stream(stream),
    ))
}

fn tokio_stream_of(
    mut rx: crate::chat::export::ExportStream,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
