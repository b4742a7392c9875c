//! Understanding: a question becomes the asks it contains, each a structured query or a named
//! report. Reads lower-case words with contractions spelled out and plurals dropped, fixes typos
//! of the words it knows, and resolves "it" and "and tomorrow?" from the conversation so far.

use std::collections::HashSet;

use super::items::{Item, find_item, unmatched};
use super::phrases::*;
use super::query::{Kind, Query, Shape, Span, Status, When};
use super::signals::{number, signals};
use super::text::{correct, tokens};
use crate::assistant::HistoryMessage;
use crate::context::OpsContext;
use crate::domain::Role;
use crate::domain::recurrence::Day;

/// One thing the manager asked.
#[derive(Clone)]
pub enum Ask<'a> {
    Help,
    /// "Good morning": a greeting, answered with the day.
    Greeting,
    /// "Thanks!"
    Thanks,
    /// Nothing here is a question about the operation.
    Unknown,
    /// A question about data opschat does not have; the words say which.
    Unsupported(&'static str),
    Plan {
        minutes: i64,
    },
    Urgent,
    Summary,
    Missed,
    Deadlines,
    FollowUps,
    Delegate,
    /// What the digest says, about these words (all of it when empty).
    Digest {
        terms: Vec<String>,
    },
    Find(Query),
    Item(ItemAsk, Item<'a>),
    Compare(Item<'a>, Item<'a>),
    /// The question names something that is not in the data.
    NotFound {
        name: String,
        ask: ItemAsk,
    },
    /// The question names something the data has only a near match for.
    Guess {
        name: String,
        ask: ItemAsk,
        item: Item<'a>,
    },
}

/// What is asked about one named item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAsk {
    When,
    Who,
    Priority,
    Effort,
    Done,
    About,
}

/// The words a question is read in: the question's tokens, spaced for phrase lookups.
pub struct Words {
    pub tokens: Vec<String>,
    text: String,
}

impl Words {
    pub(super) fn new(tokens: Vec<String>) -> Words {
        let text = format!(" {} ", tokens.join(" "));
        Words { tokens, text }
    }
    /// Whether the phrase occurs as whole words.
    pub fn has(&self, phrase: &str) -> bool {
        self.text.contains(&format!(" {phrase} "))
    }
    pub fn any(&self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.has(p))
    }
    pub(super) fn starts(&self, phrases: &[&str]) -> bool {
        phrases
            .iter()
            .any(|p| self.text.starts_with(&format!(" {p} ")))
    }
    pub(super) fn position(&self, word: &str) -> Option<usize> {
        self.tokens.iter().position(|t| t == word)
    }
}

/// What the data names: its words (never corrected) and its people.
pub struct Lexicon {
    data_words: HashSet<String>,
    /// (name word, the person as the data spells them)
    people: Vec<(String, String)>,
    pub(super) sources: Vec<String>,
}

impl Lexicon {
    pub fn new(ctx: &OpsContext) -> Lexicon {
        let mut data_words = HashSet::new();
        let mut add = |s: &str| data_words.extend(tokens(s));
        for t in ctx.open_tasks.iter().chain(&ctx.closed_tasks) {
            add(&t.title);
        }
        for d in &ctx.delegations {
            add(&d.task_description);
            add(&d.assigned_to);
        }
        let mut people: Vec<(String, String)> = Vec::new();
        for d in &ctx.delegations {
            let full = d.assigned_to.trim();
            for w in tokens(full).into_iter().filter(|w| w.len() >= 3) {
                if !people.iter().any(|(n, p)| *n == w && p == full) {
                    people.push((w, full.to_string()));
                }
            }
            if let Some(e) = d.assigned_to_email.as_deref()
                && let Some(local) = e.split('@').next()
                && local.len() >= 3
                && !local.contains(['.', '_'])
                && !people.iter().any(|(n, _)| n == local)
            {
                people.push((local.to_lowercase(), full.to_string()));
            }
        }
        let mut sources: Vec<String> = ctx
            .open_tasks
            .iter()
            .chain(&ctx.closed_tasks)
            .filter_map(|t| t.source.as_deref())
            .map(|s| s.to_lowercase())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        Lexicon {
            data_words,
            people,
            sources,
        }
    }

