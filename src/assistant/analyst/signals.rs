//! Signals: what a question says about a set of work — what, when, which, and in what shape —
//! read into a `Query`.

use chrono::{Datelike, Days, NaiveDate};

use super::phrases::*;
use super::query::{Kind, Query, Shape, Span, Status, When, at_least, end_of_week};
use super::understand::{Lexicon, Words};
use crate::context::OpsContext;
use crate::domain::Priority;
use crate::domain::quick::{day_number, month};
use crate::domain::recurrence::Day;

/// Reads what a question asks about a set of work.
pub(super) fn signals(w: &Words, ctx: &OpsContext, lex: &Lexicon) -> Query {
    let today = ctx.today;
    let mut q = Query::default();
    // What.
    if w.any(FOLLOW) {
        q.kind = Kind::FollowUps;
    } else if w.any(DELEGATIONS) && !w.any(DELEGATE) {
        q.kind = Kind::Delegations;
    } else if w.any(TASKS) && !w.any(&["item"]) {
        q.kind = Kind::Tasks;
    }
    q.person = lex.person(w);
    // Status, before dates: done work is dated by when it was finished.
    let still_open = w.any(STILL_OPEN);
    if w.any(CANCELLED) && !still_open {
        q.status = Status::Cancelled;
    } else if w.any(DONE)
        && !still_open
        && (!w.any(&["get done", "need to", "have to"])
            || w.any(&["did i get", "did we get", "i got done", "we got done"]))
    {
        q.status = Status::Done;
    } else if w.any(NOT_STARTED) {
        q.status = Status::NotStarted;
    } else if w.any(BLOCKED) && !w.any(&["waiting on", "waiting for"]) {
        q.status = Status::Blocked;
    } else if w.any(IN_PROGRESS) || (w.has("working on") && q.person.is_none()) {
        q.status = Status::InProgress;
    }
    if matches!(q.status, Status::Done | Status::Cancelled) {
        q.kind = Kind::Tasks;
    }
    q.when = when(
        w,
        today,
        matches!(q.status, Status::Done | Status::Cancelled),
    );
    // Priority.
    let or_above = w.any(&[
        "or above",
        "and above",
        "or higher",
        "and up",
        "at least",
        "or more",
    ]);
    let mut priorities = Vec::new();
    for (word, p) in [
        ("urgent", Priority::Urgent),
        ("high", Priority::High),
        ("medium", Priority::Medium),
        ("normal", Priority::Medium),
        ("low", Priority::Low),
    ] {
        let asked = w.has(word)
            && !(word == "urgent" && w.any(&["most urgent", "how urgent", "more urgent"]))
            && !(word == "low" && w.any(&["low on", "lower"]));
        if asked {
            priorities.push(p);
        }
    }
    let least = w.any(&[
        "least important",
        "least urgent",
        "lowest priority",
        "can wait",
        "could wait",
        "put off",
        "postpone",
        "push back",
        "not urgent",
        "not important",
        "deprioritize",
        "deprioritise",
    ]);
    if least {
        priorities = vec![Priority::Low];
    }
    if priorities.is_empty()
        && w.any(&["important", "high priority", "priority one"])
        && !w.any(&["most important", "more important", "how important"])
        && !least
    {
        priorities = vec![Priority::Urgent, Priority::High];
    }
    if or_above && let Some(min) = priorities.iter().min_by_key(|p| p.rank()) {
        priorities = at_least(*min);
    }
    q.priorities = priorities;
    // Source.
    for s in &lex.sources {
        let from = [
            format!("from {s}"),
            format!("from the {s}"),
            format!("via {s}"),
            format!("by {s}"),
            format!("{s} task"),
            format!("in {s}"),
        ];
        // "any emails I need to handle?": a one-word source named outright.
        let named = !s.contains(' ') && s != "digest" && w.has(s);
        if named || from.iter().any(|p| w.has(p)) {
            q.source = Some(s.clone());
        }
    }
    // Delegatable, as a filter.
    if w.any(&[
        "delegatable",
        "delegable",
        "can be delegated",
        "could be delegated",
    ]) {
        q.delegatable = Some(true);
    }
    // Effort.
    if let Some(m) = minutes_limit(w) {
        q.max_minutes = Some(m);
    } else if w.any(QUICK) {
        q.max_minutes = Some(15);
    } else if w.any(LONG) && !w.any(&["how long"]) {
        q.min_minutes = Some(60);
    }
    // Shape.
    q.shape = if w.any(TOTAL) {
        Shape::Total
    } else if w.any(COUNT) {
        Shape::Count
    } else if next_one(w) {
        Shape::Next
    } else if w.starts(YES_NO) && !w.starts(&["can you", "do you"]) {
        Shape::YesNo
    } else {
        Shape::List
    };
    q
}

