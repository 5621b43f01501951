//! One error type for the whole API: JSON `{"error": {"code", "message"}}`
//! with the right status. Codes are stable; messages are for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable: bad_request, forbidden, not_found, method_not_allowed,
    /// timeout, conflict, uri_too_long, unsupported_media_type,
    /// misdirected_request, headers_too_large, unavailable, internal.
    pub code: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine code: "not_found", "bad_request", "conflict", ...
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: message.into(),
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<autoheal_store::StoreError> for ApiError {
    fn from(e: autoheal_store::StoreError) -> Self {
        tracing::error!(error = %crate::error_chain(&e), "A store query for the API failed.");
        ApiError::unavailable("the store is not answering; try again")
    }
}

impl From<crate::supervisor::CommandError> for ApiError {
    fn from(e: crate::supervisor::CommandError) -> Self {
        use crate::supervisor::CommandError as C;
        match e {
            C::UnknownTarget(_) => ApiError::not_found(e.to_string()),
            C::Refused(_) => ApiError::conflict(e.to_string()),
            C::Stopped => ApiError::unavailable(e.to_string()),
        }
    }
}

/// Turns axum's own rejections (bad query string, bad path) into our shape.
pub fn from_rejection(r: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(r.to_string())
}
