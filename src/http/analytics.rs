//! `GET /api/analytics/...`: the figures behind the analytics page. Every endpoint takes the
//! same range (`days`, or `from` and `to`) and scope (`scope=all` or `user=ID`, admins only);
//! a user sees their own figures, an admin the instance's or one user's, without another
//! person's message text, session titles or item titles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use super::extract::ApiQuery;
use crate::analytics::{self, DayRange, SessionSort};
use crate::domain::User;

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    days: Option<String>,
    from: Option<String>,
    to: Option<String>,
    scope: Option<String>,
    user: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// What a request is about, resolved and checked.
struct Scope {
    range: DayRange,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    /// `None`: the whole instance.
    owner: Option<String>,
    /// Whether text (titles, questions) may be shown: only one's own.
    own: bool,
    /// The time zone days are counted in: the caller's.
    viewer: User,
    /// One of the few analytics requests allowed to run at once.
    _turn: tokio::sync::SemaphorePermit<'static>,
}

/// Analytics requests running at once on this instance: half the cores, at least one. A long
/// range is a scan of every reply in it; more of them at once would take the cores that chat
/// turns need, so further requests wait their turn instead.
fn limit() -> &'static tokio::sync::Semaphore {
    static LIMIT: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    LIMIT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

impl Scope {
    /// The viewer's local time of an instant.
    fn local(
        &self,
        s: &AppState,
    ) -> impl Fn(chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::FixedOffset> + Sync + use<>
    {
        let clock = s.chat.clock();
        let tz = self.viewer.tz();
        move |t| clock.local_in(t, tz)
    }

    /// The viewer's UTC offsets over the range, for the database to count local days.
    fn offsets(&self, s: &AppState) -> analytics::Offsets {
        let local = self.local(s);
        analytics::Offsets::over(&local, self.from, self.to)
    }
}

fn only(p: &Params, allowed: &[&str]) -> Result<(), ApiError> {
    for (name, given) in [
        ("sort", p.sort.is_some()),
        ("order", p.order.is_some()),
        ("limit", p.limit.is_some()),
        ("offset", p.offset.is_some()),
    ] {
        if given && !allowed.contains(&name) {
            return Err(ApiError::invalid_query(
                name,
                "is not a parameter of this endpoint",
            ));
        }
    }
    Ok(())
}

async fn scope(s: &AppState, me: &User, p: &Params) -> Result<Scope, ApiError> {
    let clock = s.chat.clock();
    let today = clock.local_in(clock.now(), me.tz()).date_naive();
    let range = DayRange::parse(today, p.days.as_deref(), p.from.as_deref(), p.to.as_deref())
        .map_err(|(f, m)| ApiError::invalid_query(f, m))?;
    let forbidden = |what: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{what} is for admins"),
        )
    };
    let (owner, own) = match (p.scope.as_deref().map(str::trim), p.user.as_deref()) {
        (Some("all"), Some(_)) => {
            return Err(ApiError::invalid_query(
                "user",
                "give either scope=all or user",
            ));
        }
        (Some("all"), None) if me.is_admin() => (None, false),
        (Some("all"), None) => return Err(forbidden("scope=all")),
        (Some("me") | None, None) => (Some(me.owner_key()), true),
        (Some("me") | None, Some(raw)) => {
            let id = Uuid::parse_str(raw.trim())
                .map_err(|_| ApiError::invalid_query("user", "is not a user id"))?;
            if id == me.id {
                (Some(me.owner_key()), true)
            } else if !me.is_admin() {
                return Err(forbidden("another user's figures"));
            } else {
                match s.chat.store().user(id).await? {
                    Some(u) => (Some(u.owner_key()), false),
                    None => return Err(ApiError::not_found("no such user")),
                }
            }
        }
        (Some(other), _) => {
            return Err(ApiError::invalid_query(
                "scope",
                format!("{other:?} is not me or all"),
            ));
        }
    };
    let from = s.chat.day_start(me, range.from);
    let to = s.chat.day_start(me, range.to + chrono::Duration::days(1));
    let turn = limit().acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
    })?;
    Ok(Scope {
        range,
        from,
        to,
        owner,
        own,
        viewer: me.clone(),
        _turn: turn,
    })
}

fn scoped(mut v: Value, sc: &Scope) -> Value {
    v["scope"] = match &sc.owner {
        None => json!("all"),
        Some(o) => json!({"user": o}),
    };
    v
}

/// The figures made from one query by local day.
enum Daily {
    Usage,
    Latency,
    Patterns,
}

/// One of the `Daily` figures: the parameters checked, the scope resolved, the query run with
/// the viewer's offsets over the range.
async fn daily(s: &AppState, me: &User, p: &Params, which: Daily) -> Result<Json<Value>, ApiError> {
    only(p, &[])?;
    let sc = scope(s, me, p).await?;
    let offsets = sc.offsets(s);
    let (store, owner) = (s.chat.store(), sc.owner.as_deref());
    let figures = match which {
        Daily::Usage => analytics::usage(
            &sc.range,
            &store.reply_days(owner, sc.from, sc.to, &offsets).await?,
        ),
        Daily::Latency => analytics::latency(
            &sc.range,
            &store.timings(owner, sc.from, sc.to, &offsets).await?,
        ),
        Daily::Patterns => analytics::patterns(
            &sc.range,
            &store
                .pattern_counts(owner, sc.from, sc.to, &offsets)
                .await?,
        ),
    };
    Ok(Json(scoped(figures, &sc)))
}

