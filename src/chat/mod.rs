//! The chat turn: validate, persist the question, build the context, pick the history, call the
//! provider, persist the answer. The only place that orders those steps.

pub mod actions;
pub mod export;
mod stream;
pub mod suggestions;

pub use stream::{StreamEvent, StreamFailure, StreamStart};

use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use crate::assistant::{HistoryMessage, ModelRequest, ProviderError, Providers, tokens};
use crate::config::Clock;
use crate::context::{ClientContext, ItemRef, OpsContext};
use crate::domain::{
    MAX_MESSAGE_BYTES, Message, MessageStatus, Role, Session, User, title_from_question,
};
use crate::store::{NewMessage, NewSession, Store, StoreError};

/// How the assistant is asked to behave; the day's data follows it.
pub const SYSTEM_PROMPT: &str = "You are opschat, the operations assistant of a busy restaurant \
manager. You help them see what is urgent, what is due, who to follow up with, what to delegate \
and how to plan their time. Answer from the operations data below; name tasks and people exactly \
as they are written there, with their due dates and priorities. Overdue and due-today work comes \
first, then by priority (urgent, high, medium, low). Completed and cancelled work is never open \
work. If the data does not contain the answer, say so plainly instead of guessing. Be direct and \
concise; use Markdown lists, and a table for a time-boxed plan.\n\n";

/// The model name stored on a reply that confirmed or cancelled proposed changes.
pub const ACTIONS_MODEL: &str = "opschat-actions";

/// History is read newest first, a page at a time, until the token budget is spent. A page
/// holds the budget's worth of messages of this many tokens (short answers and questions, as
/// most are), so that one read usually covers the whole budget.
const HISTORY_PAGE_TOKENS: i32 = 64;
/// The fewest messages a history page holds.
const HISTORY_PAGE_MIN: i64 = 16;
/// The most messages ever sent as history, whatever the budget.
const HISTORY_MAX: usize = 200;

/// One question from a client.
#[derive(Debug, Clone, Default)]
pub struct TurnRequest {
    pub message: String,
    pub session_id: Option<Uuid>,
    /// The client's optional `{"dailyDigest", "operations"}` context.
    pub context: Option<Value>,
    pub model: Option<String>,
    /// The conversation so far as the client holds it (the OpenAI-compatible endpoint): sent
    /// to the model instead of the session's stored history, within the same budget.
    pub history: Option<Vec<HistoryMessage>>,
}

/// The outcome of a successful turn.
#[derive(Debug, Clone)]
pub struct TurnReply {
    pub session: Session,
    pub question: Message,
    pub answer: Message,
    pub items_used: Vec<ItemRef>,
    /// Changes the answer proposes, waiting for the manager's confirmation.
    pub actions: Vec<crate::domain::ChatAction>,
}

/// A question stored and ready to be answered.
pub struct Prepared {
    /// Who asked: proposals and a "yes" act as them.
    pub user: User,
    pub session: Session,
    pub question: Message,
    pub ctx: OpsContext,
    pub provider: Arc<dyn crate::assistant::Provider>,
    pub model: String,
    /// The earlier answer a regenerated one replaces.
    pub replaces: Option<Uuid>,
    /// The client's own history (`TurnRequest::history`), when it sent one.
    pub history: Option<Vec<HistoryMessage>>,
    /// The `streaming` reply row, when it was committed with the question (`ask_streamed`).
    pub reply: Option<Message>,
}

/// Why a turn did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("message is {0} bytes; the limit is {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    #[error("chat session not found")]
    SessionNotFound,
    #[error("{0}")]
    UnknownModel(String),
    /// The question is saved; the model failed. Carries what the client needs to retry.
    #[error("{error}")]
    ModelFailed {
        session_id: Uuid,
        user_message_id: Uuid,
        error: ProviderError,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ChatError::SessionNotFound,
            other => ChatError::Store(other),
        }
    }
}

