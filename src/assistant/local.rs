//! `opschat-local`: an offline operations analyst. It reads the question, picks what the
//! manager is asking for, and answers in Markdown from the day's data alone, naming every item
//! it used. Deterministic: the same data, time and question give the same answer.

use async_trait::async_trait;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Timelike};
use std::fmt::Write as _;

use super::{ModelReply, ModelRequest, Provider, ProviderError};
use crate::config::LOCAL_MODEL;
use crate::context::{ItemRef, OpsContext};
use crate::domain::{Delegation, Due, Priority, Task, TaskStatus};

/// Minutes assumed for a task without an estimate.
const DEFAULT_ESTIMATE: i64 = 30;
/// Minutes a batch of follow-up calls or messages takes.
const FOLLOW_UP_BLOCK: i64 = 10;

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
    let (content, items) = answer(req.question, req.context);
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

/// What the manager is asking for.
#[derive(Debug, Clone, PartialEq)]
enum Intent {
    Plan { minutes: i64 },
    WhenDue,
    PriorityOf,
    FollowUps,
    Delegate,
    Deadlines,
    Urgent,
    Summary,
    Help,
    Unknown,
}

fn classify(q: &str) -> Intent {
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    if has(&[
        "what can you",
        "what do you do",
        "how do you work",
        "help me with",
        "what can i ask",
    ]) && !has(&["delegat"])
    {
        return Intent::Help;
    }
    if has(&["plan", "schedule my", "block out", "time block"])
        || (q.contains("next") && has(&["hour", "minute", " hr", " min"]))
    {
        return Intent::Plan {
            minutes: plan_minutes(q),
        };
    }
    if has(&[
        "when is",
        "when's",
        "whens ",
        "when does",
        "when do",
        "when are",
        "due date of",
        "due date for",
        "deadline for",
        "deadline of",
    ]) {
        return Intent::WhenDue;
    }
    if has(&[
        "priority of",
        "priority on",
        "priority for",
        "priority is",
        "how urgent is",
        "how important is",
        "what priority",
    ]) {
        return Intent::PriorityOf;
    }
    if has(&[
        "follow up",
        "follow-up",
        "followup",
        "chase",
        "check in with",
        "check on",
        "waiting on",
        "hear back",
        "nudge",
    ]) {
        return Intent::FollowUps;
    }
    if has(&[
        "delegat",
        "hand off",
        "hand-off",
        "handoff",
        "offload",
        "assign",
        "pass off",
        "someone else",
    ]) {
        return Intent::Delegate;
    }
    if has(&[
        "deadline",
        "due this week",
        "what's due",
        "whats due",
        "what is due",
        "due dates",
        "coming up",
        "upcoming",
        "due soon",
    ]) {
        return Intent::Deadlines;
    }
    if has(&[
        "urgent",
        "important",
        "priorit",
        "first",
        "focus",
        "asap",
        "fire",
        "critical",
        "top of",
        "should i do",
        "start with",
        "what now",
    ]) {
        return Intent::Urgent;
    }
    if has(&[
        "summar",
        "my day",
        "overview",
        "digest",
        "brief",
        "status",
        "today",
        "rundown",
        "recap",
        "what's going on",
        "whats going on",
        "what's happening",
    ]) {
        return Intent::Summary;
    }
    Intent::Unknown
}

/// The length of the window in "plan my next 2 hours", "next 90 minutes", "next half hour".
fn plan_minutes(q: &str) -> i64 {
    let words: Vec<&str> = q
        .split(|c: char| !c.is_alphanumeric() && c != '.')
        .filter(|w| !w.is_empty())
        .collect();
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
            return ((a * unit) as i64).clamp(15, 12 * 60);
        }
    }
    120
}

fn number(w: &str) -> Option<f64> {
    if let Ok(n) = w.parse::<f64>() {
        return Some(n);
    }
    const WORDS: [&str; 12] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven",
    ];
    WORDS
        .iter()
        .position(|x| *x == w)
        .map(|n| n as f64)
        .or(match w {
            "twelve" => Some(12.0),
            "couple" => Some(2.0),
            "few" => Some(3.0),
            _ => None,
        })
}

