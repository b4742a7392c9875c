//! A streamed turn. The reply row exists from the start (`streaming`), its text is saved every
//! half second, and it always ends in a final state: `complete`, `stopped` (a stop request or a
//! client that went away), `interrupted` (the model failed mid-answer, or the server died:
//! see `interrupt_stale_streams`) or `failed` (nothing was produced).

use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ChatError, ChatService, Prepared, TurnReply};
use crate::assistant::{ModelRequest, StreamChunk, Usage};
use crate::domain::{MessageStatus, Role};
use crate::store::{FinishedReply, NewMessage};

/// How often the text of a streaming reply is saved (and a stop from another instance seen).
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// What a streaming client is told, in order: `Start`, `Delta`s, then `Done` or `Error`.
/// Only `Delta` is unboxed: an open stream's channel holds a block of these, so they are kept
/// small (memory per open stream).
#[derive(Debug)]
pub enum StreamEvent {
    Start(Box<StreamStart>),
    Delta(String),
    /// The reply ended complete or stopped; it is stored as `answer`.
    Done(Box<TurnReply>),
    /// The model failed; whatever it produced is stored under `message_id`.
    Error(Box<StreamFailure>),
}

/// The first event of a stream: where the question and its reply are stored.
#[derive(Debug)]
pub struct StreamStart {
    pub session_id: Uuid,
    pub user_message_id: Uuid,
    pub message_id: Uuid,
    pub model: String,
    pub title: String,
}

/// A stream's end when no answer could be produced or saved.
#[derive(Debug)]
pub struct StreamFailure {
    pub code: &'static str,
    pub message: String,
    pub session_id: Uuid,
    pub user_message_id: Uuid,
    pub message_id: Uuid,
}

impl ChatService {
    /// Starts answering a prepared question as a stream. The turn runs in its own task: it ends
    /// cleanly, and is saved, whether the client reads to the end, stops it or goes away.
    pub async fn stream(
        self: &Arc<Self>,
        p: Prepared,
    ) -> Result<mpsc::Receiver<StreamEvent>, ChatError> {
        // Written before the first event is sent (with the question by `ask_streamed`, else
        // in `drive`, concurrently with the history read): a stop or a restart always finds it.
        let (reply_row, reply_id) = match &p.reply {
            Some(stored) => (None, stored.id),
            None => {
                let row = self.reply_row(
                    p.session.id,
                    p.question.id,
                    p.provider.name(),
                    &p.model,
                    MessageStatus::Streaming,
                );
                let id = row.id;
                (Some(row), id)
            }
        };
        let token = CancellationToken::new();
        if let Ok(mut live) = self.streams.lock() {
            live.insert(reply_id, (p.session.id, token.clone()));
        }
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        tokio::spawn(async move {
            this.drive(p, reply_row, reply_id, token, tx).await;
            if let Ok(mut live) = this.streams.lock() {
                live.remove(&reply_id);
            }
        });
        Ok(rx)
    }

    /// Stops a session's streaming replies, here or on any instance sharing the database;
    /// returns the ids stopped.
    pub async fn stop(
        &self,
        user: &crate::domain::User,
        session_id: Uuid,
    ) -> Result<Vec<Uuid>, ChatError> {
        self.session(user, session_id).await?;
        // The database first: other instances see it at their next flush and cancel their
        // upstream call. Cancelling locally first would let the stream finish its row before
        // this update, and the stop would not report it.
        let mut stopped = self
            .store
            .stop_streams(&user.owner_key(), session_id)
            .await?;
        if let Ok(live) = self.streams.lock() {
            for (reply, (sid, token)) in live.iter() {
                if *sid == session_id {
                    token.cancel();
                    if !stopped.contains(reply) {
                        stopped.push(*reply);
                    }
                }
            }
        }
        Ok(stopped)
    }

    /// An empty reply row to `question_id`: with status `Streaming`, what a streamed answer
    /// starts as; with `Failed`, a reply that could not be produced.
    pub(super) fn reply_row(
        &self,
        session_id: Uuid,
        question_id: Uuid,
        provider: &str,
        model: &str,
        status: MessageStatus,
    ) -> NewMessage {
        NewMessage {
            id: Uuid::now_v7(),
            session_id,
            role: Role::Assistant,
            content: String::new(),
            context_used: None,
            model_used: Some(model.to_string()),
            tokens_used: None,
            prompt_tokens: None,
            completion_tokens: None,
            status,
            error: None,
            reply_to: Some(question_id),
            created_at: self.clock.now(),
            stats: crate::domain::ReplyStats {
                provider: Some(provider.into()),
                ..Default::default()
            },
        }
    }

