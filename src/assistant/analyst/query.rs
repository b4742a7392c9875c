//! The structured query a question becomes, and how it selects from the day's data.

use chrono::{Datelike, NaiveDate};

use crate::context::OpsContext;
use crate::domain::{Delegation, DelegationStatus, Priority, Task, TaskStatus};

/// What kind of work a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Tasks and, where dates or people say so, delegations.
    Any,
    Tasks,
    Delegations,
    /// Delegations by their follow-up date.
    FollowUps,
}

/// A span of days a question names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before today.
    Overdue,
    /// From `from` (or any time before, when `None`) through `to`, inclusive.
    Days {
        from: Option<NaiveDate>,
        to: NaiveDate,
        label: Span,
    },
    /// Anything after `from`, inclusive ("later", "upcoming").
    After(NaiveDate),
    /// No date at all ("what has no due date?").
    Undated,
}

/// How a span of days was named, to say it back in the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Today,
    Tomorrow,
    Yesterday,
    ThisWeek,
    NextWeek,
    LastWeek,
    Weekend,
    NextDays(i64),
    Before(NaiveDate),
    By(NaiveDate),
    On(NaiveDate),
    ThisMonth,
    /// A calendar month, by its first day.
    Month(NaiveDate),
}

impl When {
    pub fn day(d: NaiveDate, label: Span) -> When {
        When::Days {
            from: Some(d),
            to: d,
            label,
        }
    }

    /// Whether `d` falls in the span, relative to `today`.
    pub fn contains(self, d: NaiveDate, today: NaiveDate) -> bool {
        match self {
            When::Overdue => d < today,
            When::Days { from, to, .. } => from.is_none_or(|f| d >= f) && d <= to,
            When::After(f) => d >= f,
            When::Undated => false,
        }
    }

    /// Whether an item dated `date` (or undated) belongs to the span.
    pub fn admits(self, date: Option<NaiveDate>, today: NaiveDate) -> bool {
        match (self, date) {
            (When::Undated, d) => d.is_none(),
            (w, Some(d)) => w.contains(d, today),
            (_, None) => false,
        }
    }

    /// Whether the span is one day.
    pub fn single_day(self) -> Option<NaiveDate> {
        match self {
            When::Days {
                from: Some(f), to, ..
            } if f == to => Some(f),
            _ => None,
        }
    }

    /// "due today", "overdue", "due this week (to Sun 29 Nov)".
    pub fn words(self, today: NaiveDate) -> String {
        let short = |d: NaiveDate| d.format("%a %-d %b").to_string();
        match self {
            When::Overdue => "overdue".into(),
            When::After(d) if d <= today => "coming up".into(),
            When::After(d) => format!("due from {} on", short(d)),
            When::Undated => "with no due date".into(),
            When::Days { label, to, .. } => match label {
                Span::Today => "due today".into(),
                Span::Tomorrow => format!("due tomorrow ({})", short(to)),
                Span::Yesterday => format!("due yesterday ({})", short(to)),
                Span::ThisWeek => format!("due this week (through {})", short(to)),
                Span::NextWeek => format!("due next week (to {})", short(to)),
                Span::LastWeek => "due last week".into(),
                Span::Weekend => format!("due this weekend (to {})", short(to)),
                Span::NextDays(n) => format!("due in the next {n} days (through {})", short(to)),
                Span::Before(d) => format!("due before {}", short(d)),
                Span::By(d) => format!("due by {}", short(d)),
                Span::On(d) if d == today => "due today".into(),
                Span::On(d) => format!("due on {}", short(d)),
                Span::ThisMonth => format!("due this month (through {})", short(to)),
                Span::Month(first) => format!("due in {}", first.format("%B %Y")),
            },
        }
    }

