//! What the offline analyst understands as a request to change the plan: "mark the cooler
//! gasket done", "give the bar inventory to Marcus, due Friday, follow up Thursday", "push the
//! HVAC invoice to tomorrow", "remind me to follow up with Dana tomorrow", "add a task: call the
//! linen supplier, high priority". It proposes the change as the same tool calls a model makes;
//! when it cannot tell which item is meant it asks instead of guessing.

use chrono::NaiveDate;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

use super::HistoryMessage;
use super::tools::ToolCall;
use crate::chat::actions::{Found, find_delegation, find_task, which_delegation, which_task};
use crate::context::OpsContext;
use crate::domain::{Role, quick};

/// The offline analyst's answer to a command: what it says, and the changes it proposes.
pub struct Understood {
    pub text: String,
    pub calls: Vec<ToolCall>,
}

fn re(s: &str) -> Regex {
    // The patterns are constants of this file: a bad one fails every test at once.
    Regex::new(s).unwrap_or_else(|e| panic!("command pattern {s:?}: {e}"))
}

static CREATE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:add|create|new|jot down)(?: a)?(?: new)? (?:task|todo|to-do)\b[:,]?\s*(.+)$")
});
static REMIND: LazyLock<Regex> = LazyLock::new(|| re(r"^remind me to (.+)$"));
static FOLLOW: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:remind me to |i need to |i'll |i will )?follow[- ]?up with (.+?)(?: (?:on|by|about it|about that))? ((?:today|tomorrow|tmr|next \w+|in \d+ \w+|(?:on )?\w+day|\d{4}-\d{2}-\d{2}|\w+ \d{1,2}(?:st|nd|rd|th)?))$",
    )
});
static CLEAR_FOLLOW: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:clear|remove|cancel|drop) the follow[- ]?up (?:with|for|on) (.+)$"));
static NOTE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:add )?(?:a )?note (?:for|to|on) (.+?)(?:'s delegation)?\s*[:\-]\s*(.+)$")
});
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:set |update |replace )?(?:today'?s |the )?(?:daily )?digest(?: to| is)?\s*:\s*(.+)$")
});
static DELEGATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:give|delegate|hand|hand over|assign|pass) (.+?) to ([a-z][a-z .'-]*?)(?:,|\s+(?:due|by|and|follow|with)\b|$)(.*)$",
    )
});
static MOVE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:push|move|postpone|reschedule|defer|shift|bump|change the due date of) (.+?) (?:to|until|till|for) (.+)$",
    )
});
static PRIORITY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:make|set|mark|raise|lower|bump) (.+?) (?:to |as )?(urgent|high|medium|low)(?: priority)?$",
    )
});
static DONE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:mark|set|tick|check) (.+?) (?:as )?(?:done|complete|completed|finished|off)$")
});
static DONE_VERB: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:complete|finish|close|check off|tick off) (.+)$"));
static IS_DONE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(.+?) (?:is|are) (?:done|complete|completed|finished)$"));
static ESTIMATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:estimate|set the estimate (?:for|of)) (.+?) (?:at|to) (\d+) ?(min|mins|minutes|h|hr|hrs|hours?)$",
    )
});
static PRIORITY_WORDS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i),?\s*\b(urgent|high|medium|low)(?: priority)?\s*$"));

/// Lower case, polite words and trailing punctuation off: the shape the patterns read.
fn normalize(q: &str) -> String {
    let mut s = q.trim().to_lowercase().replace(['’', '‘'], "'");
    s = s.trim_end_matches(['.', '!', '?', ' ']).to_string();
    loop {
        let before = s.len();
        for p in [
            "please ",
            "can you ",
            "could you ",
            "would you ",
            "ok ",
            "okay ",
            "ok, ",
            "okay, ",
            "done, ",
            "done ",
            "great, ",
            "thanks, ",
            "and ",
            "also ",
        ] {
            if let Some(rest) = s.strip_prefix(p) {
                s = rest.trim_start().to_string();
            }
        }
        s = s.trim_end_matches(" please").to_string();
        s = s.trim_end_matches(['.', '!', '?', ',', ' ']).to_string();
        if s.len() == before {
            return s;
        }
    }
}

