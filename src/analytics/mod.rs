//! Analytics over the stored history: what the chat costs, how fast it answers, what managers
//! ask and how sessions go. The store hands over one compact row per reply, question and
//! session in the range (`store::analytics`); the figures are computed here, identically for
//! both databases: days are the user's calendar days (their time zone), percentiles are exact
//! (nearest rank over the stored values), question groups come from `questions`.

pub mod questions;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::domain::MessageStatus;
use crate::store::analytics::{Backlog, Cited, PatternCounts, ReplyDay, Timings as Stored};

/// The longest range one request may cover.
pub const MAX_DAYS: i64 = 366;

/// A range of the user's calendar days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    /// `days` days ending today, or `from`..=`to`; an error names the parameter.
    pub fn parse(
        today: NaiveDate,
        days: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<DayRange, (&'static str, String)> {
        let date = |field: &'static str, v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map_err(|_| (field, format!("{v:?} is not a date (YYYY-MM-DD)")))
        };
        let range = match (days, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(("days", "give either days or from/to, not both".into()));
            }
            (_, Some(f), Some(t)) => DayRange {
                from: date("from", f)?,
                to: date("to", t)?,
            },
            (_, Some(_), None) => return Err(("to", "from needs a to".into())),
            (_, None, Some(_)) => return Err(("from", "to needs a from".into())),
            (d, None, None) => {
                let n = match d {
                    None => 30,
                    Some(d) => d
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (1..=MAX_DAYS).contains(n))
                        .ok_or((
                            "days",
                            format!("must be a whole number from 1 to {MAX_DAYS}"),
                        ))?,
                };
                DayRange {
                    from: today - Duration::days(n - 1),
                    to: today,
                }
            }
        };
        if range.to < range.from {
            return Err(("to", "must not be before from".into()));
        }
        if range.len() > MAX_DAYS {
            return Err(("to", format!("a range is at most {MAX_DAYS} days")));
        }
        Ok(range)
    }

    pub fn len(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() <= 0
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let from = self.from;
        (0..self.len()).map(move |i| from + Duration::days(i))
    }

    fn index(&self, day: NaiveDate) -> Option<usize> {
        let i = (day - self.from).num_days();
        (0..self.len()).contains(&i).then_some(i as usize)
    }
}

/// Turns a UTC instant into the user's local time.
pub type Local<'a> = &'a (dyn Fn(DateTime<Utc>) -> DateTime<FixedOffset> + Sync);

/// The UTC offsets in force over `[from, to)`, as `(first epoch second, offset in seconds)`,
/// the first from `from`: what lets the database count local days and hours itself, exactly,
/// across daylight-saving changes and in zones with half- or quarter-hour offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsets(pub Vec<(i64, i64)>);

impl Offsets {
    pub fn over(local: Local, from: DateTime<Utc>, to: DateTime<Utc>) -> Offsets {
        let off = |t: DateTime<Utc>| i64::from(local(t).offset().local_minus_utc());
        let mut segs = vec![(from.timestamp(), off(from))];
        let mut t = from;
        while t < to {
            let next = (t + Duration::hours(1)).min(to);
            let o = off(next);
            if o != segs.last().map_or(o, |s| s.1) {
                // The change is within this hour: find its second.
                let (mut lo, mut hi) = (t.timestamp(), next.timestamp());
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    match DateTime::from_timestamp(mid, 0) {
                        Some(m) if off(m) == o => hi = mid,
                        _ => lo = mid,
                    }
                }
                segs.push((hi, o));
            }
            t = next;
        }
        Offsets(segs)
    }

    /// Whether every offset and every change between them falls on a quarter-hour, so that
    /// times known only to their quarter-hour (the roll-up's) still fall on the right local
    /// day and hour. True of every zone in use today; not of old local mean times.
    pub fn on_quarter_hours(&self) -> bool {
        self.0
            .iter()
            .all(|(at, o)| at.rem_euclid(900) == 0 && o.rem_euclid(900) == 0)
    }

    /// SQL for the local time in seconds since 1970 of the epoch-seconds expression `epoch`.
    pub fn local_seconds(&self, epoch: &str) -> String {
        match self.0.as_slice() {
            [] => epoch.to_string(),
            [(_, o)] => format!("({epoch} + {o})"),
            segs => {
                let mut sql = format!("({epoch} + CASE");
                for w in segs.windows(2) {
                    sql.push_str(&format!(" WHEN {epoch} < {} THEN {}", w[1].0, w[0].1));
                }
                let last = segs.last().map_or(0, |s| s.1);
                sql.push_str(&format!(" ELSE {last} END)"));
                sql
            }
        }
    }

    /// SQL for the local day (days since 1970-01-01) of `epoch`.
    pub fn local_day(&self, epoch: &str) -> String {
        format!("({} / 86400)", self.local_seconds(epoch))
    }
}