/// Answers `question` from `ctx`: the Markdown text and the items it named.
pub fn answer(question: &str, ctx: &OpsContext) -> (String, Vec<ItemRef>) {
    let q = question.to_lowercase().replace('’', "'");
    let mut out = Answer::default();
    match classify(&q) {
        Intent::Plan { minutes } => plan(ctx, minutes, &mut out),
        Intent::WhenDue => match find_item(&q, ctx) {
            Some(item) => when_due(ctx, item, &mut out),
            None => not_found(ctx, "when it is due", &mut out),
        },
        Intent::PriorityOf => match find_item(&q, ctx) {
            Some(item) => priority_of(ctx, item, &mut out),
            None => not_found(ctx, "its priority", &mut out),
        },
        Intent::FollowUps => follow_ups(ctx, &mut out),
        Intent::Delegate => delegate(ctx, &mut out),
        Intent::Deadlines => deadlines(ctx, &mut out),
        Intent::Urgent => urgent(ctx, &mut out),
        Intent::Summary => summary(ctx, &mut out),
        Intent::Help => capabilities(false, &mut out),
        Intent::Unknown => match find_item(&q, ctx) {
            Some(item) => about(ctx, item, &mut out),
            None => capabilities(true, &mut out),
        },
    }
    (out.text.trim_end().to_string(), out.items)
}

#[derive(Default)]
struct Answer {
    text: String,
    items: Vec<ItemRef>,
}

impl Answer {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
    fn task(&mut self, t: &Task) {
        let r = ItemRef::task(t);
        if !self.items.contains(&r) {
            self.items.push(r);
        }
    }
    fn delegation(&mut self, d: &Delegation) {
        let r = ItemRef::delegation(d);
        if !self.items.contains(&r) {
            self.items.push(r);
        }
    }
}

/// "priority · due words · estimate" for one task.
fn task_facts(t: &Task, today: NaiveDate) -> String {
    let mut parts = vec![t.priority.to_string()];
    if let Some(due) = t.due(today) {
        parts.push(due.describe());
    }
    parts.push(effort_facts(t));
    parts.retain(|p| !p.is_empty());
    parts.join(" · ")
}

/// "in progress · ~45 min": what a task takes, without priority or due date.
fn effort_facts(t: &Task) -> String {
    let mut parts: Vec<String> = Vec::new();
    if t.status == TaskStatus::InProgress {
        parts.push("in progress".into());
    }
    if let Some(m) = t.time_estimate_minutes {
        parts.push(format!("~{}", minutes_words(m.into())));
    }
    if let Some(r) = &t.recurrence {
        parts.push(format!("repeats {}", r.describe()));
    }
    parts.join(" · ")
}

/// "s" unless there is exactly one.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn minutes_words(m: i64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn day_words(d: NaiveDate, today: NaiveDate) -> String {
    match (d - today).num_days() {
        0 => format!("today ({})", d.format("%a %-d %b")),
        1 => format!("tomorrow ({})", d.format("%a %-d %b")),
        -1 => format!("yesterday ({})", d.format("%a %-d %b")),
        _ => d.format("%A %-d %B").to_string(),
    }
}

fn person(d: &Delegation) -> String {
    match &d.assigned_to_email {
        Some(e) if !e.is_empty() => format!("**{}** ({e})", d.assigned_to),
        _ => format!("**{}**", d.assigned_to),
    }
}

