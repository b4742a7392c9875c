//! Answers to a query over the day's work: a list, a count, a total of minutes, the next one,
//! or yes/no. Completed and cancelled work only ever appears as such.

use chrono::NaiveDate;

use super::query::{Found, Kind, Query, Shape, Status, When};
use super::write::{
    Answer, day_words, delegation_line, latest_note, minutes_words, plural, task_line,
};
use crate::context::OpsContext;
use crate::domain::{Delegation, Priority, Task};

/// Minutes assumed for a task without an estimate.
const ASSUMED: i64 = 30;

pub fn answer(ctx: &OpsContext, q: &Query, out: &mut Answer) {
    if matches!(q.status, Status::Done | Status::Cancelled) {
        return finished(ctx, q, out);
    }
    let found = q.select(ctx);
    match q.shape {
        Shape::Count => count(ctx, q, &found, out),
        Shape::Total => total(ctx, q, &found, out),
        Shape::Next => next(ctx, q, &found, out),
        Shape::YesNo | Shape::List if found.is_empty() => {
            let no = if q.shape == Shape::YesNo {
                "No — you"
            } else {
                "You"
            };
            out.line(format!("{no} have no {}.", describe(q, &found, ctx, true)));
            hint(ctx, q, out);
        }
        Shape::YesNo | Shape::List => {
            let what = describe(q, &found, ctx, found.len() != 1);
            out.line(if q.shape == Shape::YesNo {
                format!("Yes — {} {what}:", found.len())
            } else {
                format!("**{} {what}:**", found.len())
            });
            out.line("");
            list(ctx, q, &found, out);
        }
    }
    if q.when == Some(When::Overdue) && q.kind != Kind::Tasks {
        late_follow_ups(ctx, q, out);
    }
}

/// "urgent open tasks due today from email", in words.
pub fn describe(q: &Query, found: &Found<'_>, ctx: &OpsContext, many: bool) -> String {
    let mut words: Vec<String> = Vec::new();
    if q.max_minutes == Some(15) && q.min_minutes.is_none() {
        words.push("quick".into());
    }
    if !q.priorities.is_empty() {
        let names: Vec<&str> = q.priorities.iter().map(|p| p.as_str()).collect();
        words.push(names.join(" or "));
        if q.priorities.len() > 1 || q.priorities[0] != Priority::Urgent {
            words.push("priority".into());
        }
    }
    words.push(
        match q.status {
            Status::Open if q.when == Some(When::Overdue) => "",
            Status::Open => "open",
            Status::InProgress => "in-progress",
            Status::NotStarted => "not-started",
            Status::Blocked => "blocked or on-hold",
            Status::Done => "completed",
            Status::Cancelled => "cancelled",
        }
        .into(),
    );
    if q.delegatable == Some(true) {
        words.push("delegatable".into());
    }
    let noun = match q.kind {
        Kind::Tasks => "task",
        Kind::Delegations => "delegation",
        Kind::FollowUps => "follow-up",
        Kind::Any if !found.tasks.is_empty() && found.delegations.is_empty() => "task",
        Kind::Any if found.tasks.is_empty() && !found.delegations.is_empty() => "delegation",
        Kind::Any => "item",
    };
    words.push(format!("{noun}{}", if many { "s" } else { "" }));
    if let Some(p) = &q.person {
        words.push(format!("with {p}"));
    }
    if let Some(s) = &q.source {
        words.push(format!("from {s}"));
    }
    match (q.max_minutes, q.min_minutes) {
        (Some(15), None) => words.push("(15 min or less)".into()),
        (Some(m), _) => words.push(format!("of {} or less", minutes_words(m))),
        (None, Some(m)) => words.push(format!("of {} or more", minutes_words(m))),
        _ => {}
    }
    if let Some(w) = q.when {
        let said = w.words(ctx.today);
        words.push(match (q.kind, w) {
            (Kind::FollowUps, When::Overdue) => "past their date".into(),
            (Kind::FollowUps, _) => said
                .strip_prefix("due ")
                .map_or(said.clone(), |rest| format!("to make {rest}")),
            _ => said,
        });
    }
    words.retain(|w| !w.is_empty());
    words.join(" ")
}

