//! Common questions: "what's urgent?", "What's most urgent today" and "anything urgent" are
//! one question. Each question is normalised to a set of content words (lower case,
//! contractions expanded, punctuation dropped, question and filler words dropped, a light
//! suffix stemmer so "deadlines" is "deadline" and "delegating" is "delegat"); questions with
//! the same set are one group; then groups are merged, most asked first, into the first group
//! whose words overlap by a Jaccard similarity of at least `SIMILAR` (shared words over all
//! words). Only questions of up to `MAX_WORDS` content words are merged by similarity, into
//! the `MAX_TARGETS` most asked groups. Deterministic, no model.

use chrono::NaiveDate;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::DayRange;
use crate::store::analytics::{KeyedDays, QuestionKeys, Wording};

/// How many of the latest questions of the most asked groups their wordings are counted
/// from.
pub const RECENT_WORDINGS: i64 = 5000;
/// At most this many keys (the most asked) are looked up for wordings.
const WORDING_KEYS: usize = 2000;

/// Two word sets this similar (Jaccard) are the same question.
pub const SIMILAR: f64 = 0.5;

/// Questions with more content words than this are statements, grouped only when identical.
pub const MAX_WORDS: usize = 8;
/// How many groups other questions may join by similarity: the most asked ones.
pub const MAX_TARGETS: usize = 1000;

/// Words that say how a question is asked, not what about.
const FILLER: &[&str] = &[
    "a", "about", "after", "all", "am", "an", "and", "any", "anything", "anyone", "are", "at",
    "be", "by", "can", "could", "did", "do", "does", "for", "from", "get", "give", "go", "got",
    "have", "hey", "hi", "how", "i", "if", "in", "is", "it", "just", "know", "let", "like", "list",
    "me", "most", "much", "my", "need", "now", "of", "on", "or", "our", "please", "really",
    "right", "s", "should", "show", "so", "some", "tell", "that", "the", "there", "thing",
    "things", "this", "to", "today", "todays", "up", "us", "want", "was", "we", "what", "whats",
    "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your",
];

fn filler() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| FILLER.iter().copied().collect())
}

fn expand(word: &str) -> &str {
    match word {
        "what's" | "whats" => "what",
        "who's" | "whos" => "who",
        "what're" => "what",
        "don't" | "dont" | "doesn't" | "didn't" | "isn't" | "aren't" | "can't" | "won't" => "not",
        "i'm" | "im" => "i",
        "i've" | "ive" | "i'd" | "i'll" => "i",
        "let's" | "lets" => "let",
        "it's" | "its" => "it",
        "there's" | "theres" => "there",
        "that's" | "thats" => "that",
        other => other,
    }
}

/// A light English suffix stemmer: enough to make plurals and verb forms meet.
fn stem(word: &str) -> String {
    let w = word;
    for (suffix, keep) in [("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 3
            && !(suffix == "s" && (base.ends_with('s') || base.ends_with('u')))
        {
            let base = if suffix == "es" && !base.ends_with(['s', 'x', 'z', 'h']) {
                // "deadlines" -> "deadline", "boxes" -> "box".
                return format!("{base}e");
            } else {
                base
            };
            return format!("{base}{keep}");
        }
    }
    w.to_string()
}

/// The content words of a question.
pub fn key(question: &str) -> BTreeSet<String> {
    let lowered = question.to_lowercase().replace(['’', '‘'], "'");
    let words: Vec<String> = lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| expand(w).replace('\'', ""))
        .collect();
    let content: BTreeSet<String> = words
        .iter()
        .filter(|w| !filler().contains(w.as_str()))
        .map(|w| stem(w))
        .collect();
    if content.is_empty() {
        // Only filler ("what now?"): the words themselves are the question.
        words.into_iter().collect()
    } else {
        content
    }
}

/// The words of a stored key (`store::analytics::stored_key`).
fn words_of(key: &str) -> impl Iterator<Item = &str> {
    key.split(' ').filter(|w| !w.is_empty())
}

/// Questions that are one question: their words, how often they were asked, on which days,
/// and the stored keys they were asked under.
pub struct Group {
    /// The words, as a stored key: sorted, joined by spaces. Comparing these strings compares
    /// the word lists (a space sorts before every letter and digit).
    key: String,
    /// How many words.
    words: usize,
    count: i64,
    per_day: BTreeMap<NaiveDate, i64>,
    /// The stored keys merged into this group and how often each was asked.
    members: Vec<(String, i64)>,
}