    async fn drive(
        self: &Arc<Self>,
        mut p: Prepared,
        reply_row: Option<NewMessage>,
        reply_id: Uuid,
        token: CancellationToken,
        tx: mpsc::Sender<StreamEvent>,
    ) {
        let _active = crate::metrics::ActiveStream::start();
        let insert = async {
            match &reply_row {
                Some(row) => self.store.append_message(row).await.map(|_| ()),
                None => Ok(()),
            }
        };
        // The futures of the stream's start and end are boxed: held inline, their state would
        // stay in the task for as long as the stream is open (memory per open stream).
        let (inserted, history) = Box::pin(async {
            tokio::join!(
                insert,
                self.history(p.history.take(), p.session.id, p.question.seq)
            )
        })
        .await;
        drop(reply_row);
        if let Err(e) = inserted {
            tracing::error!(error = %e, "could not start a streaming reply");
            let _ = tx
                .send(StreamEvent::Error(Box::new(StreamFailure {
                    code: "database_unavailable",
                    message: "the reply could not be started; your message was saved, try again"
                        .into(),
                    session_id: p.session.id,
                    user_message_id: p.question.id,
                    message_id: reply_id,
                })))
                .await;
            return;
        }
        let _ = tx
            .send(StreamEvent::Start(Box::new(StreamStart {
                session_id: p.session.id,
                user_message_id: p.question.id,
                message_id: reply_id,
                model: p.model.clone(),
                title: p.session.title.clone(),
            })))
            .await;
        let mut content = String::new();
        let mut usage: Option<Usage> = None;
        let mut model = p.model.clone();
        let mut exact_items: Option<Vec<crate::context::ItemRef>> = None;
        let mut calls = crate::assistant::tools::ToolCallParts::default();
        let (history, history_ids, history_tokens) = match history {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "loading history for a stream");
                (Vec::new(), Vec::new(), 0)
            }
        };
        let system = self.system_prompt(&p.ctx);
        // The prompt's tokens are only needed when the provider reports no usage, and a prompt
        // the last turn did not have (another user, a new minute) takes a few hundred
        // microseconds to count: counted in a task of its own, which runs once this one has
        // sent the request and waits for the model. A runtime task, not a blocking thread: many
        // streams starting at once would each start a thread of the blocking pool.
        let system_tokens = {
            let this = self.clone();
            let system = system.clone();
            tokio::spawn(async move { this.count_prompt(&system) })
        };
        let history_len = history.len();
        let request = ModelRequest {
            model: &p.model,
            system: &system,
            history: &history,
            question: &p.question.content,
            context: &p.ctx,
        };
        let started = Instant::now();
        let mut first_token = None;
        let opened = tokio::select! {
            r = p.provider.stream(request) => Some(r),
            _ = token.cancelled() => None,
            _ = tx.closed() => None,
        };
        // The prompt is sent: an open stream need not hold it (memory per open stream).
        drop(system);
        drop(history);
        let (status, error) = match opened {
            None => (MessageStatus::Stopped, None),
            Some(Err(e)) => (MessageStatus::Failed, Some(e.to_string())),
            Some(Ok(mut chunks)) => {
                let mut flushed = Instant::now();
                let end = loop {
                    let next = tokio::select! {
                        biased;
                        _ = token.cancelled() => break (MessageStatus::Stopped, None),
                        _ = tx.closed() => break (MessageStatus::Stopped, None),
                        n = chunks.next() => n,
                    };
                    match next {
                        None => break (MessageStatus::Complete, None),
                        Some(Err(e)) => {
                            let status = if content.is_empty() {
                                MessageStatus::Failed
                            } else {
                                MessageStatus::Interrupted
                            };
                            break (status, Some(e.to_string()));
                        }
                        Some(Ok(StreamChunk::Usage(u))) => usage = Some(u),
                        Some(Ok(StreamChunk::Model(m))) => model = m,
                        Some(Ok(StreamChunk::Items(i))) => exact_items = Some(i),
                        Some(Ok(StreamChunk::Call {
                            index,
                            name,
                            arguments,
                        })) => calls.push(index, name.as_deref(), arguments.as_deref()),
                        Some(Ok(StreamChunk::Delta(d))) => {
                            first_token.get_or_insert_with(|| started.elapsed());
                            content.push_str(&d);
                            if tx.send(StreamEvent::Delta(d)).await.is_err() {
                                break (MessageStatus::Stopped, None);
                            }
                            if flushed.elapsed() >= FLUSH_EVERY {
                                flushed = Instant::now();
                                match self.store.stream_progress(reply_id, &content).await {
                                    Ok(true) => {}
                                    Ok(false) => break (MessageStatus::Stopped, None),
                                    Err(e) => tracing::warn!(error = %e, "saving stream progress"),
                                }
                            }
                        }
                    }
                };
                // Dropping the stream closes the upstream request now, not when it would end.
                drop(chunks);
                end
            }
        };
        // The end of the turn, boxed: its state is not held while the stream is open.
        Box::pin(async move {
            if status != MessageStatus::Complete {
                tracing::info!(reply = %reply_id, status = status.as_str(), chars = content.len(), "stream ended early");
            }
            // Proposed changes count only from a finished answer; their listing ends the reply.
            let calls = calls.finish();
            let (proposals, status) = if status == MessageStatus::Complete && !calls.is_empty() {
                let (proposals, text) = super::actions::review(&calls, &p.ctx);
                let mut extra = String::new();
                if !text.is_empty() {
                    if !content.trim().is_empty() {
                        extra.push_str("\n\n");
                    }
                    extra.push_str(&text);
                }
                content.push_str(&extra);
                let _ = tx.send(StreamEvent::Delta(extra)).await;
                (proposals, status)
            } else {
                (Vec::new(), status)
            };

            let took = started.elapsed();
            let system_tokens = system_tokens.await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "counting the prompt's tokens failed");
                0
            });
            let estimate = Self::prompt_tokens(system_tokens, history_len, history_tokens, &p.question);
            let (prompt_tokens, completion_tokens) = Self::usage_or_count(usage, estimate, &content);
            let stats = self.reply_stats(
                p.provider.as_ref(),
                &model,
                usage,
                (prompt_tokens, completion_tokens),
                took,
                first_token,
            );
            let items_used = exact_items.unwrap_or_else(|| p.ctx.items_mentioned_in(&content));
            let mut manifest = p.ctx.manifest(&history_ids, history_tokens);
            manifest["items_used"] = serde_json::to_value(&items_used).unwrap_or_default();
            let finished = FinishedReply {
                content,
                status,
                error: error.clone(),
                model_used: Some(model),
                tokens_used: Some(prompt_tokens.saturating_add(completion_tokens)),
                prompt_tokens: Some(prompt_tokens),
                completion_tokens: Some(completion_tokens),
                context_used: Some(manifest),
                stats,
            };
            let saved = match self.store.finish_stream(reply_id, &finished).await {
                Ok(saved) => saved,
                Err(e) => {
                    tracing::error!(reply = %reply_id, error = %e, "could not save the end of a stream");
                    let _ = tx
                        .send(StreamEvent::Error(Box::new(StreamFailure {
                            code: "database_unavailable",
                            message: "the reply could not be saved".into(),
                            session_id: p.session.id,
                            user_message_id: p.question.id,
                            message_id: reply_id,
                        })))
                        .await;
                    return;
                }
            };
            crate::metrics::reply(
                finished.model_used.as_deref().unwrap_or("unknown"),
                saved.message.status,
                &finished.stats,
                prompt_tokens,
                completion_tokens,
            );
            let mut message_count = saved.message_count;
            if saved.message.status == MessageStatus::Complete
                && let Some(old) = p.replaces
            {
                match self.store.supersede(old).await {
                    Ok(n) => message_count = n,
                    Err(e) => tracing::warn!(error = %e, "superseding the regenerated answer"),
                }
            }
            let actions = match self
                .actions
                .propose(
                    &p.session.user_id,
                    &crate::workspace::actor(&p.user, "chat"),
                    p.session.id,
                    reply_id,
                    proposals,
                )
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(reply = %reply_id, error = %e, "could not store the proposed changes");
                    Vec::new()
                }
            };
            let event = match saved.message.status {
                MessageStatus::Complete | MessageStatus::Stopped => {
                    StreamEvent::Done(Box::new(TurnReply {
                        actions,
                        session: crate::domain::Session {
                            message_count,
                            last_message_at: saved.last_message_at,
                            ..p.session
                        },
                        question: p.question,
                        answer: saved.message,
                        items_used,
                    }))
                }
                _ => StreamEvent::Error(Box::new(StreamFailure {
                    code: if error
                        .as_deref()
                        .is_some_and(|e| e.contains("did not answer within"))
                    {
                        "model_timeout"
                    } else {
                        "model_failed"
                    },
                    message: format!(
                        "{}. Your message was saved; you can retry.",
                        error.unwrap_or_else(|| "the model failed".into())
                    ),
                    session_id: p.session.id,
                    user_message_id: p.question.id,
                    message_id: reply_id,
                })),
            };
            let _ = tx.send(event).await;
        })
        .await;
    }
}
