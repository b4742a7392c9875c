//! Operations data: tasks, delegations, daily digests, and the rules that rank them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::recurrence::Recurrence;

/// A value that is not one of the allowed words of an enumerated field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field} {value:?}: expected one of {allowed}")]
pub struct UnknownValue {
    pub field: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

word_enum!(
    /// How much a piece of work matters; `Urgent` outranks everything.
    Priority, "priority", { Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
);
word_enum!(
    /// Where a task stands.
    TaskStatus, "status", { Todo => "todo", InProgress => "in_progress", Completed => "completed", Cancelled => "cancelled" }
);
word_enum!(
    /// Where a delegated piece of work stands.
    DelegationStatus, "status", { Planning => "planning", Active => "active", Completed => "completed", OnHold => "on_hold" }
);

word_enum!(
    /// The Eisenhower quadrant the manager put a task in, as the original kept it.
    Quadrant, "quadrant", { Do => "do", Schedule => "schedule", Delegate => "delegate", Eliminate => "eliminate" }
);

impl Priority {
    /// Higher is more important: urgent 3, high 2, medium 1, low 0.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

impl TaskStatus {
    /// Open work is anything not completed or cancelled.
    pub fn is_open(self) -> bool {
        matches!(self, TaskStatus::Todo | TaskStatus::InProgress)
    }
}

impl DelegationStatus {
    /// A delegation still needs the manager's attention unless it is completed.
    pub fn is_open(self) -> bool {
        !matches!(self, DelegationStatus::Completed)
    }
}

/// A piece of work on the manager's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub time_estimate_minutes: Option<i32>,
    pub source: Option<String>,
    pub delegatable: bool,
    pub quadrant: Option<Quadrant>,
    /// The repeat rule of a repeating task; completing it creates the next occurrence.
    pub recurrence: Option<Recurrence>,
    /// The first occurrence of a repeating task's series.
    pub series_id: Option<Uuid>,
    /// The occurrence this one follows (completing that one created this one).
    pub previous_id: Option<Uuid>,
    /// The delegation the task was handed over in.
    pub delegation_id: Option<Uuid>,
    /// Bumped by every change: a write names the version it saw.
    pub version: i64,
    pub completed_at: Option<DateTime<Utc>>,
    /// Deleted by mistake-correction: hidden from lists and the assistant, still resolvable.
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Work handed to someone else that the manager has to follow up on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegation {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub task_description: String,
    pub assigned_to: String,
    pub assigned_to_email: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub follow_up_date: Option<NaiveDate>,
    pub priority: Priority,
    pub status: DelegationStatus,
    /// The task this delegation hands over, when it was made from one.
    pub task_id: Option<Uuid>,
    pub last_followed_up_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub completed_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A line in a delegation's log: "Marcus says the fryer is half done".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationNote {
    pub id: Uuid,
    pub delegation_id: Uuid,
    pub body: String,
    pub author_id: String,
    pub author_name: String,
    pub created_at: DateTime<Utc>,
}

/// The daily digest written for one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub date: NaiveDate,
    pub text: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

word_enum!(
    /// What kind of item an activity entry is about.
    ItemKind, "item type", { Task => "task", Delegation => "delegation", Digest => "digest" }
);

/// One change of one item: who, when, through what, what changed and the item afterwards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub id: Uuid,
    pub item_type: ItemKind,
    pub item_id: Uuid,
    /// created, updated, completed, reopened, deleted, restored, delegated, note_added,
    /// followed_up, imported, repeated
    pub action: String,
    pub actor_id: String,
    pub actor_name: String,
    /// web, api, sso, cli, import
    pub via: String,
    /// `{"field": [before, after]}` of an update.
    pub changes: Option<serde_json::Value>,
    /// The item as it stood after the change.
    pub snapshot: serde_json::Value,
    pub item_version: i64,
    pub at: DateTime<Utc>,
}

/// Where a dated item stands relative to today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Overdue(i64),
    Today,
    InDays(i64),
}

impl Due {
    /// Classifies `date` against `today`.
    pub fn of(date: NaiveDate, today: NaiveDate) -> Due {
        let days = (date - today).num_days();
        match days {
            d if d < 0 => Due::Overdue(-d),
            0 => Due::Today,
            d => Due::InDays(d),
        }
    }

    /// Human words: "overdue by 2 days", "due today", "due tomorrow", "due in 3 days".
    pub fn describe(self) -> String {
        match self {
            Due::Overdue(1) => "overdue by 1 day".into(),
            Due::Overdue(d) => format!("overdue by {d} days"),
            Due::Today => "due today".into(),
            Due::InDays(1) => "due tomorrow".into(),
            Due::InDays(d) => format!("due in {d} days"),
        }
    }
}

impl Task {
    /// Where the task's due date stands, if it has one.
    pub fn due(&self, today: NaiveDate) -> Option<Due> {
        self.due_date.map(|d| Due::of(d, today))
    }

    /// Neither deleted nor closed.
    pub fn is_live_and_open(&self) -> bool {
        self.deleted_at.is_none() && self.status.is_open()
    }

    /// Open and due before today.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.status.is_open() && self.due_date.is_some_and(|d| d < today)
    }
}

/// Orders open work the way a manager triages it: overdue and due-today first, then by
/// priority, then by the nearest due date, then by title for a stable order.
pub fn urgency_order(a: &Task, b: &Task, today: NaiveDate) -> std::cmp::Ordering {
    let pressing = |t: &Task| t.due_date.is_some_and(|d| d <= today);
    pressing(b)
        .cmp(&pressing(a))
        .then(b.priority.rank().cmp(&a.priority.rank()))
        .then(match (a.due_date, b.due_date) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| a.title.cmp(&b.title))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(title: &str, p: Priority, due: Option<NaiveDate>) -> Task {
        Task {
            id: Uuid::nil(),
            external_id: None,
            title: title.into(),
            description: None,
            due_date: due,
            priority: p,
            status: TaskStatus::Todo,
            time_estimate_minutes: None,
            source: None,
            delegatable: false,
            quadrant: None,
            recurrence: None,
            series_id: None,
            previous_id: None,
            delegation_id: None,
            version: 1,
            completed_at: None,
            deleted_at: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn words_parse_leniently_and_reject_unknowns() {
        assert_eq!(
            "In Progress".parse::<TaskStatus>(),
            Ok(TaskStatus::InProgress)
        );
        assert_eq!(
            "on-hold".parse::<DelegationStatus>(),
            Ok(DelegationStatus::OnHold)
        );
        let err = "asap".parse::<Priority>().unwrap_err();
        assert!(err.to_string().contains("urgent"), "{err}");
    }

    #[test]
    fn overdue_and_today_outrank_priority() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let mut tasks = [
            task("later urgent", Priority::Urgent, today.succ_opt()),
            task("overdue medium", Priority::Medium, today.pred_opt()),
            task("no date high", Priority::High, None),
            task("today high", Priority::High, Some(today)),
        ];
        tasks.sort_by(|a, b| urgency_order(a, b, today));
        let titles: Vec<_> = tasks.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "today high",
                "overdue medium",
                "later urgent",
                "no date high"
            ]
        );
    }

    #[test]
    fn due_describes_itself() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(
            Due::of(today - chrono::Days::new(2), today).describe(),
            "overdue by 2 days"
        );
        assert_eq!(
            Due::of(today + chrono::Days::new(1), today).describe(),
            "due tomorrow"
        );
    }
}
