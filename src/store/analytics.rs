//! What the analytics page is computed from, for one user or the whole instance over a time
//! range: replies, questions and sessions summed and counted by the database, per local day
//! (from `crate::analytics::Offsets`), model, outcome, session or user, from roll-ups where
//! there are some; timings and question days come as one list per group. The figures are
//! shaped in `crate::analytics`, the same way for both databases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::MessageStatus;

/// The longest question text read for grouping: enough for any question worth counting.
pub const QUESTION_CHARS: i64 = 300;

/// Replies summed per local day, model and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyDay {
    pub day: chrono::NaiveDate,
    pub model: Option<String>,
    pub status: MessageStatus,
    pub replies: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_usd: f64,
}

/// One user's totals in a range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserTotals {
    pub user_id: String,
    pub replies: i64,
    pub turns: i64,
    pub questions: i64,
    pub sessions: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

/// What the session-pattern figures are made of, counted by the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternCounts {
    /// Questions per local hour of the week (0 is Monday 00:00-01:00).
    pub hours_of_week: Vec<(i64, i64)>,
    /// How many sessions had this many questions in the range: (questions, sessions).
    pub questions_per_session: Vec<(i64, i64)>,
    /// Sessions started per local day.
    pub started: Vec<(chrono::NaiveDate, i64)>,
}

/// The timings of the replies that completed on one local day with one model: every stored
/// total time and time to first token, unordered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    pub day: chrono::NaiveDate,
    pub model: Option<String>,
    pub latency_ms: Vec<i64>,
    pub first_token_ms: Vec<i64>,
}

/// The integers of a comma-separated list from `Dialect::int_list` (none for NULL).
pub(crate) fn int_list(list: Option<&str>) -> StoreResult<Vec<i64>> {
    list.unwrap_or_default()
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|e| {
                super::StoreError::Backend(anyhow::anyhow!("an aggregated list held {v:?}: {e}"))
            })
        })
        .collect()
}

/// The local days of the questions in a range that share one normalised key (the words of
/// `analytics::questions::key`, joined by spaces), one entry per question.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyedDays {
    pub key: String,
    pub days: Vec<chrono::NaiveDate>,
}

/// The keyed questions of a range, as `question_keys` reads them: every key of up to
/// `MAX_WORDS` words (those may merge by similarity), and of the longer keys (which group only
/// with themselves) the `limit` most asked, with how many longer keys and questions there
/// are in all, listed or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuestionKeys {
    pub keys: Vec<KeyedDays>,
    pub long_keys: i64,
    pub long_questions: i64,
}

/// How often one wording (its first `QUESTION_CHARS` characters) of a key was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Wording {
    pub key: String,
    pub text: String,
    pub count: i64,
}

/// The stored form of a question's key: its words joined by spaces ('' for none).
pub fn stored_key(question: &str) -> String {
    let head: String = question.chars().take(QUESTION_CHARS as usize).collect();
    crate::analytics::questions::key(&head)
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terms (over `m`, a row of `chat_messages`) that select the questions with a key of one
/// to `MAX_WORDS` words. Written exactly as the predicate of `chat_messages_short_questions`
/// (migration 0014): a query uses a partial index only when its WHERE repeats it.
pub const SHORT_KEY: &str = "m.role = 'user' AND m.question_key <> '' \
    AND length(m.question_key) - length(replace(m.question_key, ' ', '')) < 8";
/// The questions with a key of more than `MAX_WORDS` words, as `chat_messages_long_questions`
/// selects them.
pub const LONG_KEY: &str = "m.role = 'user' \
    AND length(m.question_key) - length(replace(m.question_key, ' ', '')) >= 8";

/// How many questions `key_questions` keys per statement.
pub const KEY_BATCH: i64 = 1000;

/// An item answers drew on, and how many answers did.
#[derive(Debug, Clone, PartialEq)]
pub struct Cited {
    pub kind: String,
    pub id: Uuid,
    pub title: String,
    pub answers: i64,
}

/// The backlog one session started with (from its `context_snapshot`), on its local day.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub day: chrono::NaiveDate,
    pub open_tasks: Option<i64>,
    pub overdue: Option<i64>,
}