/// The text a capture matched, as the manager typed it (case and final punctuation kept): from
/// where it starts in the original to the end.
fn as_typed(original: &str, captured: &str) -> String {
    let lower = original.to_lowercase();
    match lower.rfind(captured) {
        // Lower-casing kept the byte offsets when the lengths agree (ASCII, most text).
        Some(i) if lower.len() == original.len() => original[i..].trim().to_string(),
        _ => captured.trim().to_string(),
    }
}

fn strip_article(s: &str) -> &str {
    let s = s.trim();
    for a in ["the ", "my ", "our ", "a ", "an "] {
        if let Some(r) = s.strip_prefix(a) {
            return r.trim();
        }
    }
    s
}

fn call(name: &str, args: Value) -> ToolCall {
    ToolCall {
        name: name.into(),
        arguments: args.to_string(),
    }
}

/// The first date a phrase names, in the user's today.
fn date_in(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    // The quick-add reader finds dates anywhere in a line; "x" stands for the title.
    quick::parse(&format!("x {text}"), today).due_date
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn is_pronoun(s: &str) -> bool {
    matches!(
        s,
        "it" | "that" | "this" | "this one" | "that one" | "it as"
    )
}

/// The task the last answer was about, for "mark it done".
fn task_from_history<'a>(
    ctx: &'a OpsContext,
    history: &[HistoryMessage],
) -> Result<&'a crate::domain::Task, String> {
    let Some(last) = history.iter().rev().find(|m| m.role == Role::Assistant) else {
        return Err("Which task do you mean? Name it and I'll propose the change.".into());
    };
    let text = last.content.to_lowercase();
    let named: Vec<&crate::domain::Task> = ctx
        .open_tasks
        .iter()
        .filter(|t| text.contains(&t.title.to_lowercase()))
        .collect();
    match named.len() {
        1 => Ok(named[0]),
        0 => Err("Which task do you mean? Name it and I'll propose the change.".into()),
        _ => Err(which_task("it", &named)),
    }
}

enum Target<'a> {
    Task(&'a crate::domain::Task),
    Delegation(&'a crate::domain::Delegation),
}

/// A task (or, failing that, an open delegation) the words name; a question when it is
/// ambiguous or unknown.
fn target<'a>(
    ctx: &'a OpsContext,
    history: &[HistoryMessage],
    words: &str,
) -> Result<Target<'a>, String> {
    let w = strip_article(words);
    if is_pronoun(w) {
        return task_from_history(ctx, history).map(Target::Task);
    }
    match find_task(ctx, w) {
        Found::One(t) => Ok(Target::Task(t)),
        Found::Many(many) => Err(which_task(w, &many)),
        Found::None => match find_delegation(ctx, w) {
            Found::One(d) => Ok(Target::Delegation(d)),
            Found::Many(many) => Err(which_delegation(w, &many)),
            Found::None => Err(format!(
                "I can't find anything called “{w}” in your tasks or delegations. Which one do you mean?"
            )),
        },
    }
}

fn task_target<'a>(
    ctx: &'a OpsContext,
    history: &[HistoryMessage],
    words: &str,
) -> Result<&'a crate::domain::Task, String> {
    let w = strip_article(words);
    if is_pronoun(w) {
        return task_from_history(ctx, history);
    }
    match find_task(ctx, w) {
        Found::One(t) => Ok(t),
        Found::Many(many) => Err(which_task(w, &many)),
        Found::None => Err(format!(
            "I can't find a task called “{w}” in your list. Which one do you mean?"
        )),
    }
}

fn delegation_target<'a>(
    ctx: &'a OpsContext,
    words: &str,
) -> Result<&'a crate::domain::Delegation, String> {
    let w = strip_article(words);
    match find_delegation(ctx, w) {
        Found::One(d) => Ok(d),
        Found::Many(many) => Err(which_delegation(w, &many)),
        Found::None => Err(format!(
            "I can't find an open delegation for “{w}”. Which one do you mean?"
        )),
    }
}

