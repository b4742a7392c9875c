//! Answers about one named item: when it is due, who has it, its priority, what it takes,
//! whether it is done, how two compare; and what to say when the item does not exist.

use std::fmt::Write as _;

use super::text::{distance, score, tokens, words};
use super::understand::ItemAsk;
use super::write::{Answer, day_words, effort_facts, minutes_words, person, task_facts};
use crate::context::OpsContext;
use crate::domain::{Delegation, Due, Task, TaskStatus, urgency_order};

/// A task or delegation the question names.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Task(&'a Task),
    Delegation(&'a Delegation),
}

impl Item<'_> {
    pub fn same(&self, other: &Item<'_>) -> bool {
        match (self, other) {
            (Item::Task(a), Item::Task(b)) => a.id == b.id,
            (Item::Delegation(a), Item::Delegation(b)) => a.id == b.id,
            _ => false,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Item::Task(t) => &t.title,
            Item::Delegation(d) => &d.task_description,
        }
    }
}

/// Answers one ask about one item.
pub fn answer_item(ctx: &OpsContext, ask: ItemAsk, item: Item<'_>, out: &mut Answer) {
    match ask {
        ItemAsk::When => when_due(ctx, item, out),
        ItemAsk::Priority => priority_of(ctx, item, out),
        ItemAsk::About => about(ctx, item, out),
        ItemAsk::Who => who(ctx, item, out),
        ItemAsk::Effort => effort(ctx, item, out),
        ItemAsk::Done => is_done(ctx, item, out),
    }
}

fn status_words(t: &Task) -> String {
    match t.status {
        TaskStatus::Todo => "still to do".into(),
        TaskStatus::InProgress => "in progress".into(),
        s => s.as_str().replace('_', " "),
    }
}

fn who(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    let today = ctx.today;
    match item {
        Item::Task(t) => {
            out.task(t);
            match ctx.delegation_of(t) {
                Some(d) => {
                    out.delegation(d);
                    let mut line = format!("**{}** is with {}", t.title, person(d));
                    if let Some(f) = d.follow_up_date {
                        let _ = write!(line, "; follow up {}", day_words(f, today));
                    }
                    line.push('.');
                    out.line(line);
                }
                None if !t.status.is_open() => out.line(format!(
                    "**{}** is {}; nobody has it now.",
                    t.title,
                    status_words(t)
                )),
                None => {
                    let mut line =
                        format!("**{}** is yours — it isn't delegated to anyone.", t.title);
                    if t.delegatable {
                        line.push_str(" It is marked delegatable, so you could hand it off.");
                    }
                    out.line(line);
                }
            }
        }
        Item::Delegation(d) => {
            out.delegation(d);
            let mut line = format!(
                "{} has **{}** ({}).",
                person(d),
                d.task_description,
                d.status.as_str().replace('_', " ")
            );
            if let Some(f) = d.follow_up_date {
                let _ = write!(line, " Follow up {}.", day_words(f, today));
            }
            out.line(line);
        }
    }
}

fn effort(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    match item {
        Item::Task(t) => {
            out.task(t);
            match t.time_estimate_minutes {
                Some(m) => out.line(format!(
                    "**{}** is estimated at **{}** ({} priority, {}).",
                    t.title,
                    minutes_words(m.into()),
                    t.priority,
                    status_words(t)
                )),
                None => out.line(format!(
                    "**{}** has no time estimate. I plan it as 30 min until you set one.",
                    t.title
                )),
            }
        }
        Item::Delegation(d) => {
            out.delegation(d);
            out.line(format!(
                "**{}** is with {}: delegations carry no time estimate, only their dates.",
                d.task_description,
                person(d)
            ));
        }
    }
    let _ = ctx;
}

