//! `ApiError`: the one type that turns failures into HTTP responses.
//! Client mistakes become 4xx with `{"error", "field", "reason"}`; internal
//! failures are logged once and answered with an opaque 500/503.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ingest::FieldError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("body too large")]
    TooLarge { limit: usize },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("unsupported media type")]
    MediaType,
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Any other 4xx with a field and a reason (e.g. 404 for an unknown
    /// device id, 422 for a fix refused by the position filters).
    #[error("{status}: {field}: {reason}")]
    Refused {
        status: StatusCode,
        error: &'static str,
        field: String,
        reason: String,
        extra: serde_json::Value,
    },
}

impl ApiError {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Field(FieldError::new(field, reason))
    }
}

impl From<crate::ingest::SubmitError> for ApiError {
    fn from(e: crate::ingest::SubmitError) -> Self {
        match e {
            crate::ingest::SubmitError::Busy => {
                ApiError::Unavailable("the ingest queue is full; retry after a second")
            }
            crate::ingest::SubmitError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::MediaType,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge { limit: 0 }
            }
            other => ApiError::field("body", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::field("query", r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Field(e) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "field": e.field, "reason": e.reason}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "field": "path", "reason": what}),
            ),
            ApiError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "payload_too_large", "field": "body",
                       "reason": if *limit > 0 { format!("request body exceeds {limit} bytes") } else { "request body is too large".to_string() }}),
            ),
            ApiError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                json!({"error": "forbidden", "field": "origin", "reason": why}),
            ),
            ApiError::MediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({"error": "unsupported_media_type", "field": "content-type",
                       "reason": "expected `Content-Type: application/json`"}),
            ),
            ApiError::Unavailable(why) => {
                tracing::warn!(reason = why, "answering 503");
                let body = json!({"error": "unavailable", "reason": why});
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Refused {
                status,
                error,
                field,
                reason,
                extra,
            } => {
                let mut body = json!({"error": error, "field": field, "reason": reason});
                if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
                    for (k, v) in x {
                        b.insert(k.clone(), v.clone());
                    }
                }
                (*status, body)
            }
            ApiError::Store(StoreError::Conflict { field, reason }) => (
                StatusCode::CONFLICT,
                json!({"error": "conflict", "field": field, "reason": reason}),
            ),
            ApiError::Store(StoreError::Missing(what)) => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "field": "path", "reason": what}),
            ),
            ApiError::Store(e) if e.is_transient() => {
                tracing::warn!(error = %e, "transient store error; answering 503");
                let body = json!({"error": "unavailable", "reason": "database busy or unreachable; retry shortly"});
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "1")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal", "reason": "internal error; see server log"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