/// The items, one line each; a span of days is grouped by day.
fn list(ctx: &OpsContext, q: &Query, found: &Found<'_>, out: &mut Answer) {
    let today = ctx.today;
    let by_day = q
        .when
        .is_some_and(|w| w.single_day().is_none() && w != When::Overdue)
        && found.len() > 3;
    if by_day {
        let mut days: Vec<(NaiveDate, String, Option<&Task>, Option<&Delegation>)> = Vec::new();
        for t in &found.tasks {
            if let Some(d) = t.due_date {
                days.push((d, task_line(t, today), Some(t), None));
            }
        }
        for d in &found.delegations {
            let date = match q.kind {
                Kind::FollowUps => d.follow_up_date.or(d.due_date),
                _ => d.due_date,
            };
            if let Some(date) = date {
                days.push((date, delegation_line(d, today), None, Some(d)));
            }
        }
        days.sort_by_key(|a| a.0);
        let mut last: Option<NaiveDate> = None;
        for (date, line, t, d) in days {
            if last != Some(date) {
                if last.is_some() {
                    out.line("");
                }
                let mut heading = day_words(date, today);
                if let Some(first) = heading.get(..1) {
                    heading = first.to_uppercase() + &heading[1..];
                }
                out.line(format!("**{heading}**"));
                last = Some(date);
            }
            out.line(line);
            if let Some(t) = t {
                out.task(t);
            }
            if let Some(d) = d {
                out.delegation(d);
            }
        }
        return;
    }
    for t in &found.tasks {
        out.line(task_line(t, today));
        out.task(t);
    }
    if !found.tasks.is_empty() && !found.delegations.is_empty() {
        out.line("");
        out.line("**Delegated:**");
    }
    for d in &found.delegations {
        out.line(delegation_line(d, today));
        if let Some(note) = latest_note(ctx, d) {
            out.line(note);
        }
        out.delegation(d);
    }
}

fn count(ctx: &OpsContext, q: &Query, found: &Found<'_>, out: &mut Answer) {
    let n = found.len();
    out.line(format!(
        "You have **{n}** {}.",
        describe(q, found, ctx, n != 1)
    ));
    if !found.tasks.is_empty() && q.priorities.len() != 1 {
        let by: Vec<String> = [
            Priority::Urgent,
            Priority::High,
            Priority::Medium,
            Priority::Low,
        ]
        .iter()
        .filter_map(|p| {
            let k = found.tasks.iter().filter(|t| t.priority == *p).count();
            (k > 0).then(|| format!("{k} {p}"))
        })
        .collect();
        out.line("");
        out.line(format!("By priority: {}.", by.join(", ")));
    }
    if (1..=10).contains(&n) {
        out.line("");
        list(ctx, q, found, out);
    }
}

fn total(ctx: &OpsContext, q: &Query, found: &Found<'_>, out: &mut Answer) {
    let today = ctx.today;
    let tasks = &found.tasks;
    if tasks.is_empty() {
        out.line(format!("You have no {}.", describe(q, found, ctx, true)));
        hint(ctx, q, out);
        return;
    }
    let known: i64 = tasks
        .iter()
        .filter_map(|t| t.time_estimate_minutes.map(i64::from))
        .sum();
    let unknown = tasks
        .iter()
        .filter(|t| t.time_estimate_minutes.is_none())
        .count();
    let task_q = Query {
        kind: Kind::Tasks,
        ..q.clone()
    };
    out.line(format!(
        "**{}** of work: {} {}.",
        minutes_words(known),
        tasks.len(),
        describe(&task_q, found, ctx, tasks.len() != 1)
    ));
    out.line("");
    for t in tasks {
        let m = t
            .time_estimate_minutes
            .map_or("no estimate".to_string(), |m| minutes_words(m.into()));
        out.line(format!("- **{}** — {m} ({})", t.title, t.priority));
        out.task(t);
    }
    if unknown > 0 {
        out.line("");
        out.line(format!(
            "{unknown} task{} {} no estimate; at {ASSUMED} min each that makes about {}.",
            plural(unknown),
            if unknown == 1 { "has" } else { "have" },
            minutes_words(known + ASSUMED * unknown as i64)
        ));
    }
    // "Due today" leaves out what is already late; the manager needs that time too.
    if q.when.and_then(When::single_day) == Some(today) {
        let late: Vec<&Task> = ctx
            .overdue()
            .filter(|t| {
                let mut same = q.clone();
                same.when = None;
                same.select(ctx).tasks.iter().any(|x| x.id == t.id)
            })
            .collect();
        if !late.is_empty() {
            let m: i64 = late
                .iter()
                .map(|t| t.time_estimate_minutes.map_or(ASSUMED, i64::from))
                .sum();
            let names: Vec<String> = late.iter().map(|t| format!("**{}**", t.title)).collect();
            out.line("");
            out.line(format!(
                "Overdue work adds {} more: {}.",
                minutes_words(m),
                names.join(", ")
            ));
            for t in late {
                out.task(t);
            }
        }
    }
}