fn is_done(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    let today = ctx.today;
    match item {
        Item::Task(t) => {
            out.task(t);
            match t.status {
                TaskStatus::Completed => {
                    let when = t
                        .completed_at
                        .map(|c| {
                            format!(
                                " {}",
                                day_words(
                                    c.with_timezone(ctx.local_now.offset()).date_naive(),
                                    today
                                )
                            )
                        })
                        .unwrap_or_default();
                    out.line(format!("Yes — **{}** was completed{when}.", t.title));
                }
                TaskStatus::Cancelled => out.line(format!(
                    "No — **{}** was cancelled, not completed.",
                    t.title
                )),
                _ => out.line(format!(
                    "No — **{}** is {}: {}.",
                    t.title,
                    status_words(t),
                    task_facts(t, today)
                )),
            }
        }
        Item::Delegation(d) => {
            out.delegation(d);
            out.line(format!(
                "No — **{}** is still open with {} ({}).",
                d.task_description,
                person(d),
                d.status.as_str().replace('_', " ")
            ));
        }
    }
}

/// Which of two items comes first, by the same order the urgent list uses.
pub fn compare(ctx: &OpsContext, a: Item<'_>, b: Item<'_>, out: &mut Answer) {
    let today = ctx.today;
    let facts = |i: Item<'_>| match i {
        Item::Task(t) if t.status.is_open() => task_facts(t, today),
        Item::Task(t) => status_words(t),
        Item::Delegation(d) => {
            let mut s = format!("{} priority, with {}", d.priority, d.assigned_to);
            if let Some(due) = d.due_date {
                let _ = write!(s, ", due {}", day_words(due, today));
            }
            s
        }
    };
    let first = match (a, b) {
        (Item::Task(x), Item::Task(y)) => match (x.status.is_open(), y.status.is_open()) {
            (true, false) => a,
            (false, true) => b,
            _ => {
                if urgency_order(x, y, today).is_le() {
                    a
                } else {
                    b
                }
            }
        },
        _ => {
            let key = |i: Item<'_>| match i {
                Item::Task(t) => (
                    std::cmp::Reverse(t.due_date.is_some_and(|d| d <= today)),
                    std::cmp::Reverse(t.priority.rank()),
                    t.due_date,
                ),
                Item::Delegation(d) => (
                    std::cmp::Reverse(d.due_date.is_some_and(|x| x <= today)),
                    std::cmp::Reverse(d.priority.rank()),
                    d.due_date,
                ),
            };
            if key(a) <= key(b) { a } else { b }
        }
    };
    let second = if first.same(&a) { b } else { a };
    for i in [first, second] {
        match i {
            Item::Task(t) => out.task(t),
            Item::Delegation(d) => out.delegation(d),
        }
    }
    out.line(format!(
        "**{}** comes first — {}.",
        first.name(),
        facts(first)
    ));
    out.line("");
    out.line(format!(
        "**{}** can follow — {}.",
        second.name(),
        facts(second)
    ));
}

pub fn when_due(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    let today = ctx.today;
    match item {
        Item::Task(t) => {
            out.task(t);
            match (t.status.is_open(), t.due_date) {
                (false, _) => out.line(format!(
                    "**{}** is already {} — nothing is due.",
                    t.title,
                    t.status.as_str().replace('_', " ")
                )),
                (true, None) => out.line(format!(
                    "**{}** has no due date. It is {} priority.",
                    t.title, t.priority
                )),
                (true, Some(d)) => {
                    let due = Due::of(d, today);
                    let (verb, late) = match due {
                        Due::Overdue(_) => ("was due", format!(", {}", due.describe())),
                        _ => ("is due", String::new()),
                    };
                    let effort = effort_facts(t);
                    let effort = if effort.is_empty() {
                        String::new()
                    } else {
                        format!(" · {effort}")
                    };
                    out.line(format!(
                        "**{}** {verb} **{}**{late} — {} priority{effort}.",
                        t.title,
                        day_words(d, today),
                        t.priority
                    ));
                }
            }
        }
        Item::Delegation(d) => {
            out.delegation(d);
            let mut line = format!("**{}** is with {}", d.task_description, person(d));
            match d.due_date {
                Some(due) => {
                    let _ = write!(line, " and is due **{}**", day_words(due, today));
                }
                None => line.push_str(" and has no due date"),
            }
            if let Some(f) = d.follow_up_date {
                let _ = write!(line, "; follow up {}", day_words(f, today));
            }
            line.push('.');
            out.line(line);
        }
    }
}

