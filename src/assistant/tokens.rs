//! Token counting with the gpt-4o tokenizer (o200k_base), for when a provider reports no usage.
//!
//! Only counts are needed, never token ids or decoding, so the 200,000 ranks are kept compactly:
//! every token's bytes in rank order and where each ends, written by `build.rs` from
//! `tiktoken-rs` and compiled into the binary (2.2 MiB, read-only and shared), with a 1 MiB
//! open-addressing table from bytes to rank that `build.rs` writes too (nothing is built at
//! start-up, and only the pages a lookup touches are read in; each slot carries a tag of its
//! token's hash, so a probe reads another token's bytes only when the tags agree). `tiktoken-rs`
//! itself holds three hash maps of owned byte vectors (about 30 MiB, which was half the idle
//! server) and is now only a build and test dependency. The pieces come from the same pattern and are merged by the same
//! rule (lowest rank first, leftmost of equals), so every count equals `tiktoken`'s (tested on a
//! corpus below).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::LazyLock;

/// Every token's bytes, in rank order.
static TOKEN_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k.bytes"));
/// Where token `r` ends in [`TOKEN_BYTES`]: a little-endian u32 at `4 * r`.
static TOKEN_ENDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k.ends"));
/// The regular expression that splits text into pieces before merging.
static PATTERN: &str = include_str!(concat!(env!("OUT_DIR"), "/o200k.pattern"));

/// Tokens in `text`.
pub fn count(text: &str) -> i32 {
    let n = PATTERN_HERE.with(|pattern| {
        let (Some(pattern), Some(t)) = (pattern, TOKENIZER.as_ref()) else {
            // Unreachable with the built-in pattern; a rough count beats failing a turn.
            return text.len().div_ceil(4);
        };
        pattern
            .find_iter(text)
            .map(|m| m.map_or(0, |m| t.ranks.pieces_in(m.as_str().as_bytes())))
            .sum()
    });
    i32::try_from(n).unwrap_or(i32::MAX)
}

thread_local! {
    /// Each thread matches with its own copy of the pattern, so that the server's threads do not
    /// take turns on one match cache (tiktoken clones its pattern for the same reason).
    static PATTERN_HERE: Option<fancy_regex::Regex> =
        TOKENIZER.as_ref().map(|t| t.pattern.clone());
}

/// Tokens a chat message costs beyond its text (OpenAI's documented per-message framing).
pub const PER_MESSAGE: i32 = 3;
/// Tokens that prime the reply.
pub const REPLY_PRIMING: i32 = 3;

/// Loads the tokenizer now, so the first request does not pay for it.
pub fn warm_up() {
    let _ = count("warm up");
}

