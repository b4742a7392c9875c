//! The answer writers' shared parts: the answer being built and how facts are worded.

use chrono::NaiveDate;

use crate::context::ItemRef;
use crate::domain::{Delegation, Task, TaskStatus};

/// An answer being written: Markdown and the items it names.
#[derive(Default)]
pub struct Answer {
    pub text: String,
    pub items: Vec<ItemRef>,
}

impl Answer {
    pub fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
    pub fn task(&mut self, t: &Task) {
        let r = ItemRef::task(t);
        if !self.items.contains(&r) {
            self.items.push(r);
        }
    }
    pub fn delegation(&mut self, d: &Delegation) {
        let r = ItemRef::delegation(d);
        if !self.items.contains(&r) {
            self.items.push(r);
        }
    }
}

/// "priority · due words · estimate" for one task.
pub fn task_facts(t: &Task, today: NaiveDate) -> String {
    let mut parts = vec![t.priority.to_string()];
    if let Some(due) = t.due(today) {
        parts.push(due.describe());
    }
    parts.push(effort_facts(t));
    parts.retain(|p| !p.is_empty());
    parts.join(" · ")
}

/// "in progress · ~45 min": what a task takes, without priority or due date.
pub fn effort_facts(t: &Task) -> String {
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
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn minutes_words(m: i64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

pub fn day_words(d: NaiveDate, today: NaiveDate) -> String {
    match (d - today).num_days() {
        0 => format!("today ({})", d.format("%a %-d %b")),
        1 => format!("tomorrow ({})", d.format("%a %-d %b")),
        -1 => format!("yesterday ({})", d.format("%a %-d %b")),
        _ => d.format("%A %-d %B").to_string(),
    }
}

pub fn person(d: &Delegation) -> String {
    match &d.assigned_to_email {
        Some(e) if !e.is_empty() => format!("**{}** ({e})", d.assigned_to),
        _ => format!("**{}**", d.assigned_to),
    }
}

/// One line about a delegation: "**Sunday inventory count** — with **Marcus Lee** · high · due
/// Thu 26 Nov · follow up today".
pub fn delegation_line(d: &Delegation, today: NaiveDate) -> String {
    let mut parts = vec![format!("with {}", person(d)), d.priority.to_string()];
    if d.status != crate::domain::DelegationStatus::Active {
        parts.push(d.status.as_str().replace('_', " "));
    }
    if let Some(due) = d.due_date {
        parts.push(format!("due {}", day_words(due, today)));
    }
    if let Some(f) = d.follow_up_date {
        parts.push(format!("follow up {}", day_words(f, today)));
    }
    format!("- **{}** — {}", d.task_description, parts.join(" · "))
}

/// "Elena Ruiz, yesterday (Thu 4 Mar): Luis says the trays arrive Monday."
pub fn note_text(ctx: &crate::context::OpsContext, n: &crate::domain::DelegationNote) -> String {
    let day = n
        .created_at
        .with_timezone(ctx.local_now.offset())
        .date_naive();
    format!(
        "{}, {}: {}",
        n.author_name,
        day_words(day, ctx.today),
        crate::context::one_line(&n.body, 240)
    )
}

/// "  - Latest note: Elena Ruiz, yesterday (Thu 4 Mar): …" under a delegation with notes.
pub fn latest_note(ctx: &crate::context::OpsContext, d: &Delegation) -> Option<String> {
    let n = ctx.notes_of(d.id).next()?;
    Some(format!("  - Latest note: {}", note_text(ctx, n)))
}

/// One line about a task: "**Title** — urgent · due today · ~30 min".
pub fn task_line(t: &Task, today: NaiveDate) -> String {
    format!("- **{}** — {}", t.title, task_facts(t, today))
}
