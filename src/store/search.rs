//! Full-text search over a user's conversations: PostgreSQL `tsvector` + GIN with
//! `ts_rank_cd` and `ts_headline`, SQLite FTS5 with `bm25` and `snippet`. The query syntax is
//! parsed once (`domain::search`) and written for each; the snippet marks matches between
//! `MARK_START` and `MARK_END`, which the HTTP layer turns into `<mark>` after escaping.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Page, StoreResult};
use crate::domain::{Role, search::SearchQuery};

/// Opens a match in a snippet (a private-use character no text of ours contains).
pub const MARK_START: char = '\u{E000}';
/// Closes a match in a snippet.
pub const MARK_END: char = '\u{E001}';

/// Totals are counted up to this many matches; `total` says "at least" beyond it.
pub const MAX_COUNT: i64 = 1000;
/// Ranking considers the most recent this many matches: scoring every match of a common word
/// in a long history costs far more than a search may (tens of thousands of rows), while the
/// newest few thousand are found by walking an index newest first.
pub const CANDIDATES: i64 = 1000;

/// What to search and how to narrow it.
#[derive(Debug, Clone)]
pub struct SearchFilter {
    pub query: SearchQuery,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub role: Option<Role>,
    pub model: Option<String>,
    pub include_archived: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A message that matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MessageHit {
    pub message_id: Uuid,
    pub session_id: Uuid,
    pub session_title: String,
    pub session_started_at: DateTime<Utc>,
    pub session_archived: bool,
    pub seq: i64,
    pub role: Role,
    pub model_used: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The text around the matches, matches between `MARK_START` and `MARK_END`.
    pub snippet: String,
    /// Higher is better.
    pub rank: f64,
}

/// A session whose title matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TitleHit {
    pub session_id: Uuid,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub archived: bool,
}

#[async_trait]
pub trait Search: Send + Sync {
    /// The owner's messages that match, best first.
    async fn search_messages(&self, owner: &str, f: &SearchFilter)
    -> StoreResult<Page<MessageHit>>;
    /// The owner's sessions whose title matches, most recent first.
    async fn search_titles(&self, owner: &str, f: &SearchFilter) -> StoreResult<Vec<TitleHit>>;
}

/// The filters shared by both backends, as SQL over `m` (messages) and `s` (sessions),
/// with placeholders from `$first` on; returns the clause and its values in order.
pub(crate) fn filters(f: &SearchFilter, first: usize) -> (String, Vec<FilterArg>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    let mut n = first;
    if let Some(from) = f.from {
        sql.push_str(&format!(" AND m.created_at >= ${n}"));
        args.push(FilterArg::Time(from));
        n += 1;
    }
    if let Some(to) = f.to {
        sql.push_str(&format!(" AND m.created_at < ${n}"));
        args.push(FilterArg::Time(to));
        n += 1;
    }
    if let Some(role) = f.role {
        sql.push_str(&format!(" AND m.role = ${n}"));
        args.push(FilterArg::Text(role.as_str().to_string()));
        n += 1;
    }
    if let Some(model) = &f.model {
        sql.push_str(&format!(" AND m.model_used = ${n}"));
        args.push(FilterArg::Text(model.clone()));
    }
    if !f.include_archived {
        sql.push_str(" AND s.is_active");
    }
    sql.push_str(" AND m.status NOT IN ('superseded', 'failed')");
    (sql, args)
}

#[derive(Debug, Clone)]
pub(crate) enum FilterArg {
    Text(String),
    Time(DateTime<Utc>),
}

macro_rules! bind_filters {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                crate::store::search::FilterArg::Text(s) => q.bind(s.clone()),
                crate::store::search::FilterArg::Time(t) => q.bind(*t),
            };
        }
        q
    }};
}
pub(crate) use bind_filters;