/// "next" meaning the next one, not "next week" or "next 3 days".
fn next_one(w: &Words) -> bool {
    let mut named = false;
    let mut spans = false;
    for (i, t) in w.tokens.iter().enumerate() {
        if !matches!(t.as_str(), "next" | "soonest" | "nearest") {
            continue;
        }
        let span = w.tokens.get(i + 1).is_some_and(|n| {
            matches!(
                n.as_str(),
                "week" | "month" | "few" | "couple" | "day" | "hour" | "minute"
            ) || Day::parse_loose(n).is_some()
                || number(n).is_some()
        });
        if span {
            spans = true;
        } else {
            named = true;
        }
    }
    named || (!spans && w.any(&["what is up next", "up next", "coming up next"]))
}

pub(super) fn number(w: &str) -> Option<i64> {
    if let Ok(n) = w.parse::<i64>() {
        return Some(n);
    }
    const WORDS: [&str; 15] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen",
    ];
    WORDS
        .iter()
        .position(|x| *x == w)
        .map(|n| n as i64)
        .or(match w {
            "fifteen" => Some(15),
            "twenty" => Some(20),
            "thirty" => Some(30),
            "forty" => Some(40),
            "ninety" => Some(90),
            "couple" => Some(2),
            "few" => Some(3),
            _ => None,
        })
}

/// "under 15 minutes", "less than half an hour", "an hour or less".
fn minutes_limit(w: &Words) -> Option<i64> {
    let t = &w.tokens;
    for (i, unit) in t.iter().enumerate() {
        let per = match unit.as_str() {
            "minute" => 1,
            "hour" => 60,
            _ => continue,
        };
        let amount = match (
            i.checked_sub(2).map(|j| t[j].as_str()),
            t.get(i.wrapping_sub(1)),
        ) {
            (Some("half"), Some(a)) if a == "an" || a == "a" => 0.5,
            (_, Some(a)) if a == "an" || a == "a" => 1.0,
            (_, Some(n)) => match number(n) {
                Some(n) => n as f64,
                None => continue,
            },
            _ => continue,
        };
        let before = t[..i].join(" ");
        let after = t[i + 1..].join(" ");
        let limit = [
            "under",
            "less than",
            "within",
            "max",
            "at most",
            "no more than",
            "below",
            "up to",
            "shorter than",
        ]
        .iter()
        .any(|p| {
            before.ends_with(&format!("{p} {}", t[i - 1])) || before.contains(&format!("{p} half"))
        }) || after.starts_with("or less")
            || after.starts_with("or under");
        if limit {
            return Some((amount * f64::from(per)) as i64);
        }
    }
    None
}

/// The days a question names.
fn when(w: &Words, today: NaiveDate, past: bool) -> Option<When> {
    let day = |d: NaiveDate, s: Span| Some(When::day(d, s));
    let week_end = end_of_week(today);
    if w.any(UNDATED) {
        return Some(When::Undated);
    }
    if w.any(OVERDUE) && !past {
        return Some(When::Overdue);
    }
    if let Some(d) = explicit_date(w, today, past) {
        if let Some(limit) = bound(w, d) {
            return Some(limit);
        }
        return day(d, Span::On(d));
    }
    if let Some(n) = next_days(w) {
        let to = today + Days::new(n as u64);
        return Some(When::Days {
            from: Some(today),
            to,
            label: Span::NextDays(n),
        });
    }
    if w.any(&["yesterday", "last night"]) {
        return day(today - Days::new(1), Span::Yesterday);
    }
    if w.any(&["tomorrow", "tomorrow morning", "tomorrow night"]) {
        return day(today + Days::new(1), Span::Tomorrow);
    }
    if w.any(&[
        "today",
        "tonight",
        "this morning",
        "this afternoon",
        "this evening",
        "right now",
        "now",
    ]) && !w.any(&["from now"])
    {
        return day(today, Span::Today);
    }
    if w.has("next week") {
        let from = week_end + Days::new(1);
        return Some(When::Days {
            from: Some(from),
            to: from + Days::new(6),
            label: Span::NextWeek,
        });
    }
    if w.has("last week") {
        let to = week_end - Days::new(7);
        return Some(When::Days {
            from: Some(to - Days::new(6)),
            to,
            label: Span::LastWeek,
        });
    }
    if w.any(&[
        "after this week",
        "beyond this week",
        "after the weekend",
        "after this weekend",
    ]) && !past
    {
        return Some(When::After(week_end + Days::new(1)));
    }
    if let Some(span) = month_span(w, today, past) {
        return Some(span);
    }
    if w.any(&["weekend", "saturday and sunday"]) {
        let sat = week_end - Days::new(1);
        return Some(When::Days {
            from: Some(sat.max(today)),
            to: week_end,
            label: Span::Weekend,
        });
    }
    if w.any(&[
        "this week",
        "the week",
        "week",
        "rest of the week",
        "week ahead",
    ]) {
        let from = if past { week_end - Days::new(6) } else { today };
        return Some(When::Days {
            from: Some(from),
            to: week_end,
            label: Span::ThisWeek,
        });
    }
    if w.any(&["this month", "the month", "month"]) && !w.has("next month") {
        let next = NaiveDate::from_ymd_opt(
            today.year() + i32::from(today.month() == 12),
            today.month() % 12 + 1,
            1,
        )?;
        return Some(When::Days {
            from: Some(if past { today.with_day(1)? } else { today }),
            to: next - Days::new(1),
            label: Span::ThisMonth,
        });
    }
    if w.any(&["upcoming", "coming up", "later", "soon"]) && !past {
        return Some(When::After(today));
    }
    None
}