    /// The question's words, with typos of the understanding's own words fixed.
    pub fn read(&self, text: &str) -> Words {
        let vocab = vocabulary();
        let toks = tokens(text)
            .into_iter()
            .map(|t| {
                if self.data_words.contains(&t)
                    || self.people.iter().any(|(n, _)| *n == t)
                    || GRAMMAR.contains(&t.as_str())
                {
                    t
                } else {
                    correct(&t, vocab).map_or(t, str::to_string)
                }
            })
            .collect();
        Words::new(toks)
    }

    /// The person a word names, when exactly one person has that name.
    pub(super) fn person(&self, w: &Words) -> Option<String> {
        let mut found: Vec<&str> = Vec::new();
        for t in &w.tokens {
            let matches: Vec<&str> = self
                .people
                .iter()
                .filter(|(n, _)| n == t)
                .map(|(_, p)| p.as_str())
                .collect();
            if let [one] = matches.as_slice()
                && !found.contains(one)
            {
                found.push(one);
            }
        }
        found.first().map(|s| s.to_string())
    }
}

/// Reads a question into its asks, in the order asked.
pub fn understand<'a>(
    question: &str,
    ctx: &'a OpsContext,
    history: &[HistoryMessage],
) -> Vec<Ask<'a>> {
    let lex = Lexicon::new(ctx);
    understand_with(question, ctx, &lex, history, 0)
}

fn understand_with<'a>(
    question: &str,
    ctx: &'a OpsContext,
    lex: &Lexicon,
    history: &[HistoryMessage],
    depth: usize,
) -> Vec<Ask<'a>> {
    let mut asks: Vec<Ask<'a>> = Vec::new();
    for sentence in question
        .split(['?', ';', '\n', '!'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let words = lex.read(sentence);
        if words.tokens.is_empty() {
            continue;
        }
        for part in split_compound(words) {
            let mut ask = parse(&part, ctx, lex, history, depth);
            // "what's Marcus doing and when is it due?": "it" is what the first part found.
            if let Ask::NotFound { name, ask: what } = &ask
                && name.is_empty()
                && let Some(item) = asks.last().and_then(|a| single_item(a, ctx))
            {
                ask = Ask::Item(*what, item);
            }
            // "what's up and what's going on" need not say the same twice.
            if !asks.iter().any(|a| same_ask(a, &ask)) {
                asks.push(ask);
            }
        }
    }
    // A known ask beside unknown ones: the unknown parts were filler ("thanks, and …").
    if asks.len() > 1 {
        asks.retain(|a| !matches!(a, Ask::Unknown | Ask::Thanks | Ask::Greeting));
    }
    if asks.is_empty() {
        asks.push(Ask::Unknown);
    }
    asks
}

