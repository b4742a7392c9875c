//! Any OpenAI-compatible Chat Completions server: OpenAI itself, Ollama, vLLM, llama.cpp.
//! The wire types are our own and lenient: such servers send odd `finish_reason`s, extra
//! fields and missing usage, none of which may break a turn.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

use super::{ModelReply, ModelRequest, Provider, ProviderError, Usage};
use crate::config::Config;

/// The OpenAI-compatible provider.
pub struct OpenAiProvider {
    client: reqwest::Client,
    url: String,
    key: String,
    project: Option<String>,
    org: Option<String>,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
}

impl OpenAiProvider {
    /// A provider for the configured server.
    pub fn new(cfg: &Config, key: &str) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("opschat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: format!(
                "{}/chat/completions",
                cfg.openai_base_url.trim_end_matches('/')
            ),
            key: key.to_string(),
            project: cfg.openai_project_id.clone().filter(|s| !s.is_empty()),
            org: cfg.openai_org_id.clone().filter(|s| !s.is_empty()),
            timeout: cfg.openai_timeout(),
            max_retries: cfg.openai_max_retries,
            backoff: Duration::from_millis(250),
        })
    }

    fn body(req: &ModelRequest<'_>) -> serde_json::Value {
        let mut messages = Vec::with_capacity(req.history.len() + 2);
        messages.push(json!({"role": "system", "content": req.system}));
        for m in req.history {
            messages.push(json!({"role": m.role.as_str(), "content": m.content}));
        }
        messages.push(json!({"role": "user", "content": req.question}));
        json!({
            "model": req.model,
            "messages": messages,
            "temperature": 0.4,
            "stream": false,
            "tools": super::tools::definitions(),
            "tool_choice": "auto",
        })
    }

    /// Reads a non-streamed completion from a response `open` accepted.
    async fn read_completion(
        &self,
        resp: reqwest::Response,
        requested: &str,
    ) -> Result<ModelReply, ProviderError> {
        let text = match tokio::time::timeout(self.timeout, resp.text()).await {
            Err(_) => return Err(ProviderError::Timeout(self.timeout.as_secs())),
            Ok(Err(e)) => return Err(self.transport_error(&e)),
            Ok(Ok(t)) => t,
        };
        let parsed: Completion =
            serde_json::from_str(&text).map_err(|e| ProviderError::BadResponse(format!("{e}")))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::BadResponse("no choices".into()))?;
        let (content, calls) = match choice.message {
            Some(m) => (
                m.content.unwrap_or_default(),
                m.tool_calls
                    .into_iter()
                    .filter_map(|c| c.function)
                    .filter_map(|f| {
                        Some(super::tools::ToolCall {
                            name: f.name?,
                            arguments: f.arguments.unwrap_or_default(),
                        })
                    })
                    .collect::<Vec<_>>(),
            ),
            None => (String::new(), Vec::new()),
        };
        if content.trim().is_empty() && calls.is_empty() {
            return Err(ProviderError::BadResponse("the answer was empty".into()));
        }
        let usage = parsed.usage.and_then(|u| {
            Some(Usage {
                prompt_tokens: i32::try_from(u.prompt_tokens?).ok()?,
                completion_tokens: i32::try_from(u.completion_tokens?).ok()?,
                cached_tokens: u
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0),
            })
        });
        let model = parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested.to_string());
        Ok(ModelReply {
            content,
            model,
            usage,
            items_used: None,
            calls,
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout(self.timeout.as_secs())
        } else {
            ProviderError::Network(without_url(e))
        }
    }
}

fn retryable(e: &ProviderError) -> bool {
    match e {
        ProviderError::Upstream { status, .. } => *status == 429 || *status >= 500,
        ProviderError::Network(_) => true,
        ProviderError::Timeout(_) | ProviderError::BadResponse(_) => false,
    }
}