/// "next month", "in March": a whole calendar month (from today when it is this one).
fn month_span(w: &Words, today: NaiveDate, past: bool) -> Option<When> {
    let first_of = |d: NaiveDate| d.with_day(1);
    let this = first_of(today)?;
    let first = if w.has("next month") {
        this.checked_add_months(chrono::Months::new(1))?
    } else if w.has("last month") {
        this.checked_sub_months(chrono::Months::new(1))?
    } else {
        // A month named on its own ("in March"), not a day in it ("March 8").
        let named = w.tokens.iter().enumerate().find_map(|(i, t)| {
            let m = month(t).filter(|_| t.len() >= 4 || t == "may")?;
            let dated = w.tokens.get(i + 1).is_some_and(|n| day_number(n).is_some())
                || i.checked_sub(1)
                    .and_then(|j| w.tokens.get(j))
                    .is_some_and(|p| day_number(p).is_some());
            (!dated
                && w.tokens.get(i.wrapping_sub(1)).is_some_and(|p| {
                    matches!(
                        p.as_str(),
                        "in" | "during" | "for" | "of" | "through" | "throughout"
                    )
                }))
            .then_some(m)
        })?;
        let mut first = NaiveDate::from_ymd_opt(today.year(), named, 1)?;
        if !past && first < this {
            first = first.with_year(today.year() + 1)?;
        } else if past && first > this {
            first = first.with_year(today.year() - 1)?;
        }
        first
    };
    let last = first.checked_add_months(chrono::Months::new(1))? - Days::new(1);
    let from = if first == this && !past { today } else { first };
    Some(When::Days {
        from: Some(from),
        to: last,
        label: Span::Month(first),
    })
}

/// "before Friday" and "by Friday" around a named day.
fn bound(w: &Words, d: NaiveDate) -> Option<When> {
    if w.any(&["after", "beyond"]) {
        return Some(When::After(d + Days::new(1)));
    }
    if w.any(&["starting", "onwards", "onward"]) {
        return Some(When::After(d));
    }
    if w.any(&["before", "ahead of", "prior to"]) {
        return Some(When::Days {
            from: None,
            to: d - Days::new(1),
            label: Span::Before(d),
        });
    }
    if w.any(&["by", "until", "till", "no later than"]) {
        return Some(When::Days {
            from: None,
            to: d,
            label: Span::By(d),
        });
    }
    None
}

/// "in the next 3 days", "within a week", "the next few days".
fn next_days(w: &Words) -> Option<i64> {
    let t = &w.tokens;
    for i in 0..t.len() {
        if !matches!(t[i].as_str(), "next" | "within" | "coming" | "in") {
            continue;
        }
        let (n, unit) = match (t.get(i + 1), t.get(i + 2)) {
            (Some(a), Some(u)) => (number(a).or((a == "a").then_some(1)), u.as_str()),
            _ => continue,
        };
        let Some(n) = n else { continue };
        let days = match unit {
            "day" => n,
            "week" => 7 * n,
            _ => continue,
        };
        return Some(days.clamp(1, 366));
    }
    if w.any(&[
        "next few day",
        "next couple of day",
        "coming day",
        "next day",
    ]) {
        return Some(3);
    }
    None
}