fn next(ctx: &OpsContext, q: &Query, found: &Found<'_>, out: &mut Answer) {
    let today = ctx.today;
    let dated = q.when.is_some();
    // By date when the question is about dates; otherwise in the urgency order of the list.
    let first_task = found.tasks.first().copied();
    let first_delegation = if dated {
        found.delegations.iter().min_by_key(|d| d.due_date).copied()
    } else {
        None
    };
    let pick_delegation = match (first_task, first_delegation) {
        (None, Some(_)) => true,
        (Some(t), Some(d)) => d.due_date < t.due_date,
        _ => false,
    };
    if pick_delegation && let Some(d) = first_delegation {
        out.line("Next up:");
        out.line("");
        out.line(delegation_line(d, today));
        out.delegation(d);
        return;
    }
    match first_task {
        Some(t) => {
            out.line("Next up:");
            out.line("");
            out.line(task_line(t, today));
            out.task(t);
            if let Some(after) = found.tasks.get(1) {
                out.line("");
                out.line(format!("After that: **{}**.", after.title));
            }
        }
        None => {
            if let Some(d) = found.delegations.first() {
                out.line("Next up:");
                out.line("");
                out.line(delegation_line(d, today));
                out.delegation(d);
            } else {
                out.line(format!("You have no {}.", describe(q, found, ctx, true)));
                hint(ctx, q, out);
            }
        }
    }
}

/// After an empty answer over a span of days: the next such item after it.
fn hint(ctx: &OpsContext, q: &Query, out: &mut Answer) {
    let today = ctx.today;
    let Some(When::Days { to, .. }) = q.when else {
        return;
    };
    let mut later = q.clone();
    later.when = Some(When::After(to + chrono::Days::new(1)));
    later.shape = Shape::List;
    let found = later.select(ctx);
    if let Some(t) = found
        .tasks
        .iter()
        .filter(|t| t.due_date.is_some())
        .min_by_key(|t| t.due_date)
    {
        out.line("");
        out.line(format!(
            "The next one is **{}**, due {}.",
            t.title,
            day_words(t.due_date.unwrap_or(today), today)
        ));
        out.task(t);
    }
}

/// Follow-ups whose date has passed: late too, though nobody's task is overdue.
fn late_follow_ups(ctx: &OpsContext, q: &Query, out: &mut Answer) {
    let today = ctx.today;
    let late: Vec<&Delegation> = ctx
        .follow_ups_due()
        .filter(|d| d.follow_up_date.or(d.due_date).is_some_and(|f| f < today))
        // Not again when the answer already listed it.
        .filter(|d| !out.items.iter().any(|i| i.id == d.id))
        .filter(|d| {
            q.person
                .as_deref()
                .is_none_or(|p| super::query::same_person(p, &d.assigned_to))
        })
        .collect();
    if late.is_empty() {
        return;
    }
    out.line("");
    out.line("**Follow-ups past their date:**");
    for d in late {
        let f = d.follow_up_date.or(d.due_date).unwrap_or(today);
        out.line(format!(
            "- {} — {} (follow up was {})",
            super::write::person(d),
            d.task_description,
            day_words(f, today)
        ));
        out.delegation(d);
    }
}

/// Completed or cancelled work, dated by when it was closed.
fn finished(ctx: &OpsContext, q: &Query, out: &mut Answer) {
    let today = ctx.today;
    let found = q.select(ctx);
    let verb = if q.status == Status::Done {
        "completed"
    } else {
        "cancelled"
    };
    let span = q.when.map(When::past_words);
    let local = |t: &Task| {
        t.completed_at
            .map(|c| c.with_timezone(ctx.local_now.offset()).date_naive())
    };
    if found.tasks.is_empty() {
        out.line(match (&span, q.shape) {
            (Some(s), Shape::YesNo) => format!("No — nothing was {verb} {s}."),
            (Some(s), _) => format!("Nothing was {verb} {s}."),
            (None, _) => format!("No task has been {verb} yet."),
        });
        let mut any = q.clone();
        any.when = None;
        if let Some(t) = any.select(ctx).tasks.first() {
            out.line("");
            let when = local(t).map_or(String::new(), |d| format!(" {}", day_words(d, today)));
            out.line(format!("The last one {verb} was **{}**{when}.", t.title));
            out.task(t);
        }
        return;
    }
    let n = found.tasks.len();
    let lead = match q.shape {
        Shape::YesNo => "Yes — ",
        _ => "",
    };
    let span = span.map_or(String::new(), |s| format!(" {s}"));
    if q.shape == Shape::Count {
        out.line(format!("You {verb} **{n}** task{}{span}.", plural(n)));
    } else {
        out.line(format!("{lead}**{n} task{} {verb}{span}:**", plural(n)));
    }
    out.line("");
    for t in found.tasks.iter().take(20) {
        let when = local(t).map_or(String::new(), |d| format!(", {}", day_words(d, today)));
        out.line(format!("- **{}** — {} priority{when}", t.title, t.priority));
        out.task(t);
    }
    if n > 20 {
        out.line(format!("- … and {} more", n - 20));
    }
}