fn one(name: &str, args: Value) -> Result<Vec<ToolCall>, String> {
    Ok(vec![call(name, args)])
}

/// Understands a request to change the plan; `None` when the question is not one.
pub fn understand(
    question: &str,
    ctx: &OpsContext,
    history: &[HistoryMessage],
) -> Option<Understood> {
    let q = normalize(question);
    let today = ctx.today;
    let original = question.trim();
    let calls: Result<Vec<ToolCall>, String> = if let Some(c) = CREATE.captures(&q) {
        // The title keeps the manager's capitalisation.
        let rest = as_typed(original, &c[1]);
        Some(create(rest.trim_end_matches(['.', '!']), today))
    } else if let Some(c) = FOLLOW.captures(&q) {
        let when = date_in(&c[2], today);
        match (delegation_target(ctx, &c[1]), when) {
            (Ok(d), Some(date)) => Some(one(
                "set_follow_up",
                json!({"delegation": d.id.to_string(), "follow_up_date": iso(date)}),
            )),
            (Err(why), _) => Some(Err(why)),
            (_, None) => Some(Err(format!(
                "When should you follow up? “{}” is not a date I know.",
                &c[2]
            ))),
        }
    } else if let Some(c) = CLEAR_FOLLOW.captures(&q) {
        Some(delegation_target(ctx, &c[1]).and_then(|d| {
            one(
                "set_follow_up",
                json!({"delegation": d.id.to_string(), "follow_up_date": null}),
            )
        }))
    } else if let Some(c) = REMIND.captures(&q) {
        let rest = as_typed(original, &c[1]);
        Some(create(rest.trim_end_matches(['.', '!']), today))
    } else if let Some(c) = NOTE.captures(&q) {
        let body = as_typed(original, &c[2]);
        Some(delegation_target(ctx, &c[1]).and_then(|d| {
            one(
                "add_delegation_note",
                json!({"delegation": d.id.to_string(), "note": body}),
            )
        }))
    } else if let Some(c) = DIGEST.captures(&q) {
        let text = as_typed(original, &c[1]);
        Some(one("set_digest", json!({"text": text})))
    } else if let Some(c) = DELEGATE.captures(&q) {
        let person_lower = c[2].trim().to_string();
        // The person's name as typed.
        let person = original
            .to_lowercase()
            .find(&format!(" to {person_lower}"))
            .and_then(|i| original.get(i + 4..i + 4 + person_lower.len()))
            .unwrap_or(&person_lower)
            .to_string();
        let rest = c[3].to_string();
        let (due_part, follow_part) = match rest.find("follow") {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest.as_str(), None),
        };
        Some(task_target(ctx, history, &c[1]).and_then(|t| {
            let mut args = Map::new();
            args.insert("task".into(), t.id.to_string().into());
            args.insert("assigned_to".into(), titled(&person).into());
            if let Some(d) = date_in(due_part, today) {
                args.insert("due_date".into(), iso(d).into());
            }
            if let Some(f) = follow_part.and_then(|f| date_in(f, today)) {
                args.insert("follow_up_date".into(), iso(f).into());
            }
            one("delegate_task", Value::Object(args))
        }))
    } else if let Some(c) = MOVE.captures(&q) {
        match date_in(&c[2], today) {
            Some(d) => Some(task_target(ctx, history, &c[1]).and_then(|t| {
                one(
                    "update_task",
                    json!({"task": t.id.to_string(), "due_date": iso(d)}),
                )
            })),
            None => Some(Err(format!(
                "“{}” is not a date I know; try “tomorrow”, “friday” or 2026-12-01.",
                &c[2]
            ))),
        }
    } else if let Some(c) = ESTIMATE.captures(&q) {
        let n: i64 = c[2].parse().unwrap_or(0);
        let minutes = if c[3].starts_with('h') { n * 60 } else { n };
        Some(task_target(ctx, history, &c[1]).and_then(|t| {
            one(
                "update_task",
                json!({"task": t.id.to_string(), "time_estimate_minutes": minutes}),
            )
        }))
    } else if let Some(c) = PRIORITY.captures(&q) {
        Some(task_target(ctx, history, &c[1]).and_then(|t| {
            one(
                "update_task",
                json!({"task": t.id.to_string(), "priority": &c[2]}),
            )
        }))
    } else {
        DONE.captures(&q)
            .or_else(|| DONE_VERB.captures(&q))
            .or_else(|| IS_DONE.captures(&q))
            .map(|c| {
                target(ctx, history, &c[1]).and_then(|t| match t {
                    Target::Task(t) => one(
                        "update_task",
                        json!({"task": t.id.to_string(), "status": "completed"}),
                    ),
                    Target::Delegation(d) => one(
                        "complete_delegation",
                        json!({"delegation": d.id.to_string()}),
                    ),
                })
            })
    }?;
    Some(match calls {
        Ok(calls) => Understood {
            text: String::new(),
            calls,
        },
        Err(question) => Understood {
            text: question,
            calls: Vec::new(),
        },
    })
}