/// A day named outright: a weekday, "Nov 28", "28th", "2026-11-28".
fn explicit_date(w: &Words, today: NaiveDate, past: bool) -> Option<NaiveDate> {
    let t = &w.tokens;
    // The nearest such date on the side of today the question looks at.
    let near = |m: u32, d: u32| -> Option<NaiveDate> {
        let this = NaiveDate::from_ymd_opt(today.year(), m, d)?;
        match (past, this >= today) {
            (false, true) | (true, false) => Some(this),
            (false, false) => NaiveDate::from_ymd_opt(today.year() + 1, m, d).or(Some(this)),
            (true, true) if this == today => Some(this),
            (true, true) => NaiveDate::from_ymd_opt(today.year() - 1, m, d).or(Some(this)),
        }
    };
    for (i, tok) in t.iter().enumerate() {
        if let Ok(d) = NaiveDate::parse_from_str(tok, "%Y-%m-%d") {
            return Some(d);
        }
        if let Some((a, b)) = tok.split_once('/')
            && let (Ok(m), Ok(d)) = (a.parse::<u32>(), b.parse::<u32>())
            && let Some(date) = near(m, d)
        {
            return Some(date);
        }
        let next = t.get(i + 1).map(String::as_str);
        if let (Some(m), Some(d)) = (month(tok), next.and_then(day_number)) {
            return near(m, d);
        }
        if let (Some(d), Some(m)) = (
            day_number(tok).filter(|_| tok.len() <= 4),
            next.map(|n| {
                if n == "of" {
                    t.get(i + 2).map_or("", String::as_str)
                } else {
                    n
                }
            })
            .and_then(month),
        ) {
            return near(m, d);
        }
        // "the 28th"
        if tok.len() >= 3
            && tok.ends_with(['t', 'd', 'h'])
            && let Some(d) = day_number(tok).filter(|_| !tok.chars().all(|c| c.is_ascii_digit()))
            && i > 0
            && t[i - 1] == "the"
        {
            let this = today.with_day(d)?;
            let date = match (past, this >= today) {
                (false, false) => this.checked_add_months(chrono::Months::new(1))?,
                (true, true) if this > today => this.checked_sub_months(chrono::Months::new(1))?,
                _ => this,
            };
            return Some(date);
        }
        if tok.len() >= 3
            && let Some(day) = Day::parse_loose(tok)
        {
            let after_next = i > 0 && t[i - 1] == "next";
            let after_last = i > 0 && t[i - 1] == "last";
            let offset = (7 + day.weekday().num_days_from_monday() as i64
                - today.weekday().num_days_from_monday() as i64)
                % 7;
            let date = if past || after_last {
                let back = (7 - offset) % 7;
                today - Days::new(if back == 0 && after_last { 7 } else { back } as u64)
            } else if after_next && offset == 0 {
                today + Days::new(7)
            } else {
                today + Days::new(offset as u64)
            };
            return Some(date);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::analyst::text::tokens;

    fn read(s: &str) -> Words {
        Words::new(tokens(s))
    }
    #[test]
    fn limits_in_minutes() {
        assert_eq!(minutes_limit(&read("tasks under 15 minutes")), Some(15));
        assert_eq!(
            minutes_limit(&read("anything less than half an hour")),
            Some(30)
        );
        assert_eq!(
            minutes_limit(&read("jobs that take an hour or less")),
            Some(60)
        );
        assert_eq!(minutes_limit(&read("plan my next 2 hours")), None);
    }

    #[test]
    fn days_by_name() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(); // a Tuesday
        let d = |s: &str| explicit_date(&read(s), today, false);
        assert_eq!(d("due friday"), NaiveDate::from_ymd_opt(2026, 11, 27));
        assert_eq!(d("on nov 28th"), NaiveDate::from_ymd_opt(2026, 11, 28));
        assert_eq!(d("on the 28th"), NaiveDate::from_ymd_opt(2026, 11, 28));
        assert_eq!(d("due 2026-12-06"), NaiveDate::from_ymd_opt(2026, 12, 6));
        assert_eq!(d("next tuesday"), NaiveDate::from_ymd_opt(2026, 12, 1));
        assert_eq!(
            explicit_date(&read("on monday"), today, true),
            NaiveDate::from_ymd_opt(2026, 11, 23)
        );
    }
}
