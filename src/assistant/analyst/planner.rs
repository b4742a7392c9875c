//! The planner: time-boxes the next hours of open work and due follow-ups.

use chrono::{DateTime, Duration, FixedOffset, Timelike};

use super::write::{Answer, minutes_words};
use crate::context::OpsContext;
use crate::domain::{Delegation, Priority, Task};

/// Minutes assumed for a task without an estimate.
const DEFAULT_ESTIMATE: i64 = 30;
/// Minutes a batch of follow-up calls or messages takes.
const FOLLOW_UP_BLOCK: i64 = 10;

/// The length of the window in "plan my next 2 hours", "next 90 minutes", "next half hour".
/// `None` when the question names no length.
pub(super) fn plan_minutes(words: &[String]) -> Option<i64> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    for (i, w) in words.iter().enumerate() {
        let unit = if w.starts_with("hour") || *w == "hrs" || *w == "hr" || *w == "h" {
            60.0
        } else if w.starts_with("min") {
            1.0
        } else {
            continue;
        };
        let amount = i.checked_sub(1).and_then(|j| number(words[j])).or_else(|| {
            // "half an hour", "an hour"
            match (
                i.checked_sub(2).map(|j| words[j]),
                i.checked_sub(1).map(|j| words[j]),
            ) {
                (Some("half"), Some("an" | "a")) => Some(0.5),
                (_, Some("an" | "a")) => Some(1.0),
                _ => None,
            }
        });
        if let Some(a) = amount {
            return Some(((a * unit) as i64).clamp(15, 12 * 60));
        }
    }
    None
}

/// "2", "1.5", "two", "ninety": the signals' number words, plus decimals.
fn number(w: &str) -> Option<f64> {
    w.parse::<f64>()
        .ok()
        .or_else(|| super::signals::number(w).map(|n| n as f64))
}

/// Time-boxes the next `minutes` from now: overdue and due-today work first, then by priority,
/// using each task's estimate; follow-ups batched into one short block; low-stakes delegatable
/// work suggested for handing off instead of doing.
pub fn plan(ctx: &OpsContext, minutes: i64, out: &mut Answer) {
    let today = ctx.today;
    let start = round_up_5(ctx.local_now);
    let end = start + Duration::minutes(minutes);
    out.line(format!(
        "**Your next {}** ({}–{}):",
        minutes_words(minutes)
            .replace(" h", " hours")
            .replace("1 hours", "1 hour"),
        start.format("%H:%M"),
        end.format("%H:%M")
    ));
    out.line("");
    if ctx.open_tasks.is_empty() && ctx.follow_ups_due().next().is_none() {
        out.line("You have no open tasks or follow-ups: the time is yours.");
        return;
    }
    let pressing =
        |t: &Task| t.due_date.is_some_and(|d| d <= today) || t.priority == Priority::Urgent;
    let mut hand_off: Vec<&Task> = Vec::new();
    let mut rows: Vec<PlanRow> = Vec::new();
    let mut cursor = start;
    let mut follow: Vec<&Delegation> = ctx.follow_ups_due().collect();
    let mut skipped: Vec<&Task> = Vec::new();
    for t in &ctx.open_tasks {
        let left = (end - cursor).num_minutes();
        if t.delegatable && !pressing(t) && t.priority.rank() < Priority::High.rank() {
            hand_off.push(t);
            continue;
        }
        if left < 5 {
            skipped.push(t);
            continue;
        }
        let estimate = t.time_estimate_minutes.map_or(DEFAULT_ESTIMATE, i64::from);
        let (len, label) = if estimate <= left {
            (
                estimate,
                format!("**{}** ({})", t.title, minutes_words(estimate)),
            )
        } else if rows.is_empty() || pressing(t) {
            (
                left,
                format!(
                    "**{}** — start it: {} of {}",
                    t.title,
                    minutes_words(left),
                    minutes_words(estimate)
                ),
            )
        } else {
            skipped.push(t);
            continue;
        };
        let mut why = vec![t.priority.to_string()];
        if let Some(d) = t.due(today) {
            why.push(d.describe());
        }
        if t.time_estimate_minutes.is_none() {
            why.push(format!("no estimate, {DEFAULT_ESTIMATE} min assumed"));
        }
        rows.push((
            cursor,
            cursor + Duration::minutes(len),
            label,
            why.join(", "),
        ));
        cursor += Duration::minutes(len);
        out.task(t);
        // Follow-ups go in right after the first block: people need time to act on them.
        if rows.len() == 1 {
            book_follow_ups(&mut follow, &mut rows, &mut cursor, end, out);
        }
    }
    book_follow_ups(&mut follow, &mut rows, &mut cursor, end, out);
    if rows.is_empty() {
        out.line("Nothing on your list fits this window.");
    } else {
        out.line("| Time | What | Why |");
        out.line("|---|---|---|");
        for (a, b, what, why) in &rows {
            out.line(format!(
                "| {}–{} | {} | {} |",
                a.format("%H:%M"),
                b.format("%H:%M"),
                what,
                why
            ));
        }
        let free = (end - cursor).num_minutes();
        if free >= 5 {
            out.line("");
            out.line(format!("{} left as buffer.", minutes_words(free)));
        }
    }
    if !hand_off.is_empty() {
        out.line("");
        let names: Vec<String> = hand_off
            .iter()
            .map(|t| format!("**{}**", t.title))
            .collect();
        out.line(format!("**Delegate instead:** {}.", names.join(", ")));
        for t in hand_off {
            out.task(t);
        }
    }
    if !skipped.is_empty() {
        out.line("");
        out.line(format!(
            "Not in this window: {} more open task{}; next up is **{}**.",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            skipped[0].title
        ));
    }
}

/// One row of a time-boxed plan: from, to, what, why.
type PlanRow = (DateTime<FixedOffset>, DateTime<FixedOffset>, String, String);

/// Books the due follow-ups as one block at `cursor`, if any are left and the block fits
/// before `end`.
fn book_follow_ups(
    follow: &mut Vec<&Delegation>,
    rows: &mut Vec<PlanRow>,
    cursor: &mut DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
    out: &mut Answer,
) {
    if follow.is_empty() || (end - *cursor).num_minutes() < FOLLOW_UP_BLOCK {
        return;
    }
    let names: Vec<String> = follow
        .iter()
        .map(|d| format!("{} ({})", d.assigned_to, d.task_description))
        .collect();
    let until = *cursor + Duration::minutes(FOLLOW_UP_BLOCK);
    rows.push((
        *cursor,
        until,
        format!("Follow-ups: {}", names.join("; ")),
        "follow-ups due".into(),
    ));
    *cursor = until;
    for d in follow.drain(..) {
        out.delegation(d);
    }
}

fn round_up_5(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    let t = t
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t);
    let rem = i64::from(t.minute() % 5);
    if rem == 0 {
        t
    } else {
        t + Duration::minutes(5 - rem)
    }
}