/// What differs between the databases in the analytics queries.
pub(crate) struct Dialect {
    /// SQL for the whole seconds since 1970 of a timestamp column.
    pub epoch: fn(&str) -> String,
    /// Joins each reply to the elements `e` of its `context_used.items_used`.
    pub cited_join: &'static str,
    /// SQL for a text field of an element `e`, NULL unless `e` is an object.
    pub cited_field: fn(&str) -> String,
    /// `s.context_snapshot`'s `open_tasks` as text when it is an integer, and the length of
    /// its `overdue` list when it is one.
    pub open_tasks: &'static str,
    pub overdue: &'static str,
    /// SQL aggregating an integer column into one comma-separated text (NULLs left out), so
    /// that a group's values cross from the database as one value instead of a row each.
    pub int_list: fn(&str) -> String,
    /// An UPDATE storing question keys from `$1`, a JSON array of `{"i": id, "k": key}`.
    pub set_keys: &'static str,
}

#[async_trait]
pub trait Analytics: Send + Sync {
    /// Replies created in `[from, to)`, of `owner` or of everyone, summed per local day (in
    /// `offsets`), model and outcome.
    async fn reply_days(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: &crate::analytics::Offsets,
    ) -> StoreResult<Vec<ReplyDay>>;
    /// Each user's replies, turns, questions, sessions, tokens and cost in `[from, to)`.
    async fn user_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UserTotals>>;
    /// Cost per conversation: the sessions with replies in `[from, to)`, summed, sorted by
    /// `sort` (then newest first, then by id), the page `[offset, offset + limit)` with each
    /// session's replies per model; and how many sessions there are in all.
    #[allow(clippy::too_many_arguments)]
    async fn session_costs(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        sort: crate::analytics::SessionSort,
        ascending: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<crate::analytics::SessionCost>, i64)>;
    /// Questions per local hour of the week and per session, and sessions started per local
    /// day, in `[from, to)`.
    async fn pattern_counts(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: &crate::analytics::Offsets,
    ) -> StoreResult<PatternCounts>;
    /// The timings of the replies that completed in `[from, to)`, per local day and model.
    async fn timings(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: &crate::analytics::Offsets,
    ) -> StoreResult<Vec<Timings>>;
    /// Stores the key of every question in `[from, to)` (of `owner` or of everyone) that has
    /// none yet (questions from before migration 0013: new and restored ones get theirs when
    /// they are written), `KEY_BATCH` per statement; returns how many it keyed.
    async fn key_questions(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The keyed questions in `[from, to)`, per key, with each one's local day: all short
    /// keys and the `limit` most asked long ones (see `QuestionKeys`).
    async fn question_keys(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: &crate::analytics::Offsets,
        limit: i64,
    ) -> StoreResult<QuestionKeys>;
    /// The wordings of the questions with one of `keys` among the latest `recent` such
    /// questions in `[from, to)`, counted.
    async fn wordings(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        keys: &[String],
        recent: i64,
    ) -> StoreResult<Vec<Wording>>;
    /// The items answers (not regenerated ones) in `[from, to)` drew on most, most first.
    async fn cited(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Cited>>;
    /// The backlog of each session started in `[from, to)`.
    async fn backlog(
        &self,
        owner: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offsets: &crate::analytics::Offsets,
    ) -> StoreResult<Vec<Backlog>>;
}

/// `AND s.user_id = $3` when one user is asked about.
pub(crate) fn owner_clause(owner: Option<&str>) -> &'static str {
    if owner.is_some() {
        " AND s.user_id = $3"
    } else {
        ""
    }
}

/// The questions and replies in `[$1, $2)` (of `$3` when `owner` is given) as `r`: `user_id`,
/// `at` (epoch seconds), `session_id`, `role`, `model` ('' when none), `status`, and the sums
/// `messages`, `prompt_tokens`, `completion_tokens`, `cached_tokens` and `cost_nusd`
/// (nano-dollars). From the roll-up when `rollup` (one row per quarter-hour, session, role,
/// model and outcome: `at` is the quarter-hour's start, so the range's ends and the day and
/// hour boundaries asked about must fall on quarter-hours), from the messages otherwise.
pub(crate) fn counted(d: &Dialect, owner: Option<&str>, rollup: bool) -> String {
    if rollup {
        let owned = if owner.is_some() {
            " AND user_id = $3"
        } else {
            ""
        };
        format!(
            "(SELECT user_id, bucket AS at, session_id, role, model, status, messages, \
               prompt_tokens, completion_tokens, cached_tokens, cost_nusd \
             FROM chat_rollup WHERE bucket >= {} AND bucket < {}{owned}) r",
            (d.epoch)("$1"),
            (d.epoch)("$2")
        )
    } else {
        // The same figures per message as the roll-up's triggers count: rows from before the
        // token split kept only a total, counted as output.
        format!(
            "(SELECT s.user_id, {} AS at, m.session_id, m.role, \
               COALESCE(m.model_used, '') AS model, m.status, 1 AS messages, \
               COALESCE(m.prompt_tokens, 0) AS prompt_tokens, \
               CASE WHEN m.prompt_tokens IS NULL AND m.completion_tokens IS NULL \
                 THEN COALESCE(m.tokens_used, 0) ELSE COALESCE(m.completion_tokens, 0) END \
                 AS completion_tokens, \
               COALESCE(m.cached_tokens, 0) AS cached_tokens, \
               CAST(ROUND(COALESCE(m.cost_usd, 0) * 1e9) AS BIGINT) AS cost_nusd \
             FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
             WHERE m.created_at >= $1 AND m.created_at < $2{}) r",
            (d.epoch)("m.created_at"),
            owner_clause(owner)
        )
    }
}