/// The date of a local day number (days since 1970-01-01).
pub fn day_of(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + Duration::days(n)
}

/// Exact nearest-rank percentile of sorted values: the smallest value with at least `p`% of
/// the values at or below it.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// A reply's model as figures name it: `unknown` when none was recorded.
pub fn model_name(model: Option<String>) -> String {
    model.unwrap_or_else(|| "unknown".into())
}

/// Rounds a cost to a millionth of a dollar, so sums read the same on every backend.
pub fn usd(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Debug, Default, Clone, Serialize)]
struct Spend {
    replies: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_usd: f64,
}

impl Spend {
    fn add_day(&mut self, r: &ReplyDay) {
        self.merge(&Spend {
            replies: r.replies,
            input_tokens: r.prompt_tokens,
            output_tokens: r.completion_tokens,
            cached_tokens: r.cached_tokens,
            cost_usd: r.cost_usd,
        });
    }
    fn merge(&mut self, o: &Spend) {
        self.replies += o.replies;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_tokens += o.cached_tokens;
        self.cost_usd += o.cost_usd;
    }
    fn sum<'a>(all: impl Iterator<Item = &'a Spend>) -> Spend {
        let mut total = Spend::default();
        all.for_each(|s| total.merge(s));
        total
    }
    fn json(&self) -> Value {
        json!({
            "replies": self.replies,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "tokens": self.input_tokens + self.output_tokens,
            "cost_usd": usd(self.cost_usd),
        })
    }
}

#[derive(Debug, Default, Clone)]
struct Outcomes {
    complete: i64,
    failed: i64,
    stopped: i64,
    interrupted: i64,
    streaming: i64,
}

impl Outcomes {
    /// Counts a reply as a turn's outcome; a regenerated (superseded) reply is not a turn.
    fn add_n(&mut self, s: MessageStatus, n: i64) {
        match s {
            MessageStatus::Complete => self.complete += n,
            MessageStatus::Failed => self.failed += n,
            MessageStatus::Stopped => self.stopped += n,
            MessageStatus::Interrupted => self.interrupted += n,
            MessageStatus::Streaming => self.streaming += n,
            MessageStatus::Superseded => {}
        }
    }
    fn turns(&self) -> i64 {
        self.complete + self.failed + self.stopped + self.interrupted + self.streaming
    }
    fn json(&self) -> Value {
        let t = self.turns();
        let share = |n: i64| {
            if t == 0 {
                0.0
            } else {
                (n as f64 / t as f64 * 10_000.0).round() / 10_000.0
            }
        };
        json!({
            "turns": t,
            "complete": self.complete,
            "failed": self.failed,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
            "in_progress": self.streaming,
            "failed_share": share(self.failed),
            "stopped_share": share(self.stopped),
            "interrupted_share": share(self.interrupted),
        })
    }
}

/// Tokens and cost per day stacked by model, turns per day and their outcomes. Superseded
/// (regenerated) replies cost tokens, so they count in the spend but not as turns.
pub fn usage(range: &DayRange, replies: &[ReplyDay]) -> Value {
    let n = range.len() as usize;
    let mut per_day: Vec<BTreeMap<String, Spend>> = vec![BTreeMap::new(); n];
    let mut outcomes: Vec<Outcomes> = vec![Outcomes::default(); n];
    let mut models: BTreeMap<String, Spend> = BTreeMap::new();
    let mut total_outcomes = Outcomes::default();
    for r in replies {
        let Some(i) = range.index(r.day) else {
            continue;
        };
        let m = model_name(r.model.clone());
        per_day[i].entry(m.clone()).or_default().add_day(r);
        models.entry(m).or_default().add_day(r);
        outcomes[i].add_n(r.status, r.replies);
        total_outcomes.add_n(r.status, r.replies);
    }
    let days: Vec<Value> = range
        .days()
        .zip(per_day.iter().zip(&outcomes))
        .map(|(day, (by_model, out))| {
            let mut v = Spend::sum(by_model.values()).json();
            v["date"] = json!(day);
            v["by_model"] = by_model
                .iter()
                .map(|(m, s)| (m.clone(), s.json()))
                .collect();
            v["outcomes"] = out.json();
            v
        })
        .collect();
    let mut totals = Spend::sum(models.values()).json();
    totals["outcomes"] = total_outcomes.json();
    json!({
        "range": range,
        "models": models.iter().map(|(m, s)| {
            let mut v = s.json();
            v["model"] = json!(m);
            v
        }).collect::<Vec<_>>(),
        "days": days,
        "totals": totals,
    })
}

#[derive(Default)]
struct Timings {
    total: Vec<i64>,
    first: Vec<i64>,
}

