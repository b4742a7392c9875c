//! Repeating tasks: "line checks daily", "count bar inventory every Sunday", "renew the liquor
//! license every year". A rule gives the next occurrence's due date; only one occurrence of a
//! series is open at a time, so the assistant sees the current one and nothing in the future.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

word_enum!(
    /// How often a task repeats.
    Frequency, "every", { Day => "day", Week => "week", Month => "month", Year => "year" }
);

word_enum!(
    /// A day of the week, as a repeat rule names it.
    Day, "day", { Mon => "mon", Tue => "tue", Wed => "wed", Thu => "thu", Fri => "fri", Sat => "sat", Sun => "sun" }
);

impl Day {
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }

    pub fn of(w: Weekday) -> Day {
        Day::ALL[w.num_days_from_monday() as usize]
    }

    /// Reads "mon", "Monday", "tues", "thurs"…
    pub fn parse_loose(s: &str) -> Option<Day> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.trim_end_matches('.');
        let names = [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ];
        names
            .iter()
            .position(|(short, long)| {
                s.len() >= 3 && long.starts_with(s) || s == *short || s == "tues" && *short == "tue"
            })
            .map(|i| Day::ALL[i])
    }
}

/// The longest interval a rule may have ("every 365 days" is the same as yearly).
pub const MAX_INTERVAL: u32 = 366;

/// A repeat rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub every: Frequency,
    /// Every `interval` days, weeks, months or years (1 = every one).
    #[serde(default = "one")]
    pub interval: u32,
    /// Weekly rules: the days of the week it falls on (empty: the weekday of the due date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    /// Monthly and yearly rules: the day of the month it falls on. A month without that day
    /// (the 31st in April, 29 February) uses its last day, and the next month goes back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_day: Option<u32>,
}

fn one() -> u32 {
    1
}

impl Recurrence {
    /// Checks the rule and fills in what the first due date implies (the weekday of a weekly
    /// rule, the day of the month of a monthly one).
    pub fn normalized(mut self, first_due: NaiveDate) -> Result<Recurrence, String> {
        if self.interval == 0 || self.interval > MAX_INTERVAL {
            return Err(format!(
                "recurrence.interval must be between 1 and {MAX_INTERVAL}"
            ));
        }
        match self.every {
            Frequency::Week => {
                if self.days.is_empty() {
                    self.days.push(Day::of(first_due.weekday()));
                }
                self.days
                    .sort_by_key(|d| d.weekday().num_days_from_monday());
                self.days.dedup();
                self.month_day = None;
            }
            Frequency::Month | Frequency::Year => {
                if !self.days.is_empty() {
                    return Err("recurrence.days is only for weekly rules".into());
                }
                let day = self.month_day.unwrap_or(first_due.day());
                if !(1..=31).contains(&day) {
                    return Err("recurrence.month_day must be between 1 and 31".into());
                }
                self.month_day = Some(day);
            }
            Frequency::Day => {
                if !self.days.is_empty() {
                    return Err("recurrence.days is only for weekly rules".into());
                }
                self.month_day = None;
            }
        }
        Ok(self)
    }

    /// The first occurrence on or after `from` (for a new task without a due date).
    pub fn first_on_or_after(&self, from: NaiveDate) -> NaiveDate {
        match self.every {
            Frequency::Week => (0..7)
                .map(|i| from + Days::new(i))
                .find(|d| self.days.contains(&Day::of(d.weekday())))
                .unwrap_or(from),
            Frequency::Month | Frequency::Year => {
                let day = self.month_day.unwrap_or(from.day());
                let this = on_day(from.with_day(1).unwrap_or(from), day);
                if this >= from {
                    this
                } else {
                    on_day(first_of_next_month(from), day)
                }
            }
            Frequency::Day => from,
        }
    }

    /// The occurrence after the one due `due`.
    pub fn after(&self, due: NaiveDate) -> NaiveDate {
        let n = self.interval.max(1);
        match self.every {
            Frequency::Day => due + Days::new(u64::from(n)),
            Frequency::Week => {
                let monday =
                    |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
                let anchor = monday(due);
                let mut d = due;
                // At most 7 * interval days on.
                for _ in 0..(7 * n + 7) {
                    d = d + Days::new(1);
                    let weeks = (monday(d) - anchor).num_days() / 7;
                    if weeks % i64::from(n) == 0 && self.days.contains(&Day::of(d.weekday())) {
                        return d;
                    }
                }
                due + Days::new(7 * u64::from(n))
            }
            Frequency::Month | Frequency::Year => {
                let months = if self.every == Frequency::Year {
                    12 * n
                } else {
                    n
                };
                let first = due.with_day(1).unwrap_or(due) + Months::new(months);
                on_day(first, self.month_day.unwrap_or(due.day()))
            }
        }
    }

    /// The due date of the occurrence that follows one due `due` and finished on `today`: the
    /// first occurrence after `due` that is not already in the past. Finishing yesterday's
    /// line check late still leaves today's to do; finishing early moves on by one.
    pub fn next(&self, due: NaiveDate, today: NaiveDate) -> NaiveDate {
        let mut d = self.after(due);
        // A rule that fell years behind catches up in bounded steps.
        for _ in 0..10_000 {
            if d >= today {
                break;
            }
            d = self.after(d);
        }
        d
    }

