//! HTTP: routing, extractors, JSON errors. Handlers are thin: parse, call a service, shape.

mod chat;
pub mod error;
mod extract;
mod ops;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

use crate::chat::ChatService;
use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub chat: Arc<ChatService>,
}

/// The largest chat request body: a 32 KiB message plus a generous client context.
const CHAT_BODY_LIMIT: usize = 1024 * 1024;
/// The largest import document accepted over HTTP.
const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/operations-chat",
            post(chat::turn).layer(DefaultBodyLimit::max(CHAT_BODY_LIMIT)),
        )
        .route("/api/operations-chat/sessions", get(chat::sessions))
        .route(
            "/api/operations-chat/sessions/{id}",
            get(chat::session).patch(chat::update_session),
        )
        .route(
            "/api/operations-chat/sessions/{id}/retry",
            post(chat::retry),
        )
        .route("/api/operations-chat/sessions/{id}/stop", post(chat::stop))
        .route("/api/operations-chat/history/{id}", get(chat::history))
        .route("/api/operations-chat/suggestions", get(chat::suggestions))
        .route("/api/operations-chat/models", get(chat::models))
        .route(
            "/api/operations/import",
            post(ops::import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route("/api/operations/today", get(ops::today))
        .route("/healthz", get(ops::health));
    api.merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
