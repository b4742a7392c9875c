//! Accounts: first-account set-up, sign-in, browser sessions, personal API tokens, the trusted
//! single-sign-on header, and the admin's account management. Every other service takes the
//! signed-in `User` this one resolves.

mod limiter;
pub mod proxies;
pub mod secret;

use chrono::TimeDelta;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::config::{Clock, Config};
use crate::domain::{
    User, UserRole, check_password, normalize_display_name, normalize_username, parse_time_zone,
};
use crate::store::{
    ApiToken, NewApiToken, NewUser, NewWebSession, Store, StoreError, UserPatch, UserUsage,
};

/// The cookie that carries a browser session's token.
pub const SESSION_COOKIE: &str = "opschat_session";
/// Activity is written back at most this often per session or token.
const TOUCH_EVERY: TimeDelta = TimeDelta::seconds(60);
/// Cached sign-ins kept at most; beyond it the cache starts over.
const MAX_CACHED: usize = 10_000;
/// Live API tokens per account.
const MAX_TOKENS: usize = 100;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The same answer for an unknown user, a wrong password and a disabled account.
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AuthError::NotFound,
            other => AuthError::Store(other),
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; holds the stored hash of its token.
    Cookie(String),
    /// A personal API token (`Authorization: Bearer`).
    Token(Uuid),
    /// The trusted single-sign-on header from an allowed proxy.
    TrustedHeader,
}

impl Credential {
    /// Whether a browser sends it on its own (a cookie, or a header its proxy adds): such
    /// requests must prove they come from our own pages before they change anything.
    pub fn is_ambient(&self) -> bool {
        !matches!(self, Credential::Token(_))
    }
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

/// What sign-up, the admin and the CLI give to create an account.
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub username: String,
    /// `None` for an admin's invitation: a temporary password is generated and shown once.
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub time_zone: Option<String>,
    pub role: Option<UserRole>,
}

/// An account with its usage figures, as the admin page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountSummary {
    #[serde(flatten)]
    pub user: User,
    pub usage: Option<UserUsage>,
}

/// The settings this service follows.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub session_ttl: TimeDelta,
    pub cache_ttl: Duration,
    pub secure_cookies: bool,
    /// Lower-case header name.
    pub trusted_header: Option<String>,
    pub trusted_proxies: Vec<proxies::IpRange>,
    /// `OPSCHAT_USER`: the account that inherits a pre-accounts database, if it exists.
    pub legacy_owner: Option<String>,
    /// Load the demo restaurant for the first account.
    pub demo: bool,
}

impl AuthSettings {
    pub fn from_config(cfg: &Config, demo: bool) -> anyhow::Result<Self> {
        let trusted_proxies = match cfg.trusted_proxies.as_deref() {
            Some(raw) => proxies::parse_list(raw)
                .map_err(|e| anyhow::anyhow!("OPSCHAT_TRUSTED_PROXIES: {e}"))?,
            None => Vec::new(),
        };
        let trusted_header = cfg
            .trusted_user_header
            .as_deref()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty());
        if let Some(h) = &trusted_header {
            axum::http::HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                anyhow::anyhow!("OPSCHAT_TRUSTED_USER_HEADER {h:?} is not a header name")
            })?;
            if trusted_proxies.is_empty() {
                anyhow::bail!(
                    "OPSCHAT_TRUSTED_USER_HEADER is set but OPSCHAT_TRUSTED_PROXIES is empty: \
                     name the proxy addresses allowed to send it"
                );
            }
        }
        Ok(Self {
            session_ttl: TimeDelta::days(i64::from(cfg.session_days.max(1))),
            cache_ttl: Duration::from_secs(cfg.auth_cache_secs),
            secure_cookies: cfg.secure_cookies,
            trusted_header,
            trusted_proxies,
            legacy_owner: cfg.user.as_deref().and_then(|u| normalize_username(u).ok()),
            demo,
        })
    }
}

struct Cached {
    principal: Principal,
    at: Instant,
}

