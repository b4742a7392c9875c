//! An OpenAI-compatible endpoint: `GET /v1/models` and `POST /v1/chat/completions`, so that
//! any OpenAI client (the SDKs, Open WebUI, LibreChat, editors) can use opschat as a model,
//! authenticated with an opschat API token. The caller's operations context is added here,
//! the answer is grounded like any chat turn, and every exchange is stored in a session of
//! the caller:
//!
//! - The client sends the whole conversation with each request. The earlier messages (user
//!   and assistant, in order; system messages are the client's own and not used) are what the
//!   model sees as history, within the same token budget as a chat turn.
//! - A session remembers its conversation as of its last answer given here (`thread_key`: a
//!   digest of each message's role and words, whitespace and case aside). A request whose
//!   earlier messages have that digest, on a session nothing was added to since, continues
//!   it; if the session's last question got no answer (the model failed) and is asked again,
//!   it is answered without being stored twice. Anything else (a first message, an edited or
//!   regenerated one, a conversation from elsewhere) starts a new session.
//!
//! Errors use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::assistant::HistoryMessage;
use crate::chat::{StreamEvent, TurnReply, TurnRequest};
use crate::domain::{MessageStatus, Role, User};

/// When the models were "created", as `/v1/models` reports it (OpenAI gives a model's
/// publication date; clients show it and none relies on it): 2026-12-02, when this endpoint
/// was added.
const MODELS_CREATED: i64 = 1_796_169_600;

#[derive(Deserialize, schemars::JsonSchema)]
pub struct CompletionBody {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<i64>,
    // Everything else an OpenAI client may send (temperature, max_tokens, user, ...) is
    // accepted and not used: the answer is opschat's.
}

#[derive(Deserialize, schemars::JsonSchema)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message).with("field", param)
}

/// The text of a message's content: a string, or the text parts of a list.
fn text_of(content: Option<Content>, at: usize) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(invalid(
                        &format!("messages[{at}].content"),
                        format!("content of type {:?} is not supported: send text", p.kind),
                    ));
                }
                text.push_str(p.text.as_deref().unwrap_or(""));
            }
            Ok(text)
        }
    }
}

/// The conversation a request carries: the earlier user and assistant messages, and the
/// question (the last message, the user's).
fn conversation(messages: Vec<InMessage>) -> Result<(Vec<HistoryMessage>, String), ApiError> {
    if messages.is_empty() {
        return Err(invalid("messages", "messages must not be empty"));
    }
    let last = messages.len() - 1;
    let mut history = Vec::new();
    let mut question = None;
    for (at, m) in messages.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // The client's own instructions and tool results: opschat answers with its own
            // prompt and data.
            "system" | "developer" | "tool" | "function" => {
                if at == last {
                    return Err(invalid(
                        "messages",
                        "the last message must be the user's question",
                    ));
                }
                continue;
            }
            other => {
                return Err(invalid(
                    &format!("messages[{at}].role"),
                    format!("unknown role {other:?}: use system, user or assistant"),
                ));
            }
        };
        let content = text_of(m.content, at)?;
        if content.len() > crate::domain::MAX_MESSAGE_BYTES {
            // The same limit as a question typed in opschat: counting the tokens of a huge
            // history message would be the request's whole cost.
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "message_too_large",
                format!(
                    "messages[{at}] is {} bytes; the limit is {}",
                    content.len(),
                    crate::domain::MAX_MESSAGE_BYTES
                ),
            )
            .with("field", format!("messages[{at}].content")));
        }
        if at == last {
            if role != Role::User || content.trim().is_empty() {
                return Err(invalid(
                    "messages",
                    "the last message must be the user's question, with text",
                ));
            }
            question = Some(content);
        } else {
            history.push(HistoryMessage { role, content });
        }
    }
    let question =
        question.ok_or_else(|| invalid("messages", "the last message must be the user's"))?;
    Ok((history, question))
}

