//! Accounts: who may sign in, with which role, in which time zone.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

word_enum!(
    /// What an account may do. Admins manage accounts and see instance-wide usage figures;
    /// nobody reads another person's conversations or operations data.
    UserRole, "role", { Admin => "admin", Manager => "manager" }
);

/// The shortest password accepted (NIST SP 800-63B: at least 8).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted: argon2 takes any length, this only bounds the work.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// An account as stored (never with its password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: UserRole,
    /// IANA name (`America/New_York`); `None` uses the instance default.
    pub time_zone: Option<String>,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The value the owner columns (`chat_sessions.user_id`, `tasks.user_id`, …) hold.
    pub fn owner_key(&self) -> String {
        self.id.to_string()
    }

    /// The account's time zone, when it names a valid one.
    pub fn tz(&self) -> Option<chrono_tz::Tz> {
        self.time_zone.as_deref().and_then(|z| z.parse().ok())
    }

    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }
}

/// A sign-in name: trimmed, lower case, 1–64 characters of letters, digits and `._@+-`
/// (so an e-mail address from a single-sign-on proxy is one).
pub fn normalize_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err("username must not be empty".into());
    }
    if name.chars().count() > 64 {
        return Err("username must be at most 64 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-')))
    {
        return Err(format!(
            "username may use letters, digits and . _ @ + - only, not {bad:?}"
        ));
    }
    Ok(name)
}

/// Checks a new password's length; composition rules only make passwords worse.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// A display name: trimmed, whitespace folded, 1–100 characters; empty means the username.
pub fn normalize_display_name(raw: Option<&str>, username: &str) -> Result<String, String> {
    let folded = raw
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    if folded.chars().count() > 100 {
        return Err("display name must be at most 100 characters".into());
    }
    Ok(if folded.is_empty() {
        username.to_string()
    } else {
        folded
    })
}

/// Parses an IANA time zone name (`Europe/Paris`); `UTC` is one too.
pub fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, String> {
    raw.trim()
        .parse::<chrono_tz::Tz>()
        .map_err(|_| format!("{raw:?} is not an IANA time zone name like America/New_York"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(normalize_username("  Maria.Lopez ").unwrap(), "maria.lopez");
        assert_eq!(
            normalize_username("Chef@Example.com").unwrap(),
            "chef@example.com"
        );
        assert!(normalize_username("   ").is_err());
        assert!(normalize_username("robert'); drop").is_err());
        assert!(normalize_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_need_a_length() {
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse").is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            parse_time_zone("America/New_York").unwrap(),
            chrono_tz::America::New_York
        );
        assert!(parse_time_zone("-05:00").is_err());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