impl Timings {
    fn add(&mut self, r: &Stored) {
        self.total.extend(&r.latency_ms);
        self.first.extend(&r.first_token_ms);
    }
    fn json(&mut self) -> Value {
        self.total.sort_unstable();
        self.first.sort_unstable();
        json!({
            "replies": self.total.len(),
            "total_ms": {"p50": percentile(&self.total, 50.0), "p95": percentile(&self.total, 95.0)},
            "first_token_ms": {"p50": percentile(&self.first, 50.0), "p95": percentile(&self.first, 95.0)},
        })
    }
}

/// p50 and p95 of the total time and of the time to the first token, per day and model, of
/// the replies that completed.
pub fn latency(range: &DayRange, timings: &[Stored]) -> Value {
    let n = range.len() as usize;
    let mut per_day: Vec<BTreeMap<String, Timings>> = (0..n).map(|_| BTreeMap::new()).collect();
    let mut models: BTreeMap<String, Timings> = BTreeMap::new();
    let mut all = Timings::default();
    for r in timings {
        let Some(i) = range.index(r.day) else {
            continue;
        };
        let m = model_name(r.model.clone());
        per_day[i].entry(m.clone()).or_default().add(r);
        models.entry(m).or_default().add(r);
        all.add(r);
    }
    let days: Vec<Value> = range
        .days()
        .zip(per_day.iter_mut())
        .map(|(day, by_model)| {
            let mut day_all = Timings::default();
            for t in by_model.values() {
                day_all.total.extend(&t.total);
                day_all.first.extend(&t.first);
            }
            let mut v = day_all.json();
            v["date"] = json!(day);
            v["by_model"] = by_model
                .iter_mut()
                .map(|(m, t)| (m.clone(), t.json()))
                .collect();
            v
        })
        .collect();
    json!({
        "range": range,
        "method": "nearest rank over each completed reply's stored timings",
        "models": models.iter_mut().map(|(m, t)| {
            let mut v = t.json();
            v["model"] = json!(m);
            v
        }).collect::<Vec<_>>(),
        "days": days,
        "totals": all.json(),
    })
}

/// How the cost-per-conversation table is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSort {
    Cost,
    Tokens,
    Turns,
    Started,
}

impl std::str::FromStr for SessionSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cost" => Ok(Self::Cost),
            "tokens" => Ok(Self::Tokens),
            "turns" => Ok(Self::Turns),
            "started_at" => Ok(Self::Started),
            other => Err(format!(
                "{other:?} is not one of cost, tokens, turns, started_at"
            )),
        }
    }
}

/// One row of the cost-per-conversation table.
#[derive(Debug, Clone, Serialize)]
pub struct SessionCost {
    pub session_id: Uuid,
    /// `None` when the caller may not read the title (another user's, for an admin).
    pub title: Option<String>,
    pub user_id: String,
    pub started_at: DateTime<Utc>,
    pub turns: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    pub models: BTreeMap<String, i64>,
}

/// The buckets of the turns-per-session histogram.
const TURN_BUCKETS: [(i64, i64, &str); 7] = [
    (1, 1, "1"),
    (2, 2, "2"),
    (3, 3, "3"),
    (4, 5, "4-5"),
    (6, 10, "6-10"),
    (11, 20, "11-20"),
    (21, i64::MAX, "21+"),
];

/// Busiest hours (a weekday × hour heat map of questions, Monday first, in local time), turns
/// per session and sessions started per day.
pub fn patterns(range: &DayRange, counts: &PatternCounts) -> Value {
    let mut heat = [[0i64; 24]; 7];
    for &(h, n) in &counts.hours_of_week {
        // Hour 0 of local day 0 (1970-01-01) was a Thursday: weekday 3, Monday first.
        let (day, hour) = (h.rem_euclid(168) / 24, h.rem_euclid(24));
        heat[((day + 3) % 7) as usize][hour as usize] += n;
    }
    let mut started = vec![0i64; range.len() as usize];
    for &(d, n) in &counts.started {
        if let Some(i) = range.index(d) {
            started[i] += n;
        }
    }
    let histogram: Vec<Value> = TURN_BUCKETS
        .iter()
        .map(|(lo, hi, label)| {
            let n: i64 = counts
                .questions_per_session
                .iter()
                .filter(|(q, _)| (*lo..=*hi).contains(q))
                .map(|(_, n)| n)
                .sum();
            json!({"turns": label, "sessions": n})
        })
        .collect();
    let mut dist = counts.questions_per_session.clone();
    dist.sort_unstable();
    let sessions: i64 = dist.iter().map(|(_, n)| n).sum();
    let questions: i64 = dist.iter().map(|(q, n)| q * n).sum();
    let mean = if sessions == 0 {
        0.0
    } else {
        (questions as f64 / sessions as f64 * 100.0).round() / 100.0
    };
    // Nearest rank over the sessions' counts, from their distribution.
    let median = (sessions > 0).then(|| {
        let rank = ((sessions as f64) * 0.5).ceil().max(1.0) as i64;
        let mut seen = 0;
        dist.iter()
            .find(|(_, n)| {
                seen += n;
                seen >= rank
            })
            .map_or(0, |(q, _)| *q)
    });
    json!({
        "range": range,
        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "heat_map": heat.iter().map(|row| row.to_vec()).collect::<Vec<_>>(),
        "turns_per_session": {
            "sessions": sessions,
            "mean": mean,
            "median": median,
            "histogram": histogram,
        },
        "sessions_per_day": range.days().zip(started).map(|(d, n)| json!({"date": d, "sessions": n})).collect::<Vec<_>>(),
    })
}

