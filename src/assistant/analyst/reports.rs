//! The standing reports: most urgent, deadlines, follow-ups, delegation, the day, what was
//! missed, and what the analyst can do.

use chrono::NaiveDate;
use std::fmt::Write as _;

use super::write::{Answer, day_words, latest_note, minutes_words, person, plural, task_facts};
use crate::context::{ItemRef, OpsContext};
use crate::domain::{Delegation, Due, Priority, Task};

pub fn urgent(ctx: &OpsContext, out: &mut Answer) {
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

pub fn deadlines(ctx: &OpsContext, out: &mut Answer) {
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

pub fn follow_ups(ctx: &OpsContext, out: &mut Answer) {
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
            if let Some(note) = latest_note(ctx, d) {
                out.line(note);
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

pub fn delegate(ctx: &OpsContext, out: &mut Answer) {
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

pub fn summary(ctx: &OpsContext, out: &mut Answer) {
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

pub fn capabilities(ctx: &OpsContext, unanswerable: bool, out: &mut Answer) {
    if unanswerable {
        out.line("I can't answer that from your operations data — I'm the offline assistant, and I only know your tasks, delegations and daily digest. Here is what I can do:");
    } else {
        out.line("I'm your operations assistant: I work from your tasks, delegations and daily digest. Ask me things like:");
    }
    out.line("");
    // The examples name the manager's own people and work where there is some.
    let someone = ctx
        .delegations
        .first()
        .and_then(|d| d.assigned_to.split_whitespace().next())
        .unwrap_or("Sam");
    let work = ctx
        .open_tasks
        .first()
        .map_or("the schedule", |t| t.title.as_str());
    for s in [
        "\"What's most urgent today?\" or \"Help me plan my next 2 hours\"".to_string(),
        "\"What's overdue?\", \"What's due tomorrow?\", \"How's the week looking?\"".into(),
        format!("\"Who do I need to follow up with?\", \"What's {someone} working on?\""),
        "\"What can I delegate?\", \"Any quick wins under 15 minutes?\"".into(),
        "\"How many urgent tasks are open?\", \"How much work is due today?\"".into(),
        format!("\"When is {work} due?\", \"Is it done?\" — name any task or delegation"),
        "\"What did the digest say about …?\"".into(),
        "\"What did I finish yesterday?\", \"What did I miss?\"".into(),
    ] {
        out.line(format!("- {s}"));
    }
}

/// "What did I miss?": what went late, follow-ups whose day passed, and the latest digest.
pub fn missed(ctx: &OpsContext, out: &mut Answer) {
    let today = ctx.today;
    let late: Vec<&Task> = ctx.overdue().collect();
    let chase: Vec<&Delegation> = ctx
        .follow_ups_due()
        .filter(|d| d.follow_up_date.or(d.due_date).is_some_and(|f| f < today))
        .collect();
    if late.is_empty() && chase.is_empty() {
        out.line("Nothing slipped: no task is overdue and no follow-up is past its date.");
    }
    if !late.is_empty() {
        out.line(format!("**Overdue ({}):**", late.len()));
        for t in &late {
            out.line(format!("- **{}** — {}", t.title, task_facts(t, today)));
            out.task(t);
        }
    }
    if !chase.is_empty() {
        if !late.is_empty() {
            out.line("");
        }
        out.line("**Follow-ups you missed:**");
        for d in &chase {
            let f = d.follow_up_date.or(d.due_date).unwrap_or(today);
            out.line(format!(
                "- {} — {} (follow up was {})",
                person(d),
                d.task_description,
                day_words(f, today)
            ));
            out.delegation(d);
        }
    }
    if let Some(d) = &ctx.digest {
        out.line("");
        out.line(format!(
            "**Digest ({}):** {}",
            day_words(d.date, today),
            crate::context::one_line(&d.text, 400)
        ));
        out.items.push(ItemRef::digest(d));
    }
}