/// The one item an earlier ask of the same question was about.
fn single_item<'a>(ask: &Ask<'a>, ctx: &'a OpsContext) -> Option<Item<'a>> {
    match ask {
        Ask::Item(_, item) | Ask::Guess { item, .. } => Some(*item),
        Ask::Find(q) => {
            let found = q.select(ctx);
            match (found.tasks.as_slice(), found.delegations.as_slice()) {
                ([t], []) => Some(Item::Task(t)),
                ([], [d]) => Some(Item::Delegation(d)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn same_ask(a: &Ask<'_>, b: &Ask<'_>) -> bool {
    match (a, b) {
        (Ask::Find(x), Ask::Find(y)) => x == y,
        (Ask::Item(x, i), Ask::Item(y, j)) => x == y && i.same(j),
        (Ask::Digest { terms: x }, Ask::Digest { terms: y }) => x == y,
        (Ask::Plan { .. }, Ask::Plan { .. }) => true,
        (Ask::Unsupported(x), Ask::Unsupported(y)) => x == y,
        _ => {
            std::mem::discriminant(a) == std::mem::discriminant(b)
                && matches!(
                    a,
                    Ask::Help
                        | Ask::Unknown
                        | Ask::Urgent
                        | Ask::Summary
                        | Ask::Missed
                        | Ask::Deadlines
                        | Ask::FollowUps
                        | Ask::Delegate
                )
        }
    }
}

/// "what's overdue and who do I need to chase" → two questions: splits at "and", "also" or a
/// comma where a new question starts.
fn split_compound(w: Words) -> Vec<Words> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let toks = &w.tokens;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let joiner = matches!(t.as_str(), "and" | "also" | "plus" | "then");
        let next = toks.get(i + 1).map(String::as_str);
        let next = if next == Some("also") {
            toks.get(i + 2).map(String::as_str)
        } else {
            next
        };
        let current = parts.last().map_or(0, Vec::len);
        if joiner
            && current >= 2
            && next.is_some_and(|n| QUESTION_START.contains(&n) && n != "is" && n != "are")
        {
            parts.push(Vec::new());
            i += if toks.get(i + 1).is_some_and(|n| n == "also") {
                2
            } else {
                1
            };
            continue;
        }
        if let Some(p) = parts.last_mut() {
            p.push(t.clone());
        }
        i += 1;
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(Words::new)
        .collect()
}

/// The words that may name an item: the question without the understanding's own words.
fn name_words(w: &Words, lex: &Lexicon) -> Vec<String> {
    let vocab = vocabulary();
    w.tokens
        .iter()
        .filter(|t| {
            !GRAMMAR.contains(&t.as_str())
                && (!vocab.contains(&t.as_str()) || lex.data_words.contains(*t))
                && Day::parse_loose(t).is_none()
                && !t.chars().all(|c| c.is_ascii_digit())
        })
        .cloned()
        .collect()
}

fn parse<'a>(
    w: &Words,
    ctx: &'a OpsContext,
    lex: &Lexicon,
    history: &[HistoryMessage],
    depth: usize,
) -> Ask<'a> {
    let names = name_words(w, lex);
    let named = if names.is_empty() {
        None
    } else {
        find_item(&names.join(" "), ctx)
    };
    if w.any(HELP) && !w.any(DELEGATE) {
        return Ask::Help;
    }
    if only(w, GREETING) {
        return Ask::Greeting;
    }
    if thanks(w) {
        return Ask::Thanks;
    }
    if let Some((topic, say)) = unsupported(w)
        && named.is_none()
        && !w.has("working on")
    {
        // "what's the occupancy?" when the digest mentions it: what the digest says.
        let terms = in_digest(
            ctx,
            w.tokens
                .iter()
                .filter(|t| topic.iter().any(|p| p.split(' ').any(|x| x == *t))),
        );
        if !terms.is_empty() {
            return Ask::Digest { terms };
        }
        return Ask::Unsupported(say);
    }
    if let Some(minutes) = plan(w, ctx) {
        return Ask::Plan { minutes };
    }
    if w.any(DIGEST) && !source_digest(w) {
        let terms = w
            .tokens
            .iter()
            .filter(|t| !GRAMMAR.contains(&t.as_str()) && !DIGEST_WORDS.contains(&t.as_str()))
            .cloned()
            .collect();
        return Ask::Digest { terms };
    }
    if let Some(ask) = compare(w, ctx, lex) {
        return ask;
    }
    // "did I renew the liquor license?"
    if let Some(item) = named
        && w.starts(&["did i", "did we", "have i", "have we", "has", "was", "were"])
        && !w.any(DIGEST)
    {
        return Ask::Item(ItemAsk::Done, item);
    }
    // "is the boiler service booked?", "is the wedding block confirmed?": the item's own verb.
    if let Some(item) = named
        && w.starts(&["is", "are", "has", "have", "was", "were"])
        && item_ask(w).is_none()
        && done_by_its_verb(w, &item)
    {
        return Ask::Item(ItemAsk::Done, item);
    }
    // "is housekeeping short staffed?": a digest sentence says more of it than any item does.
    if item_ask(w).is_none()
        && let Some(terms) = digest_over_item(w, named.as_ref(), ctx)
    {
        return Ask::Digest { terms };
    }
    // Words only the digest has ("what's the occupancy tonight?"): what it says about them.
    if named.is_none() && item_ask(w).is_none() {
        let terms = in_digest(
            ctx,
            names.iter().filter(|n| {
                n.len() >= 4
                    && number(n).is_none()
                    && !lex.data_words.contains(*n)
                    && lex.person(&Words::new(vec![(*n).clone()])).is_none()
            }),
        );
        if !terms.is_empty() {
            return Ask::Digest { terms };
        }
    }
    if let Some(ask) = item_ask(w) {
        // "what about the high ones?" names no item: a follow-on, not a question about one.
        let refers = pronoun(w) || (names.is_empty() && ask != ItemAsk::About);
        match named {
            Some(item) => {
                let mut missing = unmatched(&names, &item);
                if ask == ItemAsk::Done {
                    // "is the boiler service booked?": the last word is the question, not a name.
                    missing.retain(|n| !n.ends_with("ed"));
                }
                if missing.is_empty() {
                    return Ask::Item(ask, item);
                }
                return Ask::Guess {
                    name: names.join(" "),
                    ask,
                    item,
                };
            }
            None if refers && !names_anything(w, lex, ctx) => {
                if let Some(item) = item_from_history(ctx, lex, history) {
                    return Ask::Item(ask, item);
                }
                if pronoun(w) {
                    return Ask::NotFound {
                        name: String::new(),
                        ask,
                    };
                }
            }
            None if !names.is_empty() && !names_anything(w, lex, ctx) => {
                return Ask::NotFound {
                    name: names.join(" "),
                    ask,
                };
            }
            None => {}
        }
    }
    let mut query = signals(w, ctx, lex);
    // "my next deadline" is the next date still ahead, not the most urgent late item.
    if query.shape == Shape::Next && query.when.is_none() && w.any(DEADLINES) {
        query.when = Some(When::After(ctx.today));
    }
    // "and tomorrow?", "what about the high ones?": the last question, changed.
    if depth < 3
        && fragment(w, &query)
        && let Some(ask) = follow_on(w, &query, named, ctx, lex, history, depth)
    {
        return ask;
    }
    if w.any(MISSED) && !query.is_filtered() {
        return Ask::Missed;
    }
    let only_today = query.when.is_none()
        || query.when
            == Some(When::day(ctx.today, Span::Today))
                .filter(|_| query.kind == Kind::Any && query.priorities.is_empty());
    // Nothing asked beyond (at most) today: "what's most urgent today?" is the report, "the
    // most urgent thing from email" a question about email work.
    let bare = Query {
        when: None,
        shape: Shape::List,
        kind: if query.kind == Kind::Tasks {
            Kind::Any
        } else {
            query.kind
        },
        ..query.clone()
    } == Query::default();
    let plain = !query.is_filtered() || (only_today && bare);
    if w.any(URGENT) && plain && query.shape == Shape::List && only_today {
        return Ask::Urgent;
    }
    if w.any(DELEGATE) && !w.any(DELEGATIONS) {
        // "what should I delegate to Marcus?": Marcus is who it would go to, not a filter.
        let query = Query {
            person: None,
            ..query
        };
        if !query.is_filtered() && query.shape == Shape::List {
            return Ask::Delegate;
        }
        return Ask::Find(Query {
            kind: Kind::Tasks,
            delegatable: Some(true),
            ..query
        });
    }
    if query.kind == Kind::FollowUps
        && query.shape == Shape::List
        && query.person.is_none()
        && query.priorities.is_empty()
        && query
            .when
            .is_none_or(|x| x == When::day(ctx.today, Span::Today))
    {
        return Ask::FollowUps;
    }
    if w.any(DEADLINES) && !query.is_filtered() && query.shape == Shape::List {
        return Ask::Deadlines;
    }
    let listed = matches!(query.shape, Shape::List | Shape::YesNo);
    if w.any(SUMMARY) && only_today && listed && plain {
        return Ask::Summary;
    }
    if w.any(SUMMARY) && query.when.is_none() && listed && plain {
        return Ask::Summary;
    }
    let asked_something = query != Query::default()
        || w.any(&[
            "everything",
            "all my",
            "list all",
            "show all",
            "all open",
            "whole list",
        ])
        || w.any(TASKS)
        || w.any(DEADLINES)
        || w.any(OPEN)
        || w.any(&[
            "due",
            "coming up",
            "upcoming",
            "on my plate",
            "what do i have",
        ]);
    if asked_something {
        return Ask::Find(query);
    }
    if let Some(item) = named {
        return Ask::Item(ItemAsk::About, item);
    }
    if w.any(SUMMARY) {
        return Ask::Summary;
    }
    if w.any(URGENT) {
        return Ask::Urgent;
    }
    Ask::Unknown
}

/// Whether the question ends in the past participle of a word of the item's name ("booked"
/// for "Book boiler service"): asking whether it was done.
fn done_by_its_verb(w: &Words, item: &Item<'_>) -> bool {
    let Some(last) = w.tokens.last().and_then(|t| t.strip_suffix("ed")) else {
        return false;
    };
    let stem: Vec<char> = last.chars().collect();
    tokens(item.name()).iter().any(|t| {
        let k = 4.min(t.chars().count()).min(stem.len());
        k >= 3 && t.chars().take(k).eq(stem.iter().copied().take(k))
    })
}

/// The question's words in the digest sentence that shares most of them, when that is two or
/// more and more than the named item shares.
fn digest_over_item(w: &Words, named: Option<&Item<'_>>, ctx: &OpsContext) -> Option<Vec<String>> {
    let digest = ctx.digest.as_ref()?;
    let asked: Vec<&String> = w
        .tokens
        .iter()
        .filter(|t| t.len() >= 3 && !GRAMMAR.contains(&t.as_str()))
        .collect();
    let best = super::digest::sentences(&digest.text)
        .into_iter()
        .map(|s| {
            let said = tokens(s);
            asked
                .iter()
                .filter(|t| said.contains(t))
                .map(|t| (*t).clone())
                .collect::<Vec<String>>()
        })
        .max_by_key(Vec::len)?;
    let item_share = named.map_or(0, |i| {
        let have = tokens(i.name());
        asked.iter().filter(|t| have.contains(t)).count()
    });
    (best.len() >= 2 && best.len() > item_share).then_some(best)
}

/// Whether every word of the question is one of `words` ("good morning", "thanks so much").
fn only(w: &Words, words: &[&str]) -> bool {
    !w.tokens.is_empty()
        && w.tokens
            .iter()
            .all(|t| words.iter().any(|p| p.split(' ').any(|x| x == t)))
}

/// Thanks on its own, however phrased ("thank you so much", "great, thanks").
fn thanks(w: &Words) -> bool {
    only(w, THANKS)
        && w.any(&[
            "thanks", "thank", "ty", "thx", "cheers", "great", "perfect", "ok", "okay", "cool",
            "nice", "awesome", "helpful", "bye",
        ])
}

/// "it", "its", "that one", "this": the conversation's item, but not "this week" or "that day".
fn pronoun(w: &Words) -> bool {
    w.tokens.iter().enumerate().any(|(i, t)| match t.as_str() {
        "it" | "its" => true,
        "this" | "that" => w.tokens.get(i + 1).is_none_or(|n| {
            !matches!(
                n.as_str(),
                "week"
                    | "weekend"
                    | "month"
                    | "morning"
                    | "afternoon"
                    | "evening"
                    | "day"
                    | "year"
                    | "time"
                    | "is"
                    | "are"
            ) && Day::parse_loose(n).is_none()
        }),
        _ => false,
    })
}

/// Whether the words name a person or another kind of subject, so an unmatched name is not
/// an item that is missing.
fn names_anything(w: &Words, lex: &Lexicon, _ctx: &OpsContext) -> bool {
    lex.person(w).is_some() && !w.any(&["task", "delegation"])
}

/// The topic opschat has no data on that the question asks about, and how to say so.
fn unsupported(w: &Words) -> Option<(&'static [&'static str], &'static str)> {
    UNSUPPORTED.iter().find(|(words, _)| w.any(words)).copied()
}

/// Those of `words` the latest digest uses.
fn in_digest<'w>(ctx: &OpsContext, words: impl Iterator<Item = &'w String>) -> Vec<String> {
    let said: HashSet<String> = ctx
        .digest
        .as_ref()
        .map(|d| tokens(&d.text).into_iter().collect())
        .unwrap_or_default();
    words.filter(|w| said.contains(*w)).cloned().collect()
}

