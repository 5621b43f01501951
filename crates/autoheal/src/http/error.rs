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
    /// Stable: bad_request, unauthorized, forbidden, not_found,
    /// method_not_allowed, timeout, conflict, payload_too_large,
    /// uri_too_long, unsupported_media_type, misdirected_request,
    /// unprocessable, too_many_requests, headers_too_large, unavailable,
    /// internal.
    pub code: String,
    pub message: String,
    /// The JSON pointer of the field at fault (`/password`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Every field at fault, when there are several (a config object
    /// checked as the config file would be).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<crate::managed::FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine code: "not_found", "bad_request", "conflict", ...
    pub code: &'static str,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds, at least 1).
    pub retry_after: Option<std::time::Duration>,
    pub pointer: Option<String>,
    pub errors: Vec<crate::managed::FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            pointer: None,
            errors: Vec::new(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn too_many(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }
    /// A field of the body is wrong: 422 with its JSON pointer.
    pub fn field(pointer: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: Some(pointer.to_string()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
                pointer: self.pointer,
                errors: self.errors,
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.max(1).into());
        }
        r
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

impl From<crate::managed::ManageError> for ApiError {
    fn from(e: crate::managed::ManageError) -> Self {
        use crate::managed::ManageError as M;
        match e {
            M::Invalid(message, errors) => ApiError {
                pointer: errors.first().map(|f| f.pointer.clone()),
                errors,
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
            },
            M::FileOwned { .. } => {
                Self::new(StatusCode::CONFLICT, "defined_in_file", e.to_string())
            }
            M::Conflict(m) => Self::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", m),
            M::NotFound { .. } => ApiError::not_found(e.to_string()),
            M::Store(s) => s.into(),
            M::Internal(m) => {
                tracing::error!(error = %m, "A config change could not be applied.");
                ApiError::unavailable(format!("the change could not be applied: {m}"))
            }
        }
    }
}

/// Turns axum's own rejections (bad query string, bad path) into our shape.
pub fn from_rejection(r: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(r.to_string())
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::Invalid => ApiError::unauthorized(e.to_string()),
            A::SecondFactorRequired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_required",
                e.to_string(),
            ),
            A::Throttled(r) => ApiError::too_many(
                format!(
                    "too many tries (limit per {}); retry after {} s",
                    r.scope,
                    r.retry_after.as_secs().max(1)
                ),
                r.retry_after,
            ),
            A::Busy => ApiError {
                retry_after: Some(std::time::Duration::from_secs(1)),
                ..ApiError::unavailable(e.to_string())
            },
            A::Field(pointer, message) => ApiError::field(pointer, message),
            A::Conflict(m) => ApiError::conflict(m),
            A::Forbidden(m) => ApiError::forbidden(m),
            A::NotFound(m) => ApiError::not_found(m),
            A::Store(s) => s.into(),
        }
    }
}
