//! HTTP: routing, extractors, JSON errors. Handlers are thin: parse, call a service, shape.
//!
//! Every route is declared once in `table()` with who may use it; the router is built from that
//! table, and `routes()` exposes it so that tests walk every route (a route added later is
//! covered by the isolation and authentication tests without anyone remembering to add it).

mod accounts;
mod analytics;
pub mod auth;
mod chat;
pub mod error;
mod extract;
mod openai;
pub mod openapi;
mod ops;
pub mod workspace;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

use crate::accounts::Accounts;
use crate::chat::ChatService;
use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub chat: Arc<ChatService>,
    pub accounts: Arc<Accounts>,
    pub workspace: Arc<crate::workspace::WorkspaceService>,
    /// What `/metrics` asks for on the main address; `None`: not served there.
    pub metrics_token: Option<Arc<str>>,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-in, first-account set-up, health, static assets.
    Public,
    /// A signed-in user, on their own data only.
    User,
    /// A signed-in admin.
    Admin,
}

/// One route of the table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// The largest chat request body: a 32 KiB message plus a generous client context.
const CHAT_BODY_LIMIT: usize = 1024 * 1024;
/// An OpenAI-compatible request carries the whole conversation.
const COMPLETION_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The largest import document accepted over HTTP.
const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// The largest body of the small account requests.
const SMALL_BODY_LIMIT: usize = 16 * 1024;
/// The largest workspace body: a pasted digest of 100,000 characters.
const WORKSPACE_BODY_LIMIT: usize = 512 * 1024;