fn urgent(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    let pressing: Vec<&Task> = ctx
        .open_tasks
        .iter()
        .filter(|t| t.due_date.is_some_and(|d| d <= today))
        .collect();
    let urgent_later: Vec<&Task> = ctx
        .open_tasks
        .iter()
        .filter(|t| t.priority == Priority::Urgent && t.due_date.is_none_or(|d| d > today))
        .collect();
    if ctx.open_tasks.is_empty() {
        out.line("You have no open tasks. Nothing is urgent right now.");
    } else if pressing.is_empty() && urgent_later.is_empty() {
        out.line(format!(
            "Nothing is overdue or due today ({}). Top of your list:",
            today.format("%A %-d %B")
        ));
        out.line("");
        for (i, t) in ctx.open_tasks.iter().take(3).enumerate() {
            out.line(format!(
                "{}. **{}** — {}",
                i + 1,
                t.title,
                task_facts(t, today)
            ));
            out.task(t);
        }
    } else {
        out.line(format!(
            "**Most urgent today** ({}):",
            today.format("%A %-d %B")
        ));
        out.line("");
        for (i, t) in pressing.iter().chain(urgent_later.iter()).enumerate() {
            out.line(format!(
                "{}. **{}** — {}",
                i + 1,
                t.title,
                task_facts(t, today)
            ));
            out.task(t);
        }
        let overdue = ctx.overdue().count();
        if overdue > 0 {
            out.line("");
            out.line(format!(
                "{} overdue: clear {} first.",
                if overdue == 1 {
                    "1 item is".to_string()
                } else {
                    format!("{overdue} items are")
                },
                if overdue == 1 { "it" } else { "those" }
            ));
        }
    }
    let due: Vec<&Delegation> = ctx.follow_ups_due().collect();
    if !due.is_empty() {
        out.line("");
        out.line("**Follow-ups due:**");
        for d in due {
            out.line(format!("- {} — {}", person(d), d.task_description));
            out.delegation(d);
        }
    }
}

fn deadlines(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    let dated: Vec<&Task> = {
        let mut v: Vec<&Task> = ctx
            .open_tasks
            .iter()
            .filter(|t| t.due_date.is_some())
            .collect();
        v.sort_by(|a, b| {
            a.due_date
                .cmp(&b.due_date)
                .then(b.priority.rank().cmp(&a.priority.rank()))
        });
        v
    };
    let delegated: Vec<&Delegation> = ctx
        .delegations
        .iter()
        .filter(|d| d.due_date.is_some())
        .collect();
    if dated.is_empty() && delegated.is_empty() {
        out.line("None of your open tasks or delegations has a due date.");
        return;
    }
    let horizon = today + chrono::Days::new(crate::context::UPCOMING_DAYS as u64);
    let section = |d: NaiveDate| match d {
        d if d < today => 0,
        d if d <= horizon => 1,
        _ => 2,
    };
    out.line(format!(
        "**Your deadlines** ({} open tasks with a due date):",
        dated.len()
    ));
    for (i, label) in ["Overdue", "This week", "Later"].iter().enumerate() {
        let group: Vec<&&Task> = dated
            .iter()
            .filter(|t| t.due_date.is_some_and(|d| section(d) == i))
            .collect();
        if group.is_empty() {
            continue;
        }
        out.line("");
        out.line(format!("**{label}**"));
        for t in group {
            let d = t.due_date.unwrap_or(today);
            out.line(format!(
                "- {} — **{}** ({})",
                day_words(d, today),
                t.title,
                t.priority
            ));
            out.task(t);
        }
    }
    if !delegated.is_empty() {
        out.line("");
        out.line("**Delegated work due**");
        for d in delegated {
            let due = d.due_date.unwrap_or(today);
            out.line(format!(
                "- {} — {} ({})",
                day_words(due, today),
                d.task_description,
                d.assigned_to
            ));
            out.delegation(d);
        }
    }
}

