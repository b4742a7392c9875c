//! Model providers: the offline operations analyst and any OpenAI-compatible server.

pub mod analyst;
pub mod commands;
pub mod openai;
pub mod tokens;
pub mod tools;

use async_trait::async_trait;
use std::sync::Arc;

use crate::config::{Config, LOCAL_MODEL};
use crate::context::{ItemRef, OpsContext};
use crate::domain::Role;

/// One earlier message sent back to the model as conversation history.
#[derive(Debug, Clone)]
pub struct HistoryMessage {
    pub role: Role,
    pub content: String,
}

/// Everything a provider needs to answer one question.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub history: &'a [HistoryMessage],
    pub question: &'a str,
    pub context: &'a OpsContext,
}

/// Token usage as the provider reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    /// Of the prompt tokens, those served from the provider's cache.
    pub cached_tokens: i32,
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct ModelReply {
    pub content: String,
    /// The model that actually answered (servers may resolve aliases).
    pub model: String,
    pub usage: Option<Usage>,
    /// The items the answer used, when the provider knows them exactly.
    pub items_used: Option<Vec<ItemRef>>,
    /// Changes the model proposes (tool calls), to be validated and confirmed.
    pub calls: Vec<tools::ToolCall>,
}

/// Why a model call failed. The text is safe to show to the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("the model did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the model server answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("could not reach the model server: {0}")]
    Network(String),
    #[error("the model server sent a response opschat could not read: {0}")]
    BadResponse(String),
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamChunk {
    /// More text.
    Delta(String),
    /// Token usage, when the server reports it (usually last).
    Usage(Usage),
    /// The model that is answering, as the server names it.
    Model(String),
    /// The items the finished answer used, when the provider knows them exactly (sent last;
    /// a stream cut short never gets it, and its items are traced from the text instead).
    Items(Vec<ItemRef>),
    /// A piece of a tool call: the call at `index` gets more of its name and arguments.
    Call {
        index: usize,
        name: Option<String>,
        arguments: Option<String>,
    },
}

/// A streamed answer. Dropping it cancels the upstream request.
pub type ChunkStream = futures::stream::BoxStream<'static, Result<StreamChunk, ProviderError>>;

/// Something that turns a question plus context into an answer.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Who answers, as stored with each reply: `local`, `openai-compatible` or `opschat`.
    fn name(&self) -> &'static str;
    async fn complete(&self, req: ModelRequest<'_>) -> Result<ModelReply, ProviderError>;
    /// The answer as it is written. Errors before the first chunk come back here; later
    /// ones inside the stream.
    async fn stream(&self, req: ModelRequest<'_>) -> Result<ChunkStream, ProviderError>;
}

/// A model a client may ask for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub id: String,
    pub provider: &'static str,
    pub default: bool,
}

/// The configured providers and how a requested model name picks one.
pub struct Providers {
    local: Arc<dyn Provider>,
    openai: Option<Arc<dyn Provider>>,
    default_model: String,
    prices: crate::pricing::Prices,
}

impl Providers {
    /// Providers as the configuration describes them.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        let openai: Option<Arc<dyn Provider>> = match cfg
            .openai_api_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        {
            Some(key) => Some(Arc::new(openai::OpenAiProvider::new(cfg, key)?)),
            None => None,
        };
        let default_model = if openai.is_some() {
            cfg.openai_model.clone()
        } else {
            LOCAL_MODEL.into()
        };
        let prices = match &cfg.prices {
            Some(path) => crate::pricing::Prices::with_file(path)?,
            None => crate::pricing::Prices::built_in(),
        };
        Ok(Self {
            local: Arc::new(analyst::LocalAnalyst),
            openai,
            default_model,
            prices,
        })
    }

    /// The prices replies are costed with.
    pub fn prices(&self) -> &crate::pricing::Prices {
        &self.prices
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The models a client may name.
    pub fn models(&self) -> Vec<ModelInfo> {
        let mut v = vec![ModelInfo {
            id: LOCAL_MODEL.into(),
            provider: "local",
            default: self.default_model == LOCAL_MODEL,
        }];
        if self.openai.is_some() {
            v.push(ModelInfo {
                id: self.default_model.clone(),
                provider: "openai-compatible",
                default: true,
            });
        }
        v
    }

    /// The provider and model for a requested name: the offline analyst for `opschat-local`,
    /// the OpenAI-compatible server for any other name when a key is configured.
    pub fn resolve(&self, requested: Option<&str>) -> Result<(Arc<dyn Provider>, String), String> {
        let model = requested
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.default_model);
        if model == LOCAL_MODEL {
            return Ok((self.local.clone(), model.to_string()));
        }
        match &self.openai {
            Some(p) => Ok((p.clone(), model.to_string())),
            None => Err(format!(
                "model {model:?} is not available: no OPENAI_API_KEY is configured; use {LOCAL_MODEL:?} or leave model empty"
            )),
        }
    }
}

/// A reply already decided without a model (what a "yes" to proposed changes did), delivered
/// through the provider interface so it is stored and streamed like any answer.
pub struct Fixed {
    pub text: String,
    pub model: String,
}

#[async_trait]
impl Provider for Fixed {
    fn name(&self) -> &'static str {
        "opschat"
    }
    async fn complete(&self, _: ModelRequest<'_>) -> Result<ModelReply, ProviderError> {
        Ok(ModelReply {
            content: self.text.clone(),
            model: self.model.clone(),
            usage: None,
            items_used: Some(Vec::new()),
            calls: Vec::new(),
        })
    }

    async fn stream(&self, _: ModelRequest<'_>) -> Result<ChunkStream, ProviderError> {
        use futures::StreamExt;
        let mut chunks = vec![Ok(StreamChunk::Model(self.model.clone()))];
        chunks
            .extend(analyst::pieces(&self.text, 24).map(|p| Ok(StreamChunk::Delta(p.to_string()))));
        chunks.push(Ok(StreamChunk::Items(Vec::new())));
        Ok(futures::stream::iter(chunks).boxed())
    }
}