    /// The same span for finished work: "yesterday", "this week".
    pub fn past_words(self) -> String {
        let short = |d: NaiveDate| d.format("%a %-d %b").to_string();
        match self {
            When::Overdue => "before today".into(),
            When::After(d) => format!("since {}", short(d)),
            When::Undated => "with no date".into(),
            When::Days { label, from, to } => match label {
                Span::Today => "today".into(),
                Span::Yesterday => format!("yesterday ({})", short(to)),
                Span::ThisWeek => "this week".into(),
                Span::LastWeek => "last week".into(),
                Span::On(d) => format!("on {}", short(d)),
                Span::Month(first) => format!("in {}", first.format("%B %Y")),
                _ => match from {
                    Some(f) => format!("between {} and {}", short(f), short(to)),
                    None => format!("by {}", short(to)),
                },
            },
        }
    }
}

/// The week's last day (Sunday) for `today`.
pub fn end_of_week(today: NaiveDate) -> NaiveDate {
    today + chrono::Days::new(u64::from(6 - today.weekday().num_days_from_monday()))
}

/// Where work stands, as a question names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not completed or cancelled (the default).
    Open,
    InProgress,
    NotStarted,
    /// On hold or otherwise stuck.
    Blocked,
    Done,
    Cancelled,
}

/// What the answer should be shaped as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    List,
    Count,
    /// The first by urgency (or by date, for dated questions).
    Next,
    /// Minutes of work.
    Total,
    /// "Is anything …?", "Do I have …?"
    YesNo,
}

/// A question about a set of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub kind: Kind,
    pub when: Option<When>,
    pub priorities: Vec<Priority>,
    pub status: Status,
    pub source: Option<String>,
    pub delegatable: Option<bool>,
    /// At most this many minutes of estimated work.
    pub max_minutes: Option<i64>,
    /// At least this many minutes.
    pub min_minutes: Option<i64>,
    /// A person's name as the data spells it.
    pub person: Option<String>,
    pub shape: Shape,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            kind: Kind::Any,
            when: None,
            priorities: Vec::new(),
            status: Status::Open,
            source: None,
            delegatable: None,
            max_minutes: None,
            min_minutes: None,
            person: None,
            shape: Shape::List,
        }
    }
}

/// What a query selected.
#[derive(Debug, Default)]
pub struct Found<'a> {
    pub tasks: Vec<&'a Task>,
    pub delegations: Vec<&'a Delegation>,
}