/// The items answers drew on most, and the backlog sessions started with (open tasks and
/// overdue items in each session's `context_snapshot`), per day.
pub fn context(range: &DayRange, cited: &[Cited], backlog: &[Backlog], with_titles: bool) -> Value {
    let top: Vec<Value> = cited
        .iter()
        .map(|c| {
            json!({"kind": c.kind, "id": c.id, "title": with_titles.then_some(&c.title), "answers": c.answers})
        })
        .collect();
    let n = range.len() as usize;
    let mut open = vec![Vec::<i64>::new(); n];
    let mut overdue = vec![Vec::<i64>::new(); n];
    for b in backlog {
        let Some(i) = range.index(b.day) else {
            continue;
        };
        if let Some(o) = b.open_tasks {
            open[i].push(o);
        }
        if let Some(o) = b.overdue {
            overdue[i].push(o);
        }
    }
    let avg = |v: &[i64]| {
        (!v.is_empty())
            .then(|| (v.iter().sum::<i64>() as f64 / v.len() as f64 * 100.0).round() / 100.0)
    };
    let backlog: Vec<Value> = range
        .days()
        .zip(open.iter().zip(&overdue))
        .map(|(d, (o, od))| {
            json!({
                "date": d,
                "sessions": o.len().max(od.len()),
                "open_tasks": avg(o),
                "overdue": avg(od),
            })
        })
        .collect();
    json!({"range": range, "cited": top, "backlog": backlog})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(100));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
    }

    #[test]
    fn offsets_find_each_change_to_the_second() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let local = move |t: DateTime<Utc>| t.with_timezone(&berlin).fixed_offset();
        let from: DateTime<Utc> = "2026-03-28T23:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let o = Offsets::over(&local, from, to);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp();
        assert_eq!(
            o.0,
            vec![
                (from.timestamp(), 3600),
                (at("2026-03-29T01:00:00Z"), 7200),
                (at("2026-10-25T01:00:00Z"), 3600),
            ]
        );
        assert_eq!(
            o.local_day("e"),
            format!(
                "((e + CASE WHEN e < {} THEN 3600 WHEN e < {} THEN 7200 ELSE 3600 END) / 86400)",
                o.0[1].0, o.0[2].0
            )
        );
        let kathmandu: chrono_tz::Tz = "Asia/Kathmandu".parse().unwrap();
        let local = move |t: DateTime<Utc>| t.with_timezone(&kathmandu).fixed_offset();
        let o = Offsets::over(&local, from, to);
        assert_eq!(o.0, vec![(from.timestamp(), 20700)]);
        assert_eq!(o.local_day("e"), "((e + 20700) / 86400)");
        assert_eq!(
            day_of(20_416),
            NaiveDate::from_ymd_opt(2025, 11, 24).unwrap()
        );
    }

    #[test]
    fn ranges_parse_and_refuse() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let r = DayRange::parse(today, Some("7"), None, None).unwrap();
        assert_eq!(r.from, NaiveDate::from_ymd_opt(2026, 11, 18).unwrap());
        assert_eq!(r.len(), 7);
        assert_eq!(DayRange::parse(today, None, None, None).unwrap().len(), 30);
        let r = DayRange::parse(today, None, Some("2026-11-01"), Some("2026-11-03")).unwrap();
        assert_eq!(r.days().count(), 3);
        for (d, f, t, field) in [
            (Some("0"), None, None, "days"),
            (Some("x"), None, None, "days"),
            (Some("400"), None, None, "days"),
            (Some("7"), Some("2026-11-01"), None, "days"),
            (None, Some("2026-11-01"), None, "to"),
            (None, None, Some("2026-11-01"), "from"),
            (None, Some("2026-11-05"), Some("2026-11-01"), "to"),
            (None, Some("2025-01-01"), Some("2026-11-01"), "to"),
            (None, Some("yesterday"), Some("2026-11-01"), "from"),
        ] {
            assert_eq!(
                DayRange::parse(today, d, f, t).unwrap_err().0,
                field,
                "{d:?} {f:?} {t:?}"
            );
        }
    }
}