/// The digest a conversation is matched by: each message's role and words (lower case,
/// whitespace collapsed), in order.
pub fn thread_key<'a>(messages: impl IntoIterator<Item = (Role, &'a str)>) -> String {
    let mut h = sha2::Sha256::new();
    for (role, content) in messages {
        h.update(role.as_str().as_bytes());
        h.update([0x1f]);
        for (i, word) in words(content).enumerate() {
            if i > 0 {
                h.update([b' ']);
            }
            h.update(word.as_bytes());
        }
        h.update([0x1e]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A message's words as conversations are matched: lower case, whitespace aside.
fn words(content: &str) -> impl Iterator<Item = String> + '_ {
    content.split_whitespace().map(str::to_lowercase)
}

fn same_words(a: &str, b: &str) -> bool {
    words(a).eq(words(b))
}

/// `GET /v1/models`: the models a request may name.
pub async fn models(State(s): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = s
        .chat
        .providers()
        .models()
        .into_iter()
        .map(|m| {
            json!({"id": m.id, "object": "model", "created": MODELS_CREATED,
                   "owned_by": if m.provider == "local" { "opschat" } else { m.provider }})
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Where an exchange goes: a new session, the end of a matched one, or a matched one whose
/// last question is asked again after its answer failed.
enum Thread {
    New,
    Continue(uuid::Uuid),
    Retry(uuid::Uuid),
}

/// Where the request's conversation goes, and the digest of its earlier messages.
async fn find_thread(
    s: &AppState,
    user: &User,
    history: &[HistoryMessage],
    question: &str,
) -> Result<(Thread, String), ApiError> {
    let store = s.chat.store();
    let owner = user.owner_key();
    let key = thread_key(history.iter().map(|m| (m.role, m.content.as_str())));
    let Some(session) = store.session_by_thread(&owner, &key).await? else {
        return Ok((Thread::New, key));
    };
    let last = store
        .recent_conversation(session.id, i64::MAX, 1)
        .await?
        .into_iter()
        .next();
    let thread = match last {
        // Nothing was added since the last answer given here.
        Some(m) if m.role == Role::Assistant => Thread::Continue(session.id),
        // The question after it got no answer: asked again, it is answered in place.
        Some(m) if m.role == Role::User && same_words(&m.content, question) => {
            Thread::Retry(session.id)
        }
        _ => Thread::New,
    };
    Ok((thread, key))
}

/// Remembers the conversation as it stands after a complete answer, so that the client's
/// next request continues this session.
async fn remember(s: &AppState, user: &User, history: &[HistoryMessage], reply: &TurnReply) {
    if reply.answer.status != MessageStatus::Complete {
        return;
    }
    let key = thread_key(history.iter().map(|m| (m.role, m.content.as_str())).chain([
        (Role::User, reply.question.content.as_str()),
        (Role::Assistant, reply.answer.content.as_str()),
    ]));
    let result = s
        .chat
        .store()
        .set_thread(
            &user.owner_key(),
            reply.session.id,
            &key,
            reply.session.message_count,
        )
        .await;
    if let Err(e) = result {
        // The answer is stored; the next request starts a new session instead.
        tracing::warn!(error = %e, session = %reply.session.id, "could not remember the thread");
    }
}

fn completion_id(reply_id: uuid::Uuid) -> String {
    format!("chatcmpl-{}", reply_id.simple())
}

fn usage_json(answer: &crate::domain::Message) -> Value {
    let prompt = answer.prompt_tokens.unwrap_or(0);
    let completion = answer.completion_tokens.unwrap_or(0);
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}

fn with_session(mut response: Response, session: uuid::Uuid) -> Response {
    if let Ok(v) = HeaderValue::from_str(&session.to_string()) {
        response.headers_mut().insert("x-opschat-session-id", v);
    }
    response
}

/// `POST /v1/chat/completions`, streaming (`"stream": true`) or not.
pub async fn completions(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<CompletionBody>,
) -> Result<Response, ApiError> {
    if let Some(n) = body.n
        && n != 1
    {
        return Err(invalid("n", "only one choice (n = 1) is supported"));
    }
    let model = body
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    if let Err(message) = s.chat.providers().resolve(model.as_deref()) {
        return Err(
            ApiError::new(StatusCode::NOT_FOUND, "model_not_found", message).with("field", "model"),
        );
    }
    let (history, question) = conversation(body.messages)?;
    let user = me.user;
    let (thread, key) = find_thread(&s, &user, &history, &question).await?;
    let prepared = match thread {
        Thread::Retry(session) => {
            let mut p = s.chat.again(&user, session, model.as_deref()).await?;
            p.history = Some(history.clone());
            p
        }
        thread => {
            let session_id = match thread {
                Thread::Continue(id) => Some(id),
                _ => None,
            };
            let request = TurnRequest {
                message: question,
                session_id,
                context: None,
                model,
                history: Some(history.clone()),
            };
            let p = s.chat.ask(&user, request).await?;
            if session_id.is_none() {
                // Until it is answered, the new session is the conversation as the client
                // sent it: a retry of this request, should the model fail, finds it.
                s.chat
                    .store()
                    .set_thread(&user.owner_key(), p.session.id, &key, 0)
                    .await?;
            }
            p
        }
    };
    let session = prepared.session.id;
    let created = s.chat.clock().now().timestamp();
    if body.stream.unwrap_or(false) {
        let usage = body
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let rx = s.chat.stream(prepared).await?;
        let stream = Chunks {
            s: s.clone(),
            user,
            history,
            created,
            usage,
        };
        return Ok(with_session(stream.sse(rx), session));
    }
    let chat = s.chat.clone();
    let reply = tokio::spawn(async move { chat.answer(prepared).await })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "completion task failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "turn_aborted",
                "the turn was aborted; try again",
            )
        })??;
    remember(&s, &user, &history, &reply).await;
    let body = json!({
        "id": completion_id(reply.answer.id),
        "object": "chat.completion",
        "created": created,
        "model": reply.answer.model_used,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.answer.content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage_json(&reply.answer),
    });
    Ok(with_session(Json(body).into_response(), session))
}

/// A streamed completion as OpenAI's `chat.completion.chunk` events, then `[DONE]`.
struct Chunks {
    s: AppState,
    user: User,
    history: Vec<HistoryMessage>,
    created: i64,
    usage: bool,
}

impl Chunks {
    fn chunk(&self, id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": id, "object": "chat.completion.chunk", "created": self.created,
               "model": model, "system_fingerprint": null,
               "choices": [{"index": 0, "delta": delta, "logprobs": null,
                            "finish_reason": finish}]})
    }

    /// The events one stream event becomes.
    async fn events(&self, ev: StreamEvent, id: &mut String, model: &mut String) -> Vec<String> {
        match ev {
            StreamEvent::Start(start) => {
                *id = completion_id(start.message_id);
                *model = start.model;
                let delta = json!({"role": "assistant", "content": ""});
                vec![self.chunk(id, model, delta, None).to_string()]
            }
            StreamEvent::Delta(text) => {
                vec![
                    self.chunk(id, model, json!({ "content": text }), None)
                        .to_string(),
                ]
            }
            StreamEvent::Done(reply) => {
                remember(&self.s, &self.user, &self.history, &reply).await;
                let model = reply.answer.model_used.clone().unwrap_or(model.clone());
                let mut out = vec![self.chunk(id, &model, json!({}), Some("stop")).to_string()];
                if self.usage {
                    out.push(
                        json!({"id": id, "object": "chat.completion.chunk",
                               "created": self.created, "model": model,
                               "system_fingerprint": null, "choices": [],
                               "usage": usage_json(&reply.answer)})
                        .to_string(),
                    );
                }
                out.push("[DONE]".into());
                out
            }
            StreamEvent::Error(e) => {
                let crate::chat::StreamFailure {
                    code,
                    message,
                    session_id,
                    user_message_id,
                    ..
                } = *e;
                // What OpenAI's clients raise on: an error object in place of a chunk.
                vec![
                    json!({"error": {
                        "message": format!("{message}. Your message was saved; you can retry."),
                        "type": "server_error", "param": null, "code": code,
                        "session_id": session_id, "user_message_id": user_message_id}})
                    .to_string(),
                ]
            }
        }
    }

    fn sse(self, rx: tokio::sync::mpsc::Receiver<StreamEvent>) -> Response {
        let state = (self, rx, String::new(), String::new(), Vec::<String>::new());
        let events = futures::stream::unfold(
            state,
            |(this, mut rx, mut id, mut model, mut queued)| async move {
                loop {
                    if !queued.is_empty() {
                        let data = queued.remove(0);
                        let event = Event::default().data(data);
                        return Some((
                            Ok::<_, std::convert::Infallible>(event),
                            (this, rx, id, model, queued),
                        ));
                    }
                    let ev = rx.recv().await?;
                    queued = this.events(ev, &mut id, &mut model).await;
                }
            },
        );
        (
            [("x-accel-buffering", "no")],
            Sse::new(events).keep_alive(KeepAlive::default()),
        )
            .into_response()
    }
}

