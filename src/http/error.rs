//! The API's one error type: every failure becomes a status and
//! `{"error": {"code", "message"}, "detail": message}` (`detail` is what the original
//! FastAPI-backed client reads).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::accounts::AuthError;
use crate::chat::ChatError;
use crate::store::StoreError;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the error object (ids a client needs to recover).
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A query parameter that cannot be used: 400 `invalid_query` naming it in `field`.
    pub fn invalid_query(field: &str, message: impl std::fmt::Display) -> Self {
        Self::bad_request("invalid_query", format!("{field}: {message}")).with("field", field)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        // The original FastAPI client reads `detail`: the same message, at the top level.
        let detail = self.message.clone();
        crate::metrics::error(self.code);
        error.insert("message".into(), self.message.into());
        let retry_after = (self.status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| self.details.get("retry_after").and_then(Value::as_u64))
            .flatten();
        error.extend(self.details);
        let mut response = (
            self.status,
            axum::Json(json!({ "error": error, "detail": detail })),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "a concurrent change conflicted with this request; try again",
            ),
            StoreError::Stale(current) => {
                let version = current.get("version").cloned().unwrap_or(Value::Null);
                ApiError::new(
                    StatusCode::CONFLICT,
                    "version_conflict",
                    format!(
                        "this item was changed elsewhere (it is now at version {version}); \
                         nothing was written: review the current item and try again"
                    ),
                )
                .with("current", current)
            }
            StoreError::Invalid { field, message } => {
                ApiError::bad_request("invalid_field", format!("{field}: {message}"))
                    .with("field", field)
            }
            StoreError::Refused(m) => ApiError::new(StatusCode::CONFLICT, "not_allowed", m),
            StoreError::Backend(err) => {
                tracing::error!(error = %format!("{err:#}"), "database error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database could not complete the request; try again shortly",
                )
            }
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Invalid(m) => ApiError::bad_request("invalid_request", m),
            ChatError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "message_too_large",
                e.to_string(),
            ),
            ChatError::SessionNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "Chat session not found",
            ),
            ChatError::UnknownModel(m) => ApiError::bad_request("unknown_model", m),
            ChatError::ModelFailed {
                session_id,
                user_message_id,
                error,
            } => {
                let code = if matches!(error, crate::assistant::ProviderError::Timeout(_)) {
                    "model_timeout"
                } else {
                    "model_failed"
                };
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    code,
                    format!("{error}. Your message was saved; you can retry."),
                )
                .with("session_id", session_id.to_string())
                .with("user_message_id", user_message_id.to_string())
            }
            ChatError::Store(s) => s.into(),
        }
    }
}

impl From<crate::chat::actions::ActionError> for ApiError {
    fn from(e: crate::chat::actions::ActionError) -> Self {
        use crate::chat::actions::ActionError;
        match e {
            ActionError::NotFound => ApiError::not_found("no such action"),
            ActionError::NotNow(m) => ApiError::new(StatusCode::CONFLICT, "not_allowed", m),
            ActionError::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            AuthError::Throttled(wait) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                e.to_string(),
            )
            .with("retry_after", wait.as_secs().max(1)),
            AuthError::Invalid(m) => ApiError::bad_request("invalid_request", m),
            AuthError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            AuthError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            AuthError::NotFound => ApiError::not_found("not found"),
            AuthError::Store(s) => s.into(),
            AuthError::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "account operation failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the request could not be completed; try again shortly",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => {
                ApiError::bad_request("invalid_request", e.body_text())
            }
            JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(status, "body_too_large", "the request body is too large")
            }
            other => ApiError::new(
                if status.is_client_error() {
                    status
                } else {
                    StatusCode::BAD_REQUEST
                },
                "invalid_body",
                other.body_text(),
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}
