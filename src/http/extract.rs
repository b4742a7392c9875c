//! Extractors whose rejections are JSON errors, never axum's plain-text ones.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "body_too_large", "the request body is too large")
            } else {
                ApiError::bad_request("invalid_body", r.body_text())
            }
        })?;
        // PostgreSQL text cannot hold NUL, and no field of ours has a use for it: refuse it
        // here, once, for every JSON body, instead of letting the database fail with a 5xx.
        if has_nul_escape(&bytes) {
            return Err(ApiError::bad_request(
                "invalid_text",
                "text must not contain NUL (\\u0000) characters",
            ));
        }
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(v))
    }
}

/// `application/json` or any `+json` type, parameters ignored.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Whether a JSON text contains the escape `\u0000` (a NUL inside a string). Raw control
/// characters are already invalid JSON, so this escape is the only way a NUL arrives.
pub fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000".as_slice())
            {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is not one.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // As for JSON bodies: PostgreSQL text cannot hold NUL, so a filter carrying one is a
        // 400 here, never a database error later.
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request(
                "invalid_text",
                "query parameters must not contain NUL (%00) characters",
            ));
        }
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// A UUID in the path; anything else is a 400 that says so.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        parse_id(&raw, "session id").map(Self)
    }
}

/// Parses a UUID a client sent, naming the field in the error.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{what} {raw:?} is not a UUID")))
}

#[cfg(test)]
mod tests {
    use super::has_nul_escape;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"message": "a\u0000b"}"#));
        assert!(
            !has_nul_escape(br#"{"message": "a\\u0000b"}"#),
            "a backslash, then text"
        );
        assert!(has_nul_escape(br#"{"message": "a\\\u0000b"}"#));
        assert!(!has_nul_escape(br#"{"message": "caf\u00e9 \u0001"}"#));
        assert!(!has_nul_escape(b"{}"));
    }
}