/// The chat service: shared by the HTTP API and the CLI.
pub struct ChatService {
    store: Arc<dyn Store>,
    providers: Arc<Providers>,
    clock: Clock,
    history_tokens: i32,
    /// The token count of the last system prompt seen: it changes only when the data or the
    /// minute does, and counting ~1k tokens on every turn would dominate a turn's CPU.
    prompt_count: Mutex<(u64, i32)>,
    /// Replies streaming on this instance: reply id -> (session id, cancel).
    streams: Mutex<std::collections::HashMap<Uuid, (Uuid, tokio_util::sync::CancellationToken)>>,
    actions: Arc<actions::ActionService>,
    /// Operations data by owner, reused while their workspace version and day are unchanged.
    ops_cache: crate::context::OpsCache,
}

impl ChatService {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Arc<Providers>,
        clock: Clock,
        history_tokens: u32,
        actions: Arc<actions::ActionService>,
    ) -> Self {
        let history_tokens = i32::try_from(history_tokens).unwrap_or(i32::MAX);
        Self {
            store,
            providers,
            clock,
            history_tokens,
            prompt_count: Mutex::new((0, 0)),
            streams: Mutex::new(std::collections::HashMap::new()),
            actions,
            ops_cache: Default::default(),
        }
    }

    /// Proposed changes: confirm, cancel, undo.
    pub fn actions(&self) -> &Arc<actions::ActionService> {
        &self.actions
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Now in the user's time zone (their "today" decides what is due and overdue).
    pub fn local_now(&self, user: &User) -> chrono::DateTime<chrono::FixedOffset> {
        self.clock.local_in(self.clock.now(), user.tz())
    }

    /// The instant a calendar day starts for the user (their zone, or the instance default).
    pub fn day_start(&self, user: &User, day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        match user.tz() {
            Some(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_else(|| midnight.and_utc()),
            None => {
                let offset = *self.clock.local(midnight.and_utc()).offset();
                (midnight - chrono::Duration::seconds(i64::from(offset.local_minus_utc())))
                    .and_utc()
            }
        }
    }

    /// Searches the user's conversations.
    pub async fn search(
        &self,
        user: &User,
        f: &crate::store::search::SearchFilter,
    ) -> Result<
        (
            crate::store::Page<crate::store::search::MessageHit>,
            Vec<crate::store::search::TitleHit>,
        ),
        ChatError,
    > {
        let owner = user.owner_key();
        let (hits, titles) = tokio::try_join!(
            self.store.search_messages(&owner, f),
            self.store.search_titles(&owner, f)
        )?;
        Ok((hits, titles))
    }

    /// The user's context today, as a turn made now would see it.
    pub async fn context_now(
        &self,
        user: &User,
        client: Option<ClientContext>,
    ) -> Result<OpsContext, StoreError> {
        self.ops_now(&user.owner_key(), self.local_now(user), client)
            .await
    }

    /// The owner's operations context under workspace `version`, from the cache while it
    /// holds that version and day.
    async fn ops_at(
        &self,
        owner: &str,
        version: i64,
        local_now: chrono::DateTime<chrono::FixedOffset>,
        client: Option<ClientContext>,
    ) -> Result<OpsContext, StoreError> {
        OpsContext::load_cached(
            &self.ops_cache,
            self.store.as_ref(),
            owner,
            version,
            local_now,
            client,
        )
        .await
    }

    /// `ops_at` the owner's workspace version as the database has it now.
    async fn ops_now(
        &self,
        owner: &str,
        local_now: chrono::DateTime<chrono::FixedOffset>,
        client: Option<ClientContext>,
    ) -> Result<OpsContext, StoreError> {
        let version = self.store.workspace_version(owner).await?;
        self.ops_at(owner, version, local_now, client).await
    }

    /// One of the user's sessions; anyone else's is "not found", exactly like a missing one.
    pub async fn session(&self, user: &User, id: Uuid) -> Result<Session, ChatError> {
        self.store
            .session(&user.owner_key(), id)
            .await?
            .ok_or(ChatError::SessionNotFound)
    }

    /// The user's sessions, most recent activity first.
    pub async fn sessions(
        &self,
        user: &User,
        limit: i64,
        include_archived: bool,
    ) -> Result<Vec<Session>, ChatError> {
        Ok(self
            .store
            .sessions(&user.owner_key(), limit, include_archived)
            .await?)
    }

    /// Renames or archives one of the user's sessions.
    pub async fn update_session(
        &self,
        user: &User,
        id: Uuid,
        patch: &crate::store::SessionPatch,
    ) -> Result<Session, ChatError> {
        Ok(self
            .store
            .update_session(&user.owner_key(), id, patch)
            .await?)
    }

    /// A page of one of the user's sessions' messages, oldest first.
    pub async fn messages(
        &self,
        user: &User,
        id: Uuid,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Message>, ChatError> {
        Ok(self
            .store
            .messages(&user.owner_key(), id, before_seq, limit)
            .await?)
    }

    /// Answers one question, persisting both sides of the exchange.
    pub async fn turn(&self, user: &User, req: TurnRequest) -> Result<TurnReply, ChatError> {
        let p = self.ask(user, req).await?;
        self.answer(p).await
    }

    /// Answers the session's last question again, without storing it twice: after a failed
    /// reply (Retry) or to replace the last answer (Regenerate). A replaced answer stays in the
    /// history as `superseded` once the new one is saved.
    pub async fn retry(
        &self,
        user: &User,
        session_id: Uuid,
        model: Option<&str>,
    ) -> Result<TurnReply, ChatError> {
        let p = self.again(user, session_id, model).await?;
        self.answer(p).await
    }

    /// Validates a question and commits it (creating the session if needed) before any model
    /// is called: whatever happens next, it stays.
    pub async fn ask(&self, user: &User, req: TurnRequest) -> Result<Prepared, ChatError> {
        self.open(user, req, false).await
    }

    /// `ask` for an answer that will be streamed (`stream`): the empty `streaming` reply row
    /// is committed with the question, in the same statement, so that a stop or a restart
    /// always finds it and the stream starts one round trip sooner.
    pub async fn ask_streamed(&self, user: &User, req: TurnRequest) -> Result<Prepared, ChatError> {
        self.open(user, req, true).await
    }

    async fn open(
        &self,
        user: &User,
        req: TurnRequest,
        streamed: bool,
    ) -> Result<Prepared, ChatError> {
        let question = req.message.trim();
        if question.is_empty() {
            return Err(ChatError::Invalid("message must not be empty".into()));
        }
        if req.message.len() > MAX_MESSAGE_BYTES {
            return Err(ChatError::TooLarge(req.message.len()));
        }
        let client = match &req.context {
            None | Some(Value::Null) => None,
            Some(v) => Some(ClientContext::from_json(v).map_err(ChatError::Invalid)?),
        };
        let (provider, model) = self
            .providers
            .resolve(req.model.as_deref())
            .map_err(ChatError::UnknownModel)?;
        let owner = user.owner_key();
        let now = self.clock.now();
        let local_now = self.clock.local_in(now, user.tz());
        let user_msg = NewMessage {
            id: Uuid::now_v7(),
            session_id: req.session_id.unwrap_or_else(Uuid::now_v7),
            role: Role::User,
            content: question.to_string(),
            context_used: req.context.clone().filter(|v| !v.is_null()),
            model_used: None,
            tokens_used: Some(tokens::count(question)),
            prompt_tokens: None,
            completion_tokens: None,
            status: MessageStatus::Complete,
            error: None,
            reply_to: None,
            created_at: now,
            stats: Default::default(),
        };
        // A "yes" or "no" may be answered without the model (below): its reply row is written
        // once it is known who answers.
        let reply_row = (streamed && actions::decision(question).is_none()).then(|| {
            self.reply_row(
                user_msg.session_id,
                user_msg.id,
                provider.name(),
                &model,
                MessageStatus::Streaming,
            )
        });
        let rows: Vec<NewMessage> = std::iter::once(user_msg).chain(reply_row).collect();

        // The question (and a stream's reply row) is committed before any model is called:
        // whatever happens next, it stays. The operations data is read again only when the
        // workspace version (or the day) differs from the last turn's.
        let (session, stored, ctx) = match req.session_id {
            Some(id) => {
                // The owner's check, the append and the version: one statement.
                let continued = self
                    .store
                    .continue_session(&owner, id, &rows)
                    .await?
                    .ok_or(ChatError::SessionNotFound)?;
                let loaded = self
                    .ops_at(&owner, continued.version, local_now, client)
                    .await;
                match loaded {
                    Ok(ctx) => (continued.session, continued.messages, ctx),
                    Err(e) => {
                        self.unanswered(&continued.messages, &model, provider.name(), &e)
                            .await;
                        return Err(e.into());
                    }
                }
            }
            None => {
                // With this user's data cached for today, the version it was cached under is
                // checked by the write itself, one round trip less; the data is read again
                // only when it changed meanwhile (the session then gets its snapshot after).
                let cached = OpsContext::cached(&self.ops_cache, &owner, local_now, client.clone());
                let (ctx, expected) = match cached {
                    Some((version, ctx)) => (ctx, Some(version)),
                    None => (self.ops_now(&owner, local_now, client.clone()).await?, None),
                };
                let new = NewSession {
                    id: rows[0].session_id,
                    user_id: owner,
                    title: title_from_question(question),
                    context_snapshot: Some(ctx.snapshot()),
                    started_at: now,
                };
                // `stale`: the version now, when it is not the one the data was cached under.
                let (mut session, stored, stale) = match expected {
                    Some(cached) => {
                        let (session, stored, version) =
                            self.store.start_session_at(&new, &rows, cached).await?;
                        (session, stored, (version != cached).then_some(version))
                    }
                    None => {
                        let (session, stored) = self.store.start_session(&new, &rows).await?;
                        (session, stored, None)
                    }
                };
                if let Some(version) = stale {
                    let reread = async {
                        let ctx = self
                            .ops_at(&new.user_id, version, local_now, client)
                            .await?;
                        let snapshot = ctx.snapshot();
                        self.store
                            .set_snapshot(&new.user_id, session.id, &snapshot)
                            .await?;
                        Ok::<_, StoreError>((ctx, snapshot))
                    };
                    match reread.await {
                        Ok((ctx, snapshot)) => {
                            session.context_snapshot = Some(snapshot);
                            (session, stored, ctx)
                        }
                        Err(e) => {
                            self.unanswered(&stored, &model, provider.name(), &e).await;
                            return Err(e.into());
                        }
                    }
                } else {
                    (session, stored, ctx)
                }
            }
        };
        let mut stored = stored.into_iter();
        let question_msg = stored
            .next()
            .ok_or_else(|| ChatError::Store(StoreError::NotFound))?;
        let reply = stored.next();
        // "yes" / "no" to changes the last reply proposed: decided here, answered without a
        // model, so the transcript says what was done.
        let (provider, model) = match actions::decision(question) {
            Some(decision) => {
                let pending = self.actions.pending(&session.user_id, session.id).await?;
                if pending.is_empty() {
                    (provider, model)
                } else {
                    let actor = crate::workspace::actor(user, "chat");
                    let text = self
                        .actions
                        .decide_all(user, &actor, &pending, decision)
                        .await;
                    let fixed: Arc<dyn crate::assistant::Provider> =
                        Arc::new(crate::assistant::Fixed {
                            text,
                            model: ACTIONS_MODEL.into(),
                        });
                    (fixed, ACTIONS_MODEL.to_string())
                }
            }
            None => (provider, model),
        };
        // After a "yes", the context the reply is stored with shows the changed data.
        let ctx = if model == ACTIONS_MODEL {
            OpsContext::load(self.store.as_ref(), &session.user_id, local_now, None).await?
        } else {
            ctx
        };
        Ok(Prepared {
            user: user.clone(),
            session,
            question: question_msg,
            ctx,
            provider,
            model,
            replaces: None,
            history: req.history,
            reply,
        })
    }

    /// Finds the question a Retry or Regenerate answers, and the answer it replaces.
    pub async fn again(
        &self,
        user: &User,
        session_id: Uuid,
        model: Option<&str>,
    ) -> Result<Prepared, ChatError> {
        let (provider, model) = self
            .providers
            .resolve(model)
            .map_err(ChatError::UnknownModel)?;
        let owner = user.owner_key();
        let session = self.session(user, session_id).await?;
        let last = self
            .store
            .recent_conversation(session.id, i64::MAX, 1)
            .await?
            .into_iter()
            .next();
        let (question_seq, replaced) = match last {
            None => {
                return Err(ChatError::Invalid(
                    "this session has no question to answer".into(),
                ));
            }
            Some(e) if e.role == Role::User => (e.seq, None),
            Some(answer) => {
                let question = self
                    .store
                    .recent_conversation(session.id, answer.seq, 1)
                    .await?
                    .into_iter()
                    .next()
                    .filter(|q| q.role == Role::User)
                    .ok_or_else(|| ChatError::Invalid("the last answer has no question".into()))?;
                (question.seq, Some(answer.id))
            }
        };
        let question = self
            .store
            .messages(&owner, session.id, Some(question_seq + 1), 1)
            .await?
            .into_iter()
            .next()
            .ok_or(ChatError::SessionNotFound)?;
        let client = question
            .context_used
            .as_ref()
            .and_then(|v| ClientContext::from_json(v).ok());
        let ctx =
            OpsContext::load(self.store.as_ref(), &owner, self.local_now(user), client).await?;
        Ok(Prepared {
            user: user.clone(),
            session,
            question,
            ctx,
            provider,
            model,
            replaces: replaced,
            history: None,
            reply: None,
        })
    }

    /// Builds the prompt for a stored question, calls the provider and stores the reply (or
    /// the failure). `replaces` is an earlier answer to mark superseded once this one is saved.
    pub async fn answer(&self, p: Prepared) -> Result<TurnReply, ChatError> {
        let Prepared {
            user,
            session,
            question: question_msg,
            ctx,
            provider,
            model,
            replaces,
            history: client_history,
            reply: _,
        } = p;
        let ctx = &ctx;
        let question = question_msg.content.as_str();
        let (history, history_ids, history_tokens) = self
            .history(client_history, session.id, question_msg.seq)
            .await?;
        let system = self.system_prompt(ctx);
        let request = ModelRequest {
            model: &model,
            system: &system,
            history: &history,
            question,
            context: ctx,
        };

        let started = std::time::Instant::now();
        let outcome = provider.complete(request).await;
        let took = started.elapsed();
        let reply = match outcome {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(session = %session.id, model = %model, %error, "model call failed; question kept");
                let mut failed = self.reply_row(
                    session.id,
                    question_msg.id,
                    provider.name(),
                    &model,
                    MessageStatus::Failed,
                );
                failed.error = Some(error.to_string());
                failed.context_used = Some(ctx.manifest(&history_ids, history_tokens));
                failed.stats.latency_ms = Some(millis(took));
                crate::metrics::reply(&model, MessageStatus::Failed, &failed.stats, 0, 0);
                if let Err(e) = self.store.append_message(&failed).await {
                    tracing::error!(session = %session.id, error = %e, "could not record the failed reply");
                }
                return Err(ChatError::ModelFailed {
                    session_id: session.id,
                    user_message_id: question_msg.id,
                    error,
                });
            }
        };

        // Proposed changes: validated against this user's data, listed in the reply.
        let (proposals, proposal_text) = actions::review(&reply.calls, ctx);
        let mut reply = reply;
        if !proposal_text.is_empty() {
            if !reply.content.trim().is_empty() {
                reply.content.push_str("\n\n");
            }
            reply.content.push_str(&proposal_text);
        }
        let estimate = match reply.usage {
            Some(_) => 0,
            None => self.prompt_estimate(&system, history.len(), history_tokens, &question_msg),
        };
        let (prompt_tokens, completion_tokens) =
            Self::usage_or_count(reply.usage, estimate, &reply.content);
        let stats = self.reply_stats(
            provider.as_ref(),
            &reply.model,
            reply.usage,
            (prompt_tokens, completion_tokens),
            took,
            Some(took),
        );
        crate::metrics::reply(
            &reply.model,
            MessageStatus::Complete,
            &stats,
            prompt_tokens,
            completion_tokens,
        );
        let items_used = reply
            .items_used
            .unwrap_or_else(|| ctx.items_mentioned_in(&reply.content));
        let mut manifest = ctx.manifest(&history_ids, history_tokens);
        manifest["items_used"] = serde_json::to_value(&items_used).unwrap_or(Value::Null);
        let appended = self
            .store
            .append_message(&NewMessage {
                id: Uuid::now_v7(),
                session_id: session.id,
                role: Role::Assistant,
                content: reply.content,
                context_used: Some(manifest),
                model_used: Some(reply.model),
                tokens_used: Some(prompt_tokens.saturating_add(completion_tokens)),
                prompt_tokens: Some(prompt_tokens),
                completion_tokens: Some(completion_tokens),
                status: MessageStatus::Complete,
                error: None,
                reply_to: Some(question_msg.id),
                created_at: self.clock.now(),
                stats,
            })
            .await?;
        let mut message_count = appended.message_count;
        if let Some(old) = replaces {
            message_count = self.store.supersede(old).await?;
        }
        let session = Session {
            message_count,
            last_message_at: appended.last_message_at,
            ..session
        };
        let actions = self
            .actions
            .propose(
                &session.user_id,
                &crate::workspace::actor(&user, "chat"),
                session.id,
                appended.message.id,
                proposals,
            )
            .await?;
        Ok(TurnReply {
            session,
            question: question_msg,
            answer: appended.message,
            items_used,
            actions,
        })
    }

    /// A question was stored but could not be prepared (the operations data could not be
    /// read): its reply is recorded as failed, so the session offers Retry instead of an
    /// unanswered question or a reply left `streaming`. Best effort: the store just failed.
    async fn unanswered(
        &self,
        stored: &[Message],
        model: &str,
        provider: &str,
        error: &StoreError,
    ) {
        let Some(question) = stored.first() else {
            return;
        };
        let error = format!("the operations data could not be read: {error}");
        let done = match stored.get(1) {
            Some(reply) => self
                .store
                .finish_stream(
                    reply.id,
                    &crate::store::FinishedReply {
                        content: String::new(),
                        status: MessageStatus::Failed,
                        error: Some(error),
                        model_used: Some(model.to_string()),
                        tokens_used: None,
                        prompt_tokens: None,
                        completion_tokens: None,
                        context_used: None,
                        stats: crate::domain::ReplyStats {
                            provider: Some(provider.into()),
                            ..Default::default()
                        },
                    },
                )
                .await
                .map(|_| ()),
            None => {
                let mut failed = self.reply_row(
                    question.session_id,
                    question.id,
                    provider,
                    model,
                    MessageStatus::Failed,
                );
                failed.error = Some(error);
                self.store.append_message(&failed).await.map(|_| ())
            }
        };
        if let Err(e) = done {
            tracing::error!(session = %question.session_id, error = %e, "could not record the failed reply");
        }
    }

    /// The system prompt: how to behave, then the day's data.
    fn system_prompt(&self, ctx: &OpsContext) -> String {
        let mut system = String::with_capacity(SYSTEM_PROMPT.len() + 4096);
        system.push_str(SYSTEM_PROMPT);
        system.push_str(crate::assistant::tools::INSTRUCTIONS);
        system.push_str(&ctx.prompt_text());
        system
    }

    /// The prompt's tokens as counted with the gpt-4o tokenizer: system prompt, history,
    /// question and the per-message framing.
    fn prompt_estimate(
        &self,
        system: &str,
        history_len: usize,
        history_tokens: i32,
        question: &Message,
    ) -> i32 {
        Self::prompt_tokens(
            self.count_prompt(system),
            history_len,
            history_tokens,
            question,
        )
    }

    /// `prompt_estimate` with the system prompt's tokens already counted.
    fn prompt_tokens(
        system_tokens: i32,
        history_len: usize,
        history_tokens: i32,
        question: &Message,
    ) -> i32 {
        let framing = tokens::PER_MESSAGE * (history_len as i32 + 2) + tokens::REPLY_PRIMING;
        let question_tokens = question
            .tokens_used
            .unwrap_or_else(|| tokens::count(&question.content));
        system_tokens + history_tokens + question_tokens + framing
    }

    /// What analytics keeps of a reply: the provider, the times, the cached prompt tokens
    /// and the cost at today's prices of the tokens as counted.
    fn reply_stats(
        &self,
        provider: &dyn crate::assistant::Provider,
        model: &str,
        usage: Option<crate::assistant::Usage>,
        (prompt, completion): (i32, i32),
        latency: std::time::Duration,
        first_token: Option<std::time::Duration>,
    ) -> crate::domain::ReplyStats {
        let cached = usage.map(|u| u.cached_tokens);
        crate::domain::ReplyStats {
            provider: Some(provider.name().into()),
            latency_ms: Some(millis(latency)),
            first_token_ms: first_token.map(millis),
            cached_tokens: cached,
            cost_usd: Some(self.providers.prices().cost(
                model,
                prompt,
                cached.unwrap_or(0),
                completion,
            )),
        }
    }

    /// (prompt, completion) tokens: the provider's usage when it reported one, otherwise our
    /// own count of the prompt and of the answer.
    fn usage_or_count(
        usage: Option<crate::assistant::Usage>,
        prompt_estimate: i32,
        content: &str,
    ) -> (i32, i32) {
        match usage {
            Some(u) => (u.prompt_tokens, u.completion_tokens),
            None => (prompt_estimate, tokens::count(content)),
        }
    }

    /// Tokens of a system prompt, remembered for the last prompt seen.
    fn count_prompt(&self, system: &str) -> i32 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        system.hash(&mut h);
        let key = h.finish();
        if let Ok(cache) = self.prompt_count.lock()
            && cache.0 == key
        {
            return cache.1;
        }
        let n = tokens::count(system);
        if let Ok(mut cache) = self.prompt_count.lock() {
            *cache = (key, n);
        }
        n
    }

    /// The latest messages of a client's own history that fit the token budget, oldest first,
    /// with their total tokens (they have no stored ids).
    fn client_history(
        &self,
        mut client: Vec<HistoryMessage>,
    ) -> (Vec<HistoryMessage>, Vec<Uuid>, i32) {
        client.retain(|m| !m.content.is_empty());
        let mut used = 0i32;
        let mut keep = 0usize;
        for m in client.iter().rev() {
            if !self.fits(&mut used, keep, tokens::count(&m.content)) {
                break;
            }
            keep += 1;
        }
        let picked = client.split_off(client.len() - keep);
        (picked, Vec::new(), used)
    }

    /// Whether one more message of `tokens` fits the history budget after `picked` messages
    /// that used `used`; if so, counts it in `used`.
    fn fits(&self, used: &mut i32, picked: usize, tokens: i32) -> bool {
        let cost = tokens + tokens::PER_MESSAGE;
        if *used + cost > self.history_tokens || picked >= HISTORY_MAX {
            return false;
        }
        *used += cost;
        true
    }

    /// The history a question is answered with: the client's when it sent one (see
    /// `client_history`), else the latest stored messages before `before_seq` that fit the
    /// token budget, oldest first, with their ids and total tokens. The original sent the
    /// *first* ten messages of a session; a long conversation needs its latest ones. Read
    /// newest first, a page at a time.
    async fn history(
        &self,
        client: Option<Vec<HistoryMessage>>,
        session_id: Uuid,
        before_seq: i64,
    ) -> Result<(Vec<HistoryMessage>, Vec<Uuid>, i32), StoreError> {
        if let Some(client) = client {
            return Ok(self.client_history(client));
        }
        let mut picked = Vec::new();
        let mut used = 0i32;
        let mut cursor = before_seq;
        if before_seq <= 1 {
            return Ok((Vec::new(), Vec::new(), 0));
        }
        let page_size = i64::from(self.history_tokens / HISTORY_PAGE_TOKENS)
            .clamp(HISTORY_PAGE_MIN, HISTORY_MAX as i64);
        'pages: loop {
            let page = self
                .store
                .recent_conversation(session_id, cursor, page_size)
                .await?;
            let full = page.len() as i64 == page_size;
            for m in page {
                cursor = m.seq;
                if m.content.is_empty() {
                    continue;
                }
                let content_tokens = m
                    .content_tokens
                    .unwrap_or_else(|| tokens::count(&m.content));
                if !self.fits(&mut used, picked.len(), content_tokens) {
                    break 'pages;
                }
                picked.push(m);
            }
            if !full {
                break;
            }
        }
        picked.reverse();
        let ids = picked.iter().map(|m| m.id).collect();
        let history = picked
            .into_iter()
            .map(|m| HistoryMessage {
                role: m.role,
                content: m.content,
            })
            .collect();
        Ok((history, ids, used))
    }
}

/// A duration in whole milliseconds, saturating.
fn millis(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
