//! What the digest said: its sentences ranked against the question's words, quoted.

use super::text::{distance, words};
use super::write::{Answer, day_words};
use crate::context::{ItemRef, OpsContext};

/// The most sentences quoted for one question.
const MOST: usize = 3;

pub fn answer(ctx: &OpsContext, terms: &[String], out: &mut Answer) {
    let Some(d) = &ctx.digest else {
        out.line("There is no daily digest yet, so I can't say what it said.");
        return;
    };
    out.items.push(ItemRef::digest(d));
    let date = day_words(d.date, ctx.today);
    let sentences = sentences(&d.text);
    if terms.is_empty() {
        out.line(format!("**The digest for {date}:**"));
        out.line("");
        for s in &sentences {
            out.line(format!("> {s}"));
        }
        return;
    }
    let asked: Vec<String> = terms.iter().flat_map(|t| words(t)).collect();
    let about = terms.join(" ");
    let mut ranked: Vec<(u32, usize, &str)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| (relevance(&asked, s), i, *s))
        .filter(|(r, _, _)| *r > 0)
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if ranked.is_empty() {
        out.line(format!(
            "The digest for {date} doesn't mention \"{about}\". All it says:"
        ));
        out.line("");
        for s in &sentences {
            out.line(format!("> {s}"));
        }
        return;
    }
    out.line(format!("**The digest for {date} on \"{about}\":**"));
    out.line("");
    for (_, _, s) in ranked.into_iter().take(MOST) {
        out.line(format!("> {s}"));
    }
}

/// The digest in sentences, as written.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n' | ';') {
            let s = text[start..i + c.len_utf8()].trim();
            if s.chars().any(char::is_alphanumeric) {
                out.push(s.trim_end_matches(['\n', ';']).trim());
            }
            start = i + c.len_utf8();
        }
    }
    let rest = text[start..].trim();
    if rest.chars().any(char::is_alphanumeric) {
        out.push(rest);
    }
    out
}

/// 3 per word the sentence shares, 2 per shared five-letter prefix, 1 per near spelling.
fn relevance(asked: &[String], sentence: &str) -> u32 {
    let said = words(sentence);
    asked
        .iter()
        .map(|a| {
            if said.iter().any(|s| s == a) {
                3
            } else if said
                .iter()
                .any(|s| a.chars().nth(4).is_some() && s.chars().take(5).eq(a.chars().take(5)))
            {
                2
            } else if a.chars().count() >= 5 && said.iter().any(|s| distance(s, a) <= 1) {
                1
            } else {
                0
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_their_words() {
        assert_eq!(
            sentences("Cooler running warm. Payroll fix due before Friday! Schedule due today"),
            vec![
                "Cooler running warm.",
                "Payroll fix due before Friday!",
                "Schedule due today"
            ]
        );
    }

    #[test]
    fn the_sentence_that_shares_most_words_ranks_first() {
        let asked = words("payroll friday");
        assert!(
            relevance(&asked, "Payroll fix due before Friday.")
                > relevance(&asked, "Payroll is fine.")
        );
        assert_eq!(relevance(&asked, "Cooler running warm."), 0);
    }
}