/// Groups the questions of the range by key, then merges similar keys into the most asked
/// groups; most asked first. Keys are compared as strings and split into words only where
/// similarity is computed: most of the work is a long tail of one-off questions.
pub fn group(range: &DayRange, keyed: &[KeyedDays]) -> Vec<Group> {
    // Exact groups first: one per set of words (a stored key is that set, in order).
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut exact: Vec<Group> = Vec::new();
    for k in keyed {
        let words = words_of(&k.key).count();
        if words == 0 {
            continue;
        }
        let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        for d in &k.days {
            if range.index(*d).is_some() {
                *per_day.entry(*d).or_default() += 1;
            }
        }
        let n: i64 = per_day.values().sum();
        if n == 0 {
            continue;
        }
        let at = *index.entry(k.key.as_str()).or_insert_with(|| {
            exact.push(Group {
                key: k.key.clone(),
                words,
                count: 0,
                per_day: BTreeMap::new(),
                members: Vec::new(),
            });
            exact.len() - 1
        });
        let g = &mut exact[at];
        g.count += n;
        g.members.push((k.key.clone(), n));
        for (d, c) in per_day {
            *g.per_day.entry(d).or_default() += c;
        }
    }
    // Then merge similar ones into the most asked.
    exact.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    let mut groups: Vec<Group> = Vec::new();
    // Which merge targets hold each word: a question is compared only with groups it shares a
    // word with, and only the MAX_TARGETS most asked short questions are targets, so a long
    // tail of one-off questions costs a lookup each, not a comparison with every group.
    let mut holding: HashMap<String, Vec<usize>> = HashMap::new();
    let mut targets = 0usize;
    // Words shared with each target, counted from `holding` (no set operations per pair), and
    // which targets were touched, to reset them.
    let mut shared: Vec<usize> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    for g in exact {
        let short = g.words <= MAX_WORDS;
        let into = if short {
            for w in words_of(&g.key) {
                for &i in holding.get(w).map(Vec::as_slice).unwrap_or_default() {
                    if shared[i] == 0 {
                        touched.push(i);
                    }
                    shared[i] += 1;
                }
            }
            // The most asked target as similar as SIMILAR: shared words over all words.
            let found = touched
                .iter()
                .copied()
                .filter(|&i| {
                    let all = groups[i].words + g.words - shared[i];
                    all > 0 && shared[i] as f64 / all as f64 >= SIMILAR
                })
                .min();
            for &i in &touched {
                shared[i] = 0;
            }
            touched.clear();
            found
        } else {
            None
        };
        match into.map(|i| &mut groups[i]) {
            Some(into) => {
                into.count += g.count;
                into.members.extend(g.members);
                for (d, n) in g.per_day {
                    *into.per_day.entry(d).or_default() += n;
                }
            }
            None => {
                if short && targets < MAX_TARGETS {
                    targets += 1;
                    for w in words_of(&g.key) {
                        holding.entry(w.to_string()).or_default().push(groups.len());
                    }
                }
                shared.push(0);
                groups.push(g);
            }
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    groups
}

/// The long keys (and their questions) in the range that `question_keys` did not list: each
/// is a group of its own, counted in the totals but not among the most asked.
pub fn unlisted(q: &QuestionKeys) -> (i64, i64) {
    let listed = q
        .keys
        .iter()
        .filter(|k| words_of(&k.key).count() > MAX_WORDS);
    let (keys, questions) = listed.fold((0, 0), |(k, n), l| (k + 1, n + l.days.len() as i64));
    (q.long_keys - keys, q.long_questions - questions)
}

/// The stored keys of the `limit` most asked groups whose wordings are worth looking up: the
/// most asked `WORDING_KEYS` of them.
pub fn wording_keys(groups: &[Group], limit: usize) -> Vec<String> {
    let mut keys: Vec<&(String, i64)> =
        groups.iter().take(limit).flat_map(|g| &g.members).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    keys.into_iter()
        .take(WORDING_KEYS)
        .map(|(k, _)| k.clone())
        .collect()
}

/// The most asked questions in the range with counts, wordings (from `wordings`, looked up
/// for `wording_keys`) and a daily trend; `unlisted` groups and questions (from `unlisted`)
/// count in the totals. Without `with_text` (an admin looking across users) a group is shown
/// by its words only.
pub fn common(
    range: &DayRange,
    groups: &[Group],
    unlisted: (i64, i64),
    wordings: &[Wording],
    with_text: bool,
    limit: usize,
) -> Value {
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate().take(limit) {
        for (k, _) in &g.members {
            group_of.insert(k.as_str(), i);
        }
    }
    let mut worded: Vec<HashMap<String, i64>> = vec![HashMap::new(); groups.len().min(limit)];
    for w in wordings {
        if let Some(&i) = group_of.get(w.key.as_str()) {
            let wording = crate::context::one_line(w.text.trim(), 120);
            *worded[i].entry(wording).or_default() += w.count;
        }
    }
    let total: i64 = groups.iter().map(|g| g.count).sum::<i64>() + unlisted.1;
    let half = range.from + chrono::Duration::days(range.len() / 2);
    let rows: Vec<Value> = groups
        .iter()
        .zip(worded.iter())
        .map(|(g, worded)| {
            let mut wordings: Vec<(&String, &i64)> = worded.iter().collect();
            wordings.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let first: i64 = g.per_day.range(..half).map(|(_, n)| n).sum();
            let second = g.count - first;
            let words: Vec<&str> = words_of(&g.key).collect();
            let question = match wordings.first() {
                Some((w, _)) if with_text => json!(w),
                _ => json!(words.join(" ")),
            };
            json!({
                "question": question,
                "words": words,
                "count": g.count,
                "wordings": if with_text {
                    json!(wordings.iter().take(5).map(|(w, n)| json!({"text": w, "count": n})).collect::<Vec<_>>())
                } else {
                    Value::Null
                },
                "trend": {
                    "first_half": first,
                    "second_half": second,
                    "per_day": range.days().map(|d| g.per_day.get(&d).copied().unwrap_or(0)).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    json!({
        "range": range,
        "questions": total,
        "groups": groups.len() as i64 + unlisted.0,
        "method": format!("content words after normalising; groups with Jaccard similarity >= {SIMILAR} merged"),
        "wordings_from": format!("the latest {RECENT_WORDINGS} questions of the groups shown"),
        "common": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
        let shared = a.intersection(b).count();
        let all = a.union(b).count();
        if all == 0 {
            0.0
        } else {
            shared as f64 / all as f64
        }
    }

    #[test]
    fn the_urgent_questions_are_one() {
        let a = key("what's urgent?");
        assert_eq!(a, key("What's most urgent today"));
        assert_eq!(a, key("anything urgent"));
        assert_eq!(a, key("What’s URGENT today!!"));
        assert_eq!(
            key("Who do I need to follow up with?"),
            key("who should I follow up with")
        );
        assert_eq!(key("upcoming deadlines"), key("Upcoming deadline?"));
        assert_ne!(key("what's urgent?"), key("what can I delegate?"));
    }

    #[test]
    fn similar_sets_merge() {
        let a = key("help me plan my next 2 hours");
        let b = key("plan the next two hours");
        assert!(jaccard(&a, &b) >= 0.5, "{a:?} {b:?}");
    }

    #[test]
    fn keys_merge_and_a_group_without_wordings_shows_its_words() {
        let range = DayRange {
            from: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        };
        let d = |n| NaiveDate::from_ymd_opt(2026, 11, n).unwrap();
        let keyed = |k: &str, days: Vec<NaiveDate>| KeyedDays {
            key: k.into(),
            days,
        };
        let groups = group(
            &range,
            &[
                keyed("2 hour next plan", vec![d(23), d(24), d(24)]),
                keyed("hour next plan two", vec![d(24)]),
                keyed("delegate", vec![d(23), d(22)]),
            ],
        );
        assert_eq!(
            wording_keys(&groups, 1),
            vec!["2 hour next plan", "hour next plan two"]
        );
        let wordings = [Wording {
            key: "hour next plan two".into(),
            text: "plan the next two hours".into(),
            count: 1,
        }];
        let v = common(&range, &groups, (2, 7), &wordings, true, 10);
        // 5 in the range (the day outside is not counted) and 7 unlisted, in 2 + 2 groups.
        assert_eq!(v["questions"], 12);
        assert_eq!(v["groups"], 4);
        assert_eq!(v["common"][0]["count"], 4);
        assert_eq!(v["common"][0]["question"], "plan the next two hours");
        assert_eq!(v["common"][0]["trend"]["per_day"], json!([1, 3]));
        assert_eq!(v["common"][1]["question"], "delegate");
        assert_eq!(v["common"][1]["wordings"], json!([]));
    }
}
