//! Words: normalising a question, stemming, typos, and how well words name a title.

const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "was",
    "when",
    "what",
    "whats",
    "what's",
    "when's",
    "whens",
    "due",
    "priority",
    "of",
    "on",
    "for",
    "my",
    "i",
    "me",
    "do",
    "does",
    "need",
    "to",
    "it",
    "that",
    "this",
    "how",
    "urgent",
    "important",
    "and",
    "or",
    "with",
    "about",
    "tell",
    "show",
    "date",
    "deadline",
    "please",
    "can",
    "you",
    "we",
    "our",
    "in",
    "at",
    "by",
    "be",
    "s",
    "thing",
    "item",
    "task",
    "issue",
    "one",
];

/// A crude stem: "schedules", "schedule" and "scheduled" all become "schedul".
fn stem(w: &str) -> &str {
    let mut w = w;
    for suffix in ["ing", "ed", "s"] {
        if w.len() > suffix.len() + 3
            && let Some(s) = w.strip_suffix(suffix)
        {
            w = s;
            break;
        }
    }
    if w.len() > 4 {
        w.strip_suffix('e').unwrap_or(w)
    } else {
        w
    }
}

pub(crate) fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(|w| stem(w).to_string())
        .collect()
}

/// How well the question's words name a title: 2 per exact (stemmed) word, 1 per shared prefix
/// of five letters or more.
pub(crate) fn score(question: &[String], title: &str) -> u32 {
    let title = words(title);
    question
        .iter()
        .map(|q| {
            if title.iter().any(|t| t == q) {
                2
            } else if q.chars().nth(4).is_some()
                && title.iter().any(|t| {
                    // Five letters, not bytes: a word may be any script.
                    t.chars().nth(4).is_some() && t.chars().take(5).eq(q.chars().take(5))
                })
            {
                1
            } else {
                0
            }
        })
        .sum()
}

/// Contractions and run-together forms, spelled out: the understanding reads whole words.
const CONTRACTIONS: &[(&str, &str)] = &[
    ("what's", "what is"),
    ("whats", "what is"),
    ("who's", "who is"),
    ("whos", "who is"),
    ("when's", "when is"),
    ("whens", "when is"),
    ("where's", "where is"),
    ("how's", "how is"),
    ("hows", "how is"),
    ("it's", "it is"),
    ("that's", "that is"),
    ("thats", "that is"),
    ("there's", "there is"),
    ("theres", "there is"),
    ("what're", "what are"),
    ("isn't", "is not"),
    ("isnt", "is not"),
    ("aren't", "are not"),
    ("arent", "are not"),
    ("don't", "do not"),
    ("dont", "do not"),
    ("doesn't", "does not"),
    ("doesnt", "does not"),
    ("didn't", "did not"),
    ("didnt", "did not"),
    ("haven't", "have not"),
    ("havent", "have not"),
    ("hasn't", "has not"),
    ("hasnt", "has not"),
    ("wasn't", "was not"),
    ("won't", "will not"),
    ("can't", "can not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("i'm", "i am"),
    ("im", "i am"),
    ("i've", "i have"),
    ("ive", "i have"),
    ("i'll", "i will"),
    ("i'd", "i would"),
    ("let's", "let us"),
    ("lets", "let us"),
    ("gotta", "got to"),
    ("gonna", "going to"),
    ("wanna", "want to"),
    ("pls", "please"),
    ("plz", "please"),
    ("tmr", "tomorrow"),
    ("tmrw", "tomorrow"),
    ("tmw", "tomorrow"),
    ("tomorow", "tomorrow"),
    ("2day", "today"),
    ("asap", "as soon as possible"),
    ("followup", "follow up"),
    ("followups", "follow up"),
    ("todo", "to do"),
    ("todos", "to do"),
    ("to-do", "to do"),
    ("to-dos", "to do"),
    ("hrs", "hour"),
    ("hr", "hour"),
    ("mins", "minute"),
    ("min", "minute"),
    ("wk", "week"),
    // Misspellings that are words of their own, so no typo distance finds them.
    ("overdo", "overdue"),
    ("overdone", "overdue"),
    ("dew", "due"),
    ("r", "are"),
    ("u", "you"),
];

/// Words whose final "s" is not a plural.
const NOT_PLURAL: &[&str] = &[
    "is",
    "was",
    "has",
    "does",
    "this",
    "his",
    "its",
    "us",
    "yes",
    "less",
    "plus",
    "thanks",
    "always",
    "across",
    "status",
    "marcus",
    "focus",
    "bonus",
    "series",
    "news",
    "minus",
    "process",
    "address",
    "business",
    "access",
    "ss",
    "chris",
    "james",
    "thomas",
    "tomas",
    "lucas",
    "nicholas",
    "carlos",
    "jesus",
    "whereas",
    "perhaps",
    "towards",
    "afterwards",
    "sometimes",
    "alias",
    "various",
    "previous",
    "serious",
    "nervous",
    "analysis",
    "basis",
    "gas",
    "glass",
    "pass",
    "class",
    "mass",
    "boss",
    "miss",
    "discuss",
    "lens",
    "menus",
    "canvas",
    "atlas",
    "bus",
    "corpus",
    "virus",
    "ross",
    "morris",
    "davis",
    "lewis",
    "harris",
    "francis",
    "phillips",
    "wes",
    "les",
    "ines",
    "agnes",
    "dolores",
    "mercedes",
];

/// A word in its singular form, roughly: "deadlines" → "deadline", "ones" → "one".
pub fn singular(w: &str) -> String {
    if w == "ups" {
        // "follow-ups", "check-ups"
        return "up".into();
    }
    if w.len() <= 3 || NOT_PLURAL.contains(&w) || w.ends_with("ss") || w.ends_with("us") {
        return w.to_string();
    }
    if let Some(s) = w.strip_suffix("ies")
        && s.len() >= 2
    {
        return format!("{s}y");
    }
    for suffix in ["ches", "shes", "xes", "sses"] {
        if let Some(s) = w.strip_suffix(suffix) {
            return format!("{s}{}", &suffix[..suffix.len() - 2]);
        }
    }
    w.strip_suffix('s').unwrap_or(w).to_string()
}

/// The question as lower-case words: contractions spelled out, possessives and plurals dropped,
/// punctuation gone. Digits stay words of their own ("3", "15").
pub fn tokens(question: &str) -> Vec<String> {
    let lower = question.to_lowercase().replace(['’', '‘', '`', '´'], "'");
    let mut out = Vec::new();
    let pieces = lower
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '\'' | '-' | '/' | '.')))
        .flat_map(|raw| {
            // "1.5" stays a number; "done.next" is two words.
            let raw = raw.trim_matches(|c: char| matches!(c, '\'' | '-' | '/' | '.'));
            if raw.contains('.') && raw.parse::<f64>().is_err() {
                raw.split('.').collect::<Vec<_>>()
            } else {
                vec![raw]
            }
        });
    for raw in pieces {
        if raw.is_empty() {
            continue;
        }
        // ISO dates and "11/28" stay whole; other hyphenated words split ("follow-up").
        if raw.contains('/') || is_iso_date(raw) {
            out.push(raw.to_string());
            continue;
        }
        for part in raw.split('-').filter(|p| !p.is_empty()) {
            if let Some((_, full)) = CONTRACTIONS.iter().find(|(c, _)| *c == part) {
                out.extend(full.split(' ').map(str::to_string));
                continue;
            }
            let part = part
                .strip_suffix("'s")
                .or_else(|| part.strip_suffix("s'"))
                .unwrap_or(part);
            let part = part.replace('\'', "");
            // "tmrw's": the shorthand under the possessive.
            if let Some((_, full)) = CONTRACTIONS.iter().find(|(c, _)| *c == part) {
                out.extend(full.split(' ').map(str::to_string));
                continue;
            }
            if !part.is_empty() {
                out.push(singular(&part));
            }
        }
    }
    out
}

