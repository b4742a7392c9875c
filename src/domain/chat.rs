//! Chat sessions and messages as they are stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The longest message a user may send, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

word_enum!(
    /// Who wrote a message.
    Role, "role", { User => "user", Assistant => "assistant" }
);

word_enum!(
    /// The lifecycle state of a stored message.
    ///
    /// `Failed` and `Superseded` rows stay in the table for the audit trail but are not part of
    /// the conversation: they are not counted in `message_count` and not sent to the model.
    MessageStatus, "message status", {
        Complete => "complete",
        Streaming => "streaming",
        Stopped => "stopped",
        Interrupted => "interrupted",
        Failed => "failed",
        Superseded => "superseded",
    }
);

impl MessageStatus {
    /// Whether the message is part of the visible conversation (counted, sent as history).
    pub fn in_conversation(self) -> bool {
        !matches!(self, MessageStatus::Failed | MessageStatus::Superseded)
    }
}

/// A conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub id: Uuid,
    pub user_id: String,
    pub title: String,
    pub context_snapshot: Option<Value>,
    pub started_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub message_count: i32,
    pub is_active: bool,
}

/// One stored message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub session_id: Uuid,
    /// Position in the session, 1-based, gap-free: the stable order of the conversation.
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub context_used: Option<Value>,
    pub model_used: Option<String>,
    /// For a user message its own token count; for a reply the whole call (prompt + completion).
    pub tokens_used: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub status: MessageStatus,
    pub error: Option<String>,
    /// For a reply, the user message it answers.
    pub reply_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How a reply was produced (empty for questions and for replies stored before it was kept).
    #[serde(flatten)]
    pub stats: ReplyStats,
}

/// How a reply was produced, for analytics: who answered, how fast, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplyStats {
    /// The provider that answered: `local` (the offline analyst), `openai` (any
    /// OpenAI-compatible server) or `opschat` (replies opschat writes itself, e.g. on a "yes").
    pub provider: Option<String>,
    /// From sending the request to the last token (or the failure), in milliseconds.
    pub latency_ms: Option<i32>,
    /// From sending the request to the first token; the whole answer when not streamed.
    pub first_token_ms: Option<i32>,
    /// Prompt tokens the provider served from its cache, when it says so.
    pub cached_tokens: Option<i32>,
    /// The cost in US dollars at the prices of the day (`crate::pricing`); 0 for local models.
    pub cost_usd: Option<f64>,
}

/// Derives a session title from the first question: its first line, whitespace folded, cut at
/// a word boundary near 60 characters.
pub fn title_from_question(question: &str) -> String {
    const MAX: usize = 60;
    let line = question
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let folded: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= MAX {
        return if folded.is_empty() {
            "New chat".into()
        } else {
            folded
        };
    }
    let mut out = String::new();
    for word in folded.split(' ') {
        if out.chars().count() + word.chars().count() + 1 > MAX {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = folded.chars().take(MAX).collect();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line_and_are_cut_at_words() {
        assert_eq!(
            title_from_question("  What's most urgent today?\nthanks"),
            "What's most urgent today?"
        );
        let long =
            "Help me plan my next two hours because the dinner rush starts at five and I am behind";
        let t = title_from_question(long);
        assert!(t.ends_with('…') && t.chars().count() <= 61, "{t}");
        assert!(long.starts_with(t.trim_end_matches('…')));
        assert_eq!(title_from_question("   \n  "), "New chat");
    }
}
