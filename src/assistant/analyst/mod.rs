//! `opschat-local`: an offline operations analyst. It reads the question into structured
//! asks (`understand`), selects the work they are about (`query`), and writes the answer in
//! Markdown from the day's data alone (`find`, `items`, `reports`, `digest`, `planner`),
//! naming every item it used. Deterministic: the same data, time, history and question give the
//! same answer.

mod digest;
mod find;
mod items;
mod phrases;
mod planner;
mod query;
mod reports;
mod signals;
mod text;
mod understand;
mod write;

#[cfg(test)]
mod cases;

use async_trait::async_trait;

use super::{HistoryMessage, ModelReply, ModelRequest, Provider, ProviderError};
use crate::config::LOCAL_MODEL;
use crate::context::{ItemRef, OpsContext};
pub(crate) use text::{score, words};
use understand::Ask;
use write::Answer;

/// The offline analyst.
pub struct LocalAnalyst;

#[async_trait]
impl Provider for LocalAnalyst {
    fn name(&self) -> &'static str {
        "local"
    }
    async fn complete(&self, req: ModelRequest<'_>) -> Result<ModelReply, ProviderError> {
        let (content, items, calls) = respond(&req);
        Ok(ModelReply {
            content,
            model: LOCAL_MODEL.into(),
            usage: None,
            items_used: Some(items),
            calls,
        })
    }

    async fn stream(&self, req: ModelRequest<'_>) -> Result<super::ChunkStream, ProviderError> {
        use futures::StreamExt;
        let (content, items, calls) = respond(&req);
        let mut chunks = vec![Ok(super::StreamChunk::Model(LOCAL_MODEL.into()))];
        chunks.extend(
            pieces(&content, STREAM_PIECE).map(|p| Ok(super::StreamChunk::Delta(p.to_string()))),
        );
        chunks.extend(calls.into_iter().enumerate().map(|(index, c)| {
            Ok(super::StreamChunk::Call {
                index,
                name: Some(c.name),
                arguments: Some(c.arguments),
            })
        }));
        chunks.push(Ok(super::StreamChunk::Items(items)));
        // Yield between pieces so a stop or a disconnect is seen mid-answer.
        Ok(futures::stream::iter(chunks)
            .then(|c| async {
                tokio::task::yield_now().await;
                c
            })
            .boxed())
    }
}

/// A command ("mark the gasket done") becomes proposed changes; anything else an answer.
fn respond(req: &ModelRequest<'_>) -> (String, Vec<ItemRef>, Vec<super::tools::ToolCall>) {
    if let Some(u) = super::commands::understand(req.question, req.context, req.history) {
        return (u.text, Vec::new(), u.calls);
    }
    let (content, items) = answer(req.question, req.context, req.history);
    (content, items, Vec::new())
}

/// The size of the pieces the analyst streams its answer in, in bytes (at word boundaries).
const STREAM_PIECE: usize = 24;

/// Splits text into pieces of about `size` bytes, each ending after whitespace where it can.
pub fn pieces(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(size);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        if end < rest.len()
            && let Some(ws) = rest[end..].find(char::is_whitespace)
        {
            end += ws;
            end += rest[end..].chars().next().map_or(0, char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}

/// Answers `question` from `ctx`, reading follow-ups against `history`: the Markdown text and
/// the items it named.
pub fn answer(
    question: &str,
    ctx: &OpsContext,
    history: &[HistoryMessage],
) -> (String, Vec<ItemRef>) {
    let mut out = Answer::default();
    for (i, ask) in understand::understand(question, ctx, history)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.line("");
        }
        write(ctx, ask, &mut out);
    }
    (out.text.trim_end().to_string(), out.items)
}

fn write(ctx: &OpsContext, ask: Ask<'_>, out: &mut Answer) {
    match ask {
        Ask::Help => reports::capabilities(ctx, false, out),
        Ask::Greeting => {
            out.line("Hello! Here is where your day stands.");
            out.line("");
            reports::summary(ctx, out);
        }
        Ask::Thanks => out.line(
            "You're welcome. Ask me anything about your tasks, follow-ups or the digest when you need it.",
        ),
        Ask::Unknown => reports::capabilities(ctx, true, out),
        Ask::Unsupported(say) => out.line(say),
        Ask::Plan { minutes } => planner::plan(ctx, minutes, out),
        Ask::Urgent => reports::urgent(ctx, out),
        Ask::Summary => reports::summary(ctx, out),
        Ask::Missed => reports::missed(ctx, out),
        Ask::Deadlines => reports::deadlines(ctx, out),
        Ask::FollowUps => reports::follow_ups(ctx, out),
        Ask::Delegate => reports::delegate(ctx, out),
        Ask::Digest { terms } => digest::answer(ctx, &terms, out),
        Ask::Find(q) => find::answer(ctx, &q, out),
        Ask::Item(ask, item) => items::answer_item(ctx, ask, item, out),
        Ask::Compare(a, b) => items::compare(ctx, a, b, out),
        Ask::NotFound { name, ask } => items::not_found(ctx, &name, ask, out),
        Ask::Guess { name, ask, item } => items::guess(ctx, &name, ask, item, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rebuild_the_text() {
        let text = "**Most urgent** — café ünïcødé\n\n1. Fix walk-in cooler door gasket";
        let parts: Vec<&str> = pieces(text, 8).collect();
        assert!(parts.len() > 3, "{parts:?}");
        assert_eq!(parts.concat(), text);
    }
}