fn is_iso_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Optimal-string-alignment distance (a swap of two neighbours counts once), by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The typos a word of this length may carry: none up to four letters (too many real words are
/// one letter apart), one at five, two from six.
fn tolerance(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// `word` spelled as the nearest of `vocabulary` when it is a likely typo of one (same first
/// letter, within the word's tolerance); `None` when it is fine as it is or too far from all.
pub fn correct<'v>(word: &str, vocabulary: &[&'v str]) -> Option<&'v str> {
    let len = word.chars().count();
    let tol = tolerance(len);
    if tol == 0 || vocabulary.contains(&word) || word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let first = word.chars().next()?;
    let mut best: Option<(usize, &'v str)> = None;
    for v in vocabulary {
        if !v.starts_with(first) || v.chars().count().abs_diff(len) > tol || v.contains(' ') {
            continue;
        }
        let d = distance(word, v);
        if d <= tol.min(tolerance(v.chars().count())) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, v));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_scores() {
        assert_eq!(stem("schedules"), "schedul");
        let q = words("when is the manager schedule due");
        assert!(score(&q, "Submit manager schedule for next week") >= 4);
        assert_eq!(score(&q, "Order replacement fryer oil filters"), 0);
    }

    #[test]
    fn scores_words_of_any_script() {
        assert_eq!(score(&words("n5ðí"), "n5ðí crème brûlée"), 2);
        assert_eq!(score(&words("n5ðí crème"), "n5ðí crème brûlée"), 4);
        // Five shared letters, not bytes, make a prefix match.
        assert_eq!(score(&words("n5ðíxa"), "n5ðíxb order"), 1);
    }

    #[test]
    fn tokens_spell_out_what_people_type() {
        assert_eq!(tokens("What's overdue?"), ["what", "is", "overdue"]);
        assert_eq!(tokens("tmrw's tasks"), ["tomorrow", "task"]);
        assert_eq!(
            tokens("due 11/28 or 2026-12-06"),
            ["due", "11/28", "or", "2026-12-06"]
        );
        assert_eq!(tokens("Marcus's follow-ups"), ["marcus", "follow", "up"]);
    }

    #[test]
    fn typos_of_known_words_only() {
        let vocab = ["deadline", "delegate", "overdue", "follow", "tomorrow"];
        assert_eq!(correct("deadlnes", &vocab), Some("deadline"));
        assert_eq!(correct("deadlne", &vocab), Some("deadline"));
        assert_eq!(correct("delgate", &vocab), Some("delegate"));
        assert_eq!(correct("folow", &vocab), Some("follow"));
        // Short words and words of other letters are left alone.
        assert_eq!(correct("dew", &vocab), None);
        assert_eq!(correct("tasting", &vocab), None);
        assert_eq!(distance("anythign", "anything"), 1);
    }
}
