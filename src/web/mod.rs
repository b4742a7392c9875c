//! The web UI: a few small pages, one stylesheet and plain scripts, compiled into the binary.
//! They use the same JSON API as every other client.

use axum::http::{Method, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};

use crate::http::{Access, AppState};

/// Only our own script and styles run; assistant HTML is sanitised too, this is the backstop.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn page(body: &'static str) -> MethodRouter<AppState> {
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
            ],
            body,
        )
    })
}

fn asset(content_type: &'static str, body: &'static str) -> MethodRouter<AppState> {
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response()
    })
}

const JS: &str = "text/javascript; charset=utf-8";

/// The pages (signed in, except the sign-in page) and the static assets (public).
pub fn routes() -> Vec<(Method, &'static str, Access, MethodRouter<AppState>)> {
    vec![
        (
            Method::GET,
            "/",
            Access::User,
            page(include_str!("index.html")),
        ),
        (
            Method::GET,
            "/login",
            Access::Public,
            page(include_str!("login.html")),
        ),
        (
            Method::GET,
            "/account",
            Access::User,
            page(include_str!("account.html")),
        ),
        (
            Method::GET,
            "/admin",
            Access::Admin,
            page(include_str!("admin.html")),
        ),
        (
            Method::GET,
            "/analytics",
            Access::User,
            page(include_str!("analytics.html")),
        ),
        // The API reference, from /api/openapi.json (its own script: no third-party assets).
        (
            Method::GET,
            "/api/docs",
            Access::User,
            page(include_str!("docs.html")),
        ),
        (
            Method::GET,
            "/static/app.css",
            Access::Public,
            asset("text/css; charset=utf-8", include_str!("app.css")),
        ),
        (
            Method::GET,
            "/static/app.js",
            Access::Public,
            asset(JS, include_str!("app.js")),
        ),
        (
            Method::GET,
            "/static/common.js",
            Access::Public,
            asset(JS, include_str!("common.js")),
        ),
        (
            Method::GET,
            "/static/workspace.js",
            Access::Public,
            asset(JS, include_str!("workspace.js")),
        ),
        (
            Method::GET,
            "/static/login.js",
            Access::Public,
            asset(JS, include_str!("login.js")),
        ),
        (
            Method::GET,
            "/static/account.js",
            Access::Public,
            asset(JS, include_str!("account.js")),
        ),
        (
            Method::GET,
            "/static/analytics.js",
            Access::Public,
            asset(JS, include_str!("analytics.js")),
        ),
        (
            Method::GET,
            "/static/docs.js",
            Access::Public,
            asset(JS, include_str!("docs.js")),
        ),
        // uPlot 1.6.32 (MIT, vendor/uplot.LICENSE): the charts of the analytics page.
        (
            Method::GET,
            "/static/uplot.iife.min.js",
            Access::Public,
            asset(JS, include_str!("vendor/uplot.iife.min.js")),
        ),
        (
            Method::GET,
            "/static/uplot.min.css",
            Access::Public,
            asset(
                "text/css; charset=utf-8",
                include_str!("vendor/uplot.min.css"),
            ),
        ),
        (
            Method::GET,
            "/static/admin.js",
            Access::Public,
            asset(JS, include_str!("admin.js")),
        ),
    ]
}