fn follow_ups(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    let due: Vec<&Delegation> = ctx.follow_ups_due().collect();
    let soon: Vec<&Delegation> = ctx
        .delegations
        .iter()
        .filter(|d| {
            d.follow_up_date
                .is_some_and(|f| f > today && f <= today + chrono::Days::new(3))
        })
        .collect();
    if due.is_empty() {
        out.line("Nobody needs a follow-up today.");
    } else {
        out.line(format!(
            "**Follow up with {} {} today:**",
            due.len(),
            if due.len() == 1 { "person" } else { "people" }
        ));
        out.line("");
        for d in &due {
            let when = d
                .follow_up_date
                .or(d.due_date)
                .map(|f| match Due::of(f, today) {
                    Due::Today => "follow-up due today".to_string(),
                    Due::Overdue(n) => {
                        format!("follow-up {n} day{} late", if n == 1 { "" } else { "s" })
                    }
                    Due::InDays(_) => String::new(),
                });
            let mut line = format!("- {} — {} [{}]", person(d), d.task_description, d.priority);
            if let Some(w) = when.filter(|w| !w.is_empty()) {
                let _ = write!(line, ", {w}");
            }
            if let Some(due) = d.due_date {
                let _ = write!(line, "; work due {}", day_words(due, today));
            }
            out.line(line);
            if let Some(n) = ctx.notes_of(d.id).next() {
                out.line(format!(
                    "  - Latest note ({}): {}",
                    day_words(
                        n.created_at
                            .with_timezone(ctx.local_now.offset())
                            .date_naive(),
                        today
                    ),
                    crate::context::one_line(&n.body, 160)
                ));
            }
            out.delegation(d);
        }
    }
    if !soon.is_empty() {
        out.line("");
        out.line("**Coming up:**");
        for d in soon {
            let f = d.follow_up_date.unwrap_or(today);
            out.line(format!(
                "- {} — {} (follow up {})",
                person(d),
                d.task_description,
                day_words(f, today)
            ));
            out.delegation(d);
        }
    }
    let on_hold = ctx
        .delegations
        .iter()
        .filter(|d| d.status == crate::domain::DelegationStatus::OnHold)
        .count();
    if on_hold > 0 {
        out.line("");
        out.line(format!(
            "{on_hold} delegation{} on hold.",
            if on_hold == 1 { " is" } else { "s are" }
        ));
    }
}

fn delegate(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    // A task already handed over is not a candidate again.
    let candidates: Vec<&Task> = ctx
        .open_tasks
        .iter()
        .filter(|t| t.delegatable && ctx.delegation_of(t).is_none())
        .collect();
    if candidates.is_empty() {
        out.line("None of your open tasks is marked as delegatable.");
    } else {
        let minutes: i64 = candidates
            .iter()
            .map(|t| i64::from(t.time_estimate_minutes.unwrap_or(0)))
            .sum();
        out.line(format!(
            "**You can delegate {} task{}:**",
            candidates.len(),
            if candidates.len() == 1 { "" } else { "s" }
        ));
        out.line("");
        for t in &candidates {
            out.line(format!("- **{}** — {}", t.title, task_facts(t, today)));
            out.task(t);
        }
        if minutes > 0 {
            out.line("");
            out.line(format!(
                "Handing these off frees about {} of your time.",
                minutes_words(minutes)
            ));
        }
    }
    let mut team: Vec<&str> = ctx
        .delegations
        .iter()
        .map(|d| d.assigned_to.as_str())
        .collect();
    team.sort_unstable();
    team.dedup();
    if !team.is_empty() {
        let load: Vec<String> = team
            .iter()
            .map(|p| {
                let n = ctx
                    .delegations
                    .iter()
                    .filter(|d| d.assigned_to == *p)
                    .count();
                format!("{p} ({n} open)")
            })
            .collect();
        out.line("");
        out.line(format!("Already helping you: {}.", load.join(", ")));
    }
}

