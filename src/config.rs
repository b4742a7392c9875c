//! Settings from flags, the environment and `.env`, with the original feature's variable names.

use anyhow::{Context as _, bail};
use chrono::{DateTime, FixedOffset, Utc};
use clap::Args;
use std::time::Duration;

/// The model name of the built-in offline analyst.
pub const LOCAL_MODEL: &str = "opschat-local";

/// Everything the server and the CLI need to know.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database: `postgres://user@host/db`, or `sqlite:path` / a file path for embedded SQLite.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite:opschat.db",
        global = true
    )]
    pub database_url: String,

    /// Connections in the database pool [default: 16 on PostgreSQL; on SQLite twice the CPU
    /// cores, 4 to 16].
    #[arg(long, env = "OPSCHAT_DB_POOL", global = true)]
    pub db_pool: Option<u32>,

    /// Key for an OpenAI-compatible Chat Completions API; without it the offline analyst answers.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true, global = true)]
    pub openai_api_key: Option<String>,

    /// Base URL of the OpenAI-compatible API (Ollama, vLLM, llama.cpp servers work too).
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1",
        global = true
    )]
    pub openai_base_url: String,

    /// Model used when a request does not name one and an API key is set.
    #[arg(long, env = "OPENAI_MODEL", default_value = "gpt-4o", global = true)]
    pub openai_model: String,

    /// Sent as the `OpenAI-Project` header.
    #[arg(long, env = "OPENAI_PROJECT_ID", global = true)]
    pub openai_project_id: Option<String>,

    /// Sent as the `OpenAI-Organization` header.
    #[arg(long, env = "OPENAI_ORG_ID", global = true)]
    pub openai_org_id: Option<String>,

    /// Seconds one model call may take, per attempt.
    #[arg(long, env = "OPENAI_TIMEOUT_SECS", default_value_t = 60, global = true)]
    pub openai_timeout_secs: u64,

    /// Retries after a 429, a 5xx or a connection failure, with exponential backoff.
    #[arg(long, env = "OPENAI_MAX_RETRIES", default_value_t = 2, global = true)]
    pub openai_max_retries: u32,

    /// Fixes "now" (RFC 3339) for reproducible answers and tests.
    #[arg(long, env = "OPSCHAT_NOW", global = true)]
    pub now: Option<String>,

    /// The manager's UTC offset (e.g. `-05:00`); defaults to this machine's local time zone.
    #[arg(long, env = "OPSCHAT_UTC_OFFSET", global = true)]
    pub utc_offset: Option<String>,

    /// The account the CLI acts as (default: the only admin). When a database from before
    /// accounts is upgraded, the account of this name, if it exists, inherits its rows.
    #[arg(long, env = "OPSCHAT_USER", global = true)]
    pub user: Option<String>,

    /// Mark the sign-in cookie `Secure` even when the request did not arrive over HTTPS (set it
    /// behind a TLS-terminating proxy that does not send `X-Forwarded-Proto`).
    #[arg(long, env = "OPSCHAT_SECURE_COOKIES", global = true)]
    pub secure_cookies: bool,

    /// A TOML file of model prices (USD per million tokens) that replaces or extends the
    /// built-in list; see `pricing`.
    #[arg(long, env = "OPSCHAT_PRICES", global = true)]
    pub prices: Option<std::path::PathBuf>,

    /// A header set by a single-sign-on proxy that names the signed-in user (for example
    /// `X-Forwarded-Email`); honoured only from `OPSCHAT_TRUSTED_PROXIES`.
    #[arg(long, env = "OPSCHAT_TRUSTED_USER_HEADER", global = true)]
    pub trusted_user_header: Option<String>,

    /// Comma-separated addresses or CIDR ranges of the proxies allowed to send the trusted
    /// user header (for example `127.0.0.1,10.0.0.0/8`).
    #[arg(long, env = "OPSCHAT_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Days a browser session lasts without activity.
    #[arg(
        long,
        env = "OPSCHAT_SESSION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub session_days: u32,

    /// Seconds a sign-in lookup is cached in process: a revoked token, a signed-out session or
    /// a disabled account stops working on other instances within this time.
    #[arg(
        long,
        env = "OPSCHAT_AUTH_CACHE_SECS",
        default_value_t = 5,
        global = true
    )]
    pub auth_cache_secs: u64,

    /// A streaming reply whose heartbeat is older than this many seconds belongs to an instance
    /// that died: it is marked interrupted at start and by a sweep every minute.
    #[arg(
        long,
        env = "OPSCHAT_STREAM_STALE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub stream_stale_secs: u64,

    /// Token budget for the conversation history sent to the model with each question.
    #[arg(
        long,
        env = "OPSCHAT_HISTORY_TOKENS",
        default_value_t = 4000,
        global = true
    )]
    pub history_tokens: u32,

    /// Bearer token `/metrics` asks for on the main address. Without it `/metrics` is not
    /// served there (use `OPSCHAT_METRICS_BIND`).
    #[arg(
        long,
        env = "OPSCHAT_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,

    /// A second address that serves only `/metrics`, without a token (e.g. 127.0.0.1:9464 on
    /// an interface only the monitoring can reach).
    #[arg(long, env = "OPSCHAT_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
}