fn table() -> Vec<(Method, &'static str, Access, MethodRouter<AppState>)> {
    use Access::*;
    let small = || DefaultBodyLimit::max(SMALL_BODY_LIMIT);
    let ws = || DefaultBodyLimit::max(WORKSPACE_BODY_LIMIT);
    let mut t = vec![
        // Chat.
        (
            Method::POST,
            "/api/operations-chat",
            User,
            post(chat::turn).layer(DefaultBodyLimit::max(CHAT_BODY_LIMIT)),
        ),
        (
            Method::GET,
            "/api/operations-chat/sessions",
            User,
            get(chat::sessions),
        ),
        (
            Method::GET,
            "/api/operations-chat/sessions/{id}",
            User,
            get(chat::session),
        ),
        (
            Method::PATCH,
            "/api/operations-chat/sessions/{id}",
            User,
            patch(chat::update_session).layer(small()),
        ),
        (
            Method::POST,
            "/api/operations-chat/sessions/{id}/retry",
            User,
            post(chat::retry).layer(small()),
        ),
        (
            Method::POST,
            "/api/operations-chat/sessions/{id}/stop",
            User,
            post(chat::stop).layer(small()),
        ),
        (
            Method::GET,
            "/api/operations-chat/history/{id}",
            User,
            get(chat::history),
        ),
        (
            Method::GET,
            "/api/operations-chat/actions/{id}",
            User,
            get(chat::action),
        ),
        (
            Method::POST,
            "/api/operations-chat/actions/{id}/confirm",
            User,
            post(chat::confirm_action),
        ),
        (
            Method::POST,
            "/api/operations-chat/actions/{id}/cancel",
            User,
            post(chat::cancel_action),
        ),
        (
            Method::POST,
            "/api/operations-chat/actions/{id}/undo",
            User,
            post(chat::undo_action),
        ),
        (
            Method::GET,
            "/api/operations-chat/sessions/{id}/export",
            User,
            get(chat::export_session),
        ),
        (
            Method::GET,
            "/api/operations-chat/export",
            User,
            get(chat::export_all),
        ),
        (
            Method::GET,
            "/api/operations-chat/search",
            User,
            get(chat::search),
        ),
        (
            Method::GET,
            "/api/operations-chat/suggestions",
            User,
            get(chat::suggestions),
        ),
        (
            Method::GET,
            "/api/operations-chat/models",
            User,
            get(chat::models),
        ),
        // Operations data.
        (
            Method::POST,
            "/api/operations/import",
            User,
            post(ops::import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        ),
        (Method::GET, "/api/operations/today", User, get(ops::today)),
        // The workspace.
        (Method::GET, "/api/tasks", User, get(workspace::list_tasks)),
        (
            Method::POST,
            "/api/tasks",
            User,
            post(workspace::create_task).layer(ws()),
        ),
        (
            Method::GET,
            "/api/tasks/{id}",
            User,
            get(workspace::get_task),
        ),
        (
            Method::PATCH,
            "/api/tasks/{id}",
            User,
            patch(workspace::update_task).layer(ws()),
        ),
        (
            Method::DELETE,
            "/api/tasks/{id}",
            User,
            delete(workspace::delete_task),
        ),
        (
            Method::POST,
            "/api/tasks/{id}/restore",
            User,
            post(workspace::restore_task),
        ),
        (
            Method::POST,
            "/api/tasks/{id}/delegate",
            User,
            post(workspace::delegate_task).layer(ws()),
        ),
        (
            Method::GET,
            "/api/tasks/{id}/activity",
            User,
            get(workspace::task_activity),
        ),
        (
            Method::GET,
            "/api/delegations",
            User,
            get(workspace::list_delegations),
        ),
        (
            Method::POST,
            "/api/delegations",
            User,
            post(workspace::create_delegation).layer(ws()),
        ),
        (
            Method::GET,
            "/api/delegations/{id}",
            User,
            get(workspace::get_delegation),
        ),
        (
            Method::PATCH,
            "/api/delegations/{id}",
            User,
            patch(workspace::update_delegation).layer(ws()),
        ),
        (
            Method::DELETE,
            "/api/delegations/{id}",
            User,
            delete(workspace::delete_delegation),
        ),
        (
            Method::POST,
            "/api/delegations/{id}/restore",
            User,
            post(workspace::restore_delegation),
        ),
        (
            Method::GET,
            "/api/delegations/{id}/notes",
            User,
            get(workspace::notes),
        ),
        (
            Method::POST,
            "/api/delegations/{id}/notes",
            User,
            post(workspace::add_note).layer(ws()),
        ),
        (
            Method::POST,
            "/api/delegations/{id}/follow-up",
            User,
            post(workspace::follow_up).layer(ws()),
        ),
        (
            Method::GET,
            "/api/delegations/{id}/activity",
            User,
            get(workspace::delegation_activity),
        ),
        (
            Method::GET,
            "/api/digests",
            User,
            get(workspace::list_digests),
        ),
        (
            Method::GET,
            "/api/digests/{date}",
            User,
            get(workspace::get_digest),
        ),
        (
            Method::PUT,
            "/api/digests/{date}",
            User,
            put(workspace::put_digest).layer(ws()),
        ),
        (
            Method::GET,
            "/api/digests/{date}/activity",
            User,
            get(workspace::digest_activity),
        ),
        (
            Method::GET,
            "/api/activity",
            User,
            get(workspace::recent_activity),
        ),
        // Accounts.
        (Method::GET, "/api/auth/state", Public, get(accounts::state)),
        (
            Method::POST,
            "/api/auth/setup",
            Public,
            post(accounts::setup).layer(small()),
        ),
        (
            Method::POST,
            "/api/auth/login",
            Public,
            post(accounts::login).layer(small()),
        ),
        (
            Method::POST,
            "/api/auth/logout",
            User,
            post(accounts::logout),
        ),
        (Method::GET, "/api/auth/me", User, get(accounts::me)),
        (
            Method::PATCH,
            "/api/auth/me",
            User,
            patch(accounts::update_me).layer(small()),
        ),
        (
            Method::POST,
            "/api/auth/password",
            User,
            post(accounts::change_password).layer(small()),
        ),
        (Method::GET, "/api/tokens", User, get(accounts::tokens)),
        (
            Method::POST,
            "/api/tokens",
            User,
            post(accounts::create_token).layer(small()),
        ),
        (
            Method::DELETE,
            "/api/tokens/{id}",
            User,
            delete(accounts::revoke_token),
        ),
        (Method::GET, "/api/admin/users", Admin, get(accounts::users)),
        (
            Method::POST,
            "/api/admin/users",
            Admin,
            post(accounts::create_user).layer(small()),
        ),
        (
            Method::PATCH,
            "/api/admin/users/{id}",
            Admin,
            patch(accounts::update_user).layer(small()),
        ),
        (
            Method::POST,
            "/api/admin/users/{id}/password",
            Admin,
            post(accounts::reset_password).layer(small()),
        ),
        // Analytics.
        (
            Method::GET,
            "/api/analytics/usage",
            User,
            get(analytics::usage),
        ),
        (
            Method::GET,
            "/api/analytics/latency",
            User,
            get(analytics::latency),
        ),
        (
            Method::GET,
            "/api/analytics/sessions",
            User,
            get(analytics::sessions),
        ),
        (
            Method::GET,
            "/api/analytics/patterns",
            User,
            get(analytics::patterns),
        ),
        (
            Method::GET,
            "/api/analytics/questions",
            User,
            get(analytics::questions),
        ),
        (
            Method::GET,
            "/api/analytics/context",
            User,
            get(analytics::context),
        ),
        (
            Method::GET,
            "/api/analytics/users",
            Admin,
            get(analytics::users),
        ),
        // OpenAI-compatible (`openai`): an API token's user, errors in OpenAI's shape.
        (Method::GET, "/v1/models", User, get(openai::models)),
        (
            Method::POST,
            "/v1/chat/completions",
            User,
            post(openai::completions).layer(DefaultBodyLimit::max(COMPLETION_BODY_LIMIT)),
        ),
        (
            Method::GET,
            "/api/openapi.json",
            User,
            get(openapi::openapi),
        ),
        (Method::GET, "/healthz", Public, get(ops::health)),
        // Its own bearer token (OPSCHAT_METRICS_TOKEN), not an account's.
        (Method::GET, "/metrics", Public, get(metrics_with_token)),
    ];
    t.extend(crate::web::routes());
    t
}

/// Every route with its method and who may call it.
pub fn routes() -> Vec<RouteSpec> {
    table()
        .into_iter()
        .map(|(method, path, access, _)| RouteSpec {
            method,
            path,
            access,
        })
        .collect()
}

/// The whole API and the pages.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, access, handler) in table() {
        let handler = match access {
            Access::Public => handler,
            Access::User => {
                handler.route_layer(from_fn_with_state(state.clone(), auth::require_user))
            }
            Access::Admin => handler
                .route_layer(from_fn(auth::require_admin))
                .route_layer(from_fn_with_state(state.clone(), auth::require_user)),
        };
        let handler = if path.starts_with("/v1/") {
            handler.layer(from_fn(openai::errors))
        } else {
            handler
        };
        router = router.route(path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(track))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(from_fn(request_id))
        .with_state(state)
}

/// The `x-request-id` of a request: the caller's (a proxy's) when it is a sane token, else a
/// new one. It is on the response and on every log line written while the request runs.
async fn request_id(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let value = axum::http::HeaderValue::from_str(&id)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("invalid"));
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// The span every log line of a request is written in: its id, method and path (never the
/// query, which may hold what someone searched for).
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// The metrics alone, for `OPSCHAT_METRICS_BIND`: that address is the protection.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics_with_token(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let Some(expected) = s.metrics_token.as_deref() else {
        return Err(ApiError::not_found(
            "metrics are not served here: set OPSCHAT_METRICS_TOKEN or OPSCHAT_METRICS_BIND",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compared as digests: the time taken says nothing about the token.
    use sha2::Digest as _;
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(expected.as_bytes()) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "/metrics needs Authorization: Bearer with OPSCHAT_METRICS_TOKEN",
        ));
    }
    Ok(metrics(State(s)).await)
}

/// The Prometheus text format.
async fn metrics(State(s): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (in_use, idle, max) = s.chat.store().pool_stats();
    crate::metrics::pool(in_use, idle, max);
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts and times each response by its route template.
async fn track(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    crate::metrics::http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