fn source_digest(w: &Words) -> bool {
    w.any(&[
        "from the digest",
        "from digest",
        "digest task",
        "via the digest",
        "came from the digest",
        "in the digest task",
    ])
}

/// The minutes a planning question covers, when it is one.
fn plan(w: &Words, ctx: &OpsContext) -> Option<i64> {
    let timed = w.has("next") && w.any(&["hour", "minute"]) && !w.any(&["due", "deadline"]);
    let part_of_day = w.any(&[
        "this morning",
        "this afternoon",
        "this evening",
        "tonight",
        "my morning",
        "my afternoon",
        "my evening",
    ]) && w.any(&["plan", "what should i do", "spend", "get through", "fit in"]);
    if !(w.any(PLAN) && !w.any(&["plan holiday", "planning"]) || timed || part_of_day) {
        return None;
    }
    if w.any(&["plan"]) && w.tokens.iter().any(|t| t == "party") {
        // "Plan holiday party staffing" is a task title, not a request for a plan.
        return None;
    }
    if let Some(m) = super::planner::plan_minutes(&w.tokens) {
        return Some(m);
    }
    let until = |hour: u32| {
        let now = ctx.local_now;
        let end = now
            .date_naive()
            .and_hms_opt(hour, 0, 0)
            .map(|e| (e - now.naive_local()).num_minutes());
        end.filter(|m| *m >= 15).unwrap_or(120).min(12 * 60)
    };
    Some(if w.any(&["this morning", "my morning", "the morning"]) {
        until(12)
    } else if w.any(&["this afternoon", "my afternoon", "the afternoon"]) {
        until(17)
    } else if w.any(&["this evening", "my evening", "the evening", "tonight"]) {
        until(22)
    } else if w.any(&["the day", "my day", "today"]) {
        until(18)
    } else {
        120
    })
}