/// A task or delegation the question names.
#[derive(Clone, Copy)]
enum Item<'a> {
    Task(&'a Task),
    Delegation(&'a Delegation),
}

fn when_due(ctx: &OpsContext, item: Item<'_>, out: &mut Answer) {
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
    priority_of(ctx, item, out);
    if let Item::Task(t) = item
        && t.status.is_open()
        && t.delegatable
    {
        out.line("");
        out.line("It is marked delegatable.");
    }
}

fn not_found(ctx: &OpsContext, what: &str, out: &mut Answer) {
    out.line(format!(
        "I couldn't find that item in your tasks or delegations, so I can't tell you {what}."
    ));
    if !ctx.open_tasks.is_empty() {
        let names: Vec<String> = ctx
            .open_tasks
            .iter()
            .take(5)
            .map(|t| format!("\"{}\"", t.title))
            .collect();
        out.line("");
        out.line(format!(
            "Try naming it with a word from its title, for example: {}.",
            names.join(", ")
        ));
    }
}

fn summary(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    let overdue: Vec<&Task> = ctx.overdue().collect();
    let due_today: Vec<&Task> = ctx.due_today().collect();
    let follow: Vec<&Delegation> = ctx.follow_ups_due().collect();
    out.line(format!("**Your day — {}**", today.format("%A %-d %B")));
    out.line("");
    let (open, deadlines, active) = (
        ctx.open_tasks.len(),
        ctx.deadlines().len(),
        ctx.active_delegations().count(),
    );
    out.line(format!(
        "- {open} open task{} · {} overdue · {} due today · {deadlines} deadline{} this week",
        plural(open),
        overdue.len(),
        due_today.len(),
        plural(deadlines),
    ));
    out.line(format!(
        "- {} follow-up{} due · {active} active delegation{}",
        follow.len(),
        plural(follow.len()),
        plural(active),
    ));
    if let Some(d) = &ctx.digest {
        out.line("");
        let label = if d.date == today {
            "Today's digest".to_string()
        } else {
            format!("Latest digest ({})", d.date)
        };
        out.line(format!(
            "**{label}:** {}",
            crate::context::one_line(&d.text, 600)
        ));
        out.items.push(ItemRef::digest(d));
    }
    if !overdue.is_empty() || !due_today.is_empty() {
        out.line("");
        out.line("**Needs you today:**");
        for t in overdue.iter().chain(due_today.iter()) {
            out.line(format!("- **{}** — {}", t.title, task_facts(t, today)));
            out.task(t);
        }
    }
    if !follow.is_empty() {
        out.line("");
        let names: Vec<String> = follow
            .iter()
            .map(|d| format!("{} ({})", d.assigned_to, d.task_description))
            .collect();
        out.line(format!("**Follow up with:** {}.", names.join("; ")));
        for d in follow {
            out.delegation(d);
        }
    }
    if let Some(c) = &ctx.client {
        let flagged: Vec<&str> = c
            .operations
            .iter()
            .filter(|(_, p)| {
                p.as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case("urgent"))
            })
            .map(|(w, _)| w.as_str())
            .collect();
        if !flagged.is_empty() {
            out.line("");
            out.line(format!(
                "**Flagged urgent on your dashboard:** {}.",
                flagged.join("; ")
            ));
        }
    }
}

fn capabilities(unanswerable: bool, out: &mut Answer) {
    if unanswerable {
        out.line("I can't answer that from your operations data — I'm the offline assistant, and I only know your tasks, delegations and daily digest. Here is what I can do:");
    } else {
        out.line("I'm your operations assistant: I work from your tasks, delegations and daily digest. Ask me things like:");
    }
    out.line("");
    for s in [
        "\"What's most urgent today?\"",
        "\"Show me all my deadlines\"",
        "\"Who do I need to follow up with?\"",
        "\"What can I delegate?\"",
        "\"When is the manager schedule due?\" — name any task or delegation",
        "\"What's the priority on the payroll issue?\"",
        "\"Summarize my day\"",
        "\"Help me plan my next 2 hours\"",
    ] {
        out.line(format!("- {s}"));
    }
}

/// Time-boxes the next `minutes` from now: overdue and due-today work first, then by priority,
/// using each task's estimate; follow-ups batched into one short block; low-stakes delegatable
/// work suggested for handing off instead of doing.
fn plan(ctx: &OpsContext, minutes: i64, out: &mut Answer) {
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

const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "was",
    "when",
    "what",
    "whats",
    "what's",
    "when's",
    "whens",
    "due",
    "priority",
    "of",
    "on",
    "for",
    "my",
    "i",
    "me",
    "do",
    "does",
    "need",
    "to",
    "it",
    "that",
    "this",
    "how",
    "urgent",
    "important",
    "and",
    "or",
    "with",
    "about",
    "tell",
    "show",
    "date",
    "deadline",
    "please",
    "can",
    "you",
    "we",
    "our",
    "in",
    "at",
    "by",
    "be",
    "s",
    "thing",
    "item",
    "task",
    "issue",
    "one",
];