/// The accounts service.
pub struct Accounts {
    store: Arc<dyn Store>,
    clock: Clock,
    settings: AuthSettings,
    /// Recent sign-in lookups by credential, so a request does not cost a database round trip.
    cache: Mutex<HashMap<String, Cached>>,
    limiter: limiter::Limiter,
    /// Once true it stays true: accounts are disabled, never deleted.
    set_up: AtomicBool,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, clock: Clock, settings: AuthSettings) -> Self {
        Self {
            store,
            clock,
            settings,
            cache: Mutex::new(HashMap::new()),
            limiter: limiter::Limiter::default(),
            set_up: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// At start-up: hands rows left from the single-user versions to their account, when
    /// accounts exist already (an older instance may have written some during an upgrade).
    pub async fn claim_legacy_rows(&self) -> Result<(), AuthError> {
        let users = self.store.users().await?;
        let Some(heir) = self.heir(&users) else {
            return Ok(());
        };
        let moved = self.store.claim_legacy_rows(&heir.owner_key()).await?;
        if moved > 0 {
            tracing::info!(rows = moved, user = %heir.username, "rows from before accounts now belong to this account");
        }
        Ok(())
    }

    /// Who inherits rows from before accounts: the account `OPSCHAT_USER` names, else the first.
    fn heir<'a>(&self, users: &'a [User]) -> Option<&'a User> {
        self.settings
            .legacy_owner
            .as_deref()
            .and_then(|name| users.iter().find(|u| u.username == name))
            .or_else(|| users.first())
    }

    /// Whether no account exists yet (the page then offers to create the first admin).
    pub async fn setup_required(&self) -> Result<bool, AuthError> {
        if self.set_up.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let none = self.store.user_count().await? == 0;
        if !none {
            self.set_up.store(true, Ordering::Relaxed);
        }
        Ok(none)
    }

    /// Creates the first account, an admin, and signs it in. `Conflict` once any account exists.
    pub async fn setup(
        &self,
        input: AccountInput,
        user_agent: Option<&str>,
    ) -> Result<(User, String), AuthError> {
        if !self.setup_required().await? {
            return Err(AuthError::Conflict(
                "this opschat is already set up: sign in instead".into(),
            ));
        }
        if input.password.is_none() {
            return Err(AuthError::Invalid("password is required".into()));
        }
        let (user, _) = self
            .create(
                AccountInput {
                    role: Some(UserRole::Admin),
                    ..input
                },
                true,
            )
            .await?;
        let token = self.start_session(&user, user_agent).await?;
        Ok((user, token))
    }

    /// Creates an account (the admin page, the CLI). The first account of an instance is always
    /// an admin and inherits any rows from before accounts. Returns the generated temporary
    /// password when none was given.
    pub async fn create_account(
        &self,
        input: AccountInput,
    ) -> Result<(User, Option<String>), AuthError> {
        let first = self.setup_required().await?;
        let input = if first {
            AccountInput {
                role: Some(UserRole::Admin),
                ..input
            }
        } else {
            input
        };
        self.create(input, first).await
    }

    async fn create(
        &self,
        input: AccountInput,
        first: bool,
    ) -> Result<(User, Option<String>), AuthError> {
        let username = normalize_username(&input.username).map_err(AuthError::Invalid)?;
        let display_name = normalize_display_name(input.display_name.as_deref(), &username)
            .map_err(AuthError::Invalid)?;
        let time_zone = valid_time_zone(input.time_zone.as_deref())?;
        let (password, generated) = match input.password {
            Some(p) => {
                check_password(&p).map_err(AuthError::Invalid)?;
                (p, None)
            }
            None => {
                let p = secret::random_token().map_err(AuthError::Internal)?;
                let p: String = p.chars().take(20).collect();
                (p.clone(), Some(p))
            }
        };
        let hash = hash_blocking(password).await?;
        let new = NewUser {
            id: Uuid::now_v7(),
            username,
            display_name,
            password_hash: Some(hash),
            role: input.role.unwrap_or(UserRole::Manager),
            time_zone,
            created_at: self.clock.now(),
        };
        let user = self.insert_user(&new, first).await?;
        Ok((user, generated))
    }

    async fn insert_user(&self, new: &NewUser, first: bool) -> Result<User, AuthError> {
        let user = match self.store.create_user(new, first).await {
            Ok(u) => u,
            Err(StoreError::Conflict(_)) if first => {
                return Err(AuthError::Conflict(
                    "this opschat was set up by someone else a moment ago: sign in instead".into(),
                ));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(AuthError::Conflict(format!(
                    "the username {:?} is taken",
                    new.username
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.set_up.store(true, Ordering::Relaxed);
        tracing::info!(user = %user.username, role = %user.role, first, "account created");
        if first {
            self.load_demo_for(&user).await?;
        }
        Ok(user)
    }

    /// The demo restaurant, dated relative to the user's today, unless they have data already
    /// (an upgraded database's rows, just claimed).
    async fn load_demo_for(&self, user: &User) -> Result<(), AuthError> {
        let owner = user.owner_key();
        if !self.settings.demo || self.store.has_ops_data(&owner).await? {
            return Ok(());
        }
        let today = self
            .clock
            .local_in(self.clock.now(), user.tz())
            .date_naive();
        let summary = self
            .store
            .import(
                &owner,
                &crate::demo::batch(today),
                &crate::workspace::actor(user, "demo"),
                self.clock.now(),
                &|_| {},
            )
            .await?;
        tracing::info!(
            user = %user.username,
            tasks = summary.tasks.created,
            delegations = summary.delegations.created,
            "loaded the demo restaurant for the first account"
        );
        Ok(())
    }

    /// Signs in with a password; answers the same for an unknown user, a wrong password and a
    /// disabled account, and slows repeated failures per account and per client address.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: &str,
        user_agent: Option<&str>,
    ) -> Result<(User, String), AuthError> {
        let name = normalize_username(username).unwrap_or_else(|_| username.trim().to_lowercase());
        let now = Instant::now();
        if let Some(wait) = self.limiter.blocked(&name, address, now) {
            return Err(AuthError::Throttled(wait));
        }
        let found = self.store.user_by_username(&name).await?;
        let (user, hash) = match found {
            Some((u, Some(h))) if !u.disabled => (Some(u), h),
            // Verify against a dummy hash anyway: an unknown name takes as long as a known one.
            _ => (None, dummy_hash().to_string()),
        };
        let ok = verify_blocking(password.to_string(), hash).await?;
        match user {
            Some(user) if ok => {
                self.limiter.succeeded(&name);
                let token = self.start_session(&user, user_agent).await?;
                tracing::info!(user = %user.username, "signed in");
                Ok((user, token))
            }
            _ => {
                self.limiter.failed(&name, address, now);
                tracing::warn!(username = %name, %address, "failed sign-in");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    async fn start_session(
        &self,
        user: &User,
        user_agent: Option<&str>,
    ) -> Result<String, AuthError> {
        let token = secret::random_token().map_err(AuthError::Internal)?;
        let now = self.clock.real_now();
        self.store
            .create_web_session(&NewWebSession {
                hash: secret::token_hash(&token),
                user_id: user.id,
                created_at: now,
                expires_at: now + self.settings.session_ttl,
                user_agent: user_agent.map(|a| a.chars().take(300).collect()),
            })
            .await?;
        Ok(token)
    }

    /// Ends a browser session everywhere: the row goes, and this instance forgets it now.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        if let Credential::Cookie(hash) = &principal.credential {
            self.store.delete_web_session(hash).await?;
            self.forget(&cookie_key(hash));
        }
        Ok(())
    }

    /// The user behind a browser session cookie.
    pub async fn by_cookie(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let hash = secret::token_hash(token);
        let key = cookie_key(&hash);
        if let Some(p) = self.cached(&key) {
            return Ok(Some(p));
        }
        let now = self.clock.real_now();
        let Some((user, seen)) = self.store.web_session_user(&hash, now).await? else {
            return Ok(None);
        };
        if now - seen > TOUCH_EVERY {
            self.store
                .touch_web_session(&hash, now, now + self.settings.session_ttl)
                .await?;
        }
        let principal = Principal {
            user,
            credential: Credential::Cookie(hash),
        };
        self.remember(key, &principal);
        Ok(Some(principal))
    }

    /// The user behind a personal API token.
    pub async fn by_token(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let hash = secret::token_hash(token);
        let key = format!("t:{hash}");
        if let Some(p) = self.cached(&key) {
            return Ok(Some(p));
        }
        let Some((user, token_id, used)) = self.store.api_token_user(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.real_now();
        if used.is_none_or(|u| now - u > TOUCH_EVERY) {
            self.store.touch_api_token(token_id, now).await?;
        }
        let principal = Principal {
            user,
            credential: Credential::Token(token_id),
        };
        self.remember(key, &principal);
        Ok(Some(principal))
    }

    /// The user a trusted proxy names, created on first sight. `None` when the header is not
    /// configured, the peer is not a trusted proxy, or the account is disabled.
    pub async fn by_trusted_header(
        &self,
        value: &str,
        peer: Option<IpAddr>,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(peer) = peer else { return Ok(None) };
        if !self.trusts(peer) {
            return Ok(None);
        }
        let name = normalize_username(value).map_err(AuthError::Invalid)?;
        let key = format!("h:{name}");
        if let Some(p) = self.cached(&key) {
            return Ok(Some(p));
        }
        let user = match self.store.user_by_username(&name).await? {
            Some((u, _)) if u.disabled => return Ok(None),
            Some((u, _)) => u,
            None => {
                let first = self.setup_required().await?;
                let new = NewUser {
                    id: Uuid::now_v7(),
                    display_name: name.clone(),
                    username: name.clone(),
                    password_hash: None,
                    role: if first {
                        UserRole::Admin
                    } else {
                        UserRole::Manager
                    },
                    time_zone: None,
                    created_at: self.clock.now(),
                };
                match self.insert_user(&new, first).await {
                    Ok(u) => u,
                    // Two first requests at once: the other one created it.
                    Err(AuthError::Conflict(_)) => {
                        match self.store.user_by_username(&name).await? {
                            Some((u, _)) if !u.disabled => u,
                            _ => return Ok(None),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let principal = Principal {
            user,
            credential: Credential::TrustedHeader,
        };
        self.remember(key, &principal);
        Ok(Some(principal))
    }

    /// Whether the trusted header is configured and `peer` may send it.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.settings.trusted_header.is_some()
            && self
                .settings
                .trusted_proxies
                .iter()
                .any(|r| r.contains(peer))
    }

    fn cached(&self, key: &str) -> Option<Principal> {
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(key)?;
        (hit.at.elapsed() < self.settings.cache_ttl).then(|| hit.principal.clone())
    }

    fn remember(&self, key: String, principal: &Principal) {
        if self.settings.cache_ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                let ttl = self.settings.cache_ttl;
                cache.retain(|_, c| c.at.elapsed() < ttl);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(
                key,
                Cached {
                    principal: principal.clone(),
                    at: Instant::now(),
                },
            );
        }
    }

    fn forget(&self, key: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(key);
        }
    }

    /// Drops every cached sign-in of a user (disabled, role or password changed).
    fn forget_user(&self, user_id: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.user.id != user_id);
        }
    }

    /// Changes one's own password after checking the current one; every other browser session
    /// of the account ends.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        address: &str,
    ) -> Result<(), AuthError> {
        let user = &principal.user;
        let now = Instant::now();
        if let Some(wait) = self.limiter.blocked(&user.username, address, now) {
            return Err(AuthError::Throttled(wait));
        }
        let hash = self
            .store
            .user_by_username(&user.username)
            .await?
            .and_then(|(_, h)| h);
        let ok = match hash {
            Some(h) => verify_blocking(current.to_string(), h).await?,
            None => {
                return Err(AuthError::Forbidden(
                    "this account signs in through single sign-on and has no password".into(),
                ));
            }
        };
        if !ok {
            self.limiter.failed(&user.username, address, now);
            return Err(AuthError::Invalid("the current password is wrong".into()));
        }
        check_password(new).map_err(AuthError::Invalid)?;
        let hash = hash_blocking(new.to_string()).await?;
        let keep = match &principal.credential {
            Credential::Cookie(h) => Some(h.as_str()),
            _ => None,
        };
        self.store
            .set_password(user.id, &hash, keep, self.clock.now())
            .await?;
        self.forget_user(user.id);
        tracing::info!(user = %user.username, "password changed; other sessions ended");
        Ok(())
    }

    /// Changes one's own display name and time zone (`Some("")` clears the time zone).
    pub async fn update_profile(
        &self,
        principal: &Principal,
        display_name: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<User, AuthError> {
        let display_name = match display_name {
            Some(d) => Some(
                normalize_display_name(Some(d), &principal.user.username)
                    .map_err(AuthError::Invalid)?,
            ),
            None => None,
        };
        let time_zone = match time_zone {
            Some(z) => Some(valid_time_zone(Some(z))?),
            None => None,
        };
        let user = self
            .store
            .update_user(
                principal.user.id,
                &UserPatch {
                    display_name,
                    time_zone,
                    ..UserPatch::default()
                },
                false,
                self.clock.now(),
            )
            .await?;
        self.forget_user(user.id);
        Ok(user)
    }

    /// Creates a personal API token; the secret is returned once and stored only hashed.
    pub async fn create_token(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<(ApiToken, String), AuthError> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "token name must be 1 to 100 characters".into(),
            ));
        }
        if self.store.api_tokens(principal.user.id).await?.len() >= MAX_TOKENS {
            return Err(AuthError::Conflict(format!(
                "an account may hold at most {MAX_TOKENS} tokens: revoke one first"
            )));
        }
        let secret = format!(
            "{}{}",
            secret::TOKEN_PREFIX,
            secret::random_token().map_err(AuthError::Internal)?
        );
        let token = self
            .store
            .create_api_token(&NewApiToken {
                id: Uuid::now_v7(),
                user_id: principal.user.id,
                name,
                hash: secret::token_hash(&secret),
                prefix: secret.chars().take(10).collect(),
                created_at: self.clock.real_now(),
            })
            .await?;
        Ok((token, secret))
    }

    pub async fn tokens(&self, principal: &Principal) -> Result<Vec<ApiToken>, AuthError> {
        Ok(self.store.api_tokens(principal.user.id).await?)
    }

    /// Revokes one of the user's own tokens; another user's token id is `NotFound`.
    pub async fn revoke_token(&self, principal: &Principal, id: Uuid) -> Result<(), AuthError> {
        if !self
            .store
            .revoke_api_token(principal.user.id, id, self.clock.real_now())
            .await?
        {
            return Err(AuthError::NotFound);
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.principal.credential != Credential::Token(id));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ admin

    /// Every account with its usage figures (never content).
    pub async fn accounts(&self) -> Result<Vec<AccountSummary>, AuthError> {
        let (users, usage) = tokio::try_join!(self.store.users(), self.store.usage_by_user())?;
        let mut usage: HashMap<Uuid, UserUsage> =
            usage.into_iter().map(|u| (u.user_id, u)).collect();
        Ok(users
            .into_iter()
            .map(|user| AccountSummary {
                usage: usage.remove(&user.id),
                user,
            })
            .collect())
    }

    /// An admin changes an account: role, disabled, display name. The last enabled admin can
    /// be neither demoted nor disabled, and nobody disables themselves. Disabling ends the
    /// account's browser sessions at once; its tokens stop working (and work again if it is
    /// enabled again).
    pub async fn admin_update(
        &self,
        actor: Option<&Principal>,
        id: Uuid,
        role: Option<UserRole>,
        disabled: Option<bool>,
        display_name: Option<&str>,
    ) -> Result<User, AuthError> {
        let target = self.store.user(id).await?.ok_or(AuthError::NotFound)?;
        if disabled == Some(true) && actor.is_some_and(|a| a.user.id == target.id) {
            return Err(AuthError::Invalid(
                "you cannot disable your own account".into(),
            ));
        }
        let loses_admin = target.is_admin()
            && !target.disabled
            && (disabled == Some(true) || role.is_some_and(|r| r != UserRole::Admin));
        let display_name = match display_name {
            Some(d) => Some(
                normalize_display_name(Some(d), &target.username).map_err(AuthError::Invalid)?,
            ),
            None => None,
        };
        let user = match self
            .store
            .update_user(
                id,
                &UserPatch {
                    display_name,
                    role,
                    disabled,
                    time_zone: None,
                },
                loses_admin,
                self.clock.now(),
            )
            .await
        {
            Ok(u) => u,
            Err(StoreError::Conflict(_)) => {
                return Err(AuthError::Conflict(
                    "this is the last admin: make another account admin first".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if disabled == Some(true) {
            let ended = self.store.delete_web_sessions_of(id).await?;
            tracing::info!(user = %user.username, sessions_ended = ended, by = actor_name(actor), "account disabled");
        }
        self.forget_user(id);
        Ok(user)
    }

    /// An admin sets a new password for an account; its browser sessions end.
    pub async fn admin_reset_password(
        &self,
        actor: Option<&Principal>,
        id: Uuid,
        password: Option<&str>,
    ) -> Result<Option<String>, AuthError> {
        let target = self.store.user(id).await?.ok_or(AuthError::NotFound)?;
        let (password, generated) = match password {
            Some(p) => {
                check_password(p).map_err(AuthError::Invalid)?;
                (p.to_string(), None)
            }
            None => {
                let p: String = secret::random_token()
                    .map_err(AuthError::Internal)?
                    .chars()
                    .take(20)
                    .collect();
                (p.clone(), Some(p))
            }
        };
        let hash = hash_blocking(password).await?;
        self.store
            .set_password(id, &hash, None, self.clock.now())
            .await?;
        self.forget_user(id);
        tracing::info!(user = %target.username, by = actor_name(actor), "password reset");
        Ok(generated)
    }

    /// The account the CLI acts as: `name`, or the only admin.
    pub async fn cli_user(&self, name: Option<&str>) -> Result<User, AuthError> {
        let users = self.store.users().await?;
        if users.is_empty() {
            return Err(AuthError::Invalid(
                "no account exists yet: create one with `opschat user add NAME --admin` \
                 or open the web page"
                    .into(),
            ));
        }
        match name {
            Some(raw) => {
                let name = normalize_username(raw).map_err(AuthError::Invalid)?;
                let user = users
                    .into_iter()
                    .find(|u| u.username == name)
                    .ok_or_else(|| AuthError::Invalid(format!("no account named {name:?}")))?;
                if user.disabled {
                    return Err(AuthError::Forbidden(format!(
                        "the account {name:?} is disabled"
                    )));
                }
                Ok(user)
            }
            None => {
                let admins: Vec<User> = users
                    .into_iter()
                    .filter(|u| u.is_admin() && !u.disabled)
                    .collect();
                match <[User; 1]>::try_from(admins) {
                    Ok([only]) => Ok(only),
                    Err(admins) => Err(AuthError::Invalid(format!(
                        "{} admins exist: say which account to act as with --user NAME",
                        admins.len()
                    ))),
                }
            }
        }
    }

    /// The account by name, for the CLI's account commands.
    pub async fn user_named(&self, raw: &str) -> Result<User, AuthError> {
        let name = normalize_username(raw).map_err(AuthError::Invalid)?;
        self.store
            .user_by_username(&name)
            .await?
            .map(|(u, _)| u)
            .ok_or_else(|| AuthError::Invalid(format!("no account named {name:?}")))
    }

    /// The expiry a new browser session cookie carries.
    pub fn session_max_age(&self) -> i64 {
        self.settings.session_ttl.num_seconds()
    }
}

/// Who did an admin action, for the log: an admin, or the command line.
fn actor_name(actor: Option<&Principal>) -> &str {
    actor.map_or("the command line", |a| a.user.username.as_str())
}

fn cookie_key(hash: &str) -> String {
    format!("c:{hash}")
}

/// `None`/empty clears; anything else must be an IANA name.
fn valid_time_zone(raw: Option<&str>) -> Result<Option<String>, AuthError> {
    match raw.map(str::trim).filter(|z| !z.is_empty()) {
        None => Ok(None),
        Some(z) => parse_time_zone(z)
            .map(|tz| Some(tz.name().to_string()))
            .map_err(AuthError::Invalid),
    }
}

/// A hash nobody's password matches, verified when the account does not exist so that the
/// answer takes as long as for a real one.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // Only fails without an OS random source, when nothing else works either.
        secret::hash_password("opschat: no such account").unwrap_or_default()
    })
}

async fn hash_blocking(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("password hashing task: {e}")))?
        .map_err(AuthError::Internal)
}

async fn verify_blocking(password: String, hash: String) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || secret::verify_password(&password, &hash))
        .await
        .map_err(|e| AuthError::Internal(anyhow::anyhow!("password check task: {e}")))
}