static TOKENIZER: LazyLock<Option<Tokenizer>> =
    LazyLock::new(|| match fancy_regex::Regex::new(PATTERN) {
        Ok(pattern) => Some(Tokenizer {
            pattern,
            ranks: Ranks,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot compile the o200k pattern; counting roughly");
            None
        }
    });

struct Tokenizer {
    pattern: fancy_regex::Regex,
    ranks: Ranks,
}

/// The hash table from token bytes to rank, over the compiled-in tables: written by `build.rs`
/// (`token_table.rs`), read-only and shared like the tables themselves.
struct Ranks;

include!("token_table.rs");

/// The table's slots: little-endian u32s, `tag << RANK_BITS | (rank + 1)` or 0 for an empty
/// slot.
static SLOTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k.slots"));

impl Ranks {
    #[cfg(test)]
    fn len() -> usize {
        TOKEN_ENDS.len() / 4
    }

    fn end(rank: usize) -> usize {
        let at = 4 * rank;
        let mut le = [0u8; 4];
        le.copy_from_slice(&TOKEN_ENDS[at..at + 4]);
        u32::from_le_bytes(le) as usize
    }

    fn token(rank: usize) -> &'static [u8] {
        let start = if rank == 0 { 0 } else { Self::end(rank - 1) };
        &TOKEN_BYTES[start..Self::end(rank)]
    }

    fn slot(i: usize) -> u32 {
        let at = 4 * i;
        let mut le = [0u8; 4];
        le.copy_from_slice(&SLOTS[at..at + 4]);
        u32::from_le_bytes(le)
    }

    fn get(&self, piece: &[u8]) -> Option<u32> {
        let mask = (SLOTS.len() / 4).checked_sub(1)?;
        let hash = token_hash(piece);
        let tag = token_tag(hash);
        let mut i = hash as usize & mask;
        loop {
            let slot = Self::slot(i);
            if slot == 0 {
                return None;
            }
            if slot >> RANK_BITS == tag {
                let rank = (slot & RANK_MASK) - 1;
                if Self::token(rank as usize) == piece {
                    return Some(rank);
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn rank(&self, piece: &[u8]) -> u32 {
        self.get(piece).unwrap_or(u32::MAX)
    }

    /// How many tokens byte-pair encoding makes of one piece of the pattern's split.
    fn pieces_in(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 || self.get(piece).is_some() {
            return usize::from(!piece.is_empty());
        }
        if piece.len() < 100 {
            self.merge_small(piece)
        } else {
            self.merge_large(piece)
        }
    }

    /// The reference merge: repeatedly join the adjacent pair with the lowest rank (the leftmost
    /// of equals). O(pieces × merges), fastest for the short pieces words make.
    fn merge_small(&self, piece: &[u8]) -> usize {
        // (start, rank of the pair that starts here)
        let mut parts: Vec<(usize, u32)> = (0..piece.len() - 1)
            .map(|i| (i, self.rank(&piece[i..i + 2])))
            .collect();
        parts.push((piece.len() - 1, u32::MAX));
        parts.push((piece.len(), u32::MAX));
        let pair_rank = |parts: &[(usize, u32)], i: usize| {
            if i + 3 < parts.len() {
                self.rank(&piece[parts[i].0..parts[i + 3].0])
            } else {
                u32::MAX
            }
        };
        while let Some((i, _)) = parts[..parts.len() - 1]
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1 != u32::MAX)
            .min_by_key(|(i, p)| (p.1, *i))
        {
            if i > 0 {
                parts[i - 1].1 = pair_rank(&parts, i - 1);
            }
            parts[i].1 = pair_rank(&parts, i);
            parts.remove(i + 1);
        }
        parts.len() - 1
    }

    /// The same merges for long pieces (a pasted hash or URL): a heap of candidate pairs and a
    /// linked list of parts, O(n log n) instead of quadratic.
    fn merge_large(&self, piece: &[u8]) -> usize {
        let n = piece.len();
        // Part i starts at byte i; next[i]/prev[i] link the live parts; n is the end.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let pair = |start: usize, next: &[usize]| -> u32 {
            let second = next[start];
            if second >= n {
                return u32::MAX;
            }
            self.rank(&piece[start..next[second].min(n)])
        };
        for i in 0..n - 1 {
            let r = pair(i, &next);
            if r != u32::MAX {
                heap.push(Reverse((r, i)));
            }
        }
        let mut parts = n;
        while let Some(Reverse((r, start))) = heap.pop() {
            // Skip pairs made stale by an earlier merge.
            if !alive[start] || next[start] >= n || pair(start, &next) != r {
                continue;
            }
            let gone = next[start];
            alive[gone] = false;
            next[start] = next[gone];
            if next[start] < n {
                prev[next[start]] = start;
            }
            parts -= 1;
            let r = pair(start, &next);
            if r != u32::MAX {
                heap.push(Reverse((r, start)));
            }
            let before = prev[start];
            if before < n {
                let r = pair(before, &next);
                if r != u32::MAX {
                    heap.push(Reverse((r, before)));
                }
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    fn reference(text: &str) -> i32 {
        tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len() as i32
    }

    #[test]
    fn the_compiled_table_finds_every_token() {
        let built = super::token_slots(super::Ranks::len(), super::Ranks::token);
        let compiled: Vec<u32> = super::SLOTS
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(built, compiled);
        for rank in (0..super::Ranks::len()).step_by(97) {
            let token = super::Ranks::token(rank);
            assert_eq!(super::Ranks.get(token), Some(rank as u32), "{token:?}");
        }
        assert_eq!(super::Ranks.get(b"no such token, surely not one"), None);
    }

    #[test]
    fn counts_like_gpt_4o() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert!(count("What's most urgent today?") >= 5);
    }

    #[test]
    fn every_count_equals_tiktoken() {
        let mut corpus: Vec<String> = vec![
            include_str!("../../tests/fixtures/ops.json").to_string(),
            include_str!("../../tests/analyst/cases.txt").to_string(),
            include_str!("../../README.md").to_string(),
            "Résumé: naïve café — 12,345.67 € ¿qué? 日本語のテキスト 🙂👍🏽 \t\r\n  x".to_string(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                .to_string(),
            "https://example.com/a/very/long/path?with=query&and=more#fragment".repeat(5),
            "0123456789".repeat(40),
            "d41d8cd98f00b204e9800998ecf8427ed41d8cd98f00b204e9800998ecf8427e".repeat(3),
            "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ".repeat(4),
            "  \n\n\t  trailing spaces and\u{00a0}non-breaking\u{2003}ones   ".to_string(),
            // Single pieces of 100 bytes and more: the heap-based merge.
            "supercalifragilisticexpialidocious".repeat(10),
            "ßπжщéøñ".repeat(30),
            "thequickbrownfoxjumpsoverthelazydog".repeat(60),
        ];
        // Every line on its own too, so that short pieces and line ends are compared one by one.
        let lines: Vec<String> = corpus
            .iter()
            .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        corpus.extend(lines);
        // Deterministic jumbles: of many scripts and symbols (short pieces), and of lowercase
        // letters only (single pieces of 100 bytes and more).
        let mixed: Vec<char> = "abcXYZ019 _-'.,!?/\n\té漢字ßøπжщ🙂ａ".chars().collect();
        let lowercase: Vec<char> = "abcdefghijklmnopqrstuvwxyzéüßø".chars().collect();
        let mut seed: u64 = 7;
        let mut jumble = |from: &[char], len: usize| -> String {
            (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    from[(seed >> 33) as usize % from.len()]
                })
                .collect()
        };
        for len in [5usize, 40, 120, 400, 2000] {
            for _ in 0..20 {
                corpus.push(jumble(&mixed, len));
            }
        }
        for len in [100usize, 150, 700] {
            for _ in 0..10 {
                corpus.push(jumble(&lowercase, len));
            }
        }
        for text in &corpus {
            assert_eq!(count(text), reference(text), "{text:?}");
        }
    }
}

#[cfg(test)]
mod speed {
    /// `cargo test --release --lib tokens::speed -- --ignored --nocapture`: this counter against
    /// tiktoken-rs on the same texts.
    #[test]
    #[ignore]
    fn against_tiktoken() {
        let texts: Vec<&str> = include_str!("../../tests/analyst/cases.txt")
            .lines()
            .collect();
        let readme = include_str!("../../README.md");
        let t = std::time::Instant::now();
        let mut a = 0;
        for _ in 0..20 {
            a += texts.iter().map(|t| super::count(t)).sum::<i32>() + super::count(readme);
        }
        let ours = t.elapsed();
        let bpe = tiktoken_rs::o200k_base_singleton();
        let _ = bpe.encode_ordinary("warm");
        let t = std::time::Instant::now();
        let mut b = 0;
        for _ in 0..20 {
            b += texts
                .iter()
                .map(|t| bpe.encode_ordinary(t).len() as i32)
                .sum::<i32>()
                + bpe.encode_ordinary(readme).len() as i32;
        }
        let theirs = t.elapsed();
        assert_eq!(a, b);
        println!("ours {ours:?}, tiktoken {theirs:?} for {a} tokens");
    }
}
