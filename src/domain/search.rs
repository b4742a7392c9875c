//! The search syntax, the same on both databases: words (all must match, stemmed), "quoted
//! phrases", -exclusions, `or` between two parts, and the last word matched as a prefix while
//! one types. Parsed once here, then written as a PostgreSQL `tsquery` or an SQLite FTS5 query.

/// One part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A word; `prefix` matches words that start with it.
    Word {
        text: String,
        prefix: bool,
    },
    Phrase(Vec<String>),
}

/// A part, possibly negated, possibly one of alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    Must(Part),
    Not(Part),
    AnyOf(Vec<Part>),
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub clauses: Vec<Clause>,
}

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 300;

/// Splits text into the words the indexes see: letters and digits.
fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn part_of(words: Vec<String>, prefix: bool) -> Option<Part> {
    match words.len() {
        0 => None,
        1 => words
            .into_iter()
            .next()
            .map(|text| Part::Word { text, prefix }),
        _ => Some(Part::Phrase(words)),
    }
}

/// Parses a query. Errors say what is wrong, for a 400.
pub fn parse(q: &str) -> Result<SearchQuery, String> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("q is longer than {MAX_QUERY_CHARS} characters"));
    }
    let typing = !q.ends_with(char::is_whitespace) && !q.trim_end().ends_with('"');
    // (negated, part) in order; `or` joins the parts around it.
    let mut items: Vec<(bool, Option<Part>, bool)> = Vec::new(); // (negated, part, is_or)
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let negated = c == '-' && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
        if negated {
            i += 1;
        }
        if chars.get(i) == Some(&'"') {
            let start = i + 1;
            let end = (start..chars.len())
                .find(|&j| chars[j] == '"')
                .unwrap_or(chars.len());
            let text: String = chars[start..end].iter().collect();
            items.push((negated, part_of(tokens(&text), false), false));
            i = end + 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !negated && word.eq_ignore_ascii_case("or") {
            items.push((false, None, true));
            continue;
        }
        let last = i >= chars.len();
        items.push((negated, part_of(tokens(&word), last && typing), false));
    }
    let mut clauses: Vec<Clause> = Vec::new();
    let mut join_next = false;
    for (negated, part, is_or) in items {
        if is_or {
            join_next = matches!(clauses.last(), Some(Clause::Must(_) | Clause::AnyOf(_)));
            continue;
        }
        let Some(part) = part else { continue };
        if negated {
            clauses.push(Clause::Not(part));
            join_next = false;
            continue;
        }
        if join_next {
            join_next = false;
            match clauses.pop() {
                Some(Clause::Must(prev)) => clauses.push(Clause::AnyOf(vec![prev, part])),
                Some(Clause::AnyOf(mut alts)) => {
                    alts.push(part);
                    clauses.push(Clause::AnyOf(alts));
                }
                Some(other) => {
                    clauses.push(other);
                    clauses.push(Clause::Must(part));
                }
                None => clauses.push(Clause::Must(part)),
            }
            continue;
        }
        clauses.push(Clause::Must(part));
    }
    if !clauses
        .iter()
        .any(|c| matches!(c, Clause::Must(_) | Clause::AnyOf(_)))
    {
        return Err("q needs at least one word to look for".into());
    }
    Ok(SearchQuery { clauses })
}

impl SearchQuery {
    /// The query for PostgreSQL's `to_tsquery('english', …)`: every word is letters and
    /// digits only, quoted, so nothing in it is operator syntax.
    pub fn to_tsquery(&self) -> String {
        fn part(p: &Part) -> String {
            match p {
                Part::Word { text, prefix } => {
                    format!("'{text}'{}", if *prefix { ":*" } else { "" })
                }
                Part::Phrase(words) => {
                    let w: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
                    format!("({})", w.join(" <-> "))
                }
            }
        }
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|c| match c {
                Clause::Must(p) => part(p),
                Clause::Not(p) => format!("!{}", part(p)),
                Clause::AnyOf(ps) => {
                    let alts: Vec<String> = ps.iter().map(part).collect();
                    format!("({})", alts.join(" | "))
                }
            })
            .collect();
        parts.join(" & ")
    }

    /// The phrases every match must contain (not those among alternatives or exclusions), each
    /// as its words joined by spaces: PostgreSQL narrows them by their word pairs first.
    pub fn required_phrases(&self) -> Vec<String> {
        self.clauses
            .iter()
            .filter_map(|c| match c {
                Clause::Must(Part::Phrase(words)) => Some(words.join(" ")),
                _ => None,
            })
            .collect()
    }

    /// The query for an SQLite FTS5 `MATCH` (porter tokenizer): quoted strings, `*` for a
    /// prefix, `OR` groups, and exclusions as trailing `NOT`s.
    pub fn to_fts5(&self) -> String {
        fn part(p: &Part) -> String {
            match p {
                Part::Word { text, prefix } => {
                    format!("\"{text}\"{}", if *prefix { "*" } else { "" })
                }
                Part::Phrase(words) => format!("\"{}\"", words.join(" ")),
            }
        }
        let mut positive: Vec<String> = Vec::new();
        let mut negative: Vec<String> = Vec::new();
        for c in &self.clauses {
            match c {
                Clause::Must(p) => positive.push(part(p)),
                Clause::Not(p) => negative.push(part(p)),
                Clause::AnyOf(ps) => {
                    let alts: Vec<String> = ps.iter().map(part).collect();
                    positive.push(format!("({})", alts.join(" OR ")));
                }
            }
        }
        let mut q = format!("({})", positive.join(" AND "));
        for n in negative {
            q.push_str(" NOT ");
            q.push_str(&n);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_exclusions_and_or() {
        let q = parse(r#"walk-in "cooler door" -gasket fryer or hood delegat"#).unwrap();
        assert_eq!(
            q.to_tsquery(),
            "('walk' <-> 'in') & ('cooler' <-> 'door') & !'gasket' & ('fryer' | 'hood') & 'delegat':*"
        );
        assert_eq!(
            q.to_fts5(),
            r#"("walk in" AND "cooler door" AND ("fryer" OR "hood") AND "delegat"*) NOT "gasket""#
        );
    }

    #[test]
    fn the_last_word_is_a_prefix_only_while_typing() {
        assert_eq!(parse("invoice").unwrap().to_tsquery(), "'invoice':*");
        assert_eq!(parse("invoice ").unwrap().to_tsquery(), "'invoice'");
        assert_eq!(
            parse("\"hvac invoice\"").unwrap().to_tsquery(),
            "('hvac' <-> 'invoice')"
        );
    }

    #[test]
    fn syntax_cannot_be_injected() {
        let q = parse(r#"a' | b:* & !c ") OR d"#).unwrap();
        assert!(!q.to_tsquery().contains("''"), "{}", q.to_tsquery());
        assert!(parse("-only -negations").is_err());
        assert!(parse("   ").is_err());
        assert!(parse(&"x".repeat(301)).is_err());
    }
}