fn priority_of(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    let today = ctx.today;
    match item {
        Item::Task(t) => {
            out.task(t);
            if !t.status.is_open() {
                out.line(format!(
                    "**{}** was {} priority and is {} now.",
                    t.title,
                    t.priority,
                    t.status.as_str().replace('_', " ")
                ));
                return;
            }
            let rank = ctx
                .open_tasks
                .iter()
                .position(|x| x.id == t.id)
                .map_or(0, |i| i + 1);
            let mut facts: Vec<String> = t.due(today).map(Due::describe).into_iter().collect();
            facts.push(effort_facts(t));
            facts.retain(|f| !f.is_empty());
            let facts = if facts.is_empty() {
                String::new()
            } else {
                format!(" — {}", facts.join(" · "))
            };
            out.line(format!(
                "**{}** is **{}** priority{facts}.",
                t.title, t.priority
            ));
            out.line("");
            out.line(format!(
                "It is #{rank} of your {} open tasks by urgency.",
                ctx.open_tasks.len()
            ));
            if let Some(desc) = t.description.as_deref().filter(|d| !d.is_empty()) {
                out.line("");
                out.line(format!("> {}", crate::context::one_line(desc, 300)));
            }
        }
        Item::Delegation(d) => {
            out.delegation(d);
            out.line(format!(
                "**{}** ({}) is **{}** priority and {}.",
                d.task_description,
                d.assigned_to,
                d.priority,
                d.status.as_str().replace('_', " ")
            ));
        }
    }
}

fn about(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
    if let Item::Delegation(d) = item {
        let line = super::write::delegation_line(d, ctx.today);
        out.line(line.trim_start_matches("- "));
        let notes: Vec<_> = ctx.notes_of(d.id).collect();
        if !notes.is_empty() {
            out.line("");
            out.line("**Notes** (newest first):");
            for n in notes {
                out.line(format!("- {}", super::write::note_text(ctx, n)));
            }
        }
        out.delegation(d);
        return;
    }
    priority_of(ctx, item, out);
    if let Item::Task(t) = item
        && t.status.is_open()
        && t.delegatable
    {
        out.line("");
        out.line("It is marked delegatable.");
    }
}

/// The question's name words that `item` does not contain ("tasting" in "the menu tasting"
/// against "Update allergen cards for the new menu"): when there are some, the item is only
/// the closest match. Generic nouns ("issue", "thing") and short words do not count.
pub fn unmatched(names: &[String], item: &Item<'_>) -> Vec<String> {
    const GENERIC: &[&str] = &[
        "issue",
        "problem",
        "thing",
        "matter",
        "request",
        "business",
        "question",
        "situation",
        "piece",
        "part",
        "project",
        "deal",
        "stuff",
        "one",
        "work",
        "job",
        "task",
        "item",
    ];
    let text = match item {
        Item::Task(t) => format!("{} {}", t.title, t.description.as_deref().unwrap_or("")),
        Item::Delegation(d) => format!("{} {}", d.task_description, d.assigned_to),
    };
    let have = tokens(&text);
    names
        .iter()
        .filter(|n| n.chars().count() >= 4 && !GENERIC.contains(&n.as_str()))
        .filter(|n| {
            !have.iter().any(|h| {
                // The shorter word's first four letters (all of it when shorter): "fixing"
                // names "fix", "cleaning" names "clean".
                let k = 4.min(h.chars().count()).min(n.chars().count());
                k >= 3 && h.chars().take(k).eq(n.chars().take(k))
            })
        })
        .cloned()
        .collect()
}