impl OpenAiProvider {
    /// Sends `body` and returns the response once its status is OK, retrying 429s, 5xx and
    /// connection failures with exponential backoff (honouring `Retry-After`). The timeout
    /// covers each attempt up to the response headers.
    async fn open(&self, body: &serde_json::Value) -> Result<reqwest::Response, ProviderError> {
        let mut attempt = 0;
        loop {
            let mut rb = self
                .client
                .post(&self.url)
                .bearer_auth(&self.key)
                .json(body);
            if let Some(p) = &self.project {
                rb = rb.header("OpenAI-Project", p);
            }
            if let Some(o) = &self.org {
                rb = rb.header("OpenAI-Organization", o);
            }
            let result = match tokio::time::timeout(self.timeout, rb.send()).await {
                Err(_) => Err((ProviderError::Timeout(self.timeout.as_secs()), None)),
                Ok(Err(e)) => Err((self.transport_error(&e), None)),
                Ok(Ok(resp)) if resp.status().is_success() => Ok(resp),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(10)));
                    let text = resp.text().await.unwrap_or_default();
                    let message = upstream_message(&text);
                    Err((ProviderError::Upstream { status, message }, retry_after))
                }
            };
            match result {
                Ok(resp) => return Ok(resp),
                Err((e, retry_after)) if retryable(&e) && attempt < self.max_retries => {
                    let wait = retry_after.unwrap_or(self.backoff * 2u32.pow(attempt));
                    tracing::warn!(error = %e, attempt, "model stream failed to start, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
}

/// Reads one `data:` payload of a streamed completion into chunks; `None` at `[DONE]`.
fn stream_chunks(data: &str) -> Option<Result<Vec<super::StreamChunk>, ProviderError>> {
    use super::StreamChunk;
    let data = data.trim();
    if data == "[DONE]" {
        return None;
    }
    let v: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            return Some(Err(ProviderError::BadResponse(format!(
                "stream chunk: {e}"
            ))));
        }
    };
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| err.to_string(), str::to_string);
        return Some(Err(ProviderError::Upstream {
            status: 200,
            message,
        }));
    }
    let mut out = Vec::new();
    if let Some(m) = v
        .get("model")
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
    {
        out.push(StreamChunk::Model(m.to_string()));
    }
    if let Some(text) = v
        .pointer("/choices/0/delta/content")
        .and_then(|c| c.as_str())
        .filter(|t| !t.is_empty())
    {
        out.push(StreamChunk::Delta(text.to_string()));
    }
    if let Some(calls) = v
        .pointer("/choices/0/delta/tool_calls")
        .and_then(|c| c.as_array())
    {
        for (i, c) in calls.iter().enumerate() {
            let index = c
                .get("index")
                .and_then(|n| n.as_u64())
                .map_or(i, |n| n as usize);
            let text = |p: &str| c.pointer(p).and_then(|t| t.as_str()).map(str::to_string);
            out.push(StreamChunk::Call {
                index,
                name: text("/function/name"),
                arguments: text("/function/arguments"),
            });
        }
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        let get = |k: &str| {
            u.get(k)
                .and_then(|n| n.as_i64())
                .and_then(|n| i32::try_from(n).ok())
        };
        if let (Some(p), Some(c)) = (get("prompt_tokens"), get("completion_tokens")) {
            let cached = u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(|n| n.as_i64())
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(0);
            out.push(StreamChunk::Usage(Usage {
                prompt_tokens: p,
                completion_tokens: c,
                cached_tokens: cached,
            }));
        }
    }
    Some(Ok(out))
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai-compatible"
    }
    async fn stream(&self, req: ModelRequest<'_>) -> Result<super::ChunkStream, ProviderError> {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let mut body = Self::body(&req);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let resp = self.open(&body).await?;
        let idle = self.timeout;
        let events = resp.bytes_stream().eventsource().boxed();
        // Each step waits for the next event at most `idle`; the whole answer may take longer.
        // A stream that ends before `[DONE]` or a `finish_reason` was cut off, not finished.
        let batches = futures::stream::unfold(Some((events, false)), move |state| async move {
            let (mut events, mut finished) = state?;
            loop {
                let next = match tokio::time::timeout(idle, events.next()).await {
                    Err(_) => return Some((Err(ProviderError::Timeout(idle.as_secs())), None)),
                    Ok(None) if finished => return None,
                    Ok(None) => {
                        let cut =
                            "the model server closed the stream before the answer was finished";
                        return Some((Err(ProviderError::Network(cut.into())), None));
                    }
                    Ok(Some(Err(e))) => {
                        return Some((Err(ProviderError::Network(e.to_string())), None));
                    }
                    Ok(Some(Ok(ev))) => ev,
                };
                finished |= next.data.contains("\"finish_reason\":\"")
                    || next.data.contains("\"finish_reason\": \"");
                match stream_chunks(&next.data) {
                    None => return None,
                    Some(Err(e)) => return Some((Err(e), None)),
                    Some(Ok(v)) if v.is_empty() => continue,
                    Some(Ok(v)) => return Some((Ok(v), Some((events, finished)))),
                }
            }
        });
        let chunks = batches.flat_map(|batch| {
            let items: Vec<Result<super::StreamChunk, ProviderError>> = match batch {
                Ok(v) => v.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
        Ok(chunks.boxed())
    }

    async fn complete(&self, req: ModelRequest<'_>) -> Result<ModelReply, ProviderError> {
        let resp = self.open(&Self::body(&req)).await?;
        self.read_completion(resp, req.model).await
    }
}

/// The error message an upstream sent, in OpenAI's `{"error": {"message"}}` shape or as text.
fn upstream_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str().map(str::to_string))
        });
    crate::context::one_line(&from_json.unwrap_or_else(|| body.to_string()), 300)
}

/// A reqwest error's text without the URL (which may carry credentials in a query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<model server>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<i64>,
    #[serde(default)]
    completion_tokens: Option<i64>,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
}

#[derive(Deserialize)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_upstream_errors() {
        assert_eq!(
            upstream_message(r#"{"error":{"message":"Rate limit reached","type":"x"}}"#),
            "Rate limit reached"
        );
        assert_eq!(upstream_message("Bad Gateway"), "Bad Gateway");
    }

    #[test]
    fn reads_stream_chunks() {
        use crate::assistant::StreamChunk;
        assert!(stream_chunks("[DONE]").is_none());
        let c = stream_chunks(
            r#"{"model":"m","choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            vec![
                StreamChunk::Model("m".into()),
                StreamChunk::Delta("Hi".into())
            ]
        );
        let u = stream_chunks(
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            u,
            vec![StreamChunk::Usage(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                cached_tokens: 3,
            })]
        );
        assert!(
            stream_chunks(r#"{"error":{"message":"overloaded"}}"#)
                .unwrap()
                .is_err()
        );
        assert!(stream_chunks("not json").unwrap().is_err());
    }

    #[test]
    fn tolerates_odd_servers() {
        let c: Completion = serde_json::from_str(r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"eos_token"}]}"#).unwrap();
        assert!(c.usage.is_none());
        assert_eq!(
            c.choices[0].message.as_ref().unwrap().content.as_deref(),
            Some("hi")
        );
    }
}