/// Whether the roll-up can answer for `[from, to)`: both ends on a quarter-hour.
pub(crate) fn on_quarter_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    from.timestamp().rem_euclid(900) == 0 && to.timestamp().rem_euclid(900) == 0
}

/// The sums of `counted` rows, as `replies` (or messages), tokens and `cost_nusd`.
pub(crate) const SUMS: &str = "CAST(SUM(r.messages) AS BIGINT) AS replies, \
     CAST(SUM(r.prompt_tokens) AS BIGINT) AS prompt_tokens, \
     CAST(SUM(r.completion_tokens) AS BIGINT) AS completion_tokens, \
     CAST(SUM(r.cached_tokens) AS BIGINT) AS cached_tokens, \
     CAST(SUM(r.cost_nusd) AS BIGINT) AS cost_nusd";

/// Replies that are a turn's answer: all but the regenerated (superseded) ones.
pub(crate) const TURNS: &str =
    "CAST(SUM(CASE WHEN r.status <> 'superseded' THEN r.messages ELSE 0 END) AS BIGINT)";

/// The whole UTC days inside `[from, to)`, as the start of the first and the end of the last,
/// when there is one.
pub(crate) fn whole_utc_days(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day_start = |t: DateTime<Utc>| {
        DateTime::<Utc>::from_timestamp(t.timestamp().div_euclid(86_400) * 86_400, 0)
    };
    let mut first = day_start(from)?;
    if first < from {
        first += chrono::Duration::days(1);
    }
    let end = day_start(to)?;
    (first < end).then_some((first, end))
}