/// The named item is only the nearest to what was asked: say so, then answer about it.
pub fn guess(ctx: &OpsContext, name: &str, ask: ItemAsk, item: Item<'_>, out: &mut Answer) {
    out.line(format!(
        "I have nothing called \"{name}\"; the closest is **{}**:",
        item.name()
    ));
    out.line("");
    answer_item(ctx, ask, item, out);
}

/// The item the question names does not exist: say so, and offer the closest names.
pub fn not_found(ctx: &OpsContext, name: &str, ask: ItemAsk, out: &mut Answer) {
    let what = match ask {
        ItemAsk::When => "when it is due",
        ItemAsk::Who => "who has it",
        ItemAsk::Priority => "its priority",
        ItemAsk::Effort => "how long it takes",
        ItemAsk::Done => "whether it is done",
        ItemAsk::About => "anything about it",
    };
    if name.is_empty() {
        out.line(format!(
            "Which item do you mean? Name a task or delegation and I'll tell you {what}."
        ));
        return;
    }
    out.line(format!(
        "I don't have a task or delegation called \"{name}\", so I can't tell you {what}."
    ));
    let close = closest(ctx, name);
    if !close.is_empty() {
        out.line("");
        let names: Vec<String> = close.iter().map(|n| format!("**{n}**")).collect();
        out.line(format!("Closest matches: {}.", names.join(", ")));
    } else if !ctx.open_tasks.is_empty() {
        let names: Vec<String> = ctx
            .open_tasks
            .iter()
            .take(3)
            .map(|t| format!("**{}**", t.title))
            .collect();
        out.line("");
        out.line(format!("Your open tasks include {}.", names.join(", ")));
    }
}

/// Up to three open items whose names are nearest to `name`: shared words first, then words
/// spelled alike.
fn closest<'a>(ctx: &'a OpsContext, name: &str) -> Vec<&'a str> {
    let asked = tokens(name);
    let stems = words(name);
    let mut scored: Vec<(u32, &'a str)> = ctx
        .open_tasks
        .iter()
        .map(|t| t.title.as_str())
        .chain(ctx.delegations.iter().map(|d| d.task_description.as_str()))
        .map(|title| {
            let near: u32 = tokens(title)
                .iter()
                .filter(|w| w.len() >= 4)
                .map(|w| {
                    u32::from(asked.iter().any(|a| {
                        a.len() >= 4
                            && a != w
                            && distance(a, w) <= (a.len().min(w.len()) / 4).max(1)
                    }))
                })
                .sum();
            (score(&stems, title) * 2 + near, title)
        })
        .filter(|(s, _)| *s > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, t)| t).collect()
}

/// The task or delegation the question names, by fuzzy match on its words. Open items win ties.
pub fn find_item<'a>(q: &str, ctx: &'a OpsContext) -> Option<Item<'a>> {
    let qw = words(q);
    if qw.is_empty() {
        return None;
    }
    let mut best: Option<(u32, u8, Item<'a>)> = None;
    let mut consider = |s: u32, openness: u8, item: Item<'a>| {
        if s >= 2
            && best
                .as_ref()
                .is_none_or(|(bs, bo, _)| (s, openness) > (*bs, *bo))
        {
            best = Some((s, openness, item));
        }
    };
    for t in &ctx.open_tasks {
        let s = score(&qw, &t.title).max(score(&qw, t.description.as_deref().unwrap_or("")) / 2);
        consider(s, 2, Item::Task(t));
    }
    for d in &ctx.delegations {
        consider(
            score(&qw, &format!("{} {}", d.task_description, d.assigned_to)),
            1,
            Item::Delegation(d),
        );
    }
    for t in &ctx.closed_tasks {
        consider(score(&qw, &t.title), 0, Item::Task(t));
    }
    best.map(|(_, _, item)| item)
}
