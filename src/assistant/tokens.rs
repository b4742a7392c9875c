//! Token counting with the gpt-4o tokenizer (o200k_base), for when a provider reports no usage.

/// Tokens in `text`.
pub fn count(text: &str) -> i32 {
    let n = tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Tokens a chat message costs beyond its text (OpenAI's documented per-message framing).
pub const PER_MESSAGE: i32 = 3;
/// Tokens that prime the reply.
pub const REPLY_PRIMING: i32 = 3;

/// Loads the tokenizer now, so the first request does not pay for it.
pub fn warm_up() {
    let _ = count("warm up");
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_like_gpt_4o() {
        assert_eq!(super::count(""), 0);
        assert_eq!(super::count("hello world"), 2);
        assert!(super::count("What's most urgent today?") >= 5);
    }
}