/// The cited items of several `kind, id, title, n` result sets, summed per item (the greatest
/// title), most cited first, then by id; ids that are not UUIDs are not items and are left out.
pub(crate) fn merge_cited<'r, R: sqlx::Row + 'r>(
    rows: impl Iterator<Item = &'r R>,
    limit: i64,
) -> StoreResult<Vec<Cited>>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'d> sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    i64: for<'d> sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
{
    let mut items: std::collections::HashMap<(String, Uuid), (String, i64)> = Default::default();
    for r in rows {
        let Ok(id) = Uuid::parse_str(&r.try_get::<String, _>("id")?) else {
            continue;
        };
        let (title, n): (String, i64) = (r.try_get("title")?, r.try_get("n")?);
        let e = items.entry((r.try_get("kind")?, id)).or_default();
        e.1 += n;
        if title > e.0 {
            e.0 = title;
        }
    }
    let mut out: Vec<Cited> = items
        .into_iter()
        .map(|((kind, id), (title, answers))| Cited {
            kind,
            id,
            title,
            answers,
        })
        .collect();
    out.sort_by(|a, b| b.answers.cmp(&a.answers).then(a.id.cmp(&b.id)));
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

/// Dollars from summed nano-dollars.
pub(crate) fn dollars(nusd: i64) -> f64 {
    nusd as f64 / 1e9
}

/// `$dialect` is the backend's `Dialect`.
macro_rules! sql_analytics {
    ($store:ident, $row:ty, $id:ty, $dialect:expr) => {
        impl $store {
            /// Runs an analytics query: `$1`/`$2` the range, `$3` the owner when there is one.
            async fn analytics_rows(
                &self,
                sql: String,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<$row>> {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
                if let Some(o) = owner {
                    q = q.bind(o.to_string());
                }
                Ok(q.fetch_all(&self.pool).await?)
            }
        }

        #[async_trait::async_trait]
        impl crate::store::analytics::Analytics for $store {
            async fn reply_days(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                offsets: &crate::analytics::Offsets,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::ReplyDay>> {
                use crate::store::analytics::{counted, dollars, on_quarter_hours, SUMS};
                use crate::store::sql::stored;
                use sqlx::Row;
                let rollup = on_quarter_hours(from, to) && offsets.on_quarter_hours();
                let sql = format!(
                    "SELECT {} AS day, NULLIF(r.model, '') AS model_used, r.status, {SUMS} \
                     FROM {} WHERE r.role = 'assistant' GROUP BY 1, 2, 3",
                    offsets.local_day("r.at"),
                    counted(&$dialect, owner, rollup)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::ReplyDay {
                            day: crate::analytics::day_of(r.try_get("day")?),
                            model: r.try_get("model_used")?,
                            status: stored(r.try_get("status")?)?,
                            replies: r.try_get("replies")?,
                            prompt_tokens: r.try_get("prompt_tokens")?,
                            completion_tokens: r.try_get("completion_tokens")?,
                            cached_tokens: r.try_get("cached_tokens")?,
                            cost_usd: dollars(r.try_get("cost_nusd")?),
                        })
                    })
                    .collect()
            }

            async fn user_totals(
                &self,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::UserTotals>> {
                use crate::store::analytics::{counted, dollars, on_quarter_hours, SUMS, TURNS};
                use sqlx::Row;
                let src = counted(&$dialect, None, on_quarter_hours(from, to));
                let replies = format!(
                    "SELECT r.user_id, {SUMS}, {TURNS} AS turns FROM {src} \
                     WHERE r.role = 'assistant' GROUP BY r.user_id"
                );
                let asked = format!(
                    "SELECT r.user_id, \
                       CAST(SUM(CASE WHEN r.role = 'user' THEN r.messages ELSE 0 END) AS BIGINT) \
                         AS questions, \
                       COUNT(DISTINCT r.session_id) AS sessions \
                     FROM {src} GROUP BY r.user_id"
                );
                let (replies, asked) = tokio::try_join!(
                    self.analytics_rows(replies, None, from, to),
                    self.analytics_rows(asked, None, from, to)
                )?;
                let mut out: std::collections::BTreeMap<String, crate::store::analytics::UserTotals> =
                    std::collections::BTreeMap::new();
                for r in &replies {
                    let user_id: String = r.try_get("user_id")?;
                    let t = out.entry(user_id.clone()).or_default();
                    t.user_id = user_id;
                    t.replies = r.try_get("replies")?;
                    t.turns = r.try_get("turns")?;
                    t.prompt_tokens = r.try_get("prompt_tokens")?;
                    t.completion_tokens = r.try_get("completion_tokens")?;
                    t.cost_usd = dollars(r.try_get("cost_nusd")?);
                }
                for r in &asked {
                    let user_id: String = r.try_get("user_id")?;
                    let t = out.entry(user_id.clone()).or_default();
                    t.user_id = user_id;
                    t.questions = r.try_get("questions")?;
                    t.sessions = r.try_get("sessions")?;
                }
                Ok(out.into_values().collect())
            }

            async fn session_costs(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                sort: crate::analytics::SessionSort,
                ascending: bool,
                limit: i64,
                offset: i64,
            ) -> crate::store::StoreResult<(Vec<crate::analytics::SessionCost>, i64)> {
                use crate::analytics::SessionSort;
                use crate::store::analytics::{counted, dollars, on_quarter_hours, SUMS, TURNS};
                use crate::store::sql::IdRepr;
                use sqlx::Row;
                let src = counted(&$dialect, owner, on_quarter_hours(from, to));
                // Sorted on the sums the page shows, named in the inner query.
                let key = match sort {
                    // Costs compare as the millionths of a dollar they are shown in.
                    SessionSort::Cost => "ROUND(t.cost_nusd / 1000.0)",
                    SessionSort::Tokens => "t.prompt_tokens + t.completion_tokens",
                    SessionSort::Turns => "t.turns",
                    SessionSort::Started => "s.started_at",
                };
                let dir = if ascending { "ASC" } else { "DESC" };
                let page = format!(
                    "SELECT t.*, s.user_id, s.title, s.started_at FROM ( \
                       SELECT r.session_id, {TURNS} AS turns, {SUMS} FROM {src} \
                       WHERE r.role = 'assistant' GROUP BY r.session_id) t \
                     JOIN chat_sessions s ON s.id = t.session_id \
                     ORDER BY {key} {dir}, s.started_at DESC, t.session_id \
                     LIMIT {limit} OFFSET {offset}"
                );
                let count = format!(
                    "SELECT COUNT(DISTINCT r.session_id) AS n FROM {src} WHERE r.role = 'assistant'"
                );
                let (page, count) = tokio::try_join!(
                    self.analytics_rows(page, owner, from, to),
                    self.analytics_rows(count, owner, from, to)
                )?;
                let total: i64 = match count.first() {
                    Some(r) => r.try_get("n")?,
                    None => 0,
                };
                let mut rows = Vec::with_capacity(page.len());
                for r in &page {
                    let prompt: i64 = r.try_get("prompt_tokens")?;
                    let completion: i64 = r.try_get("completion_tokens")?;
                    rows.push(crate::analytics::SessionCost {
                        session_id: IdRepr::into_uuid(r.try_get::<$id, _>("session_id")?),
                        title: Some(r.try_get("title")?),
                        user_id: r.try_get("user_id")?,
                        started_at: r.try_get("started_at")?,
                        turns: r.try_get("turns")?,
                        input_tokens: prompt,
                        output_tokens: completion,
                        tokens: prompt + completion,
                        cost_usd: crate::analytics::usd(dollars(r.try_get("cost_nusd")?)),
                        models: std::collections::BTreeMap::new(),
                    });
                }
                if !rows.is_empty() {
                    // The model mix of this page's sessions only.
                    let ids: Vec<String> = rows
                        .iter()
                        .map(|r| format!("'{}'", r.session_id.hyphenated()))
                        .collect();
                    let mix = format!(
                        "SELECT r.session_id, NULLIF(r.model, '') AS model_used, \
                           CAST(SUM(r.messages) AS BIGINT) AS replies \
                         FROM {src} WHERE r.role = 'assistant' AND r.session_id IN ({}) \
                         GROUP BY r.session_id, r.model",
                        ids.join(", ")
                    );
                    let by_id: std::collections::HashMap<uuid::Uuid, usize> =
                        rows.iter().enumerate().map(|(i, r)| (r.session_id, i)).collect();
                    for r in self.analytics_rows(mix, owner, from, to).await? {
                        let id = IdRepr::into_uuid(r.try_get::<$id, _>("session_id")?);
                        let model: Option<String> = r.try_get("model_used")?;
                        if let Some(&i) = by_id.get(&id) {
                            rows[i]
                                .models
                                .insert(crate::analytics::model_name(model), r.try_get("replies")?);
                        }
                    }
                }
                Ok((rows, total))
            }

            async fn pattern_counts(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                offsets: &crate::analytics::Offsets,
            ) -> crate::store::StoreResult<crate::store::analytics::PatternCounts> {
                use crate::store::analytics::{counted, on_quarter_hours};
                use sqlx::Row;
                let epoch = $dialect.epoch;
                let owned = crate::store::analytics::owner_clause(owner);
                let rollup = on_quarter_hours(from, to) && offsets.on_quarter_hours();
                let src = counted(&$dialect, owner, rollup);
                let hours = format!(
                    "SELECT ({} / 3600) % 168 AS h, CAST(SUM(r.messages) AS BIGINT) AS n \
                     FROM {src} WHERE r.role = 'user' GROUP BY 1",
                    offsets.local_seconds("r.at")
                );
                let per_session = format!(
                    "SELECT q, COUNT(*) AS n FROM \
                       (SELECT CAST(SUM(r.messages) AS BIGINT) AS q FROM {src} \
                        WHERE r.role = 'user' GROUP BY r.session_id) t GROUP BY q"
                );
                let started = format!(
                    "SELECT {} AS day, COUNT(*) AS n FROM chat_sessions s \
                     WHERE s.started_at >= $1 AND s.started_at < $2{owned} GROUP BY 1",
                    offsets.local_day(&epoch("s.started_at"))
                );
                let (hours, per_session, started) = tokio::try_join!(
                    self.analytics_rows(hours, owner, from, to),
                    self.analytics_rows(per_session, owner, from, to),
                    self.analytics_rows(started, owner, from, to)
                )?;
                let pairs = |rows: &[$row], a: &str| -> crate::store::StoreResult<Vec<(i64, i64)>> {
                    rows.iter()
                        .map(|r| Ok((r.try_get(a)?, r.try_get("n")?)))
                        .collect()
                };
                Ok(crate::store::analytics::PatternCounts {
                    hours_of_week: pairs(&hours, "h")?,
                    questions_per_session: pairs(&per_session, "q")?,
                    started: pairs(&started, "day")?
                        .into_iter()
                        .map(|(d, n)| (crate::analytics::day_of(d), n))
                        .collect(),
                })
            }

            async fn timings(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                offsets: &crate::analytics::Offsets,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::Timings>> {
                use crate::store::analytics::int_list;
                use sqlx::Row;
                let d = &$dialect;
                // Read through the covering index `chat_messages_timings` (migration 0011),
                // each day and model's values as one list: 100,000 replies are a few hundred
                // rows to decode, not 100,000.
                let sql = format!(
                    "SELECT {} AS day, m.model_used, {} AS latency, {} AS first_token \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                     WHERE m.role = 'assistant' AND m.status = 'complete' \
                       AND m.created_at >= $1 AND m.created_at < $2{} \
                     GROUP BY 1, 2",
                    offsets.local_day(&(d.epoch)("m.created_at")),
                    (d.int_list)("m.latency_ms"),
                    (d.int_list)("m.first_token_ms"),
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::Timings {
                            day: crate::analytics::day_of(r.try_get("day")?),
                            model: r.try_get("model_used")?,
                            latency_ms: int_list(r.try_get("latency")?)?,
                            first_token_ms: int_list(r.try_get("first_token")?)?,
                        })
                    })
                    .collect()
            }

            async fn key_questions(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<u64> {
                use crate::store::analytics::{stored_key, KEY_BATCH, QUESTION_CHARS};
                use sqlx::Row;
                let sql = format!(
                    "SELECT m.id, substr(m.content, 1, {QUESTION_CHARS}) AS text \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                     WHERE m.role = 'user' AND m.question_key IS NULL \
                       AND m.created_at >= $1 AND m.created_at < $2{} \
                     LIMIT {KEY_BATCH}",
                    crate::store::analytics::owner_clause(owner)
                );
                let mut keyed = 0u64;
                loop {
                    let rows = self.analytics_rows(sql.clone(), owner, from, to).await?;
                    let keys = rows
                        .iter()
                        .map(|r| {
                            let id: $id = r.try_get("id")?;
                            let text: String = r.try_get("text")?;
                            Ok(serde_json::json!({"i": id.to_string(), "k": stored_key(&text)}))
                        })
                        .collect::<crate::store::StoreResult<Vec<_>>>()?;
                    if keys.is_empty() {
                        return Ok(keyed);
                    }
                    let set = sqlx::query($dialect.set_keys)
                        .bind(serde_json::Value::Array(keys).to_string())
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    keyed += set;
                    // A batch that keyed nothing would be read again: stop rather than spin.
                    if (rows.len() as i64) < KEY_BATCH || set == 0 {
                        return Ok(keyed);
                    }
                }
            }

            async fn question_keys(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                offsets: &crate::analytics::Offsets,
                limit: i64,
            ) -> crate::store::StoreResult<crate::store::analytics::QuestionKeys> {
                use crate::store::analytics::{int_list, LONG_KEY, SHORT_KEY};
                use sqlx::Row;
                let d = &$dialect;
                let days = (d.int_list)(&offsets.local_day(&(d.epoch)("m.created_at")));
                let owned = crate::store::analytics::owner_clause(owner);
                // Each from its own covering partial index (migration 0014), at once: every
                // short key with its days as one list, and of the long keys (statements, that
                // only group with themselves) the most asked, with the totals of all of them.
                let short = format!(
                    "SELECT m.question_key AS k, {days} AS days \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                     WHERE {SHORT_KEY} AND m.created_at >= $1 AND m.created_at < $2{owned} \
                     GROUP BY 1"
                );
                let long = format!(
                    "SELECT k, days, long_keys, long_questions FROM \
                       (SELECT k, days, n, COUNT(*) OVER () AS long_keys, \
                          CAST(SUM(n) OVER () AS BIGINT) AS long_questions FROM \
                          (SELECT m.question_key AS k, {days} AS days, COUNT(*) AS n \
                           FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                           WHERE {LONG_KEY} AND m.created_at >= $1 AND m.created_at < $2{owned} \
                           GROUP BY 1) g) t \
                     ORDER BY n DESC, k LIMIT {limit}"
                );
                let (short, long) = futures::try_join!(
                    self.analytics_rows(short, owner, from, to),
                    self.analytics_rows(long, owner, from, to)
                )?;
                let mut out = crate::store::analytics::QuestionKeys::default();
                for r in short.iter().chain(&long) {
                    out.keys.push(crate::store::analytics::KeyedDays {
                        key: r.try_get("k")?,
                        days: int_list(r.try_get("days")?)?
                            .into_iter()
                            .map(crate::analytics::day_of)
                            .collect(),
                    });
                }
                if let Some(r) = long.first() {
                    out.long_keys = r.try_get("long_keys")?;
                    out.long_questions = r.try_get("long_questions")?;
                }
                Ok(out)
            }

            async fn wordings(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                keys: &[String],
                recent: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::Wording>> {
                use sqlx::Row;
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                // Keys are words of letters and digits; quoted all the same.
                let listed = keys
                    .iter()
                    .map(|k| format!("'{}'", k.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT t.k, t.text, COUNT(*) AS n FROM \
                       (SELECT m.question_key AS k, substr(m.content, 1, {}) AS text \
                        FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
                        WHERE m.role = 'user' AND m.question_key IN ({listed}) \
                          AND m.created_at >= $1 AND m.created_at < $2{} \
                        ORDER BY m.created_at DESC LIMIT {recent}) t \
                     GROUP BY 1, 2",
                    crate::store::analytics::QUESTION_CHARS,
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::Wording {
                            key: r.try_get("k")?,
                            text: r.try_get("text")?,
                            count: r.try_get("n")?,
                        })
                    })
                    .collect()
            }

            async fn cited(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::Cited>> {
                use crate::store::analytics::{merge_cited, whole_utc_days};
                let d = &$dialect;
                let (kind, id, title) =
                    ((d.cited_field)("kind"), (d.cited_field)("id"), (d.cited_field)("title"));
                // Partial days from the messages' own `items_used`…
                let raw = format!(
                    "SELECT {kind} AS kind, {id} AS id, MAX(COALESCE({title}, '')) AS title, \
                       COUNT(*) AS n \
                     FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id {} \
                     WHERE m.role = 'assistant' AND m.status <> 'superseded' \
                       AND m.created_at >= $1 AND m.created_at < $2{} \
                       AND {kind} IS NOT NULL AND length({id}) = 36 \
                     GROUP BY 1, 2",
                    d.cited_join,
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = match whole_utc_days(from, to) {
                    None => vec![self.analytics_rows(raw, owner, from, to).await?],
                    Some((first, end)) => {
                        // …whole UTC days from the roll-up (migration 0012).
                        let owned = if owner.is_some() { " AND c.user_id = $3" } else { "" };
                        let rolled = format!(
                            "SELECT c.kind, c.item_id AS id, MAX(c.title) AS title, \
                               CAST(SUM(c.answers) AS BIGINT) AS n \
                             FROM chat_cited c \
                             WHERE c.day >= {} / 86400 AND c.day < {} / 86400{owned} \
                             GROUP BY 1, 2",
                            (d.epoch)("$1"),
                            (d.epoch)("$2")
                        );
                        let (a, b, c) = tokio::try_join!(
                            self.analytics_rows(rolled, owner, first, end),
                            self.analytics_rows(raw.clone(), owner, from, first),
                            self.analytics_rows(raw, owner, end, to)
                        )?;
                        vec![a, b, c]
                    }
                };
                merge_cited(rows.iter().flatten(), limit)
            }

            async fn backlog(
                &self,
                owner: Option<&str>,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                offsets: &crate::analytics::Offsets,
            ) -> crate::store::StoreResult<Vec<crate::store::analytics::Backlog>> {
                use sqlx::Row;
                let d = &$dialect;
                let sql = format!(
                    "SELECT {} AS day, {} AS open_tasks, {} AS overdue FROM chat_sessions s \
                     WHERE s.context_snapshot IS NOT NULL \
                       AND s.started_at >= $1 AND s.started_at < $2{}",
                    offsets.local_day(&(d.epoch)("s.started_at")),
                    d.open_tasks,
                    d.overdue,
                    crate::store::analytics::owner_clause(owner)
                );
                let rows = self.analytics_rows(sql, owner, from, to).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::analytics::Backlog {
                            day: crate::analytics::day_of(r.try_get("day")?),
                            open_tasks: r
                                .try_get::<Option<String>, _>("open_tasks")?
                                .and_then(|v| v.parse().ok()),
                            overdue: r.try_get("overdue")?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use sql_analytics;

#[cfg(test)]
mod tests {
    use super::{LONG_KEY, SHORT_KEY};
    use crate::analytics::questions::MAX_WORDS;

    /// Whitespace-insensitive: the migrations wrap their lines.
    fn squeezed(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn question_queries_repeat_their_partial_indexes_predicates() {
        // A predicate that drifted from its index's would still answer right, only slowly.
        assert_eq!(MAX_WORDS, 8, "migration 0014's predicates say 8 words");
        for migration in [
            include_str!("../../migrations/sqlite/0014_question_lengths.sql"),
            include_str!("../../migrations/postgres/0014_question_lengths.sql"),
        ] {
            let migration = squeezed(migration);
            for (index, terms) in [("short", SHORT_KEY), ("long", LONG_KEY)] {
                let terms = squeezed(&terms.replace("m.", ""));
                let create = migration
                    .split(';')
                    .find(|s| s.contains(&format!("chat_messages_{index}_questions ON")))
                    .unwrap_or_else(|| panic!("no {index} index"));
                assert!(
                    create.ends_with(&format!("WHERE {terms}")),
                    "{index}: {create} does not end with WHERE {terms}"
                );
            }
        }
    }
}