    /// Words for people: "every day", "every 2 weeks on Mon, Thu", "every month on the 31st".
    pub fn describe(&self) -> String {
        let unit = self.every.as_str();
        let mut s = if self.interval == 1 {
            format!("every {unit}")
        } else {
            format!("every {} {unit}s", self.interval)
        };
        match self.every {
            Frequency::Week => {
                let days: Vec<String> = self.days.iter().map(|d| title_case(d.as_str())).collect();
                s.push_str(&format!(" on {}", days.join(", ")));
            }
            Frequency::Month | Frequency::Year => {
                if let Some(d) = self.month_day {
                    s.push_str(&format!(" on the {}", ordinal(d)));
                }
            }
            Frequency::Day => {}
        }
        s
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// 1st, 2nd, 3rd, 4th, 11th, 21st…
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn first_of_next_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d) + Months::new(1)
}

/// Day `day` of the month `first` starts, or that month's last day when it is shorter.
fn on_day(first: NaiveDate, day: u32) -> NaiveDate {
    let last = (first_of_next_month(first) - Days::new(1)).day();
    first.with_day(day.min(last)).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rule(every: Frequency, interval: u32, days: &[Day], month_day: Option<u32>) -> Recurrence {
        Recurrence {
            every,
            interval,
            days: days.to_vec(),
            month_day,
        }
    }

    #[test]
    fn month_ends_clamp_and_come_back() {
        let r = rule(Frequency::Month, 1, &[], None)
            .normalized(d("2027-01-31"))
            .unwrap();
        assert_eq!(r.month_day, Some(31));
        let mut due = d("2027-01-31");
        let mut seen = vec![];
        for _ in 0..4 {
            due = r.after(due);
            seen.push(due.to_string());
        }
        assert_eq!(
            seen,
            ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
        );
        // A leap year's February has a 29th.
        assert_eq!(r.after(d("2028-01-31")), d("2028-02-29"));
    }

    #[test]
    fn yearly_on_the_29th_of_february() {
        let r = rule(Frequency::Year, 1, &[], None)
            .normalized(d("2028-02-29"))
            .unwrap();
        assert_eq!(r.after(d("2028-02-29")), d("2029-02-28"));
        assert_eq!(r.after(d("2031-02-28")), d("2032-02-29"));
    }

    #[test]
    fn weekly_on_given_days_and_every_other_week() {
        let r = rule(Frequency::Week, 1, &[Day::Sun], None)
            .normalized(d("2026-11-29"))
            .unwrap();
        assert_eq!(r.after(d("2026-11-29")), d("2026-12-06"));
        let two = rule(Frequency::Week, 2, &[Day::Thu, Day::Mon], None)
            .normalized(d("2026-11-23"))
            .unwrap();
        assert_eq!(two.days, vec![Day::Mon, Day::Thu]);
        assert_eq!(two.after(d("2026-11-23")), d("2026-11-26"));
        assert_eq!(two.after(d("2026-11-26")), d("2026-12-07"));
        assert_eq!(two.describe(), "every 2 weeks on Mon, Thu");
    }

    #[test]
    fn late_completion_skips_to_what_is_still_ahead() {
        let daily = rule(Frequency::Day, 1, &[], None);
        // Yesterday's check done today: today's is still to do.
        assert_eq!(
            daily.next(d("2026-11-23"), d("2026-11-24")),
            d("2026-11-24")
        );
        // Done early: the day after the one it was due.
        assert_eq!(
            daily.next(d("2026-11-26"), d("2026-11-24")),
            d("2026-11-27")
        );
        let sunday = rule(Frequency::Week, 1, &[Day::Sun], None);
        // Three weeks behind, done on a Wednesday: the coming Sunday.
        assert_eq!(
            sunday.next(d("2026-11-01"), d("2026-11-25")),
            d("2026-11-29")
        );
    }

    #[test]
    fn first_occurrence_and_bad_rules() {
        let r = rule(Frequency::Month, 1, &[], Some(31));
        assert_eq!(r.first_on_or_after(d("2027-02-10")), d("2027-02-28"));
        assert_eq!(r.first_on_or_after(d("2027-03-31")), d("2027-03-31"));
        let sunday = rule(Frequency::Week, 1, &[Day::Sun], None);
        assert_eq!(sunday.first_on_or_after(d("2026-11-24")), d("2026-11-29"));
        assert!(
            rule(Frequency::Day, 0, &[], None)
                .normalized(d("2026-11-24"))
                .is_err()
        );
        assert!(
            rule(Frequency::Month, 1, &[], Some(32))
                .normalized(d("2026-11-24"))
                .is_err()
        );
        assert!(
            rule(Frequency::Day, 1, &[Day::Mon], None)
                .normalized(d("2026-11-24"))
                .is_err()
        );
        assert_eq!(Day::parse_loose("Thursday"), Some(Day::Thu));
        assert_eq!(Day::parse_loose("tues"), Some(Day::Tue));
        assert_eq!(Day::parse_loose("xyz"), None);
    }
}