fn item_ask(w: &Words) -> Option<ItemAsk> {
    if w.any(WHEN_ITEM) {
        return Some(ItemAsk::When);
    }
    if w.any(WHO_ITEM) {
        return Some(ItemAsk::Who);
    }
    if w.any(PRIORITY_ITEM) {
        return Some(ItemAsk::Priority);
    }
    if w.any(EFFORT_ITEM) {
        return Some(ItemAsk::Effort);
    }
    // "is the schedule done?", "has the invoice been sorted?"
    let settled = w.any(DONE) || w.any(&["sorted", "taken care of", "dealt with", "handled"]);
    if w.starts(&["is", "are", "did", "have", "has", "was"])
        && settled
        && !w.any(&["anything", "any", "everything", "all", "what"])
    {
        return Some(ItemAsk::Done);
    }
    // "what is the cooler task about?"
    let about_last = w.tokens.last().is_some_and(|t| t == "about")
        && w.starts(&["what is", "what are", "what was"]);
    if w.any(ABOUT_ITEM) || about_last {
        return Some(ItemAsk::About);
    }
    None
}

/// "what's more urgent, the invoice or the schedule?"
fn compare<'a>(w: &Words, ctx: &'a OpsContext, lex: &Lexicon) -> Option<Ask<'a>> {
    let or = w.position("or")?;
    if !w.any(COMPARE) {
        return None;
    }
    let side = |toks: &[String]| {
        let names = name_words(&Words::new(toks.to_vec()), lex);
        if names.is_empty() {
            None
        } else {
            find_item(&names.join(" "), ctx)
        }
    };
    let a = side(&w.tokens[..or])?;
    let b = side(&w.tokens[or + 1..])?;
    if a.same(&b) {
        return None;
    }
    Some(Ask::Compare(a, b))
}