impl Config {
    /// A configuration with every default, on the given database.
    pub fn with_database(url: impl Into<String>) -> Self {
        Self {
            database_url: url.into(),
            db_pool: None,
            openai_api_key: None,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_model: "gpt-4o".into(),
            openai_project_id: None,
            openai_org_id: None,
            openai_timeout_secs: 60,
            openai_max_retries: 2,
            now: None,
            utc_offset: None,
            user: None,
            secure_cookies: false,
            prices: None,
            trusted_user_header: None,
            trusted_proxies: None,
            session_days: 30,
            auth_cache_secs: 5,
            history_tokens: 4000,
            metrics_token: None,
            metrics_bind: None,
            stream_stale_secs: 30,
        }
    }

    /// The per-attempt model timeout.
    pub fn openai_timeout(&self) -> Duration {
        Duration::from_secs(self.openai_timeout_secs.max(1))
    }

    /// The clock these settings describe.
    pub fn clock(&self) -> anyhow::Result<Clock> {
        let fixed = match self.now.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s.trim())
                    .with_context(|| format!("OPSCHAT_NOW {s:?} is not an RFC 3339 timestamp"))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        let offset = match self.utc_offset.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(parse_offset(s)?),
            None => None,
        };
        Ok(Clock { fixed, offset })
    }
}

fn parse_offset(s: &str) -> anyhow::Result<FixedOffset> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
        return FixedOffset::east_opt(0).context("zero offset");
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => bail!("OPSCHAT_UTC_OFFSET {s:?} must look like +02:00 or -05:30"),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (
        h.parse()
            .with_context(|| format!("hours in OPSCHAT_UTC_OFFSET {s:?}"))?,
        m.parse()
            .with_context(|| format!("minutes in OPSCHAT_UTC_OFFSET {s:?}"))?,
    );
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        .with_context(|| format!("OPSCHAT_UTC_OFFSET {s:?} is out of range"))
}

/// The one source of time in the app: fixed by `OPSCHAT_NOW`, or the system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    fixed: Option<DateTime<Utc>>,
    offset: Option<FixedOffset>,
}

impl Clock {
    /// A clock stopped at `now`, in the given offset.
    pub fn fixed(now: DateTime<Utc>, offset: FixedOffset) -> Self {
        Self {
            fixed: Some(now),
            offset: Some(offset),
        }
    }

    /// Now, in UTC, to the microsecond (what both databases store).
    pub fn now(&self) -> DateTime<Utc> {
        let now = self.fixed.unwrap_or_else(Utc::now);
        chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1))
            .unwrap_or(now)
    }

    /// The wall clock, whatever `OPSCHAT_NOW` says: for sign-in sessions and tokens, which are
    /// about processes and people's browsers, not the manager's day.
    pub fn real_now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1))
            .unwrap_or(now)
    }

    /// A UTC instant in a user's IANA time zone (daylight saving included), or in the
    /// instance default when they set none.
    pub fn local_in(&self, at: DateTime<Utc>, tz: Option<chrono_tz::Tz>) -> DateTime<FixedOffset> {
        match tz {
            Some(tz) => at.with_timezone(&tz).fixed_offset(),
            None => self.local(at),
        }
    }

    /// A UTC instant in the instance's default time zone (`OPSCHAT_UTC_OFFSET` or the machine's).
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        let offset = self.offset.unwrap_or_else(|| {
            use chrono::{Offset, TimeZone};
            chrono::Local
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
        });
        at.with_timezone(&offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("-05:00").unwrap().local_minus_utc(), -5 * 3600);
        assert!(parse_offset("+0530").is_err());
        assert_eq!(
            parse_offset("+05:30").unwrap().local_minus_utc(),
            5 * 3600 + 1800
        );
        assert_eq!(parse_offset("UTC").unwrap().local_minus_utc(), 0);
    }

    #[test]
    fn fixed_now_comes_from_the_setting() {
        let mut c = Config::with_database("sqlite::memory:");
        c.now = Some("2026-11-24T09:30:00-05:00".into());
        c.utc_offset = Some("-05:00".into());
        let clock = c.clock().unwrap();
        assert_eq!(clock.now().to_rfc3339(), "2026-11-24T14:30:00+00:00");
        assert_eq!(
            clock.local(clock.now()).format("%H:%M").to_string(),
            "09:30"
        );
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            clock
                .local_in(clock.now(), Some(ny))
                .format("%H:%M %z")
                .to_string(),
            "09:30 -0500"
        );
        let summer = Clock::fixed(
            "2026-07-01T14:30:00Z".parse().unwrap(),
            FixedOffset::east_opt(0).unwrap(),
        );
        assert_eq!(
            summer
                .local_in(summer.now(), Some(ny))
                .format("%H:%M %z")
                .to_string(),
            "10:30 -0400",
            "daylight saving time is the zone's, not a fixed offset"
        );
        c.now = Some("yesterday".into());
        assert!(c.clock().is_err());
    }
}
