//! Exports of a user's conversations: a readable Markdown transcript, JSON with everything we
//! store for a message, and a self-contained HTML page that prints well. Everything streams:
//! sessions and messages are read a page at a time and written as they come, so an export of
//! any size holds one page in memory.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{ChatError, ChatService};
use crate::domain::{ChatAction, Message, MessageStatus, Role, Session, User};

/// Messages read per query while exporting.
const MESSAGE_PAGE: i64 = 500;
/// Sessions read per query while exporting.
const SESSION_PAGE: i64 = 50;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

/// A file name from a title: lower case letters, digits and dashes.
pub fn file_name(title: &str, day: &str, format: Format) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() {
        "conversation"
    } else {
        slug
    };
    format!("opschat-{day}-{slug}.{}", format.extension())
}

/// A message as JSON: every stored field, the items the answer used and its actions.
pub fn message_json(m: &Message, actions: &[ChatAction]) -> Value {
    json!({
        "id": m.id,
        "seq": m.seq,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "error": m.error,
        "model_used": m.model_used,
        "tokens_used": m.tokens_used,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cached_tokens": m.stats.cached_tokens,
        "provider": m.stats.provider,
        "latency_ms": m.stats.latency_ms,
        "first_token_ms": m.stats.first_token_ms,
        "cost_usd": m.stats.cost_usd,
        "reply_to": m.reply_to,
        "created_at": m.created_at,
        "context_used": m.context_used,
        "items_used": m.context_used.as_ref().and_then(|c| c.get("items_used")).cloned().unwrap_or(json!([])),
        "actions": actions.iter().filter(|a| a.message_id == m.id).collect::<Vec<_>>(),
    })
}

fn session_json(s: &Session) -> Value {
    json!({
        "id": s.id,
        "title": s.title,
        "started_at": s.started_at,
        "last_message_at": s.last_message_at,
        "message_count": s.message_count,
        "is_active": s.is_active,
        "context_snapshot": s.context_snapshot,
    })
}

fn when(at: DateTime<FixedOffset>) -> String {
    at.format("%a %-d %b %Y, %H:%M").to_string()
}

fn status_note(m: &Message) -> Option<String> {
    match m.status {
        MessageStatus::Complete | MessageStatus::Streaming => None,
        MessageStatus::Stopped => Some("stopped before the end".into()),
        MessageStatus::Interrupted => Some(format!(
            "interrupted: {}",
            m.error.as_deref().unwrap_or("the answer was cut off")
        )),
        MessageStatus::Failed => Some(format!(
            "the assistant could not answer: {}",
            m.error.as_deref().unwrap_or("unknown error")
        )),
        MessageStatus::Superseded => Some("replaced by a regenerated answer".into()),
    }
}

fn heading(m: &Message, local: DateTime<FixedOffset>) -> String {
    let mut h = format!(
        "{} · {}",
        if m.role == Role::User {
            "You"
        } else {
            "Assistant"
        },
        when(local)
    );
    if let Some(model) = &m.model_used {
        let _ = write!(h, " · {model}");
    }
    if let Some(t) = m.tokens_used {
        let _ = write!(h, " · {t} tokens");
        if let (Some(p), Some(c)) = (m.prompt_tokens, m.completion_tokens) {
            let _ = write!(h, " ({p} prompt, {c} completion)");
        }
    }
    if let Some(cost) = m.stats.cost_usd.filter(|c| *c > 0.0) {
        let _ = write!(h, " · ${cost:.4}");
    }
    h
}

/// One message as Markdown.
fn message_markdown(m: &Message, actions: &[ChatAction], local: DateTime<FixedOffset>) -> String {
    let mut s = format!("### {}\n\n", heading(m, local));
    if let Some(note) = status_note(m) {
        let _ = writeln!(s, "*({note})*\n");
    }
    if !m.content.trim().is_empty() {
        s.push_str(m.content.trim_end());
        s.push_str("\n\n");
    }
    for a in actions.iter().filter(|a| a.message_id == m.id) {
        let _ = writeln!(
            s,
            "> Proposed change: {} — {}",
            a.summary,
            action_outcome(a)
        );
    }
    if actions.iter().any(|a| a.message_id == m.id) {
        s.push('\n');
    }
    s
}