/// The item the conversation was last about: named in the latest question that named one,
/// or the first item the latest answer named.
pub fn item_from_history<'a>(
    ctx: &'a OpsContext,
    lex: &Lexicon,
    history: &[HistoryMessage],
) -> Option<Item<'a>> {
    for m in history.iter().rev().take(6) {
        match m.role {
            Role::User => {
                let w = lex.read(&m.content);
                let names = name_words(&w, lex);
                if !names.is_empty()
                    && let Some(item) = find_item(&names.join(" "), ctx)
                {
                    return Some(item);
                }
            }
            Role::Assistant => {
                if let Some(item) = first_named(&m.content, ctx) {
                    return Some(item);
                }
            }
        }
    }
    None
}

/// The item whose name appears first in an answer.
fn first_named<'a>(text: &str, ctx: &'a OpsContext) -> Option<Item<'a>> {
    let mut best: Option<(usize, Item<'a>)> = None;
    let mut consider = |name: &str, item: Item<'a>| {
        if let Some(at) = text.find(name)
            && best.as_ref().is_none_or(|(b, _)| at < *b)
        {
            best = Some((at, item));
        }
    };
    for t in ctx.open_tasks.iter().chain(&ctx.closed_tasks) {
        consider(&t.title, Item::Task(t));
    }
    for d in &ctx.delegations {
        consider(&d.task_description, Item::Delegation(d));
    }
    best.map(|(_, i)| i)
}

