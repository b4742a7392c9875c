//! A local stand-in for an OpenAI-compatible Chat Completions server. It speaks the real wire
//! format (JSON completions and `data:` SSE chunks ending in `data: [DONE]`), records every
//! request it receives, and follows a script: answer, fail with a status, or be slow.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake does with one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with `text`, reporting `usage` (prompt, completion) when given.
    Reply {
        text: String,
        usage: Option<(i64, i64)>,
        model: Option<String>,
    },
    /// Answer with this HTTP status and body.
    Fail { status: u16, body: String },
    /// Wait, then do the inner step.
    Slow(Duration, Box<Step>),
    /// Stream these pieces with `delay` before each (to streaming requests); after
    /// `fail_after` pieces, reset the connection instead of finishing.
    Stream {
        pieces: Vec<String>,
        delay: Duration,
        fail_after: Option<usize>,
        usage: Option<(i64, i64)>,
    },
    /// Answer with tool calls (name, JSON arguments) and optional text, the way Chat
    /// Completions does: `message.tool_calls`, or streamed `delta.tool_calls` pieces by index
    /// with the arguments split across chunks, ending with `finish_reason: "tool_calls"`.
    Tools {
        text: Option<String>,
        calls: Vec<(String, String)>,
    },
}

impl Step {
    pub fn reply(text: &str) -> Step {
        Step::Reply {
            text: text.into(),
            usage: Some((120, 30)),
            model: None,
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub body: Value,
}

/// When a streamed response body ended, and whether it had sent everything.
#[derive(Debug, Clone, Copy)]
pub struct StreamEnd {
    pub at: std::time::Instant,
    pub finished: bool,
}

struct Shared {
    ends: Mutex<Vec<StreamEnd>>,
    script: Mutex<VecDeque<Step>>,
    default: Mutex<Step>,
    requests: Mutex<Vec<Recorded>>,
}

/// A running fake server.
pub struct FakeOpenAi {
    pub base_url: String,
    shared: Arc<Shared>,
}

impl FakeOpenAi {
    /// Starts a fake that answers every request with `default` unless a scripted step is queued.
    pub async fn start(default: Step) -> FakeOpenAi {
        let shared = Arc::new(Shared {
            ends: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            shared,
        }
    }

    /// Queues steps used, in order, before the default.
    pub fn then(&self, step: Step) {
        self.shared.script.lock().expect("lock").push_back(step);
    }

    pub fn set_default(&self, step: Step) {
        *self.shared.default.lock().expect("lock") = step;
    }

    /// How the streamed responses so far ended.
    pub fn stream_ends(&self) -> Vec<StreamEnd> {
        self.shared.ends.lock().expect("lock").clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// A config pointing opschat at this fake.
    pub fn configure(&self, cfg: &mut opschat::Config) {
        cfg.openai_api_key = Some("sk-test-key".into());
        cfg.openai_base_url = self.base_url.clone();
        cfg.openai_model = "gpt-4o".into();
    }
}

async fn complete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().expect("lock").push(Recorded {
        headers,
        body: body.clone(),
    });
    let step = shared
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or_else(|| shared.default.lock().expect("lock").clone());
    run(step, body, shared.clone()).await
}

/// Records how a streamed body ended when it is dropped: early (the client went away) or not.
struct EndGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let end = StreamEnd {
            at: std::time::Instant::now(),
            finished: self.finished,
        };
        self.shared.ends.lock().expect("lock").push(end);
    }
}

fn sse_chunk(delta: Value, finish: Value, model: &str) -> String {
    let chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

type SlowState = (usize, EndGuard, Vec<String>, String);

fn slow_stream(
    pieces: Vec<String>,
    delay: Duration,
    fail_after: Option<usize>,
    usage: Option<(i64, i64)>,
    model: String,
    shared: Arc<Shared>,
) -> Response {
    let guard = EndGuard {
        shared,
        finished: false,
    };
    let start: Option<SlowState> = Some((0, guard, pieces, model));
    let body = futures::stream::unfold(start, move |st| async move {
        let (i, mut guard, pieces, model) = st?;
        if fail_after == Some(i) && i < pieces.len() {
            // Let what was sent reach the client before the connection breaks.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Some((Err(std::io::Error::other("upstream broke")), None));
        }
        if i < pieces.len() {
            tokio::time::sleep(delay).await;
            let piece = sse_chunk(json!({"content": pieces[i]}), Value::Null, &model);
            return Some((Ok(piece), Some((i + 1, guard, pieces, model))));
        }
        let mut tail = sse_chunk(json!({}), json!("stop"), &model);
        if let Some((p, c)) = usage {
            let u = json!({"choices": [], "model": model, "usage": usage_json(p, c)});
            tail.push_str(&format!("data: {u}\n\n"));
        }
        tail.push_str("data: [DONE]\n\n");
        guard.finished = true;
        drop(guard);
        Some((Ok(tail), None))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn run(mut step: Step, req: Value, shared: Arc<Shared>) -> Response {
    loop {
        match step {
            Step::Slow(d, inner) => {
                tokio::time::sleep(d).await;
                step = *inner;
            }
            Step::Stream {
                pieces,
                delay,
                fail_after,
                usage,
            } => {
                let model = format!("{}-2024-08-06", req["model"].as_str().unwrap_or("gpt-4o"));
                return slow_stream(pieces, delay, fail_after, usage, model, shared);
            }
            Step::Fail { status, body } => {
                return (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body,
                )
                    .into_response();
            }
            Step::Tools { text, calls } => {
                let model = format!("{}-2024-08-06", req["model"].as_str().unwrap_or("gpt-4o"));
                let wire: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, args))| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": args}}))
                    .collect();
                if req["stream"].as_bool() != Some(true) {
                    let v = json!({
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_764_000_000, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": wire}, "finish_reason": "tool_calls"}],
                        "usage": {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220},
                    });
                    return axum::Json(v).into_response();
                }
                let mut events = vec![sse_chunk(
                    json!({"role": "assistant", "content": text}),
                    Value::Null,
                    &model,
                )];
                for (i, (name, args)) in calls.iter().enumerate() {
                    events.push(sse_chunk(
                        json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                        &model,
                    ));
                    let mid = args
                        .char_indices()
                        .nth(args.chars().count() / 2)
                        .map_or(0, |(b, _)| b);
                    for piece in [&args[..mid], &args[mid..]] {
                        events.push(sse_chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                            Value::Null,
                            &model,
                        ));
                    }
                }
                events.push(sse_chunk(json!({}), json!("tool_calls"), &model));
                events.push("data: [DONE]\n\n".to_string());
                return Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(events.concat()))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
            Step::Reply { text, usage, model } => {
                let model = model.unwrap_or_else(|| {
                    format!("{}-2024-08-06", req["model"].as_str().unwrap_or("gpt-4o"))
                });
                if req["stream"].as_bool() == Some(true) {
                    return stream(text, usage, model, &req);
                }
                let mut v = json!({
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_764_000_000, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                });
                if let Some((p, c)) = usage {
                    v["usage"] = usage_json(p, c);
                }
                return axum::Json(v).into_response();
            }
        }
    }
}

/// Usage as the API reports it; the fake says half the prompt came from the provider's cache.
fn usage_json(p: i64, c: i64) -> Value {
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
           "prompt_tokens_details": {"cached_tokens": p / 2}})
}

/// The streamed form: one chunk per word, then the usage chunk when asked for, then [DONE].
fn stream(text: String, usage: Option<(i64, i64)>, model: String, req: &Value) -> Response {
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut events: Vec<String> = Vec::new();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_764_000_000, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    events.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null).to_string());
    for piece in text.split_inclusive(' ') {
        events.push(chunk(json!({"content": piece}), Value::Null).to_string());
    }
    events.push(chunk(json!({}), json!("stop")).to_string());
    if include_usage && let Some((p, c)) = usage {
        events.push(json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": [],
                           "usage": usage_json(p, c)}).to_string());
    }
    let body: String = events
        .into_iter()
        .map(|e| format!("data: {e}\n\n"))
        .chain(std::iter::once("data: [DONE]\n\n".to_string()))
        .collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