/// A crude stem: "schedules", "schedule" and "scheduled" all become "schedul".
fn stem(w: &str) -> &str {
    let mut w = w;
    for suffix in ["ing", "ed", "s"] {
        if w.len() > suffix.len() + 3
            && let Some(s) = w.strip_suffix(suffix)
        {
            w = s;
            break;
        }
    }
    if w.len() > 4 {
        w.strip_suffix('e').unwrap_or(w)
    } else {
        w
    }
}

pub(crate) fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(|w| stem(w).to_string())
        .collect()
}

/// How well the question's words name a title: 2 per exact (stemmed) word, 1 per shared prefix
/// of five letters or more.
pub(crate) fn score(question: &[String], title: &str) -> u32 {
    let title = words(title);
    question
        .iter()
        .map(|q| {
            if title.iter().any(|t| t == q) {
                2
            } else if q.chars().nth(4).is_some()
                && title.iter().any(|t| {
                    // Five letters, not bytes: a word may be any script.
                    t.chars().nth(4).is_some() && t.chars().take(5).eq(q.chars().take(5))
                })
            {
                1
            } else {
                0
            }
        })
        .sum()
}

/// The task or delegation the question names, by fuzzy match on its words. Open items win ties.
fn find_item<'a>(q: &str, ctx: &'a OpsContext) -> Option<Item<'a>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_any_script_are_compared_by_letters_not_bytes() {
        // Schemathesis sent "n5ðí": a five-byte prefix cut the "í" in half and panicked.
        let q = words("n5ðí crème brûlée");
        assert_eq!(score(&q, "Crème brûlées for the weekend"), 4);
        assert_eq!(score(&words("n5ðíxa"), "n5ðíxb order"), 1);
        assert_eq!(score(&words("n5ðí"), "n5ðí"), 2);
    }

    #[test]
    fn intents() {
        assert_eq!(
            classify("help me plan my next 2 hours"),
            Intent::Plan { minutes: 120 }
        );
        assert_eq!(
            classify("plan my next half an hour"),
            Intent::Plan { minutes: 30 }
        );
        assert_eq!(
            classify("what should i do in the next 90 minutes"),
            Intent::Plan { minutes: 90 }
        );
        assert_eq!(
            classify("plan the next three hours"),
            Intent::Plan { minutes: 180 }
        );
        assert_eq!(classify("what's most urgent today?"), Intent::Urgent);
        assert_eq!(classify("show me all my deadlines"), Intent::Deadlines);
        assert_eq!(
            classify("who do i need to follow up with?"),
            Intent::FollowUps
        );
        assert_eq!(classify("what can i delegate?"), Intent::Delegate);
        assert_eq!(
            classify("when is the manager schedule due?"),
            Intent::WhenDue
        );
        assert_eq!(
            classify("what's the priority on the payroll issue?"),
            Intent::PriorityOf
        );
        assert_eq!(classify("summarize my day"), Intent::Summary);
        assert_eq!(classify("what's the capital of peru"), Intent::Unknown);
        assert_eq!(classify("what can you help me with?"), Intent::Help);
    }

    #[test]
    fn pieces_rebuild_the_text() {
        let text = "**Most urgent** — café ünïcødé\n\n1. Fix walk-in cooler door gasket";
        let parts: Vec<&str> = pieces(text, 8).collect();
        assert!(parts.len() > 3, "{parts:?}");
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn stems_and_scores() {
        assert_eq!(stem("schedules"), "schedul");
        let q = words("when is the manager schedule due");
        assert!(score(&q, "Submit manager schedule for next week") >= 4);
        assert_eq!(score(&q, "Fix walk-in cooler"), 0);
    }
}
