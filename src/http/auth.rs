//! Who is asking: the middleware that resolves the signed-in user for every non-public route,
//! the `CurrentUser` extractor handlers take, the cookie, and the same-origin check.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, SocketAddr};

use super::AppState;
use super::error::ApiError;
use crate::accounts::{Principal, SESSION_COOKIE};

/// The signed-in user, put in the request by `require_user`.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(unauthenticated)
    }
}

/// The client's address: the peer, or what a trusted proxy says the client was.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(client_addr(s, parts)))
    }
}

fn peer(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// The peer address, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn client_addr(s: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = peer(&parts.extensions)?;
    let proxies = &s.accounts.settings().trusted_proxies;
    let trusted = |ip: IpAddr| proxies.iter().any(|r| r.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted(*ip))
            .unwrap_or(peer),
    )
}

pub fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "sign in first: send the session cookie or an `Authorization: Bearer` API token",
    )
}

fn is_page(path: &str) -> bool {
    (!path.starts_with("/api/") || path == "/api/docs")
        && !path.starts_with("/v1/")
        && path != "/healthz"
}

/// What an unauthenticated request gets: a page load goes to the sign-in page, an API call a
/// 401 with the JSON error.
fn reject(path: &str) -> Response {
    if is_page(path) {
        return Redirect::to("/login").into_response();
    }
    let mut r = unauthenticated().into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"opschat\""),
    );
    r
}

/// Requires a signed-in user: a bearer token, the trusted proxy header, or the session cookie.
/// Cookie-authenticated requests that change state must come from our own pages.
pub async fn require_user(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = peer(req.extensions());
    let principal = match resolve(&s, req.headers(), peer).await {
        Ok(Some(p)) => p,
        Ok(None) => return reject(req.uri().path()),
        Err(e) => return e.into_response(),
    };
    if principal.credential.is_ambient()
        && changes_state(req.method())
        && !same_origin(req.headers())
    {
        return cross_origin().into_response();
    }
    req.extensions_mut().insert(CurrentUser(principal));
    next.run(req).await
}

/// Requires an admin (after `require_user`).
pub async fn require_admin(req: Request, next: Next) -> Response {
    let admin = req
        .extensions()
        .get::<CurrentUser>()
        .is_some_and(|u| u.0.user.is_admin());
    if admin {
        return next.run(req).await;
    }
    if is_page(req.uri().path()) {
        return Redirect::to("/").into_response();
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only an admin may do this",
    )
    .into_response()
}

async fn resolve(
    s: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Option<Principal>, ApiError> {
    // A bearer token, when sent, decides alone: a bad one is a 401, not a fall-back to cookies.
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "the Authorization header must be `Bearer <API token>`",
                )
            })?;
        return match s.accounts.by_token(token).await? {
            Some(p) => Ok(Some(p)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this API token is unknown or revoked, or its account is disabled",
            )),
        };
    }
    if let Some(name) = &s.accounts.settings().trusted_header
        && let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
        && let Some(p) = s.accounts.by_trusted_header(value, peer).await?
    {
        return Ok(Some(p));
    }
    match session_cookie(headers) {
        Some(token) => Ok(s.accounts.by_cookie(token).await?),
        None => Ok(None),
    }
}

/// The session token from the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub fn cross_origin() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        "this request did not come from opschat's own pages",
    )
}

/// Whether the browser says the request comes from our own origin: `Sec-Fetch-Site`, else the
/// `Origin` header's host against `Host`. A cookie request with neither is refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin_matches_host(origin, headers),
        None => false,
    }
}

/// For sign-in and first-account set-up (no cookie yet): refuse only a foreign origin, so that
/// scripts and the CLI, which send none, still work.
pub fn not_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin_matches_host(origin, headers),
        None => true,
    }
}

fn origin_matches_host(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let authority = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    authority.eq_ignore_ascii_case(host.trim())
}

/// The `Set-Cookie` value that starts a browser session.
pub fn login_cookie(s: &AppState, headers: &HeaderMap, token: &str) -> HeaderValue {
    let secure = s.accounts.settings().secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        s.accounts.session_max_age(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that ends it in the browser.
pub fn logout_cookie() -> HeaderValue {
    HeaderValue::from_static("opschat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_is_what_the_browser_says() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8002"),
            ("host", "127.0.0.1:8002")
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "https://ops.example.com"),
            ("host", "ops.example.com")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "ops.example.com")
        ])));
        assert!(
            !same_origin(&headers(&[("host", "ops.example.com")])),
            "no proof, no write"
        );
        assert!(not_cross_site(&headers(&[("host", "ops.example.com")])));
        assert!(!not_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "ops.example.com")
        ])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "theme=dark; opschat_session=abc123; x=y")]);
        assert_eq!(session_cookie(&h), Some("abc123"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "opschat_session=")])),
            None
        );
        assert_eq!(session_cookie(&headers(&[("cookie", "other=1")])), None);
    }
}