fn action_outcome(a: &ChatAction) -> String {
    let by = |who: &Option<String>| who.clone().unwrap_or_else(|| "someone".into());
    match a.status.as_str() {
        "applied" => format!("applied by {}", by(&a.decided_by)),
        "cancelled" => format!("cancelled by {}", by(&a.decided_by)),
        "undone" => format!("applied, then undone by {}", by(&a.undone_by)),
        "failed" => format!("failed: {}", a.error.clone().unwrap_or_default()),
        other => other.to_string(),
    }
}

fn session_markdown_head(
    s: &Session,
    local: impl Fn(DateTime<Utc>) -> DateTime<FixedOffset>,
) -> String {
    format!(
        "# {}\n\n- Started: {}\n- Last message: {}\n- Messages: {}{}\n\n",
        s.title,
        when(local(s.started_at)),
        when(local(s.last_message_at)),
        s.message_count,
        if s.is_active { "" } else { "\n- Archived" }
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const HTML_STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1d2430;line-height:1.5}\
header{border-bottom:1px solid #d0d5dd;margin-bottom:1rem}h1{font-size:1.5rem;margin:0 0 .3rem}.meta{color:#475467;font-size:.9rem}\
article{border:1px solid #e4e7ec;border-radius:8px;padding:.6rem .9rem;margin:.8rem 0;break-inside:avoid}article.user{background:#eff4ff}\
article h2{font-size:.85rem;color:#475467;margin:0 0 .4rem;font-weight:600}.note{font-style:italic;color:#b42318}\
.user .text{white-space:pre-wrap}table{border-collapse:collapse}td,th{border:1px solid #d0d5dd;padding:2px 6px}\
.action{border-left:3px solid #1849a9;padding-left:.5rem;font-size:.9rem}@media print{body{margin:0;max-width:none}article{border-color:#98a2b3}}";

/// A whole session as a self-contained HTML page (inline CSS, no scripts, prints well).
pub fn session_html(
    s: &Session,
    messages: &[Message],
    actions: &[ChatAction],
    local: impl Fn(DateTime<Utc>) -> DateTime<FixedOffset>,
) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{HTML_STYLE}</style></head><body><header><h1>{title}</h1><p class=\"meta\">Started {} · last message {} · {} messages{}</p></header>\n",
        when(local(s.started_at)),
        when(local(s.last_message_at)),
        s.message_count,
        if s.is_active { "" } else { " · archived" },
        title = escape(&s.title),
    );
    for m in messages {
        let class = if m.role == Role::User {
            "user"
        } else {
            "assistant"
        };
        let _ = write!(
            out,
            "<article class=\"{class}\"><h2>{}</h2>",
            escape(&heading(m, local(m.created_at)))
        );
        if let Some(note) = status_note(m) {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(&note));
        }
        if m.role == Role::User {
            let _ = write!(out, "<div class=\"text\">{}</div>", escape(&m.content));
        } else {
            // Rendered and sanitised like the chat shows it.
            out.push_str(&crate::markdown::to_html(&m.content));
        }
        for a in actions.iter().filter(|a| a.message_id == m.id) {
            let _ = write!(
                out,
                "<p class=\"action\">Proposed change: {} — {}</p>",
                crate::markdown::to_html(&a.summary)
                    .trim()
                    .trim_start_matches("<p>")
                    .trim_end_matches("</p>"),
                escape(&action_outcome(a))
            );
        }
        out.push_str("</article>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Chunks of an export as they are produced; an error ends it.
pub type ExportStream = mpsc::Receiver<Result<Bytes, std::io::Error>>;

impl ChatService {
    fn local_fn(&self, user: &User) -> impl Fn(DateTime<Utc>) -> DateTime<FixedOffset> + use<> {
        let clock = self.clock;
        let tz = user.tz();
        move |at| clock.local_in(at, tz)
    }

    /// One of the user's sessions, whole, as a file in `format`.
    pub async fn export_session(
        &self,
        user: &User,
        id: Uuid,
        format: Format,
    ) -> Result<(Session, String), ChatError> {
        let session = self.session(user, id).await?;
        let owner = user.owner_key();
        let mut messages = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .store
                .messages_after(&owner, id, after, MESSAGE_PAGE)
                .await?;
            let done = (page.len() as i64) < MESSAGE_PAGE;
            after = page.last().map_or(after, |m| m.seq);
            messages.extend(page);
            if done {
                break;
            }
        }
        let actions = self.store.session_actions(&owner, id).await?;
        let local = self.local_fn(user);
        let body = match format {
            Format::Html => session_html(&session, &messages, &actions, &local),
            Format::Markdown => {
                let mut s = session_markdown_head(&session, &local);
                for m in &messages {
                    s.push_str(&message_markdown(m, &actions, local(m.created_at)));
                }
                s
            }
            Format::Json => {
                let v = json!({
                    "format": "opschat.session.v1",
                    "session": session_json(&session),
                    "messages": messages.iter().map(|m| message_json(m, &actions)).collect::<Vec<_>>(),
                });
                serde_json::to_string_pretty(&v).unwrap_or_default()
            }
        };
        Ok((session, body))
    }

    /// All of the user's sessions started in `[from, to)` (archived too), streamed.
    pub fn export_all(
        self: &Arc<Self>,
        user: User,
        format: Format,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> ExportStream {
        let (tx, rx) = mpsc::channel(8);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.write_all(&user, format, from, to, &tx).await {
                tracing::error!(error = %e, user = %user.username, "export failed part-way");
                let _ = tx
                    .send(Err(std::io::Error::other(
                        "the export could not be completed",
                    )))
                    .await;
            }
        });
        rx
    }

    async fn write_all(
        &self,
        user: &User,
        format: Format,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), ChatError> {
        let owner = user.owner_key();
        let local = self.local_fn(user);
        // A closed receiver (the client went away) ends the export quietly.
        let send = |s: String| async move { tx.send(Ok(Bytes::from(s))).await.is_ok() };
        let open = match format {
            Format::Json => format!(
                "{{\"format\":\"opschat.export.v1\",\"exported_at\":{},\"user\":{},\"sessions\":[",
                json!(self.clock.now()),
                json!({"id": user.id, "username": user.username, "display_name": user.display_name})
            ),
            _ => format!(
                "# Conversations of {}\n\nExported {}.\n\n",
                user.display_name,
                when(local(self.clock.now()))
            ),
        };
        if !send(open).await {
            return Ok(());
        }
        let mut after: Option<Uuid> = None;
        let mut first_session = true;
        loop {
            let sessions = self
                .store
                .sessions_page(&owner, from, to, after, SESSION_PAGE)
                .await?;
            let done = (sessions.len() as i64) < SESSION_PAGE;
            after = sessions.last().map(|s| s.id).or(after);
            for s in &sessions {
                let actions = self.store.session_actions(&owner, s.id).await?;
                let head = match format {
                    Format::Json => format!(
                        "{}{{\"session\":{},\"messages\":[",
                        if first_session { "" } else { "," },
                        session_json(s)
                    ),
                    _ => format!("---\n\n{}", session_markdown_head(s, &local)),
                };
                first_session = false;
                if !send(head).await {
                    return Ok(());
                }
                let mut seq = 0;
                let mut first = true;
                loop {
                    let page = self
                        .store
                        .messages_after(&owner, s.id, seq, MESSAGE_PAGE)
                        .await?;
                    let last_page = (page.len() as i64) < MESSAGE_PAGE;
                    seq = page.last().map_or(seq, |m| m.seq);
                    let mut chunk = String::new();
                    for m in &page {
                        match format {
                            Format::Json => {
                                if !first {
                                    chunk.push(',');
                                }
                                chunk.push_str(&message_json(m, &actions).to_string());
                            }
                            _ => {
                                chunk.push_str(&message_markdown(m, &actions, local(m.created_at)))
                            }
                        }
                        first = false;
                    }
                    if !chunk.is_empty() && !send(chunk).await {
                        return Ok(());
                    }
                    if last_page {
                        break;
                    }
                }
                if format == Format::Json && !send("]}".into()).await {
                    return Ok(());
                }
            }
            if done {
                break;
            }
        }
        if format == Format::Json {
            send("]}\n".into()).await;
        }
        Ok(())
    }
}