/// OpenAI's error type for a status.
fn error_type(status: StatusCode) -> &'static str {
    if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    }
}

/// Gives every error of the /v1 routes (the handlers', sign-in's, a rejected body's) OpenAI's
/// shape: `{"error": {"message", "type", "param", "code"}}`.
pub async fn errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return (parts, axum::body::Body::empty()).into_response();
    };
    let ours: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let error = &ours["error"];
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let body = json!({"error": {
        "message": message,
        "type": error_type(status),
        "param": error["field"],
        "code": error["code"],
    }});
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (parts, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_matched_by_its_words_not_its_spacing_or_case() {
        let a = thread_key([
            (Role::User, "What's urgent?"),
            (Role::Assistant, "The cooler.\n"),
        ]);
        let b = thread_key([
            (Role::User, " what's  URGENT? "),
            (Role::Assistant, "the cooler."),
        ]);
        assert_eq!(a, b);
        assert_ne!(a, thread_key([(Role::User, "What's urgent?")]));
        assert_ne!(
            a,
            thread_key([
                (Role::Assistant, "What's urgent?"),
                (Role::User, "The cooler.")
            ])
        );
        // A message boundary is part of the digest.
        assert_ne!(
            thread_key([(Role::User, "a b")]),
            thread_key([(Role::User, "a"), (Role::User, "b")])
        );
    }
}