impl Found<'_> {
    pub fn len(&self) -> usize {
        self.tasks.len() + self.delegations.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a name ("Marcus", "Priya Shah") is the person `assignee`.
pub fn same_person(name: &str, assignee: &str) -> bool {
    name.eq_ignore_ascii_case(assignee)
}

impl Query {
    /// Whether the query narrows anything beyond "open work".
    pub fn is_filtered(&self) -> bool {
        self.when.is_some()
            || !self.priorities.is_empty()
            || self.status != Status::Open
            || self.source.is_some()
            || self.delegatable.is_some()
            || self.max_minutes.is_some()
            || self.min_minutes.is_some()
            || self.person.is_some()
    }

    fn wants_tasks(&self) -> bool {
        matches!(self.kind, Kind::Any | Kind::Tasks)
            && !(self.kind == Kind::Any && self.person.is_some())
    }

    /// Delegations answer "what's due …" and people questions, not "how many tasks".
    fn wants_delegations(&self) -> bool {
        match self.kind {
            Kind::Delegations | Kind::FollowUps => true,
            Kind::Tasks => false,
            Kind::Any => {
                self.person.is_some()
                    || self.when.is_some()
                    || self.status == Status::Blocked
                    || (self.priorities.is_empty()
                        && self.source.is_none()
                        && self.delegatable.is_none()
                        && self.max_minutes.is_none()
                        && self.min_minutes.is_none()
                        && self.shape != Shape::Total)
            }
        }
    }

    fn task_matches(&self, t: &Task, ctx: &OpsContext) -> bool {
        let today = ctx.today;
        let status = match self.status {
            Status::Open => t.status.is_open(),
            Status::InProgress => t.status == TaskStatus::InProgress,
            Status::NotStarted => t.status == TaskStatus::Todo,
            // Tasks have no blocked state; a task handed over in a delegation on hold is.
            Status::Blocked => {
                t.status.is_open()
                    && ctx
                        .delegation_of(t)
                        .is_some_and(|d| d.status == DelegationStatus::OnHold)
            }
            Status::Done => t.status == TaskStatus::Completed,
            Status::Cancelled => t.status == TaskStatus::Cancelled,
        };
        if !status || t.deleted_at.is_some() {
            return false;
        }
        if let Some(w) = self.when {
            let date = match self.status {
                Status::Done | Status::Cancelled => t
                    .completed_at
                    .map(|c| c.with_timezone(ctx.local_now.offset()).date_naive()),
                _ => t.due_date,
            };
            if !w.admits(date, today) {
                return false;
            }
        }
        let minutes = t.time_estimate_minutes.map(i64::from);
        (self.priorities.is_empty() || self.priorities.contains(&t.priority))
            && self.source.as_deref().is_none_or(|s| {
                t.source
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(s))
            })
            && self.delegatable.is_none_or(|d| t.delegatable == d)
            && self
                .max_minutes
                .is_none_or(|m| minutes.is_some_and(|x| x <= m))
            && self
                .min_minutes
                .is_none_or(|m| minutes.is_some_and(|x| x >= m))
            && self.person.as_deref().is_none_or(|p| {
                ctx.delegation_of(t)
                    .is_some_and(|d| same_person(p, &d.assigned_to))
            })
    }

    fn delegation_matches(&self, d: &Delegation, today: NaiveDate) -> bool {
        let status = match self.status {
            Status::Open => d.status.is_open(),
            Status::InProgress => d.status == DelegationStatus::Active,
            Status::NotStarted => d.status == DelegationStatus::Planning,
            Status::Blocked => d.status == DelegationStatus::OnHold,
            Status::Done | Status::Cancelled => false,
        };
        if !status || d.deleted_at.is_some() {
            return false;
        }
        // A delegation parked on hold is not a follow-up to make.
        if self.kind == Kind::FollowUps
            && self.status == Status::Open
            && d.status == DelegationStatus::OnHold
        {
            return false;
        }
        if let Some(w) = self.when {
            let date = match self.kind {
                Kind::FollowUps => d.follow_up_date.or(d.due_date),
                _ => d.due_date,
            };
            if !w.admits(date, today) {
                return false;
            }
        } else if self.kind == Kind::FollowUps && d.follow_up_date.or(d.due_date).is_none() {
            return false;
        }
        (self.priorities.is_empty() || self.priorities.contains(&d.priority))
            && self.delegatable.is_none()
            && self.source.is_none()
            && self.max_minutes.is_none()
            && self.min_minutes.is_none()
            && self
                .person
                .as_deref()
                .is_none_or(|p| same_person(p, &d.assigned_to))
    }

    /// The work this query selects, most pressing first.
    pub fn select<'a>(&self, ctx: &'a OpsContext) -> Found<'a> {
        let mut found = Found::default();
        if self.wants_tasks() || (self.kind == Kind::Any && self.person.is_some()) {
            let pool: Box<dyn Iterator<Item = &Task>> = match self.status {
                Status::Done | Status::Cancelled => Box::new(ctx.closed_tasks.iter()),
                _ => Box::new(ctx.open_tasks.iter()),
            };
            found.tasks = pool.filter(|t| self.task_matches(t, ctx)).collect();
            if matches!(self.status, Status::Done | Status::Cancelled) {
                found.tasks.sort_by(|a, b| {
                    b.completed_at
                        .cmp(&a.completed_at)
                        .then(a.title.cmp(&b.title))
                });
            } else if self.when.is_some() && self.when.and_then(When::single_day).is_none() {
                // A span of days reads best in date order.
                found.tasks.sort_by(|a, b| {
                    a.due_date
                        .cmp(&b.due_date)
                        .then(b.priority.rank().cmp(&a.priority.rank()))
                        .then(a.title.cmp(&b.title))
                });
            }
        }
        if self.wants_delegations() {
            found.delegations = ctx
                .delegations
                .iter()
                .filter(|d| self.delegation_matches(d, ctx.today))
                .collect();
        }
        found
    }
}

/// Priorities at or above `p`, most important first.
pub fn at_least(p: Priority) -> Vec<Priority> {
    [
        Priority::Urgent,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ]
    .into_iter()
    .filter(|x| x.rank() >= p.rank())
    .collect()
}