/// Tokens and cost per day stacked by model; turns and their outcomes.
pub async fn usage(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    daily(&s, &me.user, &p, Daily::Usage).await
}

/// p50/p95 of total time and time to first token, per day and model.
pub async fn latency(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    daily(&s, &me.user, &p, Daily::Latency).await
}

/// Cost per conversation: sessions with turns, tokens, cost and model mix, sortable.
pub async fn sessions(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["sort", "order", "limit", "offset"])?;
    let sort = p
        .sort
        .as_deref()
        .map(|v| {
            v.trim()
                .parse::<SessionSort>()
                .map_err(|e| ApiError::invalid_query("sort", e))
        })
        .transpose()?
        .unwrap_or(SessionSort::Cost);
    let ascending = match p.order.as_deref().map(str::trim) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(o) => {
            return Err(ApiError::invalid_query(
                "order",
                format!("{o:?} is not asc or desc"),
            ));
        }
    };
    let limit = super::chat::bounded(p.limit, 50, 500, "limit")? as usize;
    let offset = match p.offset {
        None => 0,
        Some(n) if n >= 0 => n as usize,
        Some(_) => return Err(ApiError::invalid_query("offset", "must not be negative")),
    };
    let sc = scope(&s, &me.user, &p).await?;
    let (mut rows, total) = s
        .chat
        .store()
        .session_costs(
            sc.owner.as_deref(),
            sc.from,
            sc.to,
            sort,
            ascending,
            limit as i64,
            offset as i64,
        )
        .await?;
    if !sc.own {
        rows.iter_mut().for_each(|r| r.title = None);
    }
    let total = total as usize;
    let next = (offset + rows.len() < total).then_some(offset + rows.len());
    Ok(Json(scoped(
        json!({"range": sc.range, "sessions": rows, "total": total, "next_offset": next}),
        &sc,
    )))
}

/// Busiest hours, turns per session, sessions per day.
pub async fn patterns(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    daily(&s, &me.user, &p, Daily::Patterns).await
}

/// The most common questions, grouped.
pub async fn questions(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["limit"])?;
    let limit = super::chat::bounded(p.limit, 20, 200, "limit")? as usize;
    let sc = scope(&s, &me.user, &p).await?;
    let (store, owner) = (s.chat.store(), sc.owner.as_deref());
    // Questions from before keys were stored (an upgrade, a restore) get theirs first;
    // start-up does the same for the whole history.
    store.key_questions(owner, sc.from, sc.to).await?;
    let keyed = store
        .question_keys(owner, sc.from, sc.to, &sc.offsets(&s), limit as i64)
        .await?;
    let groups = analytics::questions::group(&sc.range, &keyed.keys);
    let wordings = if sc.own {
        let keys = analytics::questions::wording_keys(&groups, limit);
        let recent = analytics::questions::RECENT_WORDINGS;
        store.wordings(owner, sc.from, sc.to, &keys, recent).await?
    } else {
        Vec::new()
    };
    Ok(Json(scoped(
        analytics::questions::common(
            &sc.range,
            &groups,
            analytics::questions::unlisted(&keyed),
            &wordings,
            sc.own,
            limit,
        ),
        &sc,
    )))
}

/// The items answers cited most and the backlog sessions started with.
pub async fn context(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&p, &["limit"])?;
    let limit = super::chat::bounded(p.limit, 10, 100, "limit")? as usize;
    let sc = scope(&s, &me.user, &p).await?;
    let offsets = sc.offsets(&s);
    let store = s.chat.store();
    let (cited, backlog) = tokio::try_join!(
        store.cited(sc.owner.as_deref(), sc.from, sc.to, limit as i64),
        store.backlog(sc.owner.as_deref(), sc.from, sc.to, &offsets)
    )?;
    Ok(Json(scoped(
        analytics::context(&sc.range, &cited, &backlog, sc.own),
        &sc,
    )))
}

/// Admin: each user's totals in the range (figures only).
pub async fn users(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(p): ApiQuery<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&p, &[])?;
    if p.scope.is_some() || p.user.is_some() {
        return Err(ApiError::invalid_query(
            "scope",
            "this endpoint is always the whole instance",
        ));
    }
    let sc = scope(&s, &me.user, &p).await?;
    let store = s.chat.store();
    let (users, totals) = tokio::try_join!(store.users(), store.user_totals(sc.from, sc.to))?;
    let totals: std::collections::HashMap<&str, &crate::store::analytics::UserTotals> =
        totals.iter().map(|t| (t.user_id.as_str(), t)).collect();
    let empty = crate::store::analytics::UserTotals::default();
    let out: Vec<Value> = users
        .iter()
        .map(|u| {
            let key = u.owner_key();
            let r = totals.get(key.as_str()).copied().unwrap_or(&empty);
            json!({
                "user_id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "sessions": r.sessions,
                "questions": r.questions,
                "turns": r.turns,
                "replies": r.replies,
                "input_tokens": r.prompt_tokens,
                "output_tokens": r.completion_tokens,
                "tokens": r.prompt_tokens + r.completion_tokens,
                "cost_usd": analytics::usd(r.cost_usd),
            })
        })
        .collect();
    Ok(Json(
        json!({"range": sc.range, "scope": "all", "users": out}),
    ))
}