/// "call the linen supplier, high priority, tomorrow" as a create_task call.
fn create(text: &str, today: NaiveDate) -> Result<Vec<ToolCall>, String> {
    let mut text = text.trim().to_string();
    let mut priority = None;
    if let Some(m) = PRIORITY_WORDS.captures(&text) {
        priority = Some(m[1].to_lowercase());
        let start = m.get(0).map_or(text.len(), |g| g.start());
        text.truncate(start);
    }
    let q = quick::parse(&text, today);
    let title = q.title.trim_end_matches([',', ';']).trim().to_string();
    if title.is_empty() {
        return Err("What is the task? Say “add a task: …” with what needs doing.".into());
    }
    let mut title_chars = title.chars();
    let title: String = match title_chars.next() {
        Some(f) => f.to_uppercase().chain(title_chars).collect(),
        None => title,
    };
    let mut args = Map::new();
    args.insert("title".into(), title.into());
    if let Some(d) = q.due_date {
        args.insert("due_date".into(), iso(d).into());
    }
    if let Some(p) = priority.or(q.priority.map(|p| p.as_str().to_string())) {
        args.insert("priority".into(), p.into());
    }
    one("create_task", Value::Object(args))
}

/// "marcus lee" -> "Marcus Lee" when the name was typed in lower case.
fn titled(name: &str) -> String {
    if name.chars().any(char::is_uppercase) {
        return name.to_string();
    }
    name.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_polite_wrapping() {
        assert_eq!(normalize("Done, mark it complete."), "mark it complete");
        assert_eq!(
            normalize("Please push the HVAC invoice to tomorrow!"),
            "push the hvac invoice to tomorrow"
        );
    }

    #[test]
    fn patterns_read_the_issue_examples() {
        assert!(DONE.is_match("mark it complete"));
        assert!(
            DELEGATE.is_match("give the bar inventory to marcus, due friday, follow up thursday")
        );
        assert!(MOVE.is_match("push the hvac invoice to tomorrow"));
        assert!(FOLLOW.is_match("remind me to follow up with dana tomorrow"));
        assert!(CREATE.is_match("add a task: call the linen supplier, high priority"));
        let c = DELEGATE
            .captures("give the bar inventory to marcus, due friday, follow up thursday")
            .unwrap();
        assert_eq!(&c[1], "the bar inventory");
        assert_eq!(&c[2], "marcus");
        let c = DELEGATE
            .captures("delegate the pest control visit to dana ortiz")
            .unwrap();
        assert_eq!(&c[2], "dana ortiz");
    }

    #[test]
    fn create_reads_priority_and_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let calls = create("call the linen supplier, high priority", today).unwrap();
        let v: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(
            v,
            json!({"title": "Call the linen supplier", "priority": "high"})
        );
        let calls = create("order napkins friday", today).unwrap();
        let v: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(
            v,
            json!({"title": "Order napkins", "due_date": "2026-11-27"})
        );
    }
}
