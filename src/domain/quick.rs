//! Quick add: "Call linen supplier tomorrow !high" becomes a task titled "Call linen supplier",
//! due tomorrow, high priority, as in Todoist. Dates are read against the user's today.

use chrono::{Datelike, Days, Months, NaiveDate};

use super::Priority;
use super::recurrence::{Day, Frequency, Recurrence};

/// What a quick-add line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickTask {
    pub title: String,
    pub due_date: Option<NaiveDate>,
    pub priority: Option<Priority>,
    pub recurrence: Option<Recurrence>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// "march", "mar", "sept": the month's number.
pub(crate) fn month(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let w = if word == "sept" { "sep" } else { word };
    MONTHS
        .iter()
        .position(|m| m.starts_with(w))
        .map(|i| i as u32 + 1)
}

/// "28", "28th": a day of the month.
pub(crate) fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !suffix.is_empty() && !["st", "nd", "rd", "th"].contains(&suffix) {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn number(word: &str) -> Option<u32> {
    match word {
        "a" | "an" | "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        "four" => Some(4),
        "five" => Some(5),
        "six" => Some(6),
        "seven" => Some(7),
        "ten" => Some(10),
        w => w.parse().ok().filter(|n| (1..=366).contains(n)),
    }
}

fn priority(word: &str) -> Option<Priority> {
    let w = word.strip_prefix('!').or_else(|| {
        word.strip_prefix('p')
            .filter(|r| r.len() == 1 && r.chars().all(|c| c.is_ascii_digit()))
    })?;
    match w {
        "1" | "urgent" | "!!" | "!" => Some(Priority::Urgent),
        "2" | "high" | "hi" => Some(Priority::High),
        "3" | "medium" | "med" | "normal" => Some(Priority::Medium),
        "4" | "low" | "lo" => Some(Priority::Low),
        _ => None,
    }
}

/// The next `day` strictly after `today`.
fn next_weekday(today: NaiveDate, day: Day) -> NaiveDate {
    (1..=7)
        .map(|i| today + Days::new(i))
        .find(|d| d.weekday() == day.weekday())
        .unwrap_or(today)
}

enum Found {
    Due(NaiveDate),
    Repeat(Recurrence),
}

/// Tries to read a date or repeat phrase at the start of `w`; returns how many words it took.
fn phrase(w: &[String], today: NaiveDate) -> Option<(usize, Found)> {
    let first = w.first()?.as_str();
    let second = w.get(1).map(String::as_str);
    let third = w.get(2).map(String::as_str);
    let repeat = |every, interval, days: Vec<Day>| {
        Found::Repeat(Recurrence {
            every,
            interval,
            days,
            month_day: None,
        })
    };
    match first {
        "today" | "tonight" | "tod" => return Some((1, Found::Due(today))),
        "tomorrow" | "tmr" | "tmrw" | "tomorow" => {
            return Some((1, Found::Due(today + Days::new(1))));
        }
        "daily" => return Some((1, repeat(Frequency::Day, 1, vec![]))),
        "weekly" => return Some((1, repeat(Frequency::Week, 1, vec![]))),
        "monthly" => return Some((1, repeat(Frequency::Month, 1, vec![]))),
        "yearly" | "annually" => return Some((1, repeat(Frequency::Year, 1, vec![]))),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(first, "%Y-%m-%d")
        && (2000..=2099).contains(&d.year())
    {
        return Some((1, Found::Due(d)));
    }
    if first == "next" {
        match second {
            Some("week") => {
                return Some((2, Found::Due(next_weekday(today, Day::Mon))));
            }
            Some("month") => {
                let d = today.with_day(1).unwrap_or(today) + Months::new(1);
                return Some((2, Found::Due(d)));
            }
            Some(s) => {
                if let Some(day) = Day::parse_loose(s) {
                    return Some((2, Found::Due(next_weekday(today, day))));
                }
            }
            None => {}
        }
    }
    if first == "in"
        && let (Some(n), Some(unit)) = (second.and_then(number), third)
    {
        let d = match unit.trim_end_matches('s') {
            "day" => today + Days::new(u64::from(n)),
            "week" => today + Days::new(7 * u64::from(n)),
            "month" => today + Months::new(n),
            _ => return None,
        };
        return Some((3, Found::Due(d)));
    }
    if first == "every" {
        let s = second?;
        match s {
            "day" => return Some((2, repeat(Frequency::Day, 1, vec![]))),
            "week" => return Some((2, repeat(Frequency::Week, 1, vec![]))),
            "month" => return Some((2, repeat(Frequency::Month, 1, vec![]))),
            "year" => return Some((2, repeat(Frequency::Year, 1, vec![]))),
            "weekday" | "weekdays" => {
                let days = vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];
                return Some((2, repeat(Frequency::Week, 1, days)));
            }
            "other" => {
                let every = match third?.trim_end_matches('s') {
                    "day" => Frequency::Day,
                    "week" => Frequency::Week,
                    "month" => Frequency::Month,
                    "year" => Frequency::Year,
                    _ => return None,
                };
                return Some((3, repeat(every, 2, vec![])));
            }
            _ => {}
        }
        if let (Some(n), Some(unit)) = (number(s), third) {
            let every = match unit.trim_end_matches('s') {
                "day" => Frequency::Day,
                "week" => Frequency::Week,
                "month" => Frequency::Month,
                "year" => Frequency::Year,
                _ => return None,
            };
            return Some((3, repeat(every, n, vec![])));
        }
        // every sunday / every mon, wed and fri
        let mut days = Vec::new();
        let mut used = 1;
        for word in &w[1..] {
            if let Some(d) = Day::parse_loose(word) {
                days.push(d);
                used += 1;
            } else if (word == "and" || word == "&") && !days.is_empty() {
                used += 1;
            } else {
                break;
            }
        }
        while w[used - 1] == "and" || w[used - 1] == "&" {
            used -= 1;
        }
        if !days.is_empty() {
            return Some((used, repeat(Frequency::Week, 1, days)));
        }
        return None;
    }
    if let Some(day) = Day::parse_loose(first).filter(|_| first.len() >= 3) {
        return Some((1, Found::Due(next_weekday(today, day))));
    }
    // dec 5, december 5th, 5 dec
    let dated = |m: u32, d: u32| -> Option<NaiveDate> {
        let this = NaiveDate::from_ymd_opt(today.year(), m, d)?;
        if this >= today {
            Some(this)
        } else {
            NaiveDate::from_ymd_opt(today.year() + 1, m, d)
        }
    };
    if let (Some(m), Some(d)) = (month(first), second.and_then(day_number)) {
        return dated(m, d).map(|date| (2, Found::Due(date)));
    }
    if let (Some(d), Some(m)) = (day_number(first), second.and_then(month)) {
        return dated(m, d).map(|date| (2, Found::Due(date)));
    }
    None
}

/// Reads a quick-add line. Words it understands are taken out of the title; the first date
/// and the first priority win, later ones stay in the title.
pub fn parse(text: &str, today: NaiveDate) -> QuickTask {
    let raw: Vec<&str> = text.split_whitespace().collect();
    let norm: Vec<String> = raw
        .iter()
        .map(|w| {
            w.to_lowercase()
                .trim_end_matches([',', '.', ';'])
                .to_string()
        })
        .collect();
    let mut keep = vec![true; raw.len()];
    let mut out = QuickTask {
        title: String::new(),
        due_date: None,
        priority: None,
        recurrence: None,
    };
    let mut i = 0;
    while i < raw.len() {
        if out.priority.is_none()
            && let Some(p) = priority(&norm[i])
        {
            out.priority = Some(p);
            keep[i] = false;
            i += 1;
            continue;
        }
        if let Some((n, found)) = phrase(&norm[i..], today) {
            let taken = match found {
                Found::Due(d) if out.due_date.is_none() => {
                    out.due_date = Some(d);
                    true
                }
                Found::Repeat(r) if out.recurrence.is_none() => {
                    out.recurrence = Some(r);
                    true
                }
                _ => false,
            };
            if taken {
                keep[i..i + n].iter_mut().for_each(|k| *k = false);
                // "due on Friday", "by tomorrow": the little word goes with the date.
                if i > 0
                    && keep[i - 1]
                    && ["on", "by", "due", "before"].contains(&norm[i - 1].as_str())
                {
                    keep[i - 1] = false;
                }
                i += n;
                continue;
            }
        }
        i += 1;
    }
    let title: Vec<&str> = raw
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(w, _)| *w)
        .collect();
    out.title = title
        .join(" ")
        .trim_end_matches([',', ';', '-'])
        .trim()
        .to_string();
    if out.title.is_empty() {
        // Nothing but date words: keep the line as it was typed.
        out.title = text.trim().to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        // A Tuesday.
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn the_todoist_line() {
        let q = parse("Call linen supplier tomorrow !high", today());
        assert_eq!(q.title, "Call linen supplier");
        assert_eq!(q.due_date, NaiveDate::from_ymd_opt(2026, 11, 25));
        assert_eq!(q.priority, Some(Priority::High));
        assert_eq!(q.recurrence, None);
    }

    #[test]
    fn dates_in_many_words() {
        let d = |s: &str| parse(s, today()).due_date.map(|d| d.to_string());
        assert_eq!(d("Order napkins on Friday").as_deref(), Some("2026-11-27"));
        assert_eq!(d("Staff meeting tuesday").as_deref(), Some("2026-12-01"));
        assert_eq!(d("Menu tasting next week").as_deref(), Some("2026-11-30"));
        assert_eq!(d("Deep clean in 3 days").as_deref(), Some("2026-11-27"));
        assert_eq!(d("Renew permit dec 5th").as_deref(), Some("2026-12-05"));
        assert_eq!(d("Inventory 3 jan").as_deref(), Some("2027-01-03"));
        assert_eq!(d("Taxes 2027-04-15").as_deref(), Some("2027-04-15"));
        assert_eq!(d("Nothing dated here"), None);
        assert_eq!(
            parse("Order napkins on Friday", today()).title,
            "Order napkins"
        );
    }

    #[test]
    fn repeats_and_priorities() {
        let q = parse("Count bar inventory every Sunday p2", today());
        assert_eq!(q.title, "Count bar inventory");
        assert_eq!(q.priority, Some(Priority::High));
        let r = q.recurrence.unwrap();
        assert_eq!((r.every, r.days.clone()), (Frequency::Week, vec![Day::Sun]));
        let q = parse("Line checks daily !urgent", today());
        assert_eq!(q.title, "Line checks");
        assert_eq!(q.recurrence.unwrap().every, Frequency::Day);
        let q = parse("Fryer oil every mon, wed and fri", today());
        assert_eq!(q.title, "Fryer oil");
        assert_eq!(
            q.recurrence.unwrap().days,
            vec![Day::Mon, Day::Wed, Day::Fri]
        );
        let q = parse("Renew the liquor license every year", today());
        assert_eq!(q.recurrence.unwrap().every, Frequency::Year);
    }

    #[test]
    fn only_date_words_keep_the_text() {
        assert_eq!(parse("tomorrow", today()).title, "tomorrow");
        assert_eq!(parse("  Fix door  ", today()).title, "Fix door");
    }
}