/// A short question that only changes the last one: "and tomorrow?", "only the urgent ones".
fn fragment(w: &Words, q: &Query) -> bool {
    if w.starts(FRAGMENT) {
        return true;
    }
    let n = w.tokens.len();
    let no_subject = q.kind == Kind::Any && !w.any(QUESTION_START) && !w.any(TASKS);
    // "how many?", "how long?", "which is next?": only a shape, about the last question's work.
    let only_shape = n <= 3
        && q.shape != Shape::List
        && Query {
            shape: Shape::List,
            ..q.clone()
        } == Query::default();
    only_shape || no_subject && n <= 4 && q != &Query::default()
}

fn follow_on<'a>(
    w: &Words,
    q: &Query,
    named: Option<Item<'a>>,
    ctx: &'a OpsContext,
    lex: &Lexicon,
    history: &[HistoryMessage],
    depth: usize,
) -> Option<Ask<'a>> {
    let at = history.iter().rposition(|m| m.role == Role::User)?;
    let before = &history[..at];
    let previous = understand_with(&history[at].content, ctx, lex, before, depth + 1);
    let last = previous.last()?.clone();
    // "what about the invoice?" after "when is the schedule due?": the same ask, another item.
    if let (Ask::Item(ask, _) | Ask::NotFound { ask, .. }, Some(item)) = (&last, named) {
        return Some(Ask::Item(*ask, item));
    }
    if let Some(item) = named
        && q == &Query::default()
    {
        return Some(Ask::Item(ItemAsk::About, item));
    }
    let base = match last {
        Ask::Find(b) => b,
        Ask::Urgent | Ask::Summary | Ask::Missed => Query {
            kind: Kind::Tasks,
            ..Query::default()
        },
        Ask::Deadlines => Query::default(),
        Ask::FollowUps => Query {
            kind: Kind::FollowUps,
            ..Query::default()
        },
        Ask::Delegate => Query {
            kind: Kind::Tasks,
            delegatable: Some(true),
            ..Query::default()
        },
        _ => return None,
    };
    let _ = w;
    Some(Ask::Find(Query {
        kind: if q.kind == Kind::Any {
            base.kind
        } else {
            q.kind
        },
        when: q.when.or(base.when),
        priorities: if q.priorities.is_empty() {
            base.priorities
        } else {
            q.priorities.clone()
        },
        status: if q.status == Status::Open {
            base.status
        } else {
            q.status
        },
        source: q.source.clone().or(base.source),
        delegatable: q.delegatable.or(base.delegatable),
        // "and the long ones?" after quick wins: the new bound replaces the old one.
        max_minutes: if q.min_minutes.is_some() {
            q.max_minutes
        } else {
            q.max_minutes.or(base.max_minutes)
        },
        min_minutes: if q.max_minutes.is_some() {
            q.min_minutes
        } else {
            q.min_minutes.or(base.min_minutes)
        },
        person: q.person.clone().or(base.person),
        shape: if q.shape == Shape::List {
            base.shape
        } else {
            q.shape
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Words {
        Words::new(tokens(s))
    }

    #[test]
    fn compound_questions_split_where_a_new_question_starts() {
        let parts = split_compound(read("what's overdue and who do I need to chase"));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].tokens.join(" "), "what is overdue");
        let one = split_compound(read("which tasks are high and urgent"));
        assert_eq!(one.len(), 1);
    }
}
